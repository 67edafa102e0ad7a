"""Stage `corrupt`: at every rate of the grid, falsify exactly round(rate × n_train) train labels;
val and test stay clean. One folder per rate, so each `train` stage depends on its own."""

import argparse
from pathlib import Path

import numpy as np

from labelnoise.cli import run_stage
from labelnoise.io import atomic_path, write_csv, write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="one <rate>/ folder per rate")
    args = parser.parse_args()
    params = load_params()

    import pandas as pd

    from labelnoise import layout
    from labelnoise.data import load_dataset
    from labelnoise.noise import corrupt_labels, noise_matrix

    dataset = load_dataset(args.dataset, mmap=True)
    train = dataset.index[dataset.index["split"] == "train"]
    true = train["label"].to_numpy()
    kind = params.noise.kind
    with atomic_path(args.out, directory=True) as tmp:
        for rate in params.rates:
            given = corrupt_labels(
                true,
                rate=rate,
                n_classes=dataset.n_classes,
                kind=kind,
                fine_to_coarse=dataset.meta["fine_to_coarse"] if kind == "within_coarse" else None,
                transition=None if params.noise.matrix is None else np.asarray(params.noise.matrix),
                seed=params.seed,
            )
            labels = pd.DataFrame(
                {
                    "id": train["id"].to_numpy(),
                    "true": true,
                    "given": given,
                    "flipped": given != true,
                }
            )
            layout.rate_dir(tmp, rate).mkdir()
            write_csv(labels, layout.noisy_labels(tmp, rate))
            write_json(
                layout.noise_matrix(tmp, rate),
                {
                    "rate": rate,
                    "kind": kind,
                    "n_train": len(labels),
                    "n_flipped": int(labels["flipped"].sum()),
                    "classes": dataset.classes,
                    "matrix": noise_matrix(true, given, n_classes=dataset.n_classes),
                },
            )
            print(f"rate {rate}: {int(labels['flipped'].sum())} of {len(labels)} labels falsified")


if __name__ == "__main__":
    run_stage(main)
