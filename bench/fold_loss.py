"""Which loss the fold models behind every score should train with: cross-entropy against
generalized cross-entropy (``train.fold_loss``), side by side on the default task.

For each loss and rate, the ``train.folds`` fold models are trained as the ``train`` stage trains
them (``params.yaml``'s settings, the default dataset, symmetric noise from the ``corrupt``
stage's function); printed per cell: the fold models' mean test accuracy and expected calibration
error (lower = better calibrated), and the AUROC with which their out-of-sample probability of
the given label ranks the false labels (cleanlab's self-confidence). Trainings run side by side on
the CPU as the pipeline runs them.

    python bench/fold_loss.py [--rates 0.0 0.2 0.4]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch
from seed_noise import dataset_of
from sklearn.metrics import roc_auc_score

from labelnoise.evaluate import expected_calibration_error
from labelnoise.noise import corrupt_labels
from labelnoise.params import load_params
from labelnoise.train import out_of_sample_folds
from labelnoise.train.workers import map_workers, worker_count
from labelnoise.train_test import train_config

LOSSES = ("cross_entropy", "gce")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.2, 0.4])
    args = parser.parse_args()
    params = load_params()
    dataset = dataset_of(params)
    images, true, _ = dataset.split("train")
    test_images, test_labels, _ = dataset.split("test")
    config = replace(train_config(params.train), device="cpu")

    def cell(job):
        loss, rate = job
        given = corrupt_labels(
            true, rate=rate, n_classes=dataset.n_classes, kind="symmetric", seed=params.seed
        )
        folds = out_of_sample_folds(
            images, given, n_classes=dataset.n_classes, folds=params.train.folds,
            config=replace(config, loss=loss), seed=params.seed, other_images=test_images,
            progress=False,
        )  # fmt: skip
        accuracy = np.mean([(p.argmax(1) == test_labels).mean() for p in folds.others])
        ece = np.mean([expected_calibration_error(test_labels, p) for p in folds.others])
        own = folds.proba[np.arange(len(given)), given]
        auroc = f"{roc_auc_score(given != true, -own):.4f}" if rate > 0 else "–"
        return loss, rate, accuracy, ece, auroc

    jobs = [(loss, rate) for rate in args.rates for loss in LOSSES]
    workers = worker_count(0, jobs=len(jobs), device=torch.device("cpu"))
    rows = map_workers(cell, jobs, workers=workers, threads=0)
    print(
        f"{params.train.folds} fold models per cell, {len(true)} train images, "
        f"{len(test_labels)} test images, {config.epochs} epochs' steps, gce q {config.gce_q}\n"
    )
    print(
        "| rate | loss | fold test accuracy | ECE | AUROC of 1 − p(given) |\n|---|---|---|---|---|"
    )
    for loss, rate, accuracy, ece, auroc in rows:
        print(f"| {rate:g} | {loss} | {accuracy:.4f} | {ece:.3f} | {auroc} |")


if __name__ == "__main__":
    main()
