"""The steps every trainer here shares: checked inputs, the data on the device, each epoch's
seeded plan, the augmented batch, the optimizer and its schedule.

:func:`~labelnoise.train.fit` trains one model with them and
:func:`~labelnoise.train.fit_stacked` many at once; both draw the same plan from the same seed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

if TYPE_CHECKING:
    from labelnoise.train.trainer import TrainConfig


def resolve_device(device: str) -> torch.device:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a torch device, checking CUDA exists."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s)")
        return dev
    raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")


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


def sgd_step(optimizer: torch.optim.Optimizer, loss: Tensor, lr: float) -> None:
    """One optimizer step on ``loss`` (a scalar) at learning rate ``lr``."""
    set_lr(optimizer, lr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def derive_seed(*keys: int) -> int:
    """A 32-bit seed derived from ``keys`` (e.g. the run's seed, a purpose, an epoch)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def check_images(images: Any, name: str) -> np.ndarray:
    """``images`` checked to be a uint8 array ``(n, H, W, 3)``; ``ValueError`` naming ``name``."""
    if not isinstance(images, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n, H, W, 3), got {images.shape}")
    return images


def check_labels(labels: Any, n: int, n_classes: int, name: str) -> np.ndarray:
    """``labels`` as int64 ``(n,)`` in ``[0, n_classes)``; ``ValueError`` naming ``name``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but there are {n} images")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"{name} contains {bad}, outside [0, {n_classes})")
    return labels.astype(np.int64)


def check_rows(rows: Any, n: int, name: str) -> np.ndarray:
    """``rows`` as int64 ``(m,)``, checked to be distinct rows of an ``n``-row array, m >= 2."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"{name}: train rows must be a 1-D integer array, got {rows.dtype}")
    if len(rows) < 2:
        raise ValueError(f"{name}: needs at least 2 training rows, got {len(rows)}")
    if rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"{name}: train rows outside [0, {n})")
    if len(np.unique(rows)) != len(rows):
        raise ValueError(f"{name}: train rows repeat an index")
    return rows.astype(np.int64)


def to_device_nhwc(images: np.ndarray, device: torch.device) -> Tensor:
    """uint8 ``(n, H, W, 3)`` images as a tensor on ``device``, never to be written to.

    On the CPU the tensor shares the array's memory, so a memory map stays on disk until
    read; on another device it is the one copy there.
    """
    if any(stride < 0 for stride in images.strides):
        images = np.ascontiguousarray(images)  # torch cannot view negative strides
    with warnings.catch_warnings():
        # A read-only array (the dataset's memory map) is safe to share: every use of the
        # tensor gathers or converts it into new tensors.
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        tensor = torch.from_numpy(images)
    return tensor.to(device)


def as_input(batch_nhwc: Tensor) -> Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)``; the permuted view is channels_last."""
    return batch_nhwc.permute(0, 3, 1, 2).float()


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


def autocast(device: torch.device):
    """bf16 autocast on CUDA; on other devices a no-op context."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


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


def worker_device(requested: str) -> torch.device:
    """The device of this torchrun worker: its own GPU (``LOCAL_RANK``, made current by
    :func:`~labelnoise.train.distributed.process_group`) or the CPU."""
    device = resolve_device(requested)
    backend = dist.get_backend()
    if device.type == "cuda":
        if device.index is not None and device.index != torch.cuda.current_device():
            raise ValueError(
                f"device {requested!r}: under torch.distributed each process trains on its own "
                "GPU; ask for 'cuda' or 'auto'"
            )
        device = torch.device("cuda", torch.cuda.current_device())
    if (device.type == "cuda") != (backend == "nccl"):
        raise ValueError(f"training on {device.type} needs another backend than {backend!r}")
    return device


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


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Start of every batch and the end of the last, ``(steps + 1,)``."""
    steps = max(math.ceil(n / batch_size), 1)
    # Near-equal batches: no tiny trailing batch for batch norm, few distinct shapes to compile.
    return np.linspace(0, n, steps + 1).round().astype(int).tolist()
