import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from labelnoise.clean import CleanContext, get_method
from labelnoise.clean.fiftyone import mistakenness_scores, normalized_entropy


def _synthetic(n=600, n_classes=4, rate=0.2, seed=0, flip_sharpness=3.0):
    """OOS probabilities peaked at the TRUE class; flips get ``flip_sharpness`` as their peak."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes, n)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, round(rate * n), replace=False)] = True
    logits = rng.normal(0.0, 1.0, (n, n_classes))
    logits[np.arange(n), true] += np.where(flipped, flip_sharpness, 3.0)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, n_classes, flipped.sum())) % n_classes
    return CleanContext(labels=given, n_classes=n_classes, pred_probs=probs), flipped


def test_mistakenness_formula():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    np.testing.assert_allclose(mistakenness_scores(np.array([0, 1, 1]), probs), [0.05, 0.95, 0.2])


def test_mistakenness_ranks_flips_first():
    ctx, flipped = _synthetic()
    result = get_method("mistakenness").run(ctx)
    assert roc_auc_score(flipped, result.scores) > 0.9
    # Default threshold 0.5 flags exactly "predicted class != given label".
    np.testing.assert_array_equal(result.flags, ctx.pred_probs.argmax(axis=1) != ctx.labels)
    assert result.noise_rate_estimate == pytest.approx(result.flags.mean())
    strict = get_method("mistakenness").run(ctx, threshold=0.8)
    assert strict.flags.sum() < result.flags.sum()


def test_normalized_entropy_bounds():
    np.testing.assert_allclose(normalized_entropy(np.array([[1.0, 0, 0], [1 / 3] * 3])), [0, 1])


def test_hardness_finds_ambiguous_flips():
    # Noise that targets ambiguous examples: the flipped ones have flatter probabilities.
    ctx, flipped = _synthetic(flip_sharpness=1.0)
    result = get_method("hardness").run(ctx)
    assert roc_auc_score(flipped, result.scores) > 0.6
    assert ((result.scores >= 0) & (result.scores <= 1)).all()
    np.testing.assert_array_equal(result.flags, result.scores > 0.8)  # params.yaml's threshold


@pytest.mark.parametrize("name", ["mistakenness", "hardness"])
def test_bad_input(name):
    ctx, _ = _synthetic(n=40)
    ctx.pred_probs = ctx.pred_probs.copy()
    ctx.pred_probs[0, 0] = np.inf
    with pytest.raises(ValueError, match=f"{name}: pred_probs has 1 NaN/inf"):
        get_method(name).run(ctx)
    ctx, _ = _synthetic(n=40)
    with pytest.raises(ValueError, match=f"{name}: threshold must be in"):
        get_method(name).run(ctx, threshold=1.5)
