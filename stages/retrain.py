"""Stage `retrain`: at every rate, train one arm and test it on the clean test set.

Arms (``--arm``): ``drop`` trains on what a cleaning method keeps (and with ``--save-probs``
keeps its model's probabilities of every train image and its weights, the baseline's where the
arm is the baseline); ``relabel`` also keeps the flagged examples it can fix, under their
suggested label (``retrain.confidence``); ``second`` trains on the labels the drop arm's model
gives (``--first``, its probabilities); ``robust`` trains on
every noisy label with a robust loss. Every arm takes the baseline's optimizer steps.
On the CPU ``train.workers`` rates train side by side.

With ``train.distributed`` the stage re-executes itself under torchrun as
``train.nproc_per_node`` processes that train data-parallel; the first one writes the outputs.
"""

import argparse
import os
import sys
from contextlib import ExitStack, nullcontext
from pathlib import Path

from labelnoise.arms import ARMS
from labelnoise.cli import run_stage
from labelnoise.io import atomic_path, read_json, save_npy, write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arm", choices=ARMS, default="drop")
    parser.add_argument("--method", required=True, help="cleaning method, or robust loss")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="corrupt's folder of rates")
    parser.add_argument("--flags", type=Path, help="the method's <rate>.npz (not robust)")
    parser.add_argument("--train", type=Path, help="train's folder of rates (relabel, probs)")
    parser.add_argument("--save-probs", type=Path, help="drop: <rate>.npy probs, <rate>.pt weights")
    parser.add_argument("--first", type=Path, help="second: the drop arm's <rate>.npy")
    parser.add_argument("--baseline", type=Path, required=True, help="train's <rate>.json")
    parser.add_argument("--out", type=Path, required=True, help="folder of <rate>.json metrics")
    parser.add_argument("--checkpoints", type=Path, required=True, help="resumable state")
    args = parser.parse_args()
    if args.arm != "robust" and args.flags is None:
        parser.error(f"--arm {args.arm} needs --flags")
    if (args.arm == "relabel" or args.save_probs) and args.train is None:
        parser.error("--arm relabel and --save-probs need --train")
    if (args.arm == "second") != (args.first is not None):
        parser.error("--first goes with --arm second, and only there")
    params = load_params()

    from labelnoise import layout, train_test
    from labelnoise.arms import arm_cells, arm_name, arm_record
    from labelnoise.data import load_dataset

    dataset = load_dataset(args.dataset, mmap=True)
    train_params = params.train
    if args.arm == "robust":
        train_params = train_params.model_copy(update={"loss": args.method})
    cells = arm_cells(
        dataset, params.rates, arm=args.arm, method=args.method, noisy=args.noisy,
        flags=args.flags, train=args.train, first=args.first,
        confidence=params.retrain.confidence,
    )  # fmt: skip

    stage = nullcontext((0, 1))  # nothing to train: no torch, no workers
    if not all(same for *_, same in cells):
        from labelnoise.train import resolve_device
        from labelnoise.train.distributed import data_parallel_stage

        stage = data_parallel_stage(
            os.path.abspath(__file__), sys.argv[1:], enabled=params.train.distributed,
            nproc_per_node=params.train.nproc_per_node,
            cuda=resolve_device(params.train.device).type == "cuda",
        )  # fmt: skip

    def run_cell(cell) -> tuple[dict, object, object]:
        rate, name, labels, given, keep, same = cell
        if same:
            # Same examples, labels, seed and config as the baseline: its result is this
            # arm's (a rerun would differ only by rounding: thread count, CUDA kernels).
            metrics = read_json(layout.rate_record(args.baseline, rate))
            metrics = {k: v for k, v in metrics.items() if k != "rate"}
            model = args.save_probs and train_test.load_trained_model(
                layout.baseline_weights(args.train, rate), dataset, params=train_params
            )
        else:
            tested = train_test.train_and_test(
                dataset, given, params=train_params, seed=params.seed, keep=keep,
                checkpoint_path=args.checkpoints / f"{name}.pt",
                desc=f"retrain {args.method} ({args.arm})",
            )  # fmt: skip
            metrics, model = tested.metrics, tested.model
        probs = args.save_probs and train_test.train_probabilities(
            model, dataset, params=train_params
        )
        method = arm_name(args.method, args.arm)
        record = arm_record(labels, given, keep, metrics, rate=rate, method=method)
        return record, probs, args.save_probs and model

    with stage as (rank, size):
        jobs = sum(not same for *_, same in cells)
        if jobs:
            from labelnoise.train import resolve_device
            from labelnoise.train.workers import map_workers, worker_count

            device = resolve_device(params.train.device)
            workers = worker_count(params.train.workers, jobs=jobs, device=device, processes=size)
            arms = map_workers(
                run_cell, cells, workers=workers, threads=params.train.threads,
                labels=[f"rate={name}" for _, name, *_ in cells],
            )  # fmt: skip
        else:
            arms = [run_cell(cell) for cell in cells]
    if rank > 0:
        return  # every process holds the same metrics; the first one writes them
    with atomic_path(args.out, directory=True) as tmp, ExitStack() as stack:
        probs_dir = args.save_probs and stack.enter_context(
            atomic_path(args.save_probs, directory=True)
        )
        for (rate, name, *_), (record, probs, model) in zip(cells, arms, strict=True):
            write_json(layout.rate_record(tmp, rate), record)
            if probs_dir:
                save_npy(layout.first_probs(probs_dir, rate), probs)
                train_test.save_weights(layout.first_weights(probs_dir, rate), model)
            print(
                f"{record['method']} @ {name}: kept {record['n_kept']}, relabelled "
                f"{record['n_relabeled']}, accuracy {record['accuracy']:.4f}"
            )


if __name__ == "__main__":
    run_stage(main)
