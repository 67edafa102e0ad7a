"""A training's checkpoint: saved atomically after every epoch, resumed only by a run of the same
settings, data and seed, which then ends exactly where an uninterrupted run does.

No generator state is stored: the randomness of epoch ``e`` is derived again from
``(seed, e)`` (:func:`labelnoise.train.prepare.derive_seed`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from labelnoise.io import atomic_path
from labelnoise.train.config import TrainConfig

if TYPE_CHECKING:
    from labelnoise.train.hooks import TrainHook

# Fields that do not change what is learnt: a checkpoint may be resumed with other values.
_RUNTIME_FIELDS = ("device", "threads", "compile", "eval_batch_size")


def fingerprint(
    images: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray | None,
    config: TrainConfig,
    seed: int,
    n_classes: int,
    hook: TrainHook | None,
    epoch_size: int,
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the training's arguments (those of
    :func:`~labelnoise.train.fit`) that change what is learnt, its data's digest included.

    Training on ``rows`` ``(m,)`` (all when ``None``) of ``images`` uint8 ``(n, H, W, 3)`` and
    ``labels`` ``(n,)`` gets the fingerprint of training on copies of those rows.
    """
    n = len(images) if rows is None else len(rows)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(labels if rows is None else labels[rows]).tobytes())
    # The images' bytes in C order, a bounded chunk at a time: one bytes object of them all
    # would be another copy of the training set.
    step = max(1, 2**24 // max(math.prod(images.shape[1:]), 1))
    for a in range(0, n, step):
        block = images[a : a + step] if rows is None else images[rows[a : a + step]]
        digest.update(np.ascontiguousarray(block).data)
    cfg = {k: v for k, v in dataclasses.asdict(config).items() if k not in _RUNTIME_FIELDS}
    return {
        "config": cfg,
        "seed": seed,
        "n_classes": n_classes,
        "shape": [n, *images.shape[1:]],
        "data": digest.hexdigest(),
        "hook": None if hook is None else type(hook).__qualname__,
        "epoch_size": epoch_size,
    }


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint file of one training, at ``path``, and the :func:`fingerprint` ``key`` it
    must match to be resumed."""

    path: Path
    key: dict[str, Any]

    def resume(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        hook: TrainHook | None,
        *,
        announce: bool,
    ) -> tuple[list[dict[str, Any]], int]:
        """Load a matching checkpoint into ``model``, ``optimizer`` and ``hook``; return its
        history and the epoch to start at (none and 0 without one). ``announce``: say so on
        stderr when a checkpoint of other settings is left to be overwritten."""
        device = next(model.parameters()).device
        state = _load(self.path, self.key, device, announce=announce)
        if state is None:
            return [], 0
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if hook is not None and state.get("hook") is not None:
            hook.load_state_dict(state["hook"])
        return list(state["history"]), int(state["epoch"])

    def save(
        self,
        epoch: int,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        hook: TrainHook | None,
        history: list[dict[str, Any]],
    ) -> None:
        """Write the state after ``epoch`` epochs (and the ``history`` of them), atomically: an
        interruption leaves the previous checkpoint whole."""
        state = {
            "key": self.key,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "hook": None if hook is None else hook.state_dict(),
            "history": history,
        }
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)


def _load(path: Path, key: dict, device: torch.device, *, announce: bool) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: unreadable checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("key") != key:
        # A finished or abandoned run of other settings (the pipeline keeps checkpoints between
        # runs): resuming it would be wrong, so this run starts afresh and overwrites it.
        if announce:
            print(
                f"{path}: checkpoint of other settings, data or seed; starting afresh",
                file=sys.stderr,
            )
        return None
    return state
