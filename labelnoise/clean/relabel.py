"""Fix flagged labels instead of dropping them.

A relabel arm trains on every example a cleaning method leaves alone, plus the flagged ones whose
suggested label the model is confident of, under that label; the other flagged examples are
dropped. The suggested label is the most probable class other than the given one in the
out-of-sample probabilities (for the reference arm, the true label).

A second-generation arm (:func:`second_generation`) relabels with a model trained on the cleaned
set as well — the drop arm's model, far cleaner than the fold models, which saw every false
label — averaged with the fold models' out-of-sample view (iterated cleaning in the spirit of
INCV, Chen et al., ICML 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelnoise.clean.base import check_flags, check_labels, validate_pred_probs

SUFFIX = "_relabel"
"""A relabel arm is named after its cleaning method with this suffix (``cleanlab_relabel``)."""

SECOND_SUFFIX = "_second"
"""A second-generation arm is named after its cleaning method with this suffix."""


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
    given, flags, probs = _checked(given, flags, suggestion_probs, confidence, name)
    others = probs.copy()
    others[np.arange(len(given)), given] = -1.0  # the suggestion is never the given label
    suggested = others.argmax(axis=1)
    sure = others[np.arange(len(given)), suggested] >= confidence
    relabeled = flags & sure
    labels = given.copy()
    labels[relabeled] = suggested[relabeled]
    return RelabelPlan(labels=labels, keep=~flags | relabeled, relabeled=relabeled)


def second_generation(
    given: np.ndarray,
    flags: np.ndarray,
    first_probs: np.ndarray,
    oos_probs: np.ndarray,
    *,
    confidence: float,
    name: str = "second",
) -> RelabelPlan:
    """The labels of a second model: the flagged rows labelled by a first model trained on the
    unflagged ones together with the fold models.

    Parameters
    ----------
    given
        ``(n,)`` int given labels in ``0..C-1``.
    flags
        ``(n,)`` bool, the cleaning method's flags: the rows the first model did not train on.
    first_probs
        ``(n, C)`` the first model's probabilities of every train image.
    oos_probs
        ``(n, C)`` the fold models' out-of-sample probabilities.
    confidence
        In ``(0, 1]``: how probable the class must be, in the mean of the two, for a flagged
        row to take it.

    Returns
    -------
    RelabelPlan
        A flagged row takes the most probable class of the mean of ``first_probs`` and
        ``oos_probs`` (which may be its given label) when that class has at least
        ``confidence``, and is dropped otherwise; unflagged rows keep their given label — the
        first model trained on them, so its view of them is no evidence (relabelling them by
        it moved correct labels of confusable classes at rate 0). ``relabeled`` marks the rows
        whose label changed.
    """
    given, flags, first = _checked(given, flags, first_probs, confidence, name)
    _, _, oos = _checked(given, flags, oos_probs, confidence, name)
    probs = (first + oos) / 2
    predicted = probs.argmax(axis=1)
    sure = flags & (probs[np.arange(len(given)), predicted] >= confidence)
    labels = np.where(sure, predicted, given)
    return RelabelPlan(labels=labels, keep=~flags | sure, relabeled=labels != given)


def _checked(given, flags, probs, confidence, name):
    """The inputs of a relabelling rule, checked: labels, flags and probabilities."""
    if not 0.0 < confidence <= 1.0:
        raise ValueError(f"{name}: confidence must be in (0, 1], got {confidence!r}")
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"{name}: probabilities must be (n, C), got shape {probs.shape}")
    given = check_labels(given, n_classes=probs.shape[1], what="given labels", name=name)
    flags = check_flags(name, flags, len(given))
    probs = validate_pred_probs(probs, n=len(given), n_classes=probs.shape[1], name=name)
    return given, flags, probs
