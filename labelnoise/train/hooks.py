"""What a trainer hook provides: :func:`~labelnoise.train.fit` hands it the loss and tells it of
steps and epochs, and its state travels in the training's checkpoint.

The cleaning methods that learn while the model trains (Data Parameters, AUM) are such hooks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class TrainHook(Protocol):
    """Lets a cleaning method (Data Parameters, AUM) change the loss and see the logits; its
    ``loss`` takes the place of ``config.loss``."""

    def loss(self, logits: Tensor, targets: Tensor, index: Tensor, epoch: int) -> Tensor:
        """Per-example losses ``(B,)``; ``index`` holds the rows of the batch in the train
        arrays, ``epoch`` counts from 0."""
        ...

    def after_step(self) -> None:
        """Called after each optimizer step of the model."""
        ...

    def end_epoch(self, epoch: int) -> None:
        """Called once all steps of ``epoch`` (from 0) are done."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...
