import inspect
import math

import numpy as np
import pytest
import torch
from quadrants import CONFIG, N, context, quadrant_data
from sklearn.metrics import roc_auc_score

from labelnoise.clean.data_params import CATEGORIES, DataParameters, categorise
from labelnoise.clean.data_params_hook import DataParametersHook, SparseSGD

# The temperature options of the hook at their defaults, which DataParameters.run declares.
TEMPERATURES = {
    name: parameter.default
    for name, parameter in inspect.signature(DataParameters.run).parameters.items()
    if name in ("learn", "init_sigma", "lr_inst", "lr_class", "momentum", "wd_inst", "wd_class")
}


@pytest.fixture(scope="module")
def run_result():
    ctx, flipped = context(seed=0)
    return DataParameters().run(ctx, frac=0.2), flipped


def test_scores_rank_flips_above_clean(run_result):
    result, flipped = run_result
    assert roc_auc_score(flipped, result.scores) > 0.75


def test_result_shapes_and_ranges(run_result):
    result, _ = run_result
    assert result.scores.shape == (N,)
    assert np.isfinite(result.scores).all()
    assert result.flags.dtype == np.bool_ and result.flags.sum() == round(0.2 * N)
    assert result.noise_rate_estimate == pytest.approx(0.2)
    traj = result.extras["trajectory"]
    assert traj.shape == (CONFIG.epochs, N) and traj.dtype == np.float32
    assert (traj >= 1 / 20 - 1e-6).all() and (traj <= 20 + 1e-5).all()
    assert set(np.unique(result.extras["category"])) <= set(range(len(CATEGORIES)))
    assert int(result.extras["best_epoch"]) == CONFIG.epochs
    np.testing.assert_array_equal(result.scores, traj[-1])
    # the flagged examples are the highest temperatures
    assert result.scores[result.flags].min() >= result.scores[~result.flags].max()


def test_best_epoch_uses_validation_and_hard_rule():
    ctx, _ = context(seed=1)
    images, labels, _ = quadrant_data(seed=7, rate=0.0)
    ctx.val_images, ctx.val_labels = images[:60], labels[:60]
    result = DataParameters().run(ctx, epoch="best", flag="hard")
    best = int(result.extras["best_epoch"])
    assert 1 <= best <= CONFIG.epochs
    np.testing.assert_array_equal(result.scores, result.extras["trajectory"][best - 1])
    np.testing.assert_array_equal(result.flags, result.extras["category"] == 1)
    assert math.isnan(float(result.extras["frac"]))


def test_frac_auto():
    ctx, _ = context(noise_rate_estimate=None)
    with pytest.raises(ValueError, match="noise_rate_estimate"):
        DataParameters().run(ctx, frac="auto")
    ctx.noise_rate_estimate = 0.0
    result = DataParameters().run(ctx, frac="auto", epoch=2, learn="both")
    assert not result.flags.any() and result.noise_rate_estimate == 0.0
    assert float(result.extras["frac"]) == 0.0


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"bogus": 1, "lr": 2}, r"unknown parameter\(s\) \['bogus', 'lr'\]"),
        ({"learn": "everything"}, "learn='everything'"),
        ({"frac": 1.5}, "frac=1.5"),
        ({"epoch": 99}, "epoch=99"),
        ({"epoch": "first"}, "epoch='first'"),
        ({"flag": "all"}, "flag='all'"),
        ({"init_sigma": 50.0}, "init_sigma=50.0"),
        ({"momentum": 1.0}, "momentum=1.0"),
        ({"lr_inst": -0.1}, "lr_inst=-0.1"),
    ],
)
def test_bad_params(params, match):
    ctx, _ = context()
    with pytest.raises(ValueError, match=match):
        DataParameters().run(ctx, **{"frac": 0.1, **params})


def test_sparse_sgd_leaves_absent_rows_untouched():
    param = torch.arange(6, dtype=torch.float32).requires_grad_(True)
    opt = SparseSGD(param, lr=0.5, momentum=0.9, weight_decay=0.1)
    opt.momentum_buffer.copy_(torch.tensor([1.0, -1.0, 2.0, -2.0, 3.0, -3.0]))
    before = param.detach().clone()
    buf_before = opt.momentum_buffer.clone()
    rows = torch.tensor([4, 1, 4])
    (param[rows] ** 2).sum().backward()  # row 4 appears twice: its gradient accumulates
    opt.step(rows)
    absent = torch.tensor([0, 2, 3, 5])
    assert torch.equal(param.detach()[absent], before[absent])
    assert torch.equal(opt.momentum_buffer[absent], buf_before[absent])
    present = torch.tensor([1, 4])
    grad = torch.tensor([2.0, 16.0]) + 0.1 * before[present]
    buf = 0.9 * buf_before[present] + grad
    torch.testing.assert_close(opt.momentum_buffer[present], buf)
    torch.testing.assert_close(param.detach()[present], before[present] - 0.5 * buf)


def test_hook_updates_batch_rows_and_clamps():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    options = {**TEMPERATURES, "learn": "both", "lr_inst": 1e4, "lr_class": 1e4}
    hook = DataParametersHook(labels, n_classes=3, **options)
    logits = torch.randn(3, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    index = torch.tensor([5, 2, 7])
    targets = torch.as_tensor(labels[[5, 2, 7]])
    loss = hook.loss(logits, targets, index, epoch=0)
    assert loss.shape == (3,)
    loss.mean().backward()
    assert hook.inst.grad is not None and logits.grad is not None
    hook.after_step()
    assert hook.inst.grad is None and hook.cls.grad is None
    inst = hook.inst.detach()
    assert torch.equal(inst[[0, 1, 3, 4, 6]], torch.zeros(5))
    assert (inst[[5, 2, 7]] != 0).all()
    assert hook.cls.detach()[0] == 0  # class 0 is not in the batch
    assert (inst.abs() <= math.log(20) + 1e-6).all()
    assert (hook.cls.detach().abs() <= math.log(20) + 1e-6).all()
    hook.end_epoch(0)
    state = hook.state_dict()
    other = DataParametersHook(labels, n_classes=3, **{**TEMPERATURES, "learn": "both"})
    other.load_state_dict(state)
    assert torch.equal(other.inst.detach(), inst)
    np.testing.assert_array_equal(other.trajectory_array(), hook.trajectory_array())
    assert other.trajectory_array().shape == (1, len(labels))


def test_categorise():
    traj = np.array(
        [
            [1.0, 1.0, 1.0, 1.0],
            [0.8, 1.5, 0.9, 0.5],
            [0.5, 2.0, 1.2, 0.3],
            [0.3, 3.0, 0.8, 0.6],
        ]
    )
    # 0 falls and stays low, 1 rises and stays high, 2 crosses 1.0, 3 is low but rising
    names = [CATEGORIES[c] for c in categorise(traj)]
    assert names == ["easy", "hard", "need_review", "need_review"]
    with pytest.raises(ValueError, match="trajectory"):
        categorise(np.zeros(3))
