"""The steps of every epoch, the same for :func:`~labelnoise.train.fit` and
:func:`~labelnoise.train.fit_stacked`: the epoch's seeded plan (the order of the examples, their
crops and flips), the augmented batch gathered from it, the learning rate of each step and the
optimizer step.

Both trainers draw the same plan from the same seed, so a model trained alone and the same
model trained stacked with others see the same batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from labelnoise.train.config import TrainConfig
from labelnoise.train.prepare import derive_seed


@dataclass(frozen=True)
class Schedule:
    """The batches of every epoch and the learning rate of every step.

    ``bounds`` ``(steps + 1,)`` are the starts of an epoch's batches and the end of the last;
    the rate warms up linearly over ``warmup_steps``, then decays linearly to 0 at the last step.
    """

    bounds: list[int]
    epochs: int
    warmup_steps: int
    lr: float

    @classmethod
    def of(cls, epoch_size: int, config: TrainConfig) -> Schedule:
        """The schedule of ``config`` over epochs of ``epoch_size`` draws."""
        bounds = batch_bounds(epoch_size, config.batch_size)
        warmup = round(config.warmup_epochs * (len(bounds) - 1))
        return cls(bounds=bounds, epochs=config.epochs, warmup_steps=warmup, lr=config.lr)

    @property
    def steps(self) -> int:
        """Optimizer steps per epoch."""
        return len(self.bounds) - 1

    def lr_at(self, epoch: int, step: int) -> float:
        """Learning rate of step ``step`` of epoch ``epoch``."""
        total = self.steps * self.epochs
        return lr_at(epoch * self.steps + step, total, self.warmup_steps, self.lr)


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Start of every batch and the end of the last, ``(steps + 1,)``."""
    steps = max(math.ceil(n / batch_size), 1)
    # Near-equal batches: no tiny trailing batch for batch norm, few distinct shapes to compile.
    return np.linspace(0, n, steps + 1).round().astype(int).tolist()


def lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * max(total - step, 0) / max(total - warmup, 1)


def epoch_plan(
    n: int,
    seed: int,
    epoch: int,
    config: TrainConfig,
    device: torch.device,
    size: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One epoch's order of ``size`` (default ``n``) draws from ``n`` examples, with per-draw
    crop offsets (dy, dx) and flip flags, on device.

    Past ``n`` the order goes on with fresh permutations, so a smaller set takes as many steps
    as a larger one while every example is seen once before any is seen twice.
    """
    size = n if size is None else size
    gen = torch.Generator().manual_seed(derive_seed(seed, 2, epoch))
    perm = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-size // n))])[:size]
    offsets = torch.randint(0, 2 * config.crop_padding + 1, (size, 2), generator=gen)
    if config.hflip:
        flips = torch.rand(size, generator=gen) < 0.5
    else:
        flips = torch.zeros(size, dtype=torch.bool)
    return perm.to(device), offsets.to(device), flips.to(device)


def crop_flip(
    images: Tensor, idx: Tensor, offsets: Tensor, flips: Tensor, *, fill: Tensor, pad: int
) -> Tensor:
    """Gather a batch of randomly cropped and flipped images in one indexing operation.

    Each image is shifted by its offset within a border of ``pad`` pixels of colour ``fill``
    (read off the image where it lies inside, so no padded copy of the set is needed), then
    mirrored left-right if its flag is set.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``, only read.
    idx
        int64 ``(..., b)`` rows of ``images``.
    offsets
        int64 ``(..., b, 2)`` crop origins ``(dy, dx)`` in ``[0, 2 * pad]``.
    flips
        bool ``(..., b)``.
    fill
        uint8 ``(..., 3)``, the colour of the border (one per leading index, or shared).
    pad
        Border width in pixels.

    Returns
    -------
    Tensor
        uint8 ``(..., b, H, W, 3)``.
    """
    height, width = images.shape[1:3]
    rows = torch.arange(height, device=images.device)
    cols = torch.arange(width, device=images.device)
    r = offsets[..., 0:1] - pad + rows
    dx = offsets[..., 1:2] - pad
    c = torch.where(flips[..., None], dx + (width - 1) - cols, dx + cols)
    batch = images[
        idx[..., None, None],
        r.clamp(0, height - 1)[..., :, None],
        c.clamp(0, width - 1)[..., None, :],
    ]
    if not pad:
        return batch
    inside_r = (r >= 0) & (r < height)
    inside_c = (c >= 0) & (c < width)
    inside = inside_r[..., :, None, None] & inside_c[..., None, :, None]
    return torch.where(inside, batch, fill[..., None, None, None, :])


def sgd_step(optimizer: torch.optim.Optimizer, loss: Tensor, lr: float) -> None:
    """One optimizer step on ``loss`` (a scalar) at learning rate ``lr``."""
    set_lr(optimizer, lr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
