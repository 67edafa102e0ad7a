"""NaN and infinity stop the run where they appear, with a message naming where."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labelnoise.train.crossval as crossval
import labelnoise.train.prepare as prepare
from labelnoise.train import (
    TrainConfig,
    build_model,
    extract_features,
    fit,
    fit_stacked,
    out_of_sample_folds,
    predict_proba,
)

CFG = TrainConfig(width=8, depth=2, epochs=2, batch_size=32, lr=0.05, device="cpu")


def images_and_labels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 110, (n, 16, 16, 3))
    images[np.arange(n), :, :, labels] += 120
    return images.astype(np.uint8), labels


def nan_weights(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        model.head.weight.fill_(math.nan)
    return model


class NaNForSaturatedRows(nn.Module):
    """A model whose features are NaN exactly for images whose first pixel is 255."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        feats = x.mean((2, 3))
        return torch.where(x[:, :1, 0, 0] == 255, math.nan, feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_predict_proba_names_nan_rows():
    images, _ = images_and_labels(20)
    images[[3, 17], 0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"predict_proba: .* in 2 of 20 rows \(3, 17\)"):
        predict_proba(NaNForSaturatedRows(), images, batch_size=8)


def test_extract_features_names_nan_rows():
    images, _ = images_and_labels(20)
    images[[5], 0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"extract_features: .* in 1 of 20 rows \(5\)"):
        extract_features(NaNForSaturatedRows(), images, batch_size=8)


def test_nan_weights_are_refused_at_prediction():
    images, _ = images_and_labels(12)
    model = nan_weights(build_model("small_cnn", n_classes=3, width=8, depth=2, image_size=16))
    with pytest.raises(ValueError, match="predict_proba: non-finite probabilities in 12 of 12"):
        predict_proba(model, images)


def test_finite_loss_but_nan_weights_names_the_epoch():
    class NaNGradient:
        """A finite loss, 0 * sqrt(0), whose gradient is 0 * inf = NaN."""

        def loss(self, logits, targets, index, epoch):
            zero = logits - logits.detach()
            return F.cross_entropy(logits, targets, reduction="none") + 0 * zero[:, 0].sqrt()

        def after_step(self) -> None: ...

        def end_epoch(self, epoch: int) -> None: ...

        def state_dict(self) -> dict:
            return {}

        def load_state_dict(self, state: dict) -> None: ...

    images, labels = images_and_labels(20)
    one_step = TrainConfig(**{**CFG.__dict__, "epochs": 1, "batch_size": 20, "warmup_epochs": 0})
    with pytest.raises(ValueError, match=r"fit: non-finite weights after epoch 0 \(.*weight"):
        fit(
            images, labels, n_classes=3, config=one_step, seed=0, hook=NaNGradient(), progress=False
        )


def test_out_of_sample_names_the_fold(monkeypatch):
    images, labels = images_and_labels(60)
    real_fit = crossval.fit
    calls = []

    def fit_with_a_broken_second_fold(*args, **kwargs):
        calls.append(kwargs["seed"])
        result = real_fit(*args, **kwargs)
        if len(calls) == 2:
            nan_weights(result.model)
        return result

    monkeypatch.setattr(crossval, "fit", fit_with_a_broken_second_fold)
    with pytest.raises(ValueError, match=r"out_of_sample_folds: fold 1 \(seed 8\): non-finite"):
        out_of_sample_folds(
            images, labels, n_classes=3, folds=3, config=CFG, seed=7, progress=False
        )


def test_out_of_sample_rows_are_the_callers(monkeypatch):
    images, labels = images_and_labels(60)
    images[[4, 50], 0, 0, 0] = 255

    def fit_a_nan_model(*args, **kwargs):
        return crossval.FitResult(model=NaNForSaturatedRows())

    monkeypatch.setattr(crossval, "fit", fit_a_nan_model)
    # Rows 4 and 50 of the caller, not their positions among the 20 held-out rows of the fold.
    with pytest.raises(ValueError, match=r"fold \d \(seed \d\): .* of 20 rows \((4, 50|4|50)\)"):
        out_of_sample_folds(
            images, labels, n_classes=3, folds=3, config=CFG, seed=0, progress=False
        )


def test_stacked_names_the_model_whose_loss_is_nan(monkeypatch):
    images, labels = images_and_labels(60)
    real_build = prepare.build_model
    built = []

    def build_a_broken_second_model(*args, **kwargs):
        built.append(kwargs["seed"])
        model = real_build(*args, **kwargs)
        return nan_weights(model) if len(built) == 2 else model

    monkeypatch.setattr(prepare, "build_model", build_a_broken_second_model)
    rows = [np.arange(0, 40), np.arange(20, 60)]
    with pytest.raises(
        ValueError, match="fit_stacked: model 1: non-finite training loss at epoch 0"
    ):
        fit_stacked(images, labels, rows, n_classes=3, config=CFG, seeds=[0, 1], progress=False)
    built.clear()
    with pytest.raises(ValueError, match=r"out_of_sample_folds: fold 1: non-finite training loss"):
        out_of_sample_folds(
            images, labels, n_classes=3, folds=2, config=CFG, seed=0, stack=True, progress=False
        )
