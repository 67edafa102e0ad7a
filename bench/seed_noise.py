"""How much one training's randomness moves test accuracy: the seed-to-seed standard deviation
of the default baseline on true labels, and what cheap remedies do to it, side by side.

Each seed trains ``params.yaml``'s baseline (its ``train`` settings) on the default dataset's
true labels and is tested on its 10,000 clean test images. The arms:

- ``plain``: the model as trained, one forward pass per test image;
- ``flip``: test-time augmentation, the mean of the probabilities of each image and its mirror
  (every alteration survives a horizontal flip, as ``train.hflip`` says).

Prints one line per arm: mean and sd (in points) over the seeds, and each arm's sd over the
plain one's. Trainings run side by side on the CPU as the pipeline runs them.

    python bench/seed_noise.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from labelnoise.data import generate_dataset
from labelnoise.params import load_params
from labelnoise.train import fit, predict_proba
from labelnoise.train.workers import map_workers, worker_count
from labelnoise.train_test import train_config


def dataset_of(params):
    data = params.data
    return generate_dataset(
        n_train=data.n_train, n_val_per_class=data.n_val_per_class, n_test=data.n_test,
        task=data.task, image_size=data.image_size, base=data.base, vertices=data.vertices,
        area=data.area, crop_scale=data.crop_scale, seed=params.seed,
    )  # fmt: skip


def accuracies(model, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    plain = predict_proba(model, images)
    mirrored = predict_proba(model, np.ascontiguousarray(images[:, :, ::-1]))
    return {
        "plain": float((plain.argmax(1) == labels).mean()),
        "flip": float(((plain + mirrored).argmax(1) == labels).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    params = load_params()
    dataset = dataset_of(params)
    images, labels, _ = dataset.split("train")
    test_images, test_labels, _ = dataset.split("test")
    config = replace(train_config(params.train), device="cpu")

    def train(seed: int) -> dict[str, float]:
        model = fit(images, labels, n_classes=dataset.n_classes, config=config, seed=seed,
                    progress=False).model  # fmt: skip
        return accuracies(model, test_images, test_labels)

    workers = worker_count(0, jobs=len(args.seeds), device=torch.device("cpu"))
    rows = map_workers(train, args.seeds, workers=workers, threads=0)
    arms: dict[str, list[float]] = {}
    for row in rows:
        for arm, value in row.items():
            arms.setdefault(arm, []).append(value)
    print(
        f"{len(args.seeds)} seeds, {len(labels)} true-labelled train images, "
        f"{len(test_labels)} test images, {config.epochs} epochs, {workers} trainings at once"
    )
    plain_sd = np.std(arms["plain"], ddof=1)
    for arm, values in arms.items():
        sd = np.std(values, ddof=1)
        print(
            f"{arm:10s} accuracy {100 * np.mean(values):.2f} ± sd {100 * sd:.2f} points "
            f"(sd / plain sd {sd / plain_sd:.2f}); per seed "
            + " ".join(f"{100 * v:.2f}" for v in values)
        )


if __name__ == "__main__":
    main()
