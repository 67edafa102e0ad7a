"""Where the pipeline's per-cell result files live, and reading exactly those of one grid.

A metrics root holds ``baseline/<rate>.json`` (trained on the noisy labels as given),
``retrain/<method>/<rate>.json`` (trained on what a method kept) and
``detect/<rate>-<method>.json`` (flags and scores against the true flips). Files of rates or
methods no longer in ``params.yaml`` may stay on disk after an earlier run: readers here open the
files the grid names and nothing else, and a missing one is an error.

Tables returned (one row per run, ``seed`` tells replicate runs apart):

* runs: ``seed, rate, method, accuracy, balanced_accuracy, macro_f1, macro_precision,
  macro_recall, n_test, n_correct, fold_accuracy, fold_ece`` — method ``"none"`` is the
  baseline, the only one with the fold models' accuracy and calibration error (NaN elsewhere);
* per_class: ``seed, rate, method, class, precision, recall, f1, support``;
* detect: ``seed, rate, method, precision, recall, f1, auroc, auprc, n_flagged, n_flipped,
  false_positives, f1_at_k, flag_ratio, false_positive_rate, true_noise_rate,
  trusted_noise_rate, estimated_noise_rate``: the method's own estimate of the rate, and the
  trusted set's, the same for every method of a rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from labelnoise.clean import BASELINE
from labelnoise.layout import detect_record, rate_record

DETECT_COLUMNS = (
    "precision",
    "recall",
    "f1",
    "auroc",
    "auprc",
    "n_flagged",
    "n_flipped",
    "false_positives",
    "f1_at_k",
    "flag_ratio",
    "false_positive_rate",
    "true_noise_rate",
    "trusted_noise_rate",
    "estimated_noise_rate",
)


@dataclass(frozen=True)
class Grid:
    """The cells one pipeline run produces.

    Attributes
    ----------
    rates : tuple of float
        The grid's rates (:attr:`labelnoise.params.Params.rates`).
    detected : tuple of str
        Methods whose flags are scored against the flips (``clean.methods`` and
        ``clean.trained``, without ``none``, which flags nothing).
    retrained : tuple of str
        Every retrained arm (``retrain.arms``: the dropping methods, ``<method>_relabel``, the
        robust losses); the baseline ``none`` is read from ``baseline/``.
    """

    rates: tuple[float, ...]
    detected: tuple[str, ...]
    retrained: tuple[str, ...]

    @classmethod
    def from_params(cls, params) -> Grid:
        """The grid of a validated :class:`labelnoise.params.Params`."""
        detected = [m for m in params.clean.cleaned if m != BASELINE]
        return cls(
            tuple(float(r) for r in params.rates),
            tuple(detected),
            tuple(params.retrain.arms),
        )


def is_reference(arm: str) -> bool:
    """Whether a retrained arm is a reference point, not a way to clean: the baseline, the
    arms of the methods that read the true flips (``oracle``, ``random``) and their relabel
    arms (``oracle_relabel``: every true label)."""
    from labelnoise.clean import METHODS
    from labelnoise.clean.relabel import SUFFIX

    method = arm.removesuffix(SUFFIX)
    return method in METHODS and METHODS[method].reference


def baseline_file(root: Path, rate: float) -> Path:
    """``<root>/baseline/<rate>.json``: the baseline's metrics at ``rate``."""
    return rate_record(Path(root) / "baseline", rate)


def retrain_file(root: Path, method: str, rate: float) -> Path:
    """``<root>/retrain/<method>/<rate>.json``: a retrained arm's metrics at ``rate``."""
    return rate_record(Path(root) / "retrain" / method, rate)


def detect_file(root: Path, rate: float, method: str) -> Path:
    """``<root>/detect/<rate>-<method>.json``: a method's detection metrics at ``rate``."""
    return detect_record(Path(root) / "detect", rate, method)


class Metrics(NamedTuple):
    """The metric files of one or more pipeline runs as long tables (see the module docstring)."""

    runs: pd.DataFrame
    per_class: pd.DataFrame
    detect: pd.DataFrame


def read_record(path: Path) -> dict:
    """One metric file as a mapping; a missing or malformed file is a ``ValueError`` naming it."""
    from labelnoise.io import read_json

    if not Path(path).is_file():
        raise ValueError(f"{path}: metric file not found; run the pipeline first")
    record = read_json(path)
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return record


def _field(record: dict, key: str, path: Path):
    if key not in record:
        raise ValueError(f"{path}: missing key {key!r}")
    return record[key]


def _rate(record: dict, path: Path, expected: float) -> float:
    rate = _field(record, "rate", path)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{path}: rate must be a number in [0, 1), got {rate!r}")
    if not np.isclose(rate, expected):
        raise ValueError(f"{path}: holds rate {rate}, expected {expected}")
    return float(rate)


def _classification_row(
    path: Path, *, seed: int, rate: float, method: str
) -> tuple[dict, list[dict]]:
    record = read_record(path)
    n_test = _field(record, "n_test", path)
    n_correct = _field(record, "n_correct", path)
    if not (isinstance(n_test, int) and isinstance(n_correct, int) and 0 <= n_correct <= n_test):
        raise ValueError(
            f"{path}: needs integers 0 <= n_correct <= n_test, got {n_correct!r} and {n_test!r}"
        )
    if n_test == 0:
        raise ValueError(f"{path}: n_test is 0")
    per_class = _field(record, "per_class", path)
    if not isinstance(per_class, dict) or not per_class:
        raise ValueError(f"{path}: per_class must be a non-empty mapping of class name to scores")
    rate = _rate(record, path, rate)
    classes = [
        {
            "seed": seed,
            "rate": rate,
            "method": method,
            "class": name,
            **{key: float(_field(scores, key, path)) for key in ("precision", "recall", "f1")},
            "support": int(_field(scores, "support", path)),
        }
        for name, scores in per_class.items()
    ]
    row = {
        "seed": seed,
        "rate": rate,
        "method": method,
        "accuracy": float(_field(record, "accuracy", path)),
        "balanced_accuracy": float(_field(record, "balanced_accuracy", path)),
        "macro_f1": float(_field(record, "macro_f1", path)),
        # Two-class tasks only: half total error rate, the mean of the two class error rates.
        "hter": float(record.get("hter", np.nan)),
        "macro_precision": float(np.mean([c["precision"] for c in classes])),
        "macro_recall": float(np.mean([c["recall"] for c in classes])),
        "n_test": n_test,
        "n_correct": n_correct,
        # Baseline files only: the K fold models behind every score (accuracy, calibration).
        "fold_accuracy": float(record.get("fold_accuracy", np.nan)),
        "fold_ece": float(record.get("fold_ece", np.nan)),
        "file": str(path),
    }
    return row, classes


def _detect_row(path: Path, *, seed: int, rate: float, method: str) -> dict:
    record = read_record(path)
    found = str(_field(record, "method", path))
    if found != method:
        raise ValueError(f"{path}: holds method {found!r}, expected {method!r}")
    row = {"seed": seed, "rate": _rate(record, path, rate), "method": method}
    for key in DETECT_COLUMNS:
        value = _field(record, key, path)
        row[key] = np.nan if value is None else float(value)
    row["file"] = str(path)
    return row


def collect(roots: Sequence[Path], *, grid: Grid, seeds: Sequence[int] | None = None) -> Metrics:
    """Read the metric files of ``grid`` under each metrics root.

    Parameters
    ----------
    roots
        Metrics directories, one per replicate run of the pipeline (layout in the module
        docstring).
    grid
        The rates and methods to read; no other file is opened.
    seeds
        Seed of each root (same length, distinct); ``0, 1, ...`` when ``None``.

    Returns
    -------
    Metrics
        ``runs`` (method ``"none"`` from the baseline files), ``per_class`` and ``detect``
        tables, sorted by seed, rate and method; each also has a ``file`` column naming its
        source.

    Raises
    ------
    ValueError
        A root or one of the grid's files is missing, or a file holds another rate or method.
    """
    roots = [Path(root) for root in roots]
    if not roots:
        raise ValueError("no metrics directories given")
    seeds = list(range(len(roots))) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(roots):
        raise ValueError(f"got {len(seeds)} seeds for {len(roots)} metrics directories")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    if BASELINE in grid.retrained:
        raise ValueError(f"retrain method {BASELINE!r} would duplicate the baseline run")
    runs, classes, detect = [], [], []
    for root, seed in zip(roots, seeds, strict=True):
        if not root.is_dir():
            raise ValueError(f"{root}: metrics directory not found")
        cells = [(BASELINE, rate, baseline_file(root, rate)) for rate in grid.rates]
        cells += [
            (method, rate, retrain_file(root, method, rate))
            for method in grid.retrained
            for rate in grid.rates
        ]
        for method, rate, path in cells:
            row, per_class = _classification_row(path, seed=seed, rate=rate, method=method)
            runs.append(row)
            classes += per_class
        detect += [
            _detect_row(detect_file(root, rate, method), seed=seed, rate=rate, method=method)
            for rate in grid.rates
            for method in grid.detected
        ]
    order = ["seed", "rate", "method"]
    detect_df = pd.DataFrame(detect, columns=[*order, *DETECT_COLUMNS, "file"])
    return Metrics(
        runs=pd.DataFrame(runs).sort_values(order, ignore_index=True),
        per_class=pd.DataFrame(classes).sort_values([*order, "class"], ignore_index=True),
        detect=detect_df.sort_values(order, ignore_index=True),
    )
