"""Stage `retrain`: at every rate, train one arm and test it on the clean test set.

Arms (``--arm``): ``drop`` trains on what a cleaning method keeps; ``relabel`` also keeps the
flagged examples it can fix, under their suggested label (``retrain.confidence``); ``robust``
trains on every noisy label with a robust loss. Every arm takes the baseline's optimizer steps.
On the CPU ``train.workers`` rates train side by side.

With ``train.distributed`` the stage re-executes itself under torchrun as
``train.nproc_per_node`` processes that train data-parallel; the first one writes the outputs.
"""

import argparse
import os
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from labelnoise.cells import ARMS
from labelnoise.cli import run_stage
from labelnoise.io import read_json, write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arm", choices=ARMS, default="drop")
    parser.add_argument("--method", required=True, help="cleaning method, or robust loss")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="corrupt's folder of rates")
    parser.add_argument("--flags", type=Path, help="the method's <rate>.npz (drop, relabel)")
    parser.add_argument("--train", type=Path, help="train's folder of rates (relabel)")
    parser.add_argument("--baseline", type=Path, required=True, help="train's <rate>.json")
    parser.add_argument("--out", type=Path, required=True, help="folder of <rate>.json metrics")
    parser.add_argument("--checkpoints", type=Path, required=True, help="resumable state")
    args = parser.parse_args()
    if args.arm != "robust" and args.flags is None:
        parser.error(f"--arm {args.arm} needs --flags")
    if args.arm == "relabel" and args.train is None:
        parser.error("--arm relabel needs --train")
    params = load_params()

    from labelnoise.cells import arm_inputs, arm_name, arm_record, read_noisy_labels
    from labelnoise.data import load_dataset
    from labelnoise.io import atomic_path
    from labelnoise.metrics import rate_name

    dataset = load_dataset(args.dataset, mmap=True)
    train_params = params.train
    if args.arm == "robust":
        train_params = train_params.model_copy(update={"loss": args.method})
    cells = []
    for rate in params.rates:
        name = rate_name(rate)
        labels = read_noisy_labels(args.noisy / name / "labels.csv", dataset)
        flags = args.flags and args.flags / f"{name}.npz"
        given, keep = arm_inputs(
            labels, arm=args.arm, method=args.method, flags=flags,
            oos_probs=args.train and args.train / name / "oos_probs.npy",
            confidence=params.retrain.confidence, n_classes=dataset.n_classes,
        )  # fmt: skip
        same = keep.all() and np.array_equal(given, labels["given"]) and args.arm != "robust"
        cells.append((rate, name, labels, given, keep, same))

    stage = nullcontext((0, 1))  # nothing to train: no torch, no workers
    if not all(same for *_, same in cells):
        from labelnoise.train import resolve_device
        from labelnoise.train.distributed import data_parallel_stage

        stage = data_parallel_stage(
            os.path.abspath(__file__),
            sys.argv[1:],
            enabled=params.train.distributed,
            nproc_per_node=params.train.nproc_per_node,
            cuda=resolve_device(params.train.device).type == "cuda",
        )

    def run_cell(cell) -> dict:
        rate, name, labels, given, keep, same = cell
        if same:
            # Same examples, labels, seed and config as the baseline: its result is this
            # arm's (a rerun would differ only by rounding: thread count, CUDA kernels).
            metrics = read_json(args.baseline / f"{name}.json")
            metrics = {k: v for k, v in metrics.items() if k != "rate"}
        else:
            from labelnoise.cells import train_and_test

            metrics = train_and_test(
                dataset,
                given,
                params=train_params,
                seed=params.seed,
                keep=keep,
                checkpoint_path=args.checkpoints / f"{name}.pt",
                desc=f"retrain {args.method} ({args.arm}) rate={name}",
            ).metrics
        return arm_record(
            labels, given, keep, metrics, rate=rate, method=arm_name(args.method, args.arm)
        )

    with stage as (rank, size):
        jobs = sum(not same for *_, same in cells)
        if jobs:
            from labelnoise.train import resolve_device
            from labelnoise.train.workers import map_workers, worker_count

            device = resolve_device(params.train.device)
            workers = worker_count(params.train.workers, jobs=jobs, device=device, processes=size)
            arms = map_workers(run_cell, cells, workers=workers, threads=params.train.threads)
        else:
            arms = [run_cell(cell) for cell in cells]
    records = {cell[1]: record for cell, record in zip(cells, arms, strict=True)}
    if rank > 0:
        return  # every process holds the same metrics; the first one writes them
    with atomic_path(args.out, directory=True) as tmp:
        for name, record in records.items():
            write_json(tmp / f"{name}.json", record)
            print(
                f"{record['method']} @ {name}: kept {record['n_kept']}, relabelled "
                f"{record['n_relabeled']}, accuracy {record['accuracy']:.4f}"
            )


if __name__ == "__main__":
    run_stage(main)
