"""The caller's arguments, checked before a training or a prediction touches them: the images,
their labels, the rows trained on and the number of classes.

Every check raises ``ValueError`` naming the argument and the bad value.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_n_classes(n_classes: Any) -> int:
    """``n_classes`` checked to be an int >= 2."""
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    return n_classes


def check_images(images: Any, name: str) -> np.ndarray:
    """``images`` checked to be a uint8 array ``(n, H, W, 3)``; ``ValueError`` naming ``name``."""
    if not isinstance(images, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n, H, W, 3), got {images.shape}")
    return images


def check_labels(labels: Any, n: int, n_classes: int, name: str) -> np.ndarray:
    """``labels`` as int64 ``(n,)`` in ``[0, n_classes)``; ``ValueError`` naming ``name``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but there are {n} images")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"{name} contains {bad}, outside [0, {n_classes})")
    return labels.astype(np.int64)


def check_rows(rows: Any, n: int, name: str) -> np.ndarray:
    """``rows`` as int64 ``(m,)``, checked to be distinct rows of an ``n``-row array, m >= 2."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"{name}: train rows must be a 1-D integer array, got {rows.dtype}")
    if len(rows) < 2:
        raise ValueError(f"{name}: needs at least 2 training rows, got {len(rows)}")
    if rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"{name}: train rows outside [0, {n})")
    if len(np.unique(rows)) != len(rows):
        raise ValueError(f"{name}: train rows repeat an index")
    return rows.astype(np.int64)
