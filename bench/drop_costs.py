"""Where a drop arm's accuracy goes: the false labels it keeps against the correct ones it drops.

Reads the workspace's ``data/`` after ``dvc repro`` (generated data: the flips are known). For
each nonzero rate it trains, over ``--seeds``, at the baseline's optimizer steps:

- ``oracle``: exactly the false labels dropped;
- ``kept``: what ``--method`` keeps (its drop arm);
- ``kept, missed removed``: the same without the false labels it failed to flag;
- ``kept, dropped correct back``: the same with the correct labels it flagged kept.

The two differences against ``kept`` are what each kind of error costs, in points in all and per
image, and their ratio is the cost ratio the flagging step (``clean.cost_ratio``) assumes. With
``--ratios`` the method's scores are flagged again at each of those cost ratios, as the ``clean``
stage flags them, and each of those drop arms trains too. Trainings run side by side on the CPU
as the pipeline runs them.

    python bench/drop_costs.py [--method consensus] [--seeds 0 1 2] [--ratios 1 1.5 2 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from labelnoise import layout
from labelnoise.clean import get_method, load_result
from labelnoise.clean.flagging import flag
from labelnoise.clean_context import flag_inputs
from labelnoise.data import load_dataset
from labelnoise.io import load_npy
from labelnoise.noisy_labels import read_noisy_labels
from labelnoise.params import load_params
from labelnoise.train.workers import map_workers, worker_count
from labelnoise.train_test import train_and_test
from labelnoise.trusted import trusted_estimate


def arms(flags: np.ndarray, flipped: np.ndarray) -> dict[str, np.ndarray]:
    """The rows each arm trains on, ``(n,)`` bool, from a method's flags and the true flips."""
    return {
        "oracle": ~flipped,
        "kept": ~flags,
        "kept, missed removed": ~flags & ~flipped,
        "kept, dropped correct back": ~(flags & flipped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="consensus", help="whose flags are decomposed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ratios", type=float, nargs="*", default=[], help="cost ratios")
    parser.add_argument("--data", type=Path, default=Path("data"))
    args = parser.parse_args()
    params = load_params()
    dataset = load_dataset(args.data / "dataset", mmap=True)
    jobs, counts = [], {}
    for rate in (r for r in params.rates if r > 0):
        name = layout.rate_name(rate)
        labels = read_noisy_labels(layout.noisy_labels(args.data / "noisy", rate), dataset)
        flipped = labels["flipped"].to_numpy(bool)
        result = load_result(layout.result_file(args.data / "clean", rate, args.method))
        given = labels["given"].to_numpy()
        rows = arms(result.flags, flipped)
        for ratio, flags in reflagged(dataset, result, given, args, rate).items():
            rows[f"cost_ratio {ratio:g}"] = ~flags
            print(
                f"rate {name}, cost_ratio {ratio:g}: {int(flags.sum())} flagged, "
                f"{int((~flags & flipped).sum())} false labels missed, "
                f"{int((flags & ~flipped).sum())} correct labels flagged"
            )
        for arm, keep in rows.items():
            jobs += [(name, arm, given, keep, seed) for seed in args.seeds]
        counts[name] = int((~result.flags & flipped).sum()), int((result.flags & ~flipped).sum())

    def train(job) -> float:
        _, _, given, keep, seed = job
        tested = train_and_test(
            dataset, given, params=params.train, seed=seed, keep=keep, desc="drop costs"
        )
        return tested.metrics["accuracy"]

    workers = worker_count(0, jobs=len(jobs), device=torch.device("cpu"))
    accuracy = map_workers(train, jobs, workers=workers, threads=0)
    table: dict[tuple[str, str], list[float]] = {}
    rows: dict[tuple[str, str], int] = {}
    for (name, arm, _, keep, _), value in zip(jobs, accuracy, strict=True):
        table.setdefault((name, arm), []).append(value)
        rows[name, arm] = int(keep.sum())
    print(f"{args.method}, {len(args.seeds)} seeds, {workers} trainings at once\n")
    print("| rate | arm | rows | accuracy (mean) | per seed |\n|---|---|---|---|---|")
    for (name, arm), values in table.items():
        per_seed = " ".join(f"{v:.4f}" for v in values)
        print(f"| {name} | {arm} | {rows[name, arm]} | {np.mean(values):.4f} | {per_seed} |")
    print("\n| rate | missed false labels removed | correct labels kept | cost ratio per image |")
    print("|---|---|---|---|")
    for name, (n_missed, n_dropped) in counts.items():
        kept = np.mean(table[name, "kept"])
        missed = np.mean(table[name, "kept, missed removed"]) - kept
        dropped = np.mean(table[name, "kept, dropped correct back"]) - kept
        per_missed, per_dropped = missed / max(n_missed, 1), dropped / max(n_dropped, 1)
        ratio = f"{per_missed / per_dropped:.1f}" if per_dropped > 0 else "-"
        print(
            f"| {name} | {100 * missed:+.1f} points ({n_missed} images) | "
            f"{100 * dropped:+.1f} points ({n_dropped} images) | {ratio} |"
        )


def reflagged(dataset, result, given, args, rate: float) -> dict[float, np.ndarray]:
    """``--method``'s flags at each of ``--ratios`` (``clean.count: cost``), by ratio."""
    train = args.data / "train"
    probs = load_npy(layout.oos_probs(train, rate))
    trusted = trusted_estimate(dataset, given, probs, train, rate, name=args.method)
    context, posterior = flag_inputs(dataset, given, train, rate, trusted)
    method = get_method(args.method)
    return {
        ratio: flag(
            method, result, context, rule="cost", cost_ratio=ratio, posterior=posterior
        ).flags
        for ratio in args.ratios
    }


if __name__ == "__main__":
    main()
