"""The task's ceiling: long training on clean labels at the default size, errors per subclass.

Generates the default dataset (seed, sizes and alteration ranges of ``params.yaml`` unless
given), with a large test set, trains one model on the true labels for ``--epochs`` and prints
the coarse test accuracy, each subclass's error rate and the subclass -> predicted-class pairs
that carry the errors. A pair that takes a large share of a subclass's test images is a
structural confusion: two alterations that can paint the same picture. ``--former`` also runs
the alterations as they were before hue_all swept its rotation (one rotation of 0.25-0.75 turn
for the whole region), side by side.

    python bench/ceiling.py --epochs 30 --former
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from labelnoise.data import generate_dataset
from labelnoise.data.alter import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE
from labelnoise.params import load_params
from labelnoise.train import fit, predict_proba
from labelnoise.train_test import train_config

ROOT = Path(__file__).resolve().parents[1]


FORMER = {"hue_rotation": (0.25, 0.75), "hue_sweep": 0.0}


def ceiling(args: argparse.Namespace, alter: dict) -> None:
    params = load_params(ROOT / "params.yaml")
    data = params.data
    with tempfile.TemporaryDirectory() as work:
        start = time.monotonic()
        dataset = generate_dataset(
            n_train=data.n_train, n_val_per_class=data.n_val_per_class, n_test=args.n_test,
            task="coarse", image_size=data.image_size, base=data.base, vertices=data.vertices,
            area=data.area, crop_scale=data.crop_scale, seed=args.seed,
            images_path=Path(work) / "images.npy", **alter,
        )  # fmt: skip
        split = dataset.index["split"].to_numpy()
        labels = dataset.index["label"].to_numpy()
        fine = dataset.index["fine"].to_numpy()
        train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
        config = train_config(params.train.model_copy(update={"epochs": args.epochs}))
        made = time.monotonic()
        result = fit(
            dataset.images, labels, n_classes=len(COARSE_CLASSES), config=config, seed=args.seed,
            rows=train, desc=f"ceiling {args.epochs} epochs",
        )  # fmt: skip
        predicted = predict_proba(result.model, dataset.images[test]).argmax(1)
    trained = time.monotonic()
    wrong = predicted != labels[test]
    print(
        f"\nalterations {alter or 'as generated'}: coarse test accuracy "
        f"{1 - wrong.mean():.4f} on {test.size} test images ({wrong.sum()} errors); "
        f"{train.size} train images, {args.epochs} epochs; generate {made - start:.0f} s, "
        f"train {trained - made:.0f} s, {os.cpu_count()} CPU cores\n"
    )
    print("| subclass | class | test images | error rate | errors predicted as |")
    print("|---|---|---|---|---|")
    for cls, name in enumerate(FINE_CLASSES):
        mine = fine[test] == cls
        errors = predicted[mine & wrong]
        where = ", ".join(
            f"{COARSE_CLASSES[c]} {np.sum(errors == c)}"
            for c in np.unique(errors)[np.argsort(-np.bincount(errors)[np.unique(errors)])]
        )
        coarse = COARSE_CLASSES[FINE_TO_COARSE[cls]]
        print(f"| {name} | {coarse} | {mine.sum()} | {wrong[mine].mean():.4f} | {where or '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--former", action="store_true", help="also run the former hue_all")
    args = parser.parse_args()
    if args.former:
        ceiling(args, FORMER)
    ceiling(args, {})


if __name__ == "__main__":
    main()
