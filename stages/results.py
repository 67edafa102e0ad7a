"""Stage `results`: for one rate (`results.rate`; with your own images, your labels as given),
ranked label issues in the columns cleanlab users know, the cleaned label file, and every other
issue type of the train images in Datalab's columns (cleanlab's Datalab on the baseline's
features and out-of-sample probabilities; cleanvision on the images, your originals when you
imported them), their summary, and the same or nearly the same image in two splits (leaks).

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
    parser.add_argument("--issue-table", type=Path, required=True, help="issues.csv, every type")
    parser.add_argument("--issue-summary", type=Path, required=True, help="issue_summary.csv")
    parser.add_argument("--leaks", type=Path, required=True, help="leaks.csv, pairs across splits")
    args = parser.parse_args()
    params = load_params()
    options = params.results
    if options.method is None:
        raise ValueError("results: clean.methods and clean.trained hold no cleaning method")

    from labelnoise import layout
    from labelnoise.clean import METHODS, load_result
    from labelnoise.data import load_dataset
    from labelnoise.issues import LABEL_COLUMNS, dataset_issues
    from labelnoise.label_issues import label_issues_table
    from labelnoise.noisy_labels import read_noisy_labels

    rate = options.rate
    dataset = load_dataset(args.dataset, mmap=True)
    labels = read_noisy_labels(layout.noisy_labels(args.noisy, rate), dataset)
    given = labels["given"].to_numpy()
    wanted = [m for m in params.clean.cleaned if not METHODS[m].reference]
    results = {m: load_result(layout.result_file(args.clean, rate, m)) for m in wanted}
    flipped = labels["flipped"].to_numpy(dtype=bool)
    train_index = dataset.index[dataset.index["split"] == "train"]
    probs = load_npy(layout.oos_probs(args.train, rate))
    table = label_issues_table(
        train_index,
        given,
        probs,
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
    issues, summary, leaks = dataset_issues(
        dataset,
        table.set_index("id").loc[train["id"]].reset_index()[list(LABEL_COLUMNS)],
        given,
        load_npy(layout.features(args.train, rate, "train")),
        probs,
        checks=options.image_checks,
        workers=options.image_workers,
        n_neighbors=options.n_neighbors,  # at most the number of images less one
        near_duplicate=options.near_duplicate,
        seed=params.seed,
    )
    write_csv(issues, args.issue_table)
    write_csv(summary, args.issue_summary)
    write_csv(leaks, args.leaks)
    found = summary.set_index("issue_type")["num_issues"]
    print(
        f"rate {layout.rate_name(rate)}: {int(flags.sum())} of {len(table)} labels flagged by "
        f"{options.method}; "
        + ", ".join(f"{n} {kind}" for kind, n in found.items() if kind != "label" and n)
        + f" (of {len(found) - 1} other issue types; leak = pairs across splits)"
    )


if __name__ == "__main__":
    run_stage(main)
