"""Stage `corrupt`: falsify exactly round(rate × n_train) train labels; val and test stay clean."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.cli import run_stage
from labelnoise.io import atomic_path, write_csv, write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()

    from labelnoise.data import load_dataset
    from labelnoise.noise import corrupt_labels, noise_matrix

    dataset = load_dataset(args.dataset, mmap=True)
    train = dataset.index[dataset.index["split"] == "train"]
    true = train["label"].to_numpy()
    given = corrupt_labels(
        true,
        rate=args.rate,
        n_classes=dataset.n_classes,
        kind=params.noise.kind,
        fine_to_coarse=(
            dataset.meta["fine_to_coarse"] if params.noise.kind == "within_coarse" else None
        ),
        transition=np.asarray(params.noise.matrix) if params.noise.matrix is not None else None,
        seed=params.seed,
    )
    labels = pd.DataFrame(
        {"id": train["id"].to_numpy(), "true": true, "given": given, "flipped": given != true}
    )
    realised = noise_matrix(true, given, n_classes=dataset.n_classes)
    with atomic_path(args.out, directory=True) as tmp:
        write_csv(labels, tmp / "labels.csv")
        write_json(
            tmp / "noise_matrix.json",
            {
                "rate": args.rate,
                "kind": params.noise.kind,
                "n_train": len(labels),
                "n_flipped": int(labels["flipped"].sum()),
                "classes": dataset.classes,
                "matrix": realised,
            },
        )
    print(f"rate {args.rate}: {int(labels['flipped'].sum())} of {len(labels)} labels falsified")


if __name__ == "__main__":
    run_stage(main)
