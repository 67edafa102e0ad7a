"""Stage `regress`: accuracy vs false-label rate per method (binomial GLM and OLS), the rate read
back from test results, and each method's noise-rate estimate vs the truth."""

import argparse
import tempfile
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import write_csv, write_json
from labelnoise.params import load_params


def _replicates(scratch: Path) -> tuple[list[Path], list[int]]:
    from labelnoise.replicates import export_metrics, find_replicates

    survey = find_replicates(".")
    for line in survey.left_out:
        print(f"left out {line}")
    if not survey.replicates:
        raise ValueError(
            "no finished run shares params.yaml except for seed: run a seeds sweep first, e.g. "
            "dvc exp run --queue -S 'seed=1,2' && dvc queue start"
        )
    names = ", ".join(f"{r.name} (seed {r.seed})" for r in survey.replicates)
    print(f"pooling {len(survey.replicates)} replicate(s): {names}")
    roots = export_metrics(survey.replicates, scratch)
    return roots, [r.seed for r in survey.replicates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--metrics-dir", type=Path, nargs="+", help="one per replicate run")
    source.add_argument(
        "--experiments",
        action="store_true",
        help="pool the committed run and every finished DVC experiment that differs from "
        "params.yaml only in seed",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="seed of each metrics dir (default: params seed)"
    )
    parser.add_argument("--out", type=Path, required=True, help="every fit, as JSON")
    parser.add_argument("--summary", type=Path, required=True, help="headline figures, as JSON")
    parser.add_argument("--plots-dir", type=Path, required=True, help="where the plot tables go")
    parser.add_argument("--pr-dir", type=Path, required=True, help="clean's PR curves")
    parser.add_argument("--live-dir", type=Path, required=True, help="train's dvclive folders")
    args = parser.parse_args()
    params = load_params()
    section = params.regress
    if args.experiments and args.seeds is not None:
        raise ValueError("--seeds goes with --metrics-dir; experiments carry their own seeds")
    if args.metrics_dir and args.seeds is None and len(args.metrics_dir) > 1:
        raise ValueError("several --metrics-dir given: name the seed of each with --seeds")

    from labelnoise.metrics import Grid, collect
    from labelnoise.plots import (
        accuracy_fit_long,
        accuracy_long,
        detection_long,
        pr_long,
        training_long,
    )
    from labelnoise.regress import accuracy_table, headline, regression_report

    grid = Grid.from_params(params)
    with tempfile.TemporaryDirectory() as scratch:
        if args.experiments:
            roots, seeds = _replicates(Path(scratch))
        else:
            roots, seeds = args.metrics_dir, args.seeds or [params.seed]
        metrics = collect(roots, grid=grid, seeds=seeds)
    report = regression_report(
        metrics,
        reference=section.reference,
        drops=section.drops,
        n_boot=section.bootstrap,
        seed=params.seed,
    )
    table = accuracy_table(metrics.runs)
    plots = args.plots_dir
    write_csv(accuracy_long(table), plots / "accuracy.csv")
    fit = accuracy_fit_long(table, report["accuracy"], n_grid=section.grid)
    write_csv(fit, plots / "accuracy_fit.csv")
    detection = detection_long(metrics.detect)
    write_csv(detection.drop(columns="auroc"), plots / "detection_f1.csv")
    write_csv(detection.drop(columns="f1").dropna(), plots / "detection_auroc.csv")
    write_csv(pr_long(args.pr_dir, rate=params.report.rate, grid=grid), plots / "pr.csv")
    training = training_long(args.live_dir, rates=grid.rates)
    write_csv(training.drop(columns="val_acc"), plots / "training_loss.csv")
    write_csv(training.drop(columns="loss"), plots / "val_accuracy.csv")
    write_json(args.out, report)
    write_json(args.summary, headline(metrics, report, rate=params.report.rate))
    for name, entry in report["accuracy"]["methods"].items():
        slope = "n/a" if entry["slope"] is None else f"{entry['slope']:+.3f}"
        print(f"{name}: accuracy slope at rate 0 {slope} per unit rate")


if __name__ == "__main__":
    run_stage(main)
