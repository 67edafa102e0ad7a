"""Data-parallel training across processes started by torchrun.

A stage re-executes itself under ``python -m torch.distributed.run`` (:func:`torchrun_command`);
each worker joins the job with :func:`process_group` (gloo on CPU, NCCL on CUDA, one GPU per
worker), after which :func:`labelnoise.train.fit` trains data-parallel on its own. Batch norm
then normalises with the statistics of the whole global batch (:func:`synced_batch_norm`), so a
run with ``N`` processes learns what the single-process run learns, up to float rounding.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor, nn


def launched_by_torchrun() -> bool:
    """Whether this process is a torchrun worker (torchrun sets ``LOCAL_RANK``)."""
    return "LOCAL_RANK" in os.environ


def world() -> tuple[int, int]:
    """``(rank, world size)`` of the process group this process has joined; ``(0, 1)`` if none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def torchrun_command(
    script: str, args: Sequence[str], *, nproc_per_node: int, cuda: bool
) -> list[str]:
    """The command line running ``script args`` as ``nproc_per_node`` workers on this machine.

    Parameters
    ----------
    script
        Path of the Python script each worker runs.
    args
        Its arguments.
    nproc_per_node
        Number of worker processes (>= 1).
    cuda
        Whether the workers train on CUDA: each needs a GPU of its own.
    """
    if not isinstance(nproc_per_node, int) or nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be an int >= 1, got {nproc_per_node!r}")
    if cuda and nproc_per_node > torch.cuda.device_count():
        raise ValueError(
            f"nproc_per_node {nproc_per_node} exceeds the {torch.cuda.device_count()} visible "
            "GPU(s): NCCL needs one GPU per process"
        )
    # --standalone: a private rendezvous on a free port, so parallel stages never meet.
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc_per_node}",
        script,
        *args,
    ]


@contextmanager
def process_group(*, cuda: bool) -> Iterator[tuple[int, int]]:
    """Join the job of this torchrun worker for the duration of the block.

    Parameters
    ----------
    cuda
        Train on CUDA (NCCL, the GPU numbered ``LOCAL_RANK``) or on CPU (gloo).

    Yields
    ------
    tuple of int
        ``(rank, world size)``.
    """
    if not launched_by_torchrun():
        raise ValueError("process_group needs a torchrun worker (LOCAL_RANK is not set)")
    if cuda:
        local_rank = int(os.environ["LOCAL_RANK"])
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"worker {local_rank} has no GPU: only {torch.cuda.device_count()} visible"
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        dist.destroy_process_group()


@contextmanager
def data_parallel_stage(
    script: str, args: Sequence[str], *, enabled: bool, nproc_per_node: int, cuda: bool
) -> Iterator[tuple[int, int]]:
    """Run the calling stage as ``nproc_per_node`` data-parallel workers when ``enabled``.

    The first call, in the process DVC started, replaces that process with torchrun running
    ``script args`` (it does not return); in each worker it joins the process group for the
    duration of the block. Disabled, the block runs once, as rank 0 of 1.

    Yields
    ------
    tuple of int
        ``(rank, world size)``: only rank 0 writes the stage's outputs.
    """
    if not enabled:
        yield 0, 1
        return
    if not launched_by_torchrun():
        command = torchrun_command(script, args, nproc_per_node=nproc_per_node, cuda=cuda)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)
    with process_group(cuda=cuda) as group:
        yield group


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) whose gradient is again the sum over processes: every process's loss
    depends on every process's contribution."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics span the batch slices of every process.

    Each process sums its slice, one differentiable all-reduce adds the sums, and the gradient
    flows back through that sum to every slice, as if one process held the whole batch.
    ``nn.SyncBatchNorm`` does the same on GPUs only; this one works with gloo on CPU too. In
    eval mode it is a plain ``BatchNorm2d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        channels = x.shape[1]
        # Sums are taken around the running mean, identical on every process, so that the
        # sum of squares does not cancel when the mean is large against the spread.
        shift = self.running_mean.detach().reshape(1, -1, 1, 1)
        centred = x.float() - shift
        count = torch.full((1,), x.numel() // channels, dtype=torch.float32, device=x.device)
        local = torch.cat([centred.sum((0, 2, 3)), centred.square().sum((0, 2, 3)), count])
        total = _SumOverProcesses.apply(local)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels:-1] / n - mean.square()).clamp_min(0.0)
        y = (centred - mean.reshape(1, -1, 1, 1)) * torch.rsqrt(var + self.eps).reshape(1, -1, 1, 1)
        y = y * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            # running_mean + m * (batch mean - running_mean), the batch mean being shift + mean.
            self.running_mean.add_(self.momentum * mean)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
        return y.to(x.dtype)


@contextmanager
def synced_batch_norm(model: nn.Module) -> Iterator[nn.Module]:
    """Make every ``BatchNorm2d`` of ``model`` a :class:`GlobalBatchNorm2d` inside the block.

    The class of each module is swapped in place and restored on exit: parameters, buffers
    and the optimizer's references stay the same objects, and the model leaves the block with
    its own classes, so its state dict and pickles never name this module.
    """
    swapped = [m for m in model.modules() if type(m) is nn.BatchNorm2d]
    for module in swapped:
        if not (module.affine and module.track_running_stats and module.momentum is not None):
            raise ValueError(f"synced batch norm needs affine EMA batch norm, got {module}")
        module.__class__ = GlobalBatchNorm2d
    try:
        yield model
    finally:
        for module in swapped:
            module.__class__ = nn.BatchNorm2d
