"""Checks of the two arrays most of the library passes around: given labels, and the
probabilities a model predicts for them.

The noise estimates (:mod:`labelnoise.noise`) and the cleaning methods (:mod:`labelnoise.clean`)
read both. This module imports numpy alone and nothing of the package, so that either can
import it.
"""

from __future__ import annotations

import numpy as np

PROBS_ATOL = 1e-3
"""How far a row of ``pred_probs`` may sum from 1 (float32 softmax outputs drift a little)."""


def check_labels(
    labels: np.ndarray, *, n_classes: int, what: str = "labels", name: str = "clean"
) -> np.ndarray:
    """Check ``(n,)`` integer labels in ``0..n_classes-1``; return them as int64.

    Parameters
    ----------
    labels : np.ndarray
        ``(n,)`` class indices.
    n_classes : int
        Number of classes ``C``.
    what : str
        Name of the array, used in the message.
    name : str
        Who checks (a cleaning method, a noise estimate), used in the message.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name}: {what} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: {what} must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name}: {what} must lie in 0..{n_classes - 1}, "
            f"got range {int(arr.min())}..{int(arr.max())}"
        )
    return arr.astype(np.int64)


def validate_pred_probs(
    pred_probs: np.ndarray,
    *,
    n: int,
    n_classes: int,
    name: str = "clean",
    atol: float = PROBS_ATOL,
    source: str | None = None,
) -> np.ndarray:
    """Check out-of-sample probabilities before they are used: shape ``(n, C)``, finite, in
    ``[0, 1]``, rows summing to 1 within ``atol``.

    Parameters
    ----------
    pred_probs : np.ndarray
        ``(n, C)`` predicted class probabilities, one row per train example.
    n : int
        Expected number of rows.
    n_classes : int
        Expected number of columns ``C``.
    name : str
        Who checks (a cleaning method, a noise estimate), used in the message.
    atol : float
        Tolerance on each row summing to 1.
    source : str or None
        Where the probabilities came from (a file name), named in the message.

    Returns
    -------
    np.ndarray
        ``(n, C)`` float64 copy, each row renormalised to sum to exactly 1.
    """
    what = f"{name}: pred_probs" + (f" from {source}" if source else "")
    if pred_probs is None:
        raise ValueError(f"{what} is missing")
    try:
        arr = np.asarray(pred_probs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} is not a numeric array ({err})") from None
    if arr.shape != (n, n_classes):
        raise ValueError(f"{what} has shape {arr.shape}, expected ({n}, {n_classes})")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"{what} has {int(bad.sum())} NaN/inf entries (first in row {row})")
    for outside, how in ((arr < 0, "negative entries"), (arr > 1 + atol, "entries above 1")):
        if outside.any():
            row = int(np.flatnonzero(outside.any(axis=1))[0])
            raise ValueError(
                f"{what} has {int(outside.sum())} {how} (first in row {row}: "
                f"{arr[row][outside[row]][0]:.6g})"
            )
    err = np.abs(arr.sum(axis=1) - 1.0)
    if (err > atol).any():
        row = int(np.argmax(err))
        raise ValueError(
            f"{what} has rows that do not sum to 1 within {atol}; row {row} sums to "
            f"{arr[row].sum():.6g}"
        )
    return arr / arr.sum(axis=1, keepdims=True)
