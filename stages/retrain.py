"""Stage `retrain`: at every rate, train on what one cleaning method keeps and test on the clean
test set.

With ``train.distributed`` the stage re-executes itself under torchrun as
``train.nproc_per_node`` processes that train data-parallel; the first one writes the outputs.
"""

import argparse
import os
import sys
from contextlib import nullcontext
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import read_json, write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="corrupt's folder of rates")
    parser.add_argument("--flags", type=Path, required=True, help="the method's <rate>.npz")
    parser.add_argument("--baseline", type=Path, required=True, help="train's <rate>.json")
    parser.add_argument("--out", type=Path, required=True, help="folder of <rate>.json metrics")
    parser.add_argument("--checkpoints", type=Path, required=True, help="resumable state")
    args = parser.parse_args()
    params = load_params()

    from labelnoise.clean import load_result
    from labelnoise.data import load_dataset
    from labelnoise.io import atomic_path
    from labelnoise.metrics import rate_name
    from labelnoise.runs import read_noisy_labels

    dataset = load_dataset(args.dataset, mmap=True)
    cells = []
    for rate in params.noise.rates:
        name = rate_name(rate)
        labels = read_noisy_labels(args.noisy / name / "labels.csv", dataset)
        keep = ~load_result(args.flags / f"{name}.npz").flags
        if len(keep) != len(labels):
            raise ValueError(f"{args.flags}: {len(keep)} flags for {len(labels)} train examples")
        cells.append((rate, name, labels, keep))

    stage = nullcontext((0, 1))  # nothing to train: no torch, no workers
    if not all(keep.all() for *_, keep in cells):
        from labelnoise.train import resolve_device
        from labelnoise.train.distributed import data_parallel_stage

        stage = data_parallel_stage(
            os.path.abspath(__file__),
            sys.argv[1:],
            enabled=params.train.distributed,
            nproc_per_node=params.train.nproc_per_node,
            cuda=resolve_device(params.train.device).type == "cuda",
        )
    records = {}
    with stage as (rank, _):
        for rate, name, labels, keep in cells:
            records[name] = _retrain(args, params, dataset, rate, name, labels, keep)
    if rank > 0:
        return  # every process holds the same metrics; the first one writes them
    with atomic_path(args.out, directory=True) as tmp:
        for name, record in records.items():
            write_json(tmp / f"{name}.json", record)
            kept, accuracy = record["n_kept"], record["accuracy"]
            print(f"{args.method} @ {name}: kept {kept}, accuracy {accuracy:.4f}")


def _retrain(args, params, dataset, rate: float, name: str, labels, keep) -> dict:
    if keep.all():
        # Same examples, labels, seed and config as the baseline: its result is this run's (bit
        # for bit on CPU; on CUDA a rerun would differ only by run-to-run noise).
        metrics = read_json(args.baseline / f"{name}.json")
        metrics = {k: v for k, v in metrics.items() if k != "rate"}
    else:
        from labelnoise.runs import train_and_test

        metrics = train_and_test(
            dataset,
            labels["given"].to_numpy(),
            params=params.train,
            seed=params.seed,
            keep=keep,
            checkpoint_path=args.checkpoints / f"{name}.pt",
            desc=f"retrain {args.method} rate={name}",
        ).metrics
    kept_flipped = int(labels["flipped"].to_numpy()[keep].sum())
    return {
        "rate": rate,
        "method": args.method,
        "n_kept": int(keep.sum()),
        "n_removed": int((~keep).sum()),
        "n_flipped_kept": kept_flipped,
        **metrics,
    }


if __name__ == "__main__":
    run_stage(main)
