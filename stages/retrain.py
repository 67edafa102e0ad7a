"""Stage `retrain`: train on what a cleaning method keeps, test on the clean test set."""

import argparse
import os
import sys
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import read_json, write_json
from labelnoise.params import load_params


def _train(args: argparse.Namespace, params, dataset, given, keep) -> dict:
    from labelnoise.runs import train_and_test

    tested = train_and_test(
        dataset,
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
    from labelnoise.data import load_dataset
    from labelnoise.runs import read_noisy_labels

    dataset = load_dataset(args.dataset, mmap=True)
    labels = read_noisy_labels(args.labels, dataset)
    keep = ~load_result(args.flags).flags
    if len(keep) != len(labels):
        raise ValueError(f"{args.flags}: {len(keep)} flags for {len(labels)} train examples")
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    if keep.all():
        # Same examples, labels, seed and config as the baseline: its result is this run's (bit
        # for bit on CPU; on CUDA a rerun would differ only by run-to-run noise).
        metrics = {k: v for k, v in read_json(args.baseline).items() if k != "rate"}
    else:
        from labelnoise.train import resolve_device
        from labelnoise.train.distributed import data_parallel_stage

        stage = data_parallel_stage(
            os.path.abspath(__file__),
            sys.argv[1:],
            enabled=params.train.distributed,
            nproc_per_node=params.train.nproc_per_node,
            cuda=resolve_device(params.train.device).type == "cuda",
        )
        with stage as (rank, _):
            metrics = _train(args, params, dataset, labels["given"].to_numpy(), keep)
        if rank > 0:
            return  # every process holds the same metrics; the first one writes them
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
