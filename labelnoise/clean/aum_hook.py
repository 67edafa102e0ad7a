"""The training side of :mod:`labelnoise.clean.aum`: a trainer hook that records margins.

Kept apart from the method so that reading its params and capabilities imports no torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class AUMHook:
    """Trainer hook that accumulates every example's margin from the training forward passes.

    Implements the ``labelnoise.train.TrainHook`` protocol; the loss itself is the plain
    per-example cross-entropy.

    Parameters
    ----------
    n : int
        Number of training examples.
    label_smoothing : float
        Passed to the cross-entropy.
    """

    def __init__(self, n: int, *, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing
        self.margin_sum = torch.zeros(n, dtype=torch.float64)
        self.count = torch.zeros(n, dtype=torch.int64)

    def loss(self, logits: Tensor, targets: Tensor, index: Tensor, epoch: int) -> Tensor:
        """Per-example cross-entropy, shape ``(B,)``; records the batch's margins on the way."""
        with torch.no_grad():
            if self.margin_sum.device != logits.device:
                self.margin_sum = self.margin_sum.to(logits.device)
                self.count = self.count.to(logits.device)
            index = index.to(logits.device)
            z = logits.detach().float()
            assigned = z.gather(1, targets.unsqueeze(1)).squeeze(1)
            others = z.scatter(1, targets.unsqueeze(1), float("-inf")).amax(dim=1)
            self.margin_sum.index_add_(0, index, (assigned - others).double())
            self.count.index_add_(0, index, torch.ones_like(index))
        return F.cross_entropy(
            logits, targets, reduction="none", label_smoothing=self.label_smoothing
        )

    def after_step(self) -> None:
        """Nothing to update: the margins were recorded in :meth:`loss`."""

    def end_epoch(self, epoch: int) -> None:
        """Nothing to do: each example's margin was recorded once this epoch."""

    def aum(self) -> np.ndarray:
        """``(n,)`` float64 mean margin of every example over the steps it was seen."""
        count = self.count.cpu()
        if (count == 0).any():
            missing = int((count == 0).sum())
            raise ValueError(f"aum: {missing} training example(s) were never seen in training")
        return (self.margin_sum.cpu() / count).numpy()

    def state_dict(self) -> dict:
        """Margin sums and counts as CPU tensors."""
        return {"margin_sum": self.margin_sum.cpu().clone(), "count": self.count.cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (e.g. when resuming from a checkpoint)."""
        if tuple(state["margin_sum"].shape) != tuple(self.margin_sum.shape):
            raise ValueError(
                f"aum: checkpoint has {state['margin_sum'].shape[0]} margins, "
                f"expected {self.margin_sum.shape[0]}"
            )
        device = self.margin_sum.device
        self.margin_sum = state["margin_sum"].to(device).clone()
        self.count = state["count"].to(device).clone()
