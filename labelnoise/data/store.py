"""The on-disk dataset: one memory-mappable uint8 image array, an index CSV and a classes JSON."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.io import load_npy, read_json, save_npy, write_csv, write_json

SPLITS = ("train", "val", "test")
INDEX_COLUMNS = ("id", "split", "label", "label_name", "coarse", "fine", "source")
META_KEYS = ("task", "classes", "coarse", "fine", "fine_to_coarse", "image_size", "hflip_safe")
IMAGES_FILE = "images.npy"
INDEX_FILE = "index.csv"
CLASSES_FILE = "classes.json"


@dataclass
class Dataset:
    """Images with their index and class metadata.

    Attributes
    ----------
    images
        uint8 ``(N, H, W, 3)``; row ``i`` is the image with ``id == i``.
    index
        One row per image with the columns of ``INDEX_COLUMNS``.
    meta
        The contents of ``classes.json`` (keys of ``META_KEYS``).
    """

    images: np.ndarray
    index: pd.DataFrame
    meta: dict

    @property
    def classes(self) -> list[str]:
        """Names of the task's classes; position = label."""
        return list(self.meta["classes"])

    @property
    def n_classes(self) -> int:
        """Number of classes of the task."""
        return len(self.meta["classes"])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images, labels and ids of one split.

        Parameters
        ----------
        name
            ``"train"``, ``"val"`` or ``"test"``.

        Returns
        -------
        images, labels, ids
            uint8 ``(n, H, W, 3)`` (a view of a memory map when the split's rows are
            contiguous), int64 ``(n,)``, int64 ``(n,)`` in index order.
        """
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        rows = self.index[self.index["split"] == name]
        ids = rows["id"].to_numpy(dtype=np.int64)
        labels = rows["label"].to_numpy(dtype=np.int64)
        if ids.size and np.array_equal(ids, np.arange(ids[0], ids[0] + ids.size)):
            images = self.images[ids[0] : ids[0] + ids.size]
        else:
            images = self.images[ids]
        return images, labels, ids


def save_dataset(dataset: Dataset, out_dir: str | os.PathLike, *, write_images: bool = True) -> None:
    """Write ``images.npy``, ``index.csv`` and ``classes.json`` into ``out_dir`` (each atomic).

    ``write_images=False`` leaves ``images.npy`` alone: an import already decoded straight into
    it, memory-mapped, and rewriting it would hold every image in memory once more.
    """
    out = Path(out_dir)
    _validate(dataset.images, dataset.index, dataset.meta, out)
    if write_images:
        save_npy(out / IMAGES_FILE, dataset.images)
    write_csv(dataset.index[list(INDEX_COLUMNS)], out / INDEX_FILE)
    write_json(out / CLASSES_FILE, dataset.meta)


def load_dataset(out_dir: str | os.PathLike, *, mmap: bool = True) -> Dataset:
    """Read a dataset written by :func:`save_dataset`.

    Parameters
    ----------
    out_dir
        Folder holding the three files.
    mmap
        Memory-map the image array read-only instead of reading it into memory.
    """
    out = Path(out_dir)
    for name in (IMAGES_FILE, INDEX_FILE, CLASSES_FILE):
        if not (out / name).is_file():
            raise ValueError(f"{out / name}: file not found")
    images = load_npy(out / IMAGES_FILE, mmap=mmap)
    try:
        index = pd.read_csv(out / INDEX_FILE, keep_default_na=False, dtype={"source": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{out / INDEX_FILE}: not a readable CSV ({err})") from None
    meta = read_json(out / CLASSES_FILE)
    _validate(images, index, meta, out)
    return Dataset(images, index, meta)


def _validate(images: np.ndarray, index: pd.DataFrame, meta: dict, out: Path) -> None:
    img_file, idx_file, cls_file = out / IMAGES_FILE, out / INDEX_FILE, out / CLASSES_FILE
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{img_file}: expected uint8 (N, H, W, 3), got {images.dtype} {images.shape}"
        )
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"{idx_file}: missing columns {', '.join(missing)}")
    if not np.array_equal(index["id"].to_numpy(), np.arange(len(images))):
        raise ValueError(f"{idx_file}: ids must be 0..{len(images) - 1} in order, one per image")
    bad = sorted(set(index["split"].astype(str)) - set(SPLITS))
    if bad:
        raise ValueError(f"{idx_file}: unknown split values {bad}; valid: {', '.join(SPLITS)}")
    if not isinstance(meta, dict):
        raise ValueError(f"{cls_file}: expected a JSON object")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{cls_file}: missing keys {', '.join(missing)}")
    labels = index["label"].to_numpy()
    if labels.size and (labels.min() < 0 or labels.max() >= len(meta["classes"])):
        raise ValueError(f"{idx_file}: labels must lie in 0..{len(meta['classes']) - 1}")
