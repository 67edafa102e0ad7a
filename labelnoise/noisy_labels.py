"""A rate's noisy labels: the corrupt stage's ``labels.csv``
(:func:`labelnoise.layout.noisy_labels`), read and checked row by row against the dataset's
train split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LABEL_COLUMNS = ("id", "true", "given", "flipped")
"""The columns of ``labels.csv``: the train image's id, its true label, the label it is given
at the rate, and whether the two differ."""


def read_noisy_labels(path: Path, dataset) -> pd.DataFrame:
    """``labels.csv`` of the corrupt stage, checked row by row against the dataset's train split.

    Every later stage pairs these rows with the train images by position, so a file from another
    dataset or reordered rows must stop the run rather than mislabel it.

    Parameters
    ----------
    path
        The file (:func:`labelnoise.layout.noisy_labels`).
    dataset
        A :class:`labelnoise.data.Dataset`.

    Returns
    -------
    pd.DataFrame
        One row per train image, in index order, with :data:`LABEL_COLUMNS`.

    Raises
    ------
    ValueError
        Naming ``path``, when it is missing, unreadable, lacks a column, holds values of the
        wrong type or range, or its rows do not match the train split.
    """
    if not Path(path).is_file():
        raise ValueError(f"{path}: file not found")
    try:
        labels = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from None
    missing = set(LABEL_COLUMNS) - set(labels.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    for column in ("id", "true", "given"):
        if not pd.api.types.is_integer_dtype(labels[column]):
            raise ValueError(
                f"{path}: column {column!r} must hold integers, got {labels[column].dtype}"
            )
    if not pd.api.types.is_bool_dtype(labels["flipped"]):
        raise ValueError(f"{path}: column 'flipped' must hold True/False values")
    _, _, train_ids = dataset.split("train")
    if len(labels) != len(train_ids) or not np.array_equal(labels["id"].to_numpy(), train_ids):
        raise ValueError(f"{path}: rows do not match the train split of the dataset (ids or order)")
    for column in ("true", "given"):
        values = labels[column].to_numpy()
        if values.size and (values.min() < 0 or values.max() >= dataset.n_classes):
            raise ValueError(f"{path}: {column} labels outside [0, {dataset.n_classes})")
    wrong = np.flatnonzero(labels["flipped"].to_numpy() != (labels["given"] != labels["true"]))
    if wrong.size:
        raise ValueError(
            f"{path}: 'flipped' disagrees with given != true in {wrong.size} row(s) "
            f"(first id {int(labels['id'].iloc[wrong[0]])})"
        )
    return labels
