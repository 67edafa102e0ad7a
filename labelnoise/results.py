"""What a practitioner takes away: ranked label issues, the cleaned label file, link trees."""

from __future__ import annotations

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
    """Every train example with each method's score and flag, most suspect first.

    Parameters
    ----------
    index
        Rows of the train split from ``index.csv`` (``id``, ``source``), in train order.
    given
        Given labels, shape ``(n,)``.
    pred_probs
        Out-of-sample probabilities, shape ``(n, C)``; their argmax is the suggested label.
    results
        Cleaning results by method name; each score is higher = more likely mislabelled.
    rank_by
        Method whose score orders the rows (descending).
    flipped
        Injected flips, shape ``(n,)``, when the labels were falsified on purpose.

    Returns
    -------
    pandas.DataFrame
        ``rank, id, path, given, given_name, suggested, suggested_name, suggested_prob``, then
        ``<method>_score`` and ``<method>_flag`` per method, and ``injected_flip`` if known.
    """
    if rank_by not in results:
        raise ValueError(f"cannot rank by {rank_by!r}: results only for {sorted(results)}")
    names = np.asarray(class_names)
    suggested = pred_probs.argmax(axis=1)
    table = pd.DataFrame(
        {
            "id": index["id"].to_numpy(),
            "path": index["source"].to_numpy(),
            "given": given,
            "given_name": names[given],
            "suggested": suggested,
            "suggested_name": names[suggested],
            "suggested_prob": pred_probs.max(axis=1),
        }
    )
    for name, result in results.items():
        if len(result.scores) != len(table):
            raise ValueError(f"{name}: {len(result.scores)} scores for {len(table)} examples")
        table[f"{name}_score"] = result.scores
        table[f"{name}_flag"] = result.flags
    if flipped is not None:
        table["injected_flip"] = flipped
    table = table.sort_values(f"{rank_by}_score", ascending=False, kind="stable")
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
            link_tree(rows["path"].tolist(), rows["given_name"].tolist(), out_dir / tree, mode=mode)
        counts[tree] = len(rows)
    return counts
