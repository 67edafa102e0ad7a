"""A training's starting point, the same for :func:`~labelnoise.train.fit` and
:func:`~labelnoise.train.fit_stacked`: the model as initialised (or loaded) and normalised to
the images it trains on, the colour its crops are padded with, the loss weights of the classes
and the optimizer.

All randomness of a training is derived from its seed by :func:`derive_seed`, one purpose at a
time: ``1`` the model's initialisation, ``2`` each epoch's plan
(:func:`labelnoise.train.steps.epoch_plan`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from labelnoise.train.config import TrainConfig
from labelnoise.train.models import build_model, load_weights


def derive_seed(*keys: int) -> int:
    """A 32-bit seed derived from ``keys`` (e.g. the run's seed, a purpose, an epoch)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def initial_model(config: TrainConfig, *, n_classes: int, image_size: int, seed: int) -> nn.Module:
    """The model of ``config`` before its first step, on the CPU: initialised from ``seed``, or
    holding ``config.weights`` when given; ``image_size`` is the side of the (square) input."""
    model = build_model(
        config.model,
        n_classes=n_classes,
        width=config.width,
        depth=config.depth,
        image_size=image_size,
        seed=derive_seed(seed, 1),
    )
    if config.weights is not None:
        load_weights(model, config.weights)
    return model


def image_sums(x: Tensor) -> Tensor:
    """Per-image channel sums and sums of squares ``(n, 2, 3)`` float64 of uint8 ``(n, H, W, 3)``.

    Summed in chunks of about 2**22 values in float64, which holds these sums of integers
    exactly. The result is allocated before the first chunk: small results kept between the
    chunks' large temporaries would stop the allocator from reusing the freed ones, and the
    heap would grow with the data.
    """
    sums = torch.empty((len(x), 2, 3), dtype=torch.float64, device=x.device)
    chunk = max(1, 2**22 // max(math.prod(x.shape[1:]), 1))
    for a in range(0, len(x), chunk):
        values = x[a : a + chunk].double()
        sums[a : a + chunk, 0] = values.sum((1, 2))
        sums[a : a + chunk, 1] = values.square_().sum((1, 2))
    return sums


def normalisation(sums: Tensor, pixels_per_image: int) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std ``(3,)`` float32 of the images whose :func:`image_sums` are
    ``sums`` ``(n, 2, 3)``; the std is at least 1 so that flat images do not blow up."""
    total = sums.sum(0)
    count = len(sums) * pixels_per_image
    mean = total[0] / count
    var = ((total[1] - count * mean.square()) / max(count - 1, 1)).clamp_min(0.0)
    return mean.float(), var.sqrt().float().clamp_min(1.0)


def crop_fill(model: nn.Module) -> Tensor:
    """uint8 ``(3,)``: the colour of the border a (normalised) model's crops reach into."""
    # The mean colour normalises to ~0, where black would be an outlier.
    return model.mean.reshape(3).round().clamp(0, 255).to(torch.uint8)


def class_weights(labels: Tensor, n_classes: int) -> Tensor:
    """Inverse-frequency weights ``(n_classes,)``; absent classes weigh 0."""
    counts = torch.bincount(labels, minlength=n_classes).float()
    return torch.where(counts > 0, len(labels) / (n_classes * counts.clamp_min(1)), 0.0)


def build_optimizer(
    decay: list[Tensor], no_decay: list[Tensor], config: TrainConfig
) -> torch.optim.Optimizer:
    """Nesterov SGD; weight decay on the weight matrices and kernels only."""
    return torch.optim.SGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.momentum > 0,
    )
