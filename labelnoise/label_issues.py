"""What a practitioner takes away: ranked label issues, the cleaned label file, link trees.

``python -m labelnoise.label_issues`` builds the link trees ``results/cleaned/<label>/`` and
``results/flagged/<label>/`` from the `results` stage's ``label_issues.csv`` (``make run`` calls
it after ``dvc repro``). They are not a DVC output: DVC would copy your images into its cache.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.clean import CleanResult


def label_issues_table(
    index: pd.DataFrame,
    given: np.ndarray,
    pred_probs: np.ndarray,
    results: Mapping[str, CleanResult],
    *,
    class_names: list[str],
    rank_by: str = "consensus",
    flipped: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every train example with each method's score and flag, most suspect first, in the
    columns cleanlab's ``find_label_issues`` and ``Datalab`` users know.

    Parameters
    ----------
    index
        Rows of the train split from ``index.csv`` (``id``, ``source``), in train order.
    given
        Given labels, shape ``(n,)``.
    pred_probs
        Out-of-sample probabilities, shape ``(n, C)``; their argmax is the predicted label.
    results
        Cleaning results by method name; each score is higher = more likely mislabelled.
    rank_by
        Method whose flags are ``is_label_issue`` and whose score orders the rows.
    flipped
        Injected flips, shape ``(n,)``, when the labels were falsified on purpose.

    Returns
    -------
    pandas.DataFrame
        ``rank, id, path, is_label_issue, label_score`` (in ``[0, 1)``, cleanlab's direction:
        lower = more likely mislabelled; 1 − the percentile of ``rank_by``'s score),
        ``given_label, predicted_label`` (class names), ``predicted_prob``, then
        ``<method>_suspicion`` (higher = more likely mislabelled) and ``<method>_flag`` per
        method, and ``injected_flip`` if known.
    """
    from scipy.stats import rankdata

    if rank_by not in results:
        raise ValueError(f"cannot rank by {rank_by!r}: results only for {sorted(results)}")
    names = np.asarray(class_names)
    predicted = pred_probs.argmax(axis=1)
    for name, result in results.items():
        if len(result.scores) != len(given):
            raise ValueError(f"{name}: {len(result.scores)} scores for {len(given)} examples")
    chosen = results[rank_by]
    table = pd.DataFrame(
        {
            "id": index["id"].to_numpy(),
            "path": index["source"].to_numpy(),
            "is_label_issue": chosen.flags,
            "label_score": 1.0 - rankdata(chosen.scores) / len(given),
            "given_label": names[given],
            "predicted_label": names[predicted],
            "predicted_prob": pred_probs.max(axis=1),
        }
    )
    for name, result in results.items():
        table[f"{name}_suspicion"] = result.scores
        table[f"{name}_flag"] = result.flags
    if flipped is not None:
        table["injected_flip"] = flipped
    table = table.sort_values("label_score", kind="stable")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def write_link_trees(
    table: pd.DataFrame,
    out_dir: Path,
    *,
    flag_column: str,
    imported: bool,
    mode: str = "hardlink",
) -> dict[str, int]:
    """ImageFolder trees ``cleaned/<label>/`` and ``flagged/<label>/`` of links to the originals.

    Nothing is copied or moved. Generated datasets (``sources`` are crops of photographs, not
    files of their own) get no trees; for imported ones every original must still exist.

    Returns
    -------
    dict
        Number of links in each tree.
    """
    from labelnoise.data import link_tree

    if not imported:
        return {"cleaned": 0, "flagged": 0}
    # link_tree names every original that vanished since the import in one error.
    files = table
    counts = {}
    for tree, rows in (
        ("cleaned", files[~files[flag_column]]),
        ("flagged", files[files[flag_column]]),
    ):
        if len(rows):
            link_tree(
                rows["path"].tolist(), rows["given_label"].tolist(), out_dir / tree, mode=mode
            )
        counts[tree] = len(rows)
    return counts


def main(argv: list[str] | None = None) -> None:
    """Link the images of an imported dataset into ``cleaned/`` and ``flagged/`` trees."""
    from labelnoise.data import load_dataset
    from labelnoise.params import load_params

    parser = argparse.ArgumentParser(prog="python -m labelnoise.label_issues", description=__doc__)
    parser.add_argument("--issues", type=Path, default=Path("results/label_issues.csv"))
    parser.add_argument("--dataset", type=Path, default=Path("data/dataset"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    options = load_params(args.params).results
    method, mode = options.method, options.links
    table = pd.read_csv(args.issues)
    flag = f"{method}_flag"
    if flag not in table.columns:
        raise ValueError(
            f"{args.issues}: no column {flag!r}; run `dvc repro` after changing params"
        )
    imported = load_dataset(args.dataset, mmap=True).meta["task"] == "custom"
    counts = write_link_trees(
        table, args.issues.parent, flag_column=flag, imported=imported, mode=mode
    )
    if imported:
        print(f"links ({mode}): {counts} -> {args.issues.parent}")


if __name__ == "__main__":
    from labelnoise.cli import run_stage

    run_stage(main)
