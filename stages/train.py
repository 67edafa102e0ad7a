"""Stage `train`: at every rate of the grid, the noisy-label baseline, out-of-sample
probabilities and features.

One process trains every rate (``params.rates``: the injected rates, or your labels as given),
so the grid follows the params without naming a rate in `dvc.yaml`; on the CPU ``train.workers``
rates train side by side. With ``train.distributed``
the stage re-executes itself under torchrun as ``train.nproc_per_node`` processes that train
data-parallel; the first one writes the outputs.
"""

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import atomic_path, write_csv, write_json
from labelnoise.params import Params, load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="corrupt's folder of rates")
    parser.add_argument("--out", type=Path, required=True, help="<rate>/ arrays and weights")
    parser.add_argument("--metrics", type=Path, required=True, help="<rate>.json metrics")
    parser.add_argument("--confusion", type=Path, required=True, help="baseline-<rate>.csv")
    parser.add_argument("--live", type=Path, required=True, help="<rate>/ dvclive folders")
    parser.add_argument("--checkpoints", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()

    import torch.distributed as dist

    from labelnoise.train import resolve_device
    from labelnoise.train.distributed import data_parallel_stage

    cuda = resolve_device(params.train.device).type == "cuda"
    stage = data_parallel_stage(
        os.path.abspath(__file__),
        sys.argv[1:],
        enabled=params.train.distributed,
        nproc_per_node=params.train.nproc_per_node,
        cuda=cuda,
    )
    with stage as (rank, size), ExitStack() as outputs:
        if size > 1 and rank == 0:
            print(f"training data-parallel on {size} processes ({dist.get_backend()})", flush=True)
        # Only the first process writes; each output folder appears whole or not at all.
        dirs = (args.out, args.metrics, args.confusion)
        out, metrics, confusion = (
            outputs.enter_context(atomic_path(d, directory=True)) if rank == 0 else None
            for d in dirs
        )
        from labelnoise.layout import rate_name
        from labelnoise.train.workers import map_workers, worker_count

        workers = worker_count(
            params.train.workers,
            jobs=len(params.rates),
            device=resolve_device(params.train.device),
            processes=size,
        )
        map_workers(
            lambda rate: train(args, params, rate, out=out, metrics=metrics, confusion=confusion),
            params.rates,
            workers=workers,
            threads=params.train.threads,
            labels=[f"rate={rate_name(rate)}" for rate in params.rates],
        )


def train(
    args: argparse.Namespace, params: Params, rate: float, *, out, metrics, confusion
) -> None:
    from labelnoise import layout
    from labelnoise.baseline import fold_models, write_baseline
    from labelnoise.data import load_dataset
    from labelnoise.noisy_labels import read_noisy_labels
    from labelnoise.train_test import train_and_test

    name = layout.rate_name(rate)
    dataset = load_dataset(args.dataset, mmap=True)
    labels = read_noisy_labels(layout.noisy_labels(args.noisy, rate), dataset)
    given = labels["given"].to_numpy()
    tested = train_and_test(
        dataset,
        given,
        params=params.train,
        seed=params.seed,
        log_dir=layout.live_dir(args.live, rate),
        checkpoint_path=args.checkpoints / name / "full.pt",
        desc="train",
    )
    folds, val_probs, fold_metrics = fold_models(
        dataset, given, params=params.train, seed=params.seed
    )
    if out is None:
        return  # every process holds the same results; the first one writes them
    write_baseline(
        out, rate, tested, folds, val_probs, dataset, batch_size=params.train.eval_batch_size
    )
    write_json(layout.rate_record(metrics, rate), {"rate": rate, **tested.metrics, **fold_metrics})
    write_csv(tested.confusion, confusion / f"baseline-{name}.csv")
    print(
        f"rate {name}: test accuracy {tested.metrics['accuracy']:.4f}; fold models "
        f"{fold_metrics['fold_accuracy']:.4f} (ECE {fold_metrics['fold_ece']:.3f}); noise rate "
        f"from the trusted set {fold_metrics['trusted_noise_rate']:.3f}"
    )


if __name__ == "__main__":
    run_stage(main)
