"""Where a training runs and how its arrays get there: the device (one GPU per process under
torch.distributed), the images on it, and the bf16 autocast of CUDA.

On the CPU the images stay the caller's array (a memory map stays on disk until read); on a GPU
they are one uint8 copy there. Either way they are only read: every batch is a new tensor.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from labelnoise.train.config import TrainConfig
from labelnoise.train.distributed import world


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


def training_device(config: TrainConfig) -> torch.device:
    """The device this process trains on (``config.device``; its worker's own under
    torch.distributed), with torch's CPU threads set to ``config.threads`` when given."""
    device = worker_device(config.device) if world()[1] > 1 else resolve_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    return device


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


def autocast(device: torch.device):
    """bf16 autocast on CUDA; on other devices a no-op context."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
