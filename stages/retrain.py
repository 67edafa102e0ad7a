"""Stage `retrain`: train on what a cleaning method keeps, test on the clean test set."""

import argparse
from pathlib import Path

import pandas as pd

from labelnoise.cli import run_stage
from labelnoise.io import read_json, write_json
from labelnoise.params import load_params


def _train(args: argparse.Namespace, params, given, keep) -> dict:
    from labelnoise.data import load_dataset
    from labelnoise.runs import train_and_test

    tested = train_and_test(
        load_dataset(args.dataset, mmap=True),
        given,
        params=params.train,
        seed=params.seed,
        keep=keep,
        checkpoint_path=args.checkpoints / "model.pt",
        desc=f"retrain {args.method} rate={args.rate}",
    )
    return tested.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--flags", type=Path, required=True, help=".npz of the clean stage")
    parser.add_argument("--baseline", type=Path, required=True, help="metrics of `train`")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path, required=True, help="resumable state")
    args = parser.parse_args()
    params = load_params()

    from labelnoise.clean import load_result

    labels = pd.read_csv(args.labels)
    keep = ~load_result(args.flags).flags
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    if keep.all():
        # Same examples, labels, seed and config as the baseline: on CPU training is bitwise
        # deterministic, so the baseline's result is this run's result.
        metrics = {k: v for k, v in read_json(args.baseline).items() if k != "rate"}
    else:
        metrics = _train(args, params, labels["given"].to_numpy(), keep)
    kept_flipped = int(labels["flipped"].to_numpy()[keep].sum())
    write_json(
        args.metrics,
        {
            "rate": args.rate,
            "method": args.method,
            "n_kept": int(keep.sum()),
            "n_removed": int((~keep).sum()),
            "n_flipped_kept": kept_flipped,
            **metrics,
        },
    )
    accuracy = metrics["accuracy"]
    print(f"{args.method} @ {args.rate}: kept {int(keep.sum())}, accuracy {accuracy:.4f}")


if __name__ == "__main__":
    run_stage(main)
