"""Fold models trained stacked (torch.func) learn what they learn trained one by one."""

import numpy as np
import pytest
import torch

from labelnoise.train import (
    TrainConfig,
    fit,
    fit_stacked,
    out_of_sample_folds,
    predict_proba,
)

CFG = TrainConfig(width=8, depth=2, epochs=3, batch_size=32, lr=0.05, device="cpu")
# Seeds, batch order and augmentation are those of the sequential run, so only float rounding
# separates the two: the vmapped convolutions are grouped convolutions that sum in another
# order (measured differences ~1e-7). 1e-4 leaves room for that to grow over ~20 SGD steps.
ATOL = 1e-4


def lifted_channel(n: int, seed: int, lift: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is the channel lifted by ``lift`` above the others, in noise (at 20
    half hidden)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 200, (n, 16, 16, 3))
    images[np.arange(n), :, :, labels] += lift
    return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def data():
    return lifted_channel(180, seed=0)


@pytest.fixture(scope="module")
def val():
    return lifted_channel(120, seed=1)


def thirds(n: int) -> list[np.ndarray]:
    return [np.flatnonzero(np.arange(n) % 3 != k) for k in range(3)]


@pytest.mark.parametrize(
    "change",
    [{}, {"crop_padding": 0, "hflip": False, "class_weights": True, "label_smoothing": 0.1}],
)
def test_stacked_models_match_sequential_fits(data, val, change):
    images, labels = data
    config = TrainConfig(**{**CFG.__dict__, **change})
    rows = thirds(len(images))
    stacked = fit_stacked(
        images, labels, rows, n_classes=3, config=config, seeds=[5, 6, 7], progress=False
    )
    for k, r in enumerate(rows):
        alone = fit(images[r], labels[r], n_classes=3, config=config, seed=5 + k, progress=False)
        p_stacked = predict_proba(stacked[k].model, val[0])
        p_alone = predict_proba(alone.model, val[0])
        np.testing.assert_allclose(p_stacked, p_alone, atol=ATOL)
        acc_stacked = (p_stacked.argmax(1) == val[1]).mean()
        acc_alone = (p_alone.argmax(1) == val[1]).mean()
        assert acc_alone > 0.6
        assert abs(acc_stacked - acc_alone) <= 1 / len(val[1])
        assert [h["epoch"] for h in stacked[k].history] == [0, 1, 2]
        np.testing.assert_allclose(
            [h["train_loss"] for h in stacked[k].history],
            [h["train_loss"] for h in alone.history],
            rtol=ATOL,
        )
        # Each model keeps its own batch-norm running statistics, the ones eval mode uses.
        for name, value in alone.model.state_dict().items():
            if "running" in name:
                torch.testing.assert_close(
                    stacked[k].model.state_dict()[name], value, atol=ATOL, rtol=ATOL
                )
    running = [m.model.body[2].running_mean for m in stacked]
    assert not torch.equal(running[0], running[1])
    assert not torch.equal(running[0], torch.zeros_like(running[0]))


@pytest.mark.gpu
def test_cuda_stacked_models_learn_what_sequential_fits_learn():
    # bf16 autocast rounds the grouped and the plain convolutions differently and training
    # carries that into the weights, so the check is on what the models learn, not on 1e-4:
    # a plain signal that every fold model should learn, whichever way it was trained.
    images, labels = lifted_channel(180, seed=0, lift=60)
    val_images, val_labels = lifted_channel(120, seed=1, lift=60)
    config = TrainConfig(**{**CFG.__dict__, "device": "cuda"})
    rows = thirds(len(images))
    stacked = fit_stacked(
        images, labels, rows, n_classes=3, config=config, seeds=[5, 6, 7], progress=False
    )
    for k, r in enumerate(rows):
        alone = fit(images[r], labels[r], n_classes=3, config=config, seed=5 + k, progress=False)
        p_stacked = predict_proba(stacked[k].model, val_images).argmax(1)
        p_alone = predict_proba(alone.model, val_images).argmax(1)
        assert (p_stacked == val_labels).mean() >= 0.9, f"fold {k} stacked"
        assert (p_alone == val_labels).mean() >= 0.9, f"fold {k} sequential"
        assert (p_stacked == p_alone).mean() >= 0.9, f"fold {k}: the two disagree"


def test_unequal_subsets_train_equal_steps(data, val):
    images, labels = data
    rows = [np.arange(0, 120), np.arange(60, 179)]  # 120 and 119 rows
    stacked = fit_stacked(
        images, labels, rows, n_classes=3, config=CFG, seeds=[0, 1], progress=False
    )
    for k, r in enumerate(rows):
        alone = fit(images[r], labels[r], n_classes=3, config=CFG, seed=k, progress=False)
        acc_stacked = (predict_proba(stacked[k].model, val[0]).argmax(1) == val[1]).mean()
        acc_alone = (predict_proba(alone.model, val[0]).argmax(1) == val[1]).mean()
        assert abs(acc_stacked - acc_alone) <= 0.1
    # The smaller subset sets the steps: 119 rows in batches of 32 make 4 steps a model.
    assert stacked[0].history[0]["train_loss"] != stacked[1].history[0]["train_loss"]


def test_out_of_sample_stacked(data):
    images, labels = data
    others = images[:40]
    stacked, fold, stacked_others = out_of_sample_folds(
        images, labels, n_classes=3, folds=3, config=CFG, seed=0, stack=True, progress=False,
        other_images=others,
    )  # fmt: skip
    assert stacked.shape == (180, 3)
    assert stacked.dtype == np.float32
    assert np.isfinite(stacked).all()
    np.testing.assert_allclose(stacked.sum(1), 1.0, atol=1e-5)
    assert sorted(np.bincount(fold).tolist()) == [60, 60, 60]
    sequential, same_fold, sequential_others = out_of_sample_folds(
        images, labels, n_classes=3, folds=3, config=CFG, seed=0, stack=False, progress=False,
        other_images=others,
    )  # fmt: skip
    np.testing.assert_array_equal(fold, same_fold)
    np.testing.assert_allclose(stacked, sequential, atol=ATOL)
    # Every fold model predicts the other images too, stacked or one after the other.
    assert stacked_others.shape == (3, 40, 3)
    np.testing.assert_allclose(stacked_others.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(stacked_others, sequential_others, atol=ATOL)


@pytest.mark.parametrize(
    ("rows", "seeds", "match"),
    [
        ([np.arange(10), np.arange(10, 20)], [0], "1 seeds for 2"),
        ([np.arange(10)], [-1], "non-negative"),
        ([np.array([0, 1, 1, 2])], [0], "repeat"),
        ([np.arange(170, 190)], [0], "outside"),
        ([np.array([3])], [0], "at least 2"),
        ([np.arange(10.0)], [0], "integer"),
    ],
)
def test_bad_subsets(data, rows, seeds, match):
    images, labels = data
    with pytest.raises(ValueError, match=match):
        fit_stacked(images, labels, rows, n_classes=3, config=CFG, seeds=seeds, progress=False)
