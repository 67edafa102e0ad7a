"""Long tables for ``dvc plots``: one row per rate and method (or per epoch and rate).

The ``regress`` stage declares each table as a plot drawn with a template in ``.dvc/plots``: a
line per value of the ``method`` (or ``rate``) column, so the plots follow whatever grid
``params.yaml`` holds. Vega joins a line's points in the order of x, which suits curves over the
rate or the epoch; a precision-recall curve goes back on itself in x, so its table numbers its
points (``point``) and the ``curve`` template joins them in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from labelnoise import layout
from labelnoise.metrics import Grid
from labelnoise.regress import accuracy_fit_table


def accuracy_long(table: pd.DataFrame) -> pd.DataFrame:
    """``rate, method, accuracy``: mean test accuracy over seeds of each arm at each rate.

    Parameters
    ----------
    table
        :func:`labelnoise.regress.accuracy_table` (one row per seed, rate and method).
    """
    means = table.groupby(["rate", "method"], sort=True)["accuracy"].mean()
    return means.reset_index()


def accuracy_fit_long(table: pd.DataFrame, fit: dict, *, n_grid: int = 41) -> pd.DataFrame:
    """``rate, method, accuracy_fit``: the binomial GLM's curve per method on ``n_grid`` rates
    from 0 to the largest rate (methods without a fit are left out)."""
    wide = accuracy_fit_table(table, fit, n_grid=n_grid)
    fitted = [c for c in wide.columns if c.endswith("_fit")]
    long = wide.melt(
        id_vars="rate", value_vars=fitted, var_name="method", value_name="accuracy_fit"
    )
    long["method"] = long["method"].str.removesuffix("_fit")
    return long.dropna(subset=["accuracy_fit"]).reset_index(drop=True)


def detection_long(detect: pd.DataFrame) -> pd.DataFrame:
    """``rate, method, f1, auroc``: means over seeds (higher = better detection of the false
    labels; AUROC is empty where there are no flips)."""
    means = detect.groupby(["rate", "method"], sort=True)[["f1", "auroc"]].mean()
    return means.reset_index()


def pr_long(pr_dir: Path, *, rate: float, grid: Grid) -> pd.DataFrame:
    """``method, point, recall, precision``: the precision-recall curve of every detecting
    method at ``rate``, read from the ``clean`` stage's ``<rate>-<method>.json`` files; ``point``
    numbers each curve's points from 0 in the order they are joined."""
    from labelnoise.metrics import read_record

    frames = []
    for method in grid.detected:
        path = layout.pr_file(pr_dir, rate, method)
        curve = pd.DataFrame(read_record(path)["curve"], columns=["recall", "precision"])
        curve = curve.assign(method=method, point=range(len(curve)))
        frames.append(curve[["method", "point", "recall", "precision"]])
    return pd.concat(frames, ignore_index=True)


def training_long(live_dir: Path, *, rates: Sequence[float]) -> pd.DataFrame:
    """``rate, epoch, loss, val_acc``: the baseline's training curves at every rate, read from
    the dvclive folders ``<live_dir>/<rate>/plots/metrics/{train/loss,val/acc}.tsv``."""
    frames = []
    for rate in rates:
        metrics = layout.live_dir(live_dir, rate) / "plots" / "metrics"
        curves = []
        for path, column in (
            (metrics / "train" / "loss.tsv", "loss"),
            (metrics / "val" / "acc.tsv", "val_acc"),
        ):
            if not path.is_file():
                raise ValueError(f"{path}: training curve not found; run the train stage first")
            curve = pd.read_csv(path, sep="\t").rename(columns={"step": "epoch", path.stem: column})
            curves.append(curve.set_index("epoch")[[column]])
        frames.append(pd.concat(curves, axis=1).reset_index().assign(rate=rate))
    table = pd.concat(frames, ignore_index=True)
    return table[["rate", "epoch", "loss", "val_acc"]]
