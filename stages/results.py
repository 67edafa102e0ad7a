"""Stage `results`: for one rate (`results.rate`; with your own images, your labels as given),
ranked label issues in the columns cleanlab users know, the cleaned label file, and the issues
that are not labels: outliers and exact or near duplicates, from the baseline's features.

The ImageFolder link trees of your images are made after the pipeline by
`python -m labelnoise.label_issues`, so that DVC can cache this stage without copying your images.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.cli import run_stage
from labelnoise.io import load_npy, write_csv
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="data/noisy: one folder per rate")
    parser.add_argument("--train", type=Path, required=True, help="data/train: one per rate")
    parser.add_argument("--clean", type=Path, required=True, help="data/clean: <method>/<rate>.npz")
    parser.add_argument("--issues", type=Path, required=True, help="ranked label_issues.csv")
    parser.add_argument("--cleaned", type=Path, required=True, help="cleaned_labels.csv")
    parser.add_argument("--outliers", type=Path, required=True, help="ranked outliers.csv")
    parser.add_argument("--duplicates", type=Path, required=True, help="duplicates.csv")
    args = parser.parse_args()
    params = load_params()
    options = params.results
    if options.method is None:
        raise ValueError("results: clean.methods and clean.trained hold no cleaning method")

    from labelnoise.cells import read_noisy_labels
    from labelnoise.clean import METHODS, load_result
    from labelnoise.data import load_dataset
    from labelnoise.label_issues import label_issues_table
    from labelnoise.metrics import rate_name
    from labelnoise.neighbours import duplicates_table, neighbour_issues, outliers_table

    rate = rate_name(options.rate)
    dataset = load_dataset(args.dataset, mmap=True)
    labels = read_noisy_labels(args.noisy / rate / "labels.csv", dataset)
    given = labels["given"].to_numpy()
    wanted = [m for m in params.clean.cleaned if not METHODS[m].reference]
    results = {m: load_result(args.clean / m / f"{rate}.npz") for m in wanted}
    flipped = labels["flipped"].to_numpy(dtype=bool)
    train_index = dataset.index[dataset.index["split"] == "train"]
    table = label_issues_table(
        train_index,
        given,
        load_npy(args.train / rate / "oos_probs.npy"),
        results,
        class_names=dataset.classes,
        rank_by=options.method,
        flipped=flipped if flipped.any() else None,
    )
    write_csv(table, args.issues)
    names = np.asarray(dataset.classes)
    train = pd.DataFrame(
        {"id": train_index["id"].to_numpy(), "path": train_index["source"].to_numpy()}
    ).assign(label=given, given_label=names[given])
    flags = results[options.method].flags
    write_csv(
        train[~flags][["id", "path", "label", "given_label"]].rename(
            columns={"given_label": "label_name"}
        ),
        args.cleaned,
    )
    found = neighbour_issues(
        load_npy(args.train / rate / "train_features.npy"),
        images=dataset.split("train")[0],
        # A folder of fewer images than neighbours still gets its outliers and duplicates.
        n_neighbors=max(2, min(options.n_neighbors, len(given) - 1)),
        near_duplicate=options.near_duplicate,
    )
    write_csv(outliers_table(found, train), args.outliers)
    duplicates = duplicates_table(found, train)
    write_csv(duplicates, args.duplicates)
    print(
        f"rate {rate}: {int(flags.sum())} of {len(table)} labels flagged by {options.method}; "
        f"{int(found.is_outlier.sum())} outliers; {duplicates['group'].nunique()} duplicate "
        f"groups ({int(found.exact_duplicate.sum())} exact, {int(found.near_duplicate.sum())} "
        "near)"
    )


if __name__ == "__main__":
    run_stage(main)
