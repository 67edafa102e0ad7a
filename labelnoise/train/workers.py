"""Independent trainings side by side on the CPU: one Python thread each, the cores shared out.

A small CNN's kernels use two cores poorly: on 2 cores, two trainings of one thread each finish
sooner than the same two one after the other on two threads each (``bench/concurrent_fits.py``
measures by how much). torch releases the GIL inside its kernels, so threads of one process are
enough; each training stays deterministic, as it draws only from its own seeded generators.
On a terminal the trainings' bars each keep a line of their own; given a label per item, their
progress lines in a log each start with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from labelnoise.progress import progress_label

Item = TypeVar("Item")
Result = TypeVar("Result")


def worker_count(requested: int, *, jobs: int, device: torch.device, processes: int = 1) -> int:
    """How many trainings to run side by side.

    Parameters
    ----------
    requested
        ``train.workers``: 0 = automatic (on the CPU one per torch thread, at most ``jobs``; one on
        an accelerator, which runs one training's kernels well enough), else that many.
    jobs
        Independent trainings available.
    device
        Where they train.
    processes
        Data-parallel processes already sharing each training (torchrun): then one at a time,
        as every process must take the same steps in the same order.

    Returns
    -------
    int
        At least 1 and at most ``jobs`` (1 when ``jobs`` is 0).
    """
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 0:
        raise ValueError(f"workers must be an int >= 0, got {requested!r}")
    if processes > 1:
        return 1
    if requested == 0:
        requested = torch.get_num_threads() if device.type == "cpu" else 1
    return max(1, min(requested, jobs))


def map_workers(
    fn: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    workers: int,
    threads: int = 0,
    labels: Sequence[str] | None = None,
) -> list[Result]:
    """``[fn(item) for item in items]``, ``workers`` at a time, in the order of ``items``.

    Parameters
    ----------
    fn
        One training (or any work that spends its time in torch kernels).
    items
        What to call it on.
    workers
        Calls running at once; 1 runs them one after the other in this thread.
    threads
        torch threads per call while several run; 0 = torch's threads divided among the workers.
        torch's thread count is restored afterwards.
    labels
        One per item (e.g. ``"rate=0.2"``): the progress a call reports starts with its item's
        label (:func:`labelnoise.progress.progress_label`), so that calls side by side can be
        told apart in a log.

    Returns
    -------
    list
        The results, item by item.

    Raises
    ------
    Exception
        The first item's error (in item order) is raised once the calls already running end;
        calls not yet started are cancelled.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"{len(labels)} labels for {len(items)} items")

    def call(k: int) -> Result:
        if labels is None:
            return fn(items[k])
        with progress_label(labels[k]):
            return fn(items[k])

    if workers == 1 or len(items) <= 1:
        return [call(k) for k in range(len(items))]
    total = torch.get_num_threads()
    torch.set_num_threads(threads if threads > 0 else max(1, total // workers))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(call, k) for k in range(len(items))]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        torch.set_num_threads(total)
