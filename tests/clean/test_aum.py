import numpy as np
import pytest
import torch
from quadrants import C, N, context
from sklearn.metrics import roc_auc_score

from labelnoise.clean.aum import AreaUnderMargin, threshold_assignment
from labelnoise.clean.aum_hook import AUMHook


@pytest.fixture(scope="module")
def run_result():
    ctx, flipped = context(seed=0)
    return AreaUnderMargin().run(ctx), flipped


def test_scores_rank_flips_above_clean(run_result):
    result, flipped = run_result
    assert roc_auc_score(flipped, result.scores) > 0.75
    # flags catch most flips and are mostly flips
    assert (result.flags & flipped).sum() >= 0.7 * flipped.sum()
    assert (result.flags & flipped).sum() >= 0.3 * result.flags.sum()


def test_result_shapes_and_consistency(run_result):
    result, _ = run_result
    ex = result.extras
    assert result.scores.shape == (N,) and np.isfinite(result.scores).all()
    assert result.flags.shape == (N,) and result.flags.dtype == np.bool_
    assert result.noise_rate_estimate == pytest.approx(result.flags.mean())
    np.testing.assert_allclose(result.scores, -ex["aum"], rtol=1e-6)
    mask, score_pass = ex["threshold_mask"], ex["score_pass"]
    assert mask.shape == (2, N) and ex["aum_passes"].shape == (2, N)
    # disjoint threshold sets of N / (C + 1) examples; nobody scored where it was relabelled
    assert (mask.sum(axis=1) == round(N / (C + 1))).all()
    assert not (mask[0] & mask[1]).any()
    assert not mask[score_pass, np.arange(N)].any()
    np.testing.assert_array_equal(ex["aum"], ex["aum_passes"][score_pass, np.arange(N)])
    for k in range(2):
        cut = np.percentile(ex["aum_passes"][k, mask[k]], 99)
        assert ex["threshold"][k] == pytest.approx(cut, rel=1e-5)
    np.testing.assert_array_equal(result.flags, ex["aum"] < ex["threshold"][score_pass])


@pytest.mark.parametrize("passes", [2, 3, 5])
def test_threshold_assignment(passes):
    n = 101
    mask, score_pass = threshold_assignment(n, n_threshold=n // passes, passes=passes, seed=3)
    assert mask.shape == (passes, n) and score_pass.shape == (n,)
    assert (mask.sum(axis=0) <= 1).all()
    assert (mask.sum(axis=1) == n // passes).all()
    assert set(np.unique(score_pass)) == set(range(passes))
    assert not mask[score_pass, np.arange(n)].any()


def test_hook_margins():
    hook = AUMHook(4)
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0], [1.0, 1.0, 1.0]], requires_grad=True)
    targets = torch.tensor([0, 1, 2])
    index = torch.tensor([2, 0, 3])
    loss = hook.loss(logits, targets, index, epoch=0)
    assert loss.shape == (3,)
    loss.mean().backward()
    assert logits.grad is not None
    hook.loss(logits.detach() * 2, targets, index, epoch=1)
    hook.count[1] = 1  # example 1 was never in a batch; give it a count so aum() can run
    aum = hook.aum()
    np.testing.assert_allclose(aum[[2, 0, 3]], 1.5 * np.array([2.0, -3.0, 0.0]))
    state = hook.state_dict()
    other = AUMHook(4)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.aum(), aum)
    hook.count[1] = 0
    with pytest.raises(ValueError, match="never seen"):
        hook.aum()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"bogus": 1}, r"unknown parameter\(s\) \['bogus'\]"),
        ({"passes": 1}, "passes=1"),
        ({"percentile": 101}, "percentile=101"),
        ({"threshold_frac": 0.6}, "threshold_frac=0.6"),
    ],
)
def test_bad_params(params, match):
    ctx, _ = context()
    with pytest.raises(ValueError, match=match):
        AreaUnderMargin().run(ctx, **params)


def test_needs_images():
    ctx, _ = context()
    ctx.images = None
    with pytest.raises(ValueError, match=r"ctx\.images"):
        AreaUnderMargin().run(ctx)
