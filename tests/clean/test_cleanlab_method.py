import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from labelnoise.clean import CleanContext, get_method


def _synthetic(n=600, n_classes=4, rate=0.2, seed=0):
    """Model-like OOS probabilities peaked at the TRUE class; 20% of given labels flipped."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes, n)
    logits = rng.normal(0.0, 1.0, (n, n_classes))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, round(rate * n), replace=False)] = True
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, n_classes, flipped.sum())) % n_classes
    return CleanContext(labels=given, n_classes=n_classes, pred_probs=probs), flipped


@pytest.mark.parametrize(
    "score_method", ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]
)
def test_cleanlab_ranks_flips_first(score_method):
    ctx, flipped = _synthetic()
    result = get_method("cleanlab").run(ctx, score_method=score_method)
    assert roc_auc_score(flipped, result.scores) > 0.9
    assert result.flags.dtype == bool
    # Flags are mostly flips, and most flips are flagged.
    assert (result.flags & flipped).sum() > 0.8 * result.flags.sum()
    assert (result.flags & flipped).sum() > 0.6 * flipped.sum()
    assert 0.1 < result.noise_rate_estimate < 0.3
    np.testing.assert_array_equal(result.extras["suggested_label"], ctx.pred_probs.argmax(axis=1))


@pytest.mark.parametrize("filter_by", ["prune_by_class", "both", "confident_learning"])
def test_cleanlab_filter_by(filter_by):
    ctx, flipped = _synthetic()
    flags = get_method("cleanlab").run(ctx, filter_by=filter_by).flags
    assert (flags & flipped).sum() > 0.7 * flags.sum()


def test_cleanlab_rejects_bad_input():
    ctx, _ = _synthetic(n=100)
    ctx.pred_probs = ctx.pred_probs.copy()
    ctx.pred_probs[3, 1] = np.nan
    with pytest.raises(ValueError, match="cleanlab: pred_probs has 1 NaN"):
        get_method("cleanlab").run(ctx)
    ctx, _ = _synthetic(n=100)
    with pytest.raises(ValueError, match="unknown filter_by 'magic'"):
        get_method("cleanlab").run(ctx, filter_by="magic")
    with pytest.raises(ValueError, match="unknown score_method"):
        get_method("cleanlab").run(ctx, score_method="magic")
