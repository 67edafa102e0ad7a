"""Fix flagged labels instead of dropping them.

A relabel arm trains on every example a cleaning method leaves alone, plus the flagged ones whose
suggested label the model is confident of, under that label; the other flagged examples are
dropped. The suggested label is the most probable class other than the given one in the
out-of-sample probabilities (for the reference arm, the true label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelnoise.clean.base import check_flags, check_labels, validate_pred_probs

SUFFIX = "_relabel"
"""A relabel arm is named after its cleaning method with this suffix (``cleanlab_relabel``)."""


@dataclass(frozen=True)
class RelabelPlan:
    """What a relabel arm trains on.

    Attributes
    ----------
    labels : np.ndarray
        ``(n,)`` int64 labels to train with: the given ones, changed on ``relabeled`` rows.
    keep : np.ndarray
        ``(n,)`` bool, rows trained on: all but the flagged rows left without a confident
        suggestion.
    relabeled : np.ndarray
        ``(n,)`` bool, flagged rows given their suggested label.
    """

    labels: np.ndarray
    keep: np.ndarray
    relabeled: np.ndarray


def relabel_flagged(
    given: np.ndarray,
    flags: np.ndarray,
    suggestion_probs: np.ndarray,
    *,
    confidence: float,
    name: str = "relabel",
) -> RelabelPlan:
    """Relabel the flagged rows whose suggested class is probable enough; drop the others.

    Parameters
    ----------
    given
        ``(n,)`` int given labels in ``0..C-1``.
    flags
        ``(n,)`` bool, True = flagged as mislabelled by the cleaning method.
    suggestion_probs
        ``(n, C)`` class probabilities the suggestion is read from: the out-of-sample
        probabilities, or one-hot true labels for the reference arm.
    confidence
        In ``(0, 1]``: a flagged row is relabelled when the most probable class other than its
        given one has at least this probability (0.5: more likely than every other class
        together), and dropped otherwise.
    name
        Who asks, named in errors.

    Returns
    -------
    RelabelPlan
        Unflagged rows keep their given label; only flagged rows change or go.
    """
    if not 0.0 < confidence <= 1.0:
        raise ValueError(f"{name}: confidence must be in (0, 1], got {confidence!r}")
    probs = np.asarray(suggestion_probs)
    if probs.ndim != 2:
        raise ValueError(f"{name}: suggestion_probs must be (n, C), got shape {probs.shape}")
    given = check_labels(given, n_classes=probs.shape[1], what="given labels", name=name)
    flags = check_flags(name, flags, len(given))
    probs = validate_pred_probs(probs, n=len(given), n_classes=probs.shape[1], name=name)
    others = probs.copy()
    others[np.arange(len(given)), given] = -1.0  # the suggestion is never the given label
    suggested = others.argmax(axis=1)
    sure = others[np.arange(len(given)), suggested] >= confidence
    relabeled = flags & sure
    labels = given.copy()
    labels[relabeled] = suggested[relabeled]
    return RelabelPlan(labels=labels, keep=~flags | relabeled, relabeled=relabeled)
