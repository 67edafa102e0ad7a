"""The README's result tables, printed as markdown from a run's metric files.

``python -m labelnoise.tables`` reads the grid of ``params.yaml`` under ``metrics/``;
``--experiments`` pools the workspace's run with every finished experiment that differs from it
only in ``seed`` (as ``stages/regress.py --experiments`` does). With several seeds each cell is
the mean over seeds with the seeds' range.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.clean import CEILING
from labelnoise.metrics import BASELINE, Grid, Metrics, collect, is_reference


def _cell(values: pd.Series, digits: int) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    mean = f"{values.mean():.{digits}f}"
    if len(values) == 1:
        return mean
    return f"{mean} ({values.min():.{digits}f}–{values.max():.{digits}f})"


def accuracy_markdown(metrics: Metrics, arms: Sequence[str]) -> str:
    """Test accuracy per rate (rows) and arm (columns); ``none`` = trained on the noisy labels."""
    runs = metrics.runs
    lines = ["| rate | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for rate, at_rate in runs.groupby("rate"):
        cells = [_cell(at_rate.loc[at_rate["method"] == arm, "accuracy"], 3) for arm in arms]
        lines.append(f"| {rate:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def share_markdown(metrics: Metrics, methods: Sequence[str], *, against: str) -> str:
    """Per method and nonzero rate, the share of the noisy baseline's gap it closes with its
    95% interval (:func:`labelnoise.regress.gap_closed`): ``against="ceiling"`` measures the
    gap to the clean-label ceiling (*gap closed*), ``against="oracle"`` to the drop-oracle
    (*recovery*)."""
    from labelnoise.regress import ceiling_arm, gap_closed

    if against not in ("ceiling", "oracle"):
        raise ValueError(f"against must be 'ceiling' or 'oracle', got {against!r}")
    runs = metrics.runs
    rates = [r for r in sorted(set(runs["rate"])) if r > 0]
    lines = ["| method | " + " | ".join(f"@{r:g}" for r in rates) + " |"]
    lines.append("|---" * (len(rates) + 1) + "|")
    for method in methods:
        cells = []
        for rate in rates:
            target = ceiling_arm(runs, rate) if against == "ceiling" else (rate, CEILING)
            share = target and gap_closed(runs, rate=rate, method=method, target=target)
            cells.append("–" if not share else f"{share[0]:.2f} [{share[1]:.2f}, {share[2]:.2f}]")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def change_markdown(metrics: Metrics, methods: Sequence[str]) -> str:
    """Per method and rate, its test accuracy minus the noisy baseline's in points, with a 95%
    interval (:func:`labelnoise.regress.accuracy_change`): the figure that needs no ceiling,
    as with your own images."""
    from labelnoise.regress import accuracy_change

    runs = metrics.runs
    rates = sorted(set(runs["rate"]))
    lines = ["| method | " + " | ".join(f"@{r:g}" for r in rates) + " |"]
    lines.append("|---" * (len(rates) + 1) + "|")
    for method in methods:
        cells = []
        for rate in rates:
            change = accuracy_change(runs, rate=rate, method=method)
            cells.append(
                "–" if change is None else
                f"{100 * change[0]:+.1f} [{100 * change[1]:+.1f}, {100 * change[2]:+.1f}]"
            )  # fmt: skip
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detection_markdown(metrics: Metrics, methods: Sequence[str], *, rate: float) -> str:
    """Per method: F1 of the flags and AUROC of the scores at every nonzero rate, and at ``rate``
    F1 at k = flips, flags per flip; the share of correct labels flagged at rate 0."""
    detect = metrics.detect
    rates = [r for r in sorted(set(detect["rate"])) if r > 0]
    head = [f"F1 @{r:g}" for r in rates] + [f"AUROC @{r:g}" for r in rates]
    head += [f"F1 at k @{rate:g}", f"flags/flips @{rate:g}", "flagged @0"]
    lines = ["| method | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for method in methods:
        mine = detect[detect["method"] == method]
        at = {r: mine[np.isclose(mine["rate"], r)] for r in [0.0, *rates]}
        cells = [_cell(at[r]["f1"], 2) for r in rates]
        cells += [_cell(at[r]["auroc"], 3) for r in rates]
        chosen = mine[np.isclose(mine["rate"], rate)]
        cells += [_cell(chosen["f1_at_k"], 2), _cell(chosen["flag_ratio"], 2)]
        cells.append(_cell(at[0.0]["false_positive_rate"], 3) if len(at[0.0]) else "–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def noise_rate_markdown(metrics: Metrics, *, cleanlab: str = "cleanlab") -> str:
    """True noise rate beside the trusted set's estimate and cleanlab's own, per rate."""
    detect = metrics.detect
    lines = [
        "| rate | true | trusted set | cleanlab |",
        "|---|---|---|---|",
    ]
    for rate, at_rate in detect.groupby("rate"):
        mine = at_rate[at_rate["method"] == cleanlab]
        lines.append(
            f"| {rate:g} | {_cell(mine['true_noise_rate'], 3)} | "
            f"{_cell(mine['trusted_noise_rate'], 3)} | {_cell(mine['estimated_noise_rate'], 3)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from labelnoise.params import load_params

    parser = argparse.ArgumentParser(prog="python -m labelnoise.tables", description=__doc__)
    parser.add_argument("--metrics-dir", type=Path, default=Path("metrics"))
    parser.add_argument("--experiments", action="store_true", help="pool the seed replicates")
    parser.add_argument(
        "--rev", action="append", help="with --experiments: those based on this git revision "
        "(default HEAD; repeat for several)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    params = load_params()
    grid = Grid.from_params(params)
    with tempfile.TemporaryDirectory() as scratch:
        if args.experiments:
            from labelnoise.replicates import export_metrics, find_replicates

            replicates = find_replicates(".", revs=args.rev).replicates
            if not replicates:
                raise ValueError("no finished run shares params.yaml except for seed")
            roots = export_metrics(replicates, Path(scratch))
            metrics = collect(roots, grid=grid, seeds=[r.seed for r in replicates])
        else:
            metrics = collect([args.metrics_dir], grid=grid, seeds=[params.seed])
    seeds = sorted(set(metrics.runs["seed"]))
    cleaned = [m for m in grid.retrained if not is_reference(m)]
    detected = [m for m in grid.detected if not is_reference(m)]
    print(f"seeds {seeds}; each cell: mean" + (" (range over seeds)" if len(seeds) > 1 else ""))
    print("\nTest accuracy\n\n" + accuracy_markdown(metrics, [BASELINE, *grid.retrained]))
    print(
        "\nGap closed to the clean-label ceiling, 95% interval\n\n"
        + share_markdown(metrics, cleaned, against="ceiling")
    )
    print(
        "\nRecovery (gap closed to the drop-oracle), 95% interval\n\n"
        + share_markdown(metrics, cleaned, against="oracle")
    )
    print(
        "\nAccuracy change against no cleaning, points, 95% interval\n\n"
        + change_markdown(metrics, cleaned)
    )
    rate = params.report.rate
    print("\nDetection\n\n" + detection_markdown(metrics, detected, rate=rate))
    print("\nNoise rate\n\n" + noise_rate_markdown(metrics))


if __name__ == "__main__":
    from labelnoise.cli import run_stage

    run_stage(main)
