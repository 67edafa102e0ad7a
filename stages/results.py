"""Stage `results`: ranked label issues and the cleaned label file for one rate.

With your own data and `noise.rates: [0.0]` this is the answer: which given labels look wrong.
The ImageFolder link trees of your images are made after the pipeline by
`python -m labelnoise.results`, so that DVC can cache this stage without copying your images.
"""

import argparse
from pathlib import Path

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
    args = parser.parse_args()
    params = load_params()
    from labelnoise.results import DEFAULTS, label_issues_table

    options = {"rate": params.noise.rates[0], **DEFAULTS}
    unknown = set(params.results) - set(options)
    if unknown:
        raise ValueError(
            f"results: unknown parameter(s) {sorted(unknown)}; valid: {sorted(options)}"
        )
    options.update(params.results)
    if options["rate"] not in params.noise.rates:
        raise ValueError(f"results.rate {options['rate']} is not one of noise.rates")

    from labelnoise.clean import load_result
    from labelnoise.data import load_dataset
    from labelnoise.metrics import rate_name

    rate = rate_name(options["rate"])
    dataset = load_dataset(args.dataset, mmap=True)
    labels = pd.read_csv(args.noisy / rate / "labels.csv")
    wanted = [m for m in params.clean.cleaned if m not in ("none", "oracle", "random")]
    if options["method"] not in wanted:
        raise ValueError(f"results.method {options['method']!r} is not cleaned; valid: {wanted}")
    results = {m: load_result(args.clean / m / f"{rate}.npz") for m in wanted}
    flipped = labels["flipped"].to_numpy(dtype=bool)
    table = label_issues_table(
        dataset.index[dataset.index["split"] == "train"],
        labels["given"].to_numpy(),
        load_npy(args.train / rate / "oos_probs.npy"),
        results,
        class_names=dataset.classes,
        rank_by=options["method"],
        flipped=flipped if flipped.any() else None,
    )
    flag = f"{options['method']}_flag"
    write_csv(table, args.issues)
    kept = table[~table[flag]].sort_values("id")
    write_csv(
        kept[["id", "path", "given", "given_name"]].rename(
            columns={"given": "label", "given_name": "label_name"}
        ),
        args.cleaned,
    )
    print(f"rate {rate}: {int(table[flag].sum())} of {len(table)} flagged by {options['method']}")


if __name__ == "__main__":
    run_stage(main)
