"""The on-disk dataset: one memory-mappable uint8 image array, an index CSV and a classes JSON."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from labelnoise.io import atomic_path, load_npy, read_json, save_npy, write_csv, write_json

SPLITS = ("train", "val", "test")
INDEX_COLUMNS = ("id", "split", "label", "label_name", "coarse", "fine", "source")
META_KEYS = ("task", "classes", "coarse", "fine", "fine_to_coarse", "image_size", "hflip_safe")
IMAGES_FILE = "images.npy"
INDEX_FILE = "index.csv"
CLASSES_FILE = "classes.json"
REVIEWED_FILE = "reviewed.csv"
REVIEWED_COLUMNS = ("id", "split", "path", "original_label", "label", "sample", "flagged")


@dataclass
class Dataset:
    """Images with their index and class metadata.

    Attributes
    ----------
    images
        uint8 ``(N, H, W, 3)``; row ``i`` is the image with ``id == i``.
    index
        One row per image with the columns of ``INDEX_COLUMNS``; the rows of each split are
        one contiguous block, so a split is a slice of ``images``.
    meta
        The contents of ``classes.json`` (keys of ``META_KEYS``).
    reviewed
        The images whose labels a person reviewed (``data.reviewed``), one row each with the
        columns of ``REVIEWED_COLUMNS`` (:func:`labelnoise.data.reviewed.reviewed_table`);
        empty when none.
    """

    images: np.ndarray
    index: pd.DataFrame
    meta: dict
    reviewed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REVIEWED_COLUMNS))

    @property
    def classes(self) -> list[str]:
        """Names of the task's classes; position = label."""
        return list(self.meta["classes"])

    @property
    def n_classes(self) -> int:
        """Number of classes of the task."""
        return len(self.meta["classes"])

    @property
    def trusted_val(self) -> bool:
        """Whether the val split's labels were given (or generated) as correct, or reviewed by a
        person, rather than carved out of the given, unverified train labels on import."""
        return self.meta.get("split_origin", {}).get("val", "given") != "carved"

    def reviewed_rows(self, split: str) -> np.ndarray:
        """``(n,)`` bool over the rows of ``split`` (in :meth:`split`'s order): the images whose
        labels a person reviewed."""
        _, _, ids = self.split(split)
        return np.isin(ids, self.reviewed["id"].to_numpy(dtype=np.int64))

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images, labels and ids of one split.

        Parameters
        ----------
        name
            ``"train"``, ``"val"`` or ``"test"``.

        Returns
        -------
        images, labels, ids
            uint8 ``(n, H, W, 3)``, a view (of the memory map when loaded so: nothing is
            read or copied), int64 ``(n,)``, int64 ``(n,)`` in index order.
        """
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        rows = self.index[self.index["split"] == name]
        ids = rows["id"].to_numpy(dtype=np.int64)
        labels = rows["label"].to_numpy(dtype=np.int64)
        start = int(ids[0]) if ids.size else 0
        return self.images[start : start + ids.size], labels, ids


def save_dataset(
    dataset: Dataset, out_dir: str | os.PathLike, *, write_images: bool = True
) -> None:
    """Write ``images.npy``, ``index.csv`` and ``classes.json`` into ``out_dir`` (each atomic).

    ``write_images=False`` leaves ``images.npy`` alone: generation or import already streamed
    the images into it (``images_path``), and rewriting it would read every image once more.
    """
    out = Path(out_dir)
    _validate(dataset.images, dataset.index, dataset.meta, out)
    if write_images:
        save_npy(out / IMAGES_FILE, dataset.images)
    write_csv(dataset.index[list(INDEX_COLUMNS)], out / INDEX_FILE)
    write_json(out / CLASSES_FILE, dataset.meta)
    if len(dataset.reviewed):
        write_csv(dataset.reviewed[list(REVIEWED_COLUMNS)], out / REVIEWED_FILE)


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
    return Dataset(images, index, meta, load_reviewed(out))


def load_reviewed(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The dataset's record of reviewed images (``reviewed.csv``; columns ``REVIEWED_COLUMNS``),
    empty when nothing was reviewed."""
    path = Path(out_dir) / REVIEWED_FILE
    if not path.is_file():
        return pd.DataFrame(columns=REVIEWED_COLUMNS)
    table = pd.read_csv(path, keep_default_na=False, dtype={"path": str, "sample": str})
    missing = [c for c in REVIEWED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)}")
    table["flagged"] = (
        table["flagged"]
        .replace("", pd.NA)
        .map({"True": True, "False": False, True: True, False: False})
        .astype("boolean")
    )
    return table


def write_images(
    chunks: Iterable[np.ndarray],
    *,
    shape: tuple[int, int, int, int],
    path: str | os.PathLike | None = None,
) -> np.ndarray:
    """Gather image chunks, in order, into one array while holding one chunk at a time.

    Parameters
    ----------
    chunks
        uint8 ``(m_i, H, W, 3)`` arrays, each copied out before the next is asked for (so a
        producer may reuse one buffer).
    shape
        ``(n, H, W, 3)``; ``n`` bounds the total rows of the chunks, fewer give a shorter array.
    path
        Write this ``.npy`` file sequentially, chunk by chunk, and return it memory-mapped
        read-only. The written pages belong to the file system cache, not to this process, so
        its memory stays at one chunk whatever ``n``. The write is atomic: an exception raised
        by the producer (which may check its input after the last chunk) leaves no file.
        ``None``: an array in memory.

    Returns
    -------
    np.ndarray
        uint8 ``(sum(m_i), H, W, 3)``.
    """
    n, row = shape[0], tuple(shape[1:])
    if path is None:
        out = np.empty(shape, dtype=np.uint8)
        rows = 0
        for chunk in chunks:
            m = _check_chunk(chunk, row, rows, n)
            out[rows : rows + m] = chunk
            rows += m
        return out[:rows]
    final = Path(path)
    with atomic_path(final) as tmp:
        # open_memmap writes the header (numpy's layout and padding) and sizes the file; its map
        # is dropped at once, so no written page is ever mapped into this process.
        header = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(shape))
        offset = header.offset
        del header
        rows = 0
        with open(tmp, "r+b") as fh:
            fh.seek(offset)
            for chunk in chunks:
                m = _check_chunk(chunk, row, rows, n)
                fh.write(np.ascontiguousarray(chunk).data)
                rows += m
            if rows < n:
                _set_rows(fh, rows)
    return load_npy(final, mmap=True)


def _check_chunk(chunk: np.ndarray, row: tuple[int, ...], done: int, n: int) -> int:
    if chunk.dtype != np.uint8 or chunk.shape[1:] != row:
        raise ValueError(f"image chunks must be uint8 (m, *{row}), got {chunk.dtype} {chunk.shape}")
    if done + len(chunk) > n:
        raise ValueError(f"image chunks hold more than the {n} rows announced")
    return len(chunk)


def _set_rows(fh: BinaryIO, n: int) -> None:
    """Cut an open C-order ``.npy`` file to its first ``n`` rows without copying them."""
    fh.seek(0)
    version = np.lib.format.read_magic(fh)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read(fh)
    offset = fh.tell()
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": fortran,
        "shape": (n, *shape[1:]),
    }
    buf = io.BytesIO()
    write = (
        np.lib.format.write_array_header_1_0
        if version == (1, 0)
        else np.lib.format.write_array_header_2_0
    )
    write(buf, header)
    # numpy pads headers so the first axis can change length in place.
    if len(buf.getvalue()) != offset:
        raise RuntimeError(f"{fh.name}: .npy header length changed; cannot shrink in place")
    fh.seek(0)
    fh.write(buf.getvalue())
    fh.truncate(offset + n * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


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
    split = index["split"].astype(str).to_numpy()
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise ValueError(f"{idx_file}: unknown split values {bad}; valid: {', '.join(SPLITS)}")
    # A split that is one block of rows is a view of the memory map; scattered rows would
    # have to be gathered into a copy on every load.
    heads = split[np.r_[0, np.flatnonzero(split[1:] != split[:-1]) + 1]] if split.size else split
    names, runs = np.unique(heads, return_counts=True)
    scattered = names[runs > 1].tolist()
    if scattered:
        raise ValueError(
            f"{idx_file}: the rows of split(s) {', '.join(scattered)} are not contiguous; "
            "each split must be one block of ids"
        )
    if not isinstance(meta, dict):
        raise ValueError(f"{cls_file}: expected a JSON object")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{cls_file}: missing keys {', '.join(missing)}")
    labels = index["label"].to_numpy()
    if labels.size and (labels.min() < 0 or labels.max() >= len(meta["classes"])):
        raise ValueError(f"{idx_file}: labels must lie in 0..{len(meta['classes']) - 1}")
