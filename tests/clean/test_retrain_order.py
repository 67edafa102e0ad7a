"""Retraining on what a method keeps: the oracle's kept set beats cleanlab's, which beats random."""

from quadrants import CONFIG, C, quadrant_data

from labelnoise.clean import CleanContext, get_method
from labelnoise.train import fit, out_of_sample_proba, predict_proba


def _accuracy_after_dropping(flags, images, given, test_images, test_labels):
    keep = ~flags
    model = fit(images[keep], given[keep], n_classes=C, config=CONFIG, seed=0, progress=False)
    return (predict_proba(model.model, test_images).argmax(1) == test_labels).mean()


def test_oracle_at_least_cleanlab_at_least_random():
    images, given, flipped = quadrant_data(seed=3, rate=0.4)
    test_images, test_labels, _ = quadrant_data(seed=4, rate=0.0)
    probs = out_of_sample_proba(images, given, n_classes=C, folds=3, config=CONFIG, seed=0)
    ctx = CleanContext(labels=given, n_classes=C, pred_probs=probs, flipped=flipped, seed=0)
    accuracy = {
        name: _accuracy_after_dropping(
            get_method(name).run(ctx).flags, images, given, test_images, test_labels
        )
        for name in ("oracle", "cleanlab", "random")
    }
    assert accuracy["oracle"] >= accuracy["cleanlab"] >= accuracy["random"], accuracy
    assert accuracy["oracle"] > accuracy["random"] + 0.05, accuracy
