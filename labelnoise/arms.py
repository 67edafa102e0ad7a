"""The retrained arms: what an arm trains on at each rate, from a cleaning method's flags and
the suggested labels, and the metric file that records it.

An arm (:data:`ARMS`) drops what a method flags, relabels what it can fix, lets the drop arm's
model relabel (second generation), or trains through the noise with a robust loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise import layout
from labelnoise.noisy_labels import read_noisy_labels

ARMS = ("drop", "relabel", "second", "robust")
"""How a retrained arm treats a cleaning method's flags: drop the flagged examples, relabel
those with a confident suggestion (dropping the rest), let the drop arm's model relabel
(second generation), or none of them (a robust loss trains on every noisy label)."""


def arm_name(method: str, arm: str) -> str:
    """The arm's name in metric files: the method (or robust loss), ``<method>_relabel``,
    ``<method>_second``."""
    from labelnoise.clean.relabel import SECOND_SUFFIX, SUFFIX

    return method + {"relabel": SUFFIX, "second": SECOND_SUFFIX}.get(arm, "")


def arm_cells(
    dataset,
    rates: list[float],
    *,
    arm: str,
    method: str,
    noisy: Path,
    flags: Path | None,
    train: Path | None,
    first: Path | None,
    confidence: float,
) -> list[tuple]:
    """What one arm trains on at each of ``rates``, from the stages' folders of rates
    (``noisy``: corrupt's; ``flags``: the method's clean results; ``train``: the train stage's;
    ``first``: the drop arm's train probabilities): one ``(rate, name, labels, given, keep,
    same)`` per rate, ``same`` when it would train exactly the baseline."""
    cells = []
    for rate in rates:
        name = layout.rate_name(rate)
        labels = read_noisy_labels(layout.noisy_labels(noisy, rate), dataset)
        given, keep = arm_inputs(
            labels, arm=arm, method=method, flags=flags and layout.result_file(flags, rate),
            oos_probs=train and layout.oos_probs(train, rate), confidence=confidence,
            n_classes=dataset.n_classes, first_probs=first and layout.first_probs(first, rate),
        )  # fmt: skip
        same = keep.all() and np.array_equal(given, labels["given"]) and arm != "robust"
        cells.append((rate, name, labels, given, keep, same))
    return cells


def arm_inputs(
    labels: pd.DataFrame,
    *,
    arm: str,
    method: str,
    flags: Path | None,
    oos_probs: Path | None,
    confidence: float,
    n_classes: int,
    first_probs: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`arm_labels` of one rate from the files the retrain stage reads: the method's
    result ``flags`` (:func:`labelnoise.layout.result_file`; drop, relabel, second), the fold
    models' out-of-sample probabilities (:func:`labelnoise.layout.oos_probs`; relabel by a
    method that does not suggest the truth, second) and the drop arm's probabilities of the
    train images (``first_probs``, :func:`labelnoise.layout.first_probs`; second)."""
    from labelnoise.clean import get_method, load_result
    from labelnoise.io import load_npy

    if arm == "robust":
        return arm_labels(labels, arm="robust")
    flagged = load_result(flags).flags
    if len(flagged) != len(labels):
        raise ValueError(f"{flags}: {len(flagged)} flags for {len(labels)} train examples")
    probs = None
    if arm == "second":
        probs = (load_npy(first_probs), load_npy(oos_probs))
    elif arm == "relabel":
        if get_method(method).suggests_truth:
            probs = np.eye(n_classes)[labels["true"].to_numpy()]
        else:
            probs = load_npy(oos_probs)
    return arm_labels(
        labels, arm=arm, flags=flagged, suggestion_probs=probs,
        confidence=confidence, name=f"{method} ({arm})",
    )  # fmt: skip


def arm_labels(
    labels: pd.DataFrame,
    *,
    arm: str,
    flags: np.ndarray | None = None,
    suggestion_probs: np.ndarray | None = None,
    confidence: float = 0.5,
    name: str = "retrain",
) -> tuple[np.ndarray, np.ndarray]:
    """What one retrained arm trains on at one rate.

    Parameters
    ----------
    labels
        The rate's noisy labels (:func:`labelnoise.noisy_labels.read_noisy_labels`), ``n``
        rows.
    arm
        One of :data:`ARMS`.
    flags
        ``(n,)`` bool, the cleaning method's flags (``drop`` and ``relabel``).
    suggestion_probs
        ``(n, C)`` probabilities the suggested labels are read from (``relabel``, see
        :func:`labelnoise.clean.relabel.relabel_flagged`); for ``second`` the pair of the drop
        arm's model's and the fold models' (:func:`labelnoise.clean.relabel.second_generation`).
    confidence
        Of a suggestion, for ``relabel``.
    name
        Who asks, named in errors.

    Returns
    -------
    tuple of np.ndarray
        ``(n,)`` labels to train with and ``(n,)`` bool rows to train on.
    """
    given = labels["given"].to_numpy()
    if arm not in ARMS:
        raise ValueError(f"{name}: unknown arm {arm!r}; valid: {', '.join(ARMS)}")
    if arm == "robust":
        return given, np.ones(len(given), dtype=bool)
    if flags is None:
        raise ValueError(f"{name}: the {arm} arm needs the method's flags")
    if arm == "drop":
        return given, ~np.asarray(flags, dtype=bool)
    if suggestion_probs is None:
        raise ValueError(f"{name}: the {arm} arm needs suggestion probabilities")
    from labelnoise.clean.relabel import relabel_flagged, second_generation

    if arm == "second":
        first, oos = suggestion_probs
        plan = second_generation(given, flags, first, oos, confidence=confidence, name=name)
    else:
        plan = relabel_flagged(given, flags, suggestion_probs, confidence=confidence, name=name)
    return plan.labels, plan.keep


def arm_record(
    labels: pd.DataFrame,
    trained: np.ndarray,
    keep: np.ndarray,
    metrics: dict,
    *,
    rate: float,
    method: str,
) -> dict:
    """One arm's metric file at one rate: its test ``metrics`` and what it trained on.

    ``trained`` ``(n,)`` are the labels it trained with, ``keep`` ``(n,)`` the rows; the counts
    say how many examples it dropped, relabelled, and kept under a false label.
    """
    given, true = labels["given"].to_numpy(), labels["true"].to_numpy()
    return {
        "rate": rate,
        "method": method,
        "n_kept": int(keep.sum()),
        "n_removed": int((~keep).sum()),
        "n_relabeled": int((keep & (trained != given)).sum()),
        "n_flipped_kept": int(labels["flipped"].to_numpy()[keep].sum()),
        "n_wrong_kept": int((keep & (trained != true)).sum()),
        **metrics,
    }
