"""A person's verdicts on labels, as the import takes them: read from ``data.reviewed``,
applied to the listed images, and recorded with the dataset.

``labelnoise.review`` writes the files a person fills in and sums up what the review found.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.io import read_path_label_csv

SAMPLES = ("suspect", "random")
"""How the export chose an image: among the most suspect, or uniformly at random."""

REVIEW_COLUMNS = ("path", "label", "sample", "flagged")
"""Columns of the reviewed table: the original file, the reviewer's class, how the export chose
it (``""`` when the CSV does not say) and whether the run flagged it (``<NA>`` when unknown)."""


def read_reviewed(path: str | os.PathLike) -> pd.DataFrame:
    """The reviewer's verdicts from a CSV of ``path,label`` or a folder of such CSVs.

    Relative paths resolve against the CSV's folder. Optional columns: ``sample`` (``suspect``
    or ``random``, as the export writes it) and ``flagged`` (whether the run flagged the image).
    A row with an empty ``label`` was not reviewed and is left out (the export writes the
    column empty for the reviewer to fill). Files other than ``*.csv`` in a folder (its README)
    are not read.

    Parameters
    ----------
    path
        A CSV file, or a folder of CSV files (none: nothing was reviewed).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REVIEW_COLUMNS` and ``where`` (file and line), one row per reviewed image
        (absolute ``path``), in file order.

    Raises
    ------
    ValueError
        A missing path, an unreadable CSV, missing columns, an unknown ``sample`` or
        ``flagged`` value, or one image given two different labels.
    """
    source = Path(os.path.abspath(path))
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    elif source.is_file():
        files = [source]
    else:
        raise ValueError(f"data.reviewed: {source} is neither a CSV file nor a folder")
    tables = [_read_one(file) for file in files]
    if not tables:
        return pd.DataFrame(columns=[*REVIEW_COLUMNS, "where"])
    table = pd.concat(tables, ignore_index=True)
    labels = table.groupby("path")["label"].nunique()
    clash = labels[labels > 1].index
    if len(clash):
        rows = table[table["path"].isin(clash)]
        raise ValueError(
            "data.reviewed: images reviewed with different labels: "
            + "; ".join(f"{w} ({lab})" for w, lab in zip(rows["where"], rows["label"], strict=True))
        )
    return table.drop_duplicates("path").reset_index(drop=True)


def _read_one(csv: Path) -> pd.DataFrame:
    table = read_path_label_csv(
        csv, expected="path,label[,sample,flagged]", context="data.reviewed: "
    )
    where = np.array([f"{csv} line {i + 2}" for i in range(len(table))], dtype=object)
    paths = table["path"].str.strip()
    if (paths == "").any():
        raise ValueError(f"data.reviewed: empty path at {', '.join(where[paths == ''][:5])}")
    sample = table.get("sample", pd.Series("", index=table.index)).str.strip()
    bad = ~sample.isin(("", *SAMPLES))
    if bad.any():
        raise ValueError(
            f"data.reviewed: unknown sample {sample[bad].iloc[0]!r} at {where[bad.to_numpy()][0]}; "
            f"valid: {', '.join(SAMPLES)} or empty"
        )
    flagged = table.get("flagged", pd.Series("", index=table.index)).str.strip().str.lower()
    truth = {"true": True, "1": True, "false": False, "0": False, "": pd.NA}
    bad = ~flagged.isin(truth)
    if bad.any():
        raise ValueError(
            f"data.reviewed: flagged must be true/false, got {flagged[bad].iloc[0]!r} at "
            f"{where[bad.to_numpy()][0]}"
        )
    out = pd.DataFrame(
        {
            "path": [os.path.abspath(os.path.join(csv.parent, p)) for p in paths],
            "label": table["label"].str.strip(),
            "sample": sample,
            "flagged": flagged.map(truth).astype("boolean"),
            "where": where,
        }
    )
    return out[out["label"] != ""]


def apply_review(
    entries: pd.DataFrame, reviewed: pd.DataFrame, classes: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The import's entries with the reviewed labels in place of the given ones.

    Parameters
    ----------
    entries
        The importer's listing (columns ``path`` absolute, ``label_name``, ``split``), ``n``
        rows.
    reviewed
        :func:`read_reviewed`'s table.
    classes
        The task's class names: a reviewed label must be one of them.

    Returns
    -------
    entries, row
        ``entries`` with ``label_name`` corrected and the columns ``original_label`` (the
        label as given), ``review_sample`` and ``review_flagged``; and ``(n,)`` int, the row of
        ``reviewed`` behind each entry, -1 where the image was not reviewed.

    Raises
    ------
    ValueError
        A reviewed image that is not among the entries, or a label that is not a class.
    """
    position = pd.Series(np.arange(len(reviewed)), index=reviewed["path"].to_numpy())
    row = position.reindex(entries["path"].to_numpy()).fillna(-1).to_numpy(dtype=np.int64)
    unknown = ~reviewed["path"].isin(entries["path"]).to_numpy()
    if unknown.any():
        found = reviewed[unknown].head(5)
        raise ValueError(
            f"data.reviewed: {int(unknown.sum())} reviewed image(s) are not in data.path: "
            + "; ".join(f"{w} ({p})" for w, p in zip(found["where"], found["path"], strict=True))
        )
    not_class = ~reviewed["label"].isin(classes).to_numpy()
    if not_class.any():
        found = reviewed[not_class].head(5)
        pairs = zip(found["where"], found["label"], strict=True)
        raise ValueError(
            f"data.reviewed: labels that are not classes ({', '.join(classes)}): "
            + "; ".join(f"{w} ({lab!r})" for w, lab in pairs)
        )
    out = entries.copy()
    out["original_label"] = out["label_name"]
    seen = row >= 0
    sample = np.full(len(out), "", dtype=object)
    flagged = pd.array([pd.NA] * len(out), dtype="boolean")
    if seen.any():
        out.loc[seen, "label_name"] = reviewed["label"].to_numpy()[row[seen]]
        sample[seen] = reviewed["sample"].to_numpy()[row[seen]]
        flagged[seen] = reviewed["flagged"].to_numpy()[row[seen]]
    out["review_sample"] = sample
    out["review_flagged"] = flagged
    return out, row


def trusted_rows(entries: pd.DataFrame, row: np.ndarray) -> np.ndarray:
    """``(n,)`` bool, the reviewed train images that become the trusted split when there is no
    ``val/`` folder: those the export drew at random, or every reviewed one when none says."""
    reviewed = (row >= 0) & (entries["split"].to_numpy() == "train")
    random = reviewed & (entries["review_sample"].to_numpy() == "random")
    return random if random.any() else reviewed


def reviewed_table(index: pd.DataFrame, entries: pd.DataFrame, row: np.ndarray) -> pd.DataFrame:
    """The dataset's record of the review: one row per reviewed image with its ``id``, ``split``,
    ``path``, ``original_label``, ``label`` (the reviewer's), ``sample`` and ``flagged``.

    ``index`` is the imported dataset's index and ``entries``/``row`` :func:`apply_review`'s
    result, aligned with it row for row.
    """
    seen = row >= 0
    return pd.DataFrame(
        {
            "id": index["id"].to_numpy()[seen],
            "split": index["split"].to_numpy()[seen],
            "path": entries["path"].to_numpy()[seen],
            "original_label": entries["original_label"].to_numpy()[seen],
            "label": entries["label_name"].to_numpy()[seen],
            "sample": entries["review_sample"].to_numpy()[seen],
            "flagged": entries["review_flagged"].to_numpy()[seen],
        }
    )
