"""Per-example training losses: cross-entropy, and a loss robust to false labels.

Generalized cross-entropy (Zhang & Sabuncu, NeurIPS 2018) is ``(1 − p_y^q) / q`` of the
probability ``p_y`` the model gives the label: it tends to cross-entropy as ``q → 0`` and to the
mean absolute error at ``q = 1``. Its gradient is cross-entropy's times ``p_y^q``, so the
examples the model finds unlikely under their label (false labels, mostly) pull less.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from labelnoise.train.config import LOSSES


def generalized_cross_entropy(logits: Tensor, targets: Tensor, *, q: float) -> Tensor:
    """Generalized cross-entropy ``(1 − p_y^q) / q`` per example.

    Parameters
    ----------
    logits
        ``(B, C)`` float logits.
    targets
        ``(B,)`` int64 labels in ``[0, C)``.
    q
        In ``(0, 1]``; smaller is closer to cross-entropy.

    Returns
    -------
    Tensor
        ``(B,)`` losses in ``[0, 1 / q)``; lower = the model gives the label more probability.
    """
    log_p = torch.log_softmax(logits, dim=1).gather(1, targets.unsqueeze(1)).squeeze(1)
    # p^q = exp(q log p): stays finite where p underflows to 0 in float32.
    return (1.0 - torch.exp(q * log_p)) / q


def per_example_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    loss: str = "cross_entropy",
    label_smoothing: float = 0.0,
    gce_q: float = 0.7,
) -> Tensor:
    """The training loss of each example of a batch.

    Parameters
    ----------
    logits
        ``(B, C)`` float logits.
    targets
        ``(B,)`` int64 labels.
    loss
        One of :data:`LOSSES`.
    label_smoothing
        Of the cross-entropy (unused by ``gce``).
    gce_q
        ``q`` of the generalized cross-entropy.

    Returns
    -------
    Tensor
        ``(B,)`` losses; lower = better fit of the label.
    """
    if loss == "cross_entropy":
        return F.cross_entropy(logits, targets, reduction="none", label_smoothing=label_smoothing)
    if loss == "gce":
        return generalized_cross_entropy(logits, targets, q=gce_q)
    raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
