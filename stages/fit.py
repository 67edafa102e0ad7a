"""Stage `fit`: one cleaning method that trains models of its own, at every rate of the grid.

Writes the method's result (scores, flags, extras) per rate; the `clean` stage scores them
against the flips beside the methods that only read the trained models' outputs. On the CPU
``train.workers`` rates run side by side.
"""

import argparse
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="corrupt's folder of rates")
    parser.add_argument("--train", type=Path, required=True, help="train's folder of rates")
    parser.add_argument("--out", type=Path, required=True, help="folder of <rate>.npz results")
    args = parser.parse_args()
    params = load_params()
    if args.method not in params.clean.trained:
        raise ValueError(f"--method {args.method!r} is not in clean.trained {params.clean.trained}")

    from labelnoise import layout
    from labelnoise.clean import get_method, save_result
    from labelnoise.clean.base import check_result
    from labelnoise.clean_context import clean_context
    from labelnoise.data import load_dataset
    from labelnoise.io import atomic_path
    from labelnoise.noisy_labels import read_noisy_labels
    from labelnoise.train import resolve_device
    from labelnoise.train.workers import map_workers, worker_count
    from labelnoise.train_test import train_config

    method = get_method(args.method)
    dataset = load_dataset(args.dataset, mmap=True)
    config = train_config(params.train)

    def run_rate(rate: float, out: Path) -> None:
        labels = read_noisy_labels(layout.noisy_labels(args.noisy, rate), dataset)
        context = clean_context(
            dataset, labels, args.train, rate, method=method, seed=params.seed, config=config
        )
        result = method.run(context, **params.clean.settings(args.method))
        save_result(check_result(args.method, result, context.n), layout.result_file(out, rate))
        name = layout.rate_name(rate)
        print(f"{args.method} @ {name}: flagged {int(result.flags.sum())} of {context.n}")

    device = resolve_device(params.train.device)
    workers = worker_count(params.train.workers, jobs=len(params.rates), device=device)
    with atomic_path(args.out, directory=True) as tmp:
        map_workers(
            lambda rate: run_rate(rate, tmp),
            params.rates,
            workers=workers,
            threads=params.train.threads,
            labels=[f"rate={layout.rate_name(rate)}" for rate in params.rates],
        )


if __name__ == "__main__":
    run_stage(main)
