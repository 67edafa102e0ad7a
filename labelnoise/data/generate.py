"""Generate the 100%-correctly-labelled alteration dataset (4 coarse classes, 14 subclasses)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from labelnoise.data.alter import (
    COARSE_CLASSES,
    FINE_CLASSES,
    FINE_TO_COARSE,
    alter,
    check_polygon_args,
    random_polygon_masks,
)
from labelnoise.data.base import SOURCES, base_crops, folder_image_paths
from labelnoise.data.store import Dataset

TASKS = ("coarse", "fine")
MIN_IMAGE_SIZE = 8


def balanced_counts(total: int, groups: int) -> np.ndarray:
    """Split ``total`` into ``groups`` counts that differ by at most one (earlier groups get
    the remainder)."""
    counts = np.full(groups, total // groups, dtype=np.int64)
    counts[: total % groups] += 1
    return counts


def split_fine_labels(n: int, *, task: str, per_class: bool = False) -> np.ndarray:
    """Fine labels of a balanced split, in class order.

    Parameters
    ----------
    n
        Number of images, or images per task class when ``per_class``.
    task
        ``"coarse"``: equal counts per coarse class, spread evenly over its subclasses;
        ``"fine"``: equal counts per subclass.
    per_class
        Read ``n`` as a count per class of the task.

    Returns
    -------
    np.ndarray
        int64 ``(total,)`` fine labels.
    """
    f2c = np.asarray(FINE_TO_COARSE)
    if task == "fine":
        counts = (
            np.full(len(FINE_CLASSES), n) if per_class else balanced_counts(n, len(FINE_CLASSES))
        )
        return np.repeat(np.arange(len(FINE_CLASSES)), counts)
    per_coarse = (
        np.full(len(COARSE_CLASSES), n) if per_class else balanced_counts(n, len(COARSE_CLASSES))
    )
    parts = []
    for c, count in enumerate(per_coarse):
        subs = np.flatnonzero(f2c == c)
        parts.append(np.repeat(subs, balanced_counts(int(count), subs.size)))
    return np.concatenate(parts)


def generate_dataset(
    *,
    n_train: int,
    n_val_per_class: int,
    n_test: int,
    task: str = "coarse",
    image_size: int = 32,
    base: str = "skimage",
    base_path: str | os.PathLike | None = None,
    vertices: tuple[int, int] = (5, 9),
    area: tuple[float, float] = (0.15, 0.35),
    crop_scale: tuple[float, float] = (0.25, 1.0),
    seed: int,
    **alter_params,
) -> Dataset:
    """Generate base crops, alter a random polygon of each, and label them.

    Rows are ordered train, val, test, each block shuffled, so every split is a contiguous
    slice of the image array. Classes of the task are balanced in every split (counts differ by
    at most one); under ``task="coarse"`` the subclasses are spread evenly within each class.
    The result is bitwise identical for the same arguments.

    Parameters
    ----------
    n_train, n_test
        Number of train and test images (at least one per class of the task).
    n_val_per_class
        Trusted validation images per class of the task.
    task
        ``"coarse"`` (4 classes) or ``"fine"`` (14 classes): which labels ``label`` holds.
    image_size
        Side of the square images in pixels (>= 8).
    base
        Base image source: ``"skimage"``, ``"procedural"`` or ``"folder"`` (needs
        ``base_path``).
    base_path
        Folder of base images for ``base="folder"``.
    vertices
        Inclusive range of polygon vertex counts (low >= 3).
    area
        Range of the altered region's area as a fraction of the image, inside (0, 1).
    crop_scale
        Range of the crop side as a fraction of the source photo's shorter side.
    seed
        Random seed.
    **alter_params
        Passed to :func:`labelnoise.data.alter.alter` (blob, blur and hue strengths).

    Returns
    -------
    Dataset
        Images ``(n_train + n_val_per_class * C + n_test, S, S, 3)`` with index and meta.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    if base not in SOURCES:
        raise ValueError(f"unknown base {base!r}; valid: {', '.join(SOURCES)}")
    classes = COARSE_CLASSES if task == "coarse" else FINE_CLASSES
    n_cls = len(classes)
    if n_train < n_cls:
        raise ValueError(f"n_train={n_train} is smaller than the {n_cls} classes of task {task!r}")
    if n_test < n_cls:
        raise ValueError(f"n_test={n_test} is smaller than the {n_cls} classes of task {task!r}")
    if n_val_per_class < 1:
        raise ValueError(f"n_val_per_class must be >= 1, got {n_val_per_class}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}")
    check_polygon_args(image_size, vertices, area)
    if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
        raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}")
    if base == "folder":
        if base_path is None:
            raise ValueError("base='folder' needs base_path")
        folder_image_paths(base_path)
    elif base_path is not None:
        raise ValueError(f"base_path {base_path} is only used with base='folder', not {base!r}")

    s_shuffle, s_base, s_poly, s_alter = (
        int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(4)
    )
    rng = np.random.default_rng(s_shuffle)
    blocks = [
        split_fine_labels(n_train, task=task),
        split_fine_labels(n_val_per_class, task=task, per_class=True),
        split_fine_labels(n_test, task=task),
    ]
    fine = np.concatenate([b[rng.permutation(b.size)] for b in blocks])
    split = np.repeat(["train", "val", "test"], [b.size for b in blocks])
    coarse = np.asarray(FINE_TO_COARSE)[fine]
    label = coarse if task == "coarse" else fine

    n = fine.size
    images, sources = base_crops(
        n, size=image_size, source=base, path=base_path, scale=crop_scale, seed=s_base
    )
    masks = random_polygon_masks(n, size=image_size, vertices=vertices, area=area, seed=s_poly)
    images = alter(images, masks, fine, seed=s_alter, **alter_params)
    index = pd.DataFrame(
        {
            "id": np.arange(n),
            "split": split,
            "label": label,
            "label_name": np.asarray(classes)[label],
            "coarse": coarse,
            "fine": fine,
            "source": sources,
        }
    )
    meta = {
        "task": task,
        "classes": list(classes),
        "coarse": list(COARSE_CLASSES),
        "fine": list(FINE_CLASSES),
        "fine_to_coarse": list(FINE_TO_COARSE),
        "image_size": image_size,
        "hflip_safe": True,
    }
    return Dataset(images, index, meta)
