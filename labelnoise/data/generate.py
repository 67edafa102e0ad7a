"""Generate the 100%-correctly-labelled alteration dataset (4 coarse classes, 14 subclasses)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TypeVar

import numpy as np
import pandas as pd

from labelnoise.data import config
from labelnoise.data.alter import (
    COARSE_CLASSES,
    FINE_CLASSES,
    FINE_TO_COARSE,
    apply_alterations,
    draw_alterations,
    draw_polygons,
    polygon_masks,
)
from labelnoise.data.base_images import BaseSource
from labelnoise.data.config import DEFAULTS, TASK_CLASSES
from labelnoise.data.store import Dataset, write_images
from labelnoise.progress import Progress
from labelnoise.progress import progress as show_progress

# Rows whose random choices come from one set of seeds. Changing it changes every dataset
# larger than one block; it is not a tuning knob (chunk_size is).
SEED_BLOCK = 16384
CHUNK_SIZE = DEFAULTS.chunk_size
_DRAW_PARAMS = ("blob_count", "blob_radius", "hue_rotation")
_PAINT_PARAMS = ("blur_sigma", "hue_strength", "hue_sweep", "min_saturation", "min_value")
T = TypeVar("T", bound=tuple)


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
    task: str = DEFAULTS.task,
    image_size: int = DEFAULTS.image_size,
    base: str = DEFAULTS.base,
    base_path: str | os.PathLike | None = DEFAULTS.base_path,
    vertices: tuple[int, int] = DEFAULTS.vertices,
    area: tuple[float, float] = DEFAULTS.area,
    crop_scale: tuple[float, float] = DEFAULTS.crop_scale,
    seed: int,
    chunk_size: int = DEFAULTS.chunk_size,
    images_path: str | os.PathLike | None = None,
    progress: bool = True,
    **alter_params,
) -> Dataset:
    """Generate base crops, alter a random polygon of each, and label them.

    Rows are ordered train, val, test, each block shuffled, so every split is a contiguous
    slice of the image array. Classes of the task are balanced in every split (counts differ by
    at most one); under ``task="coarse"`` the subclasses are spread evenly within each class.

    The result is bitwise identical for the same arguments, whatever ``chunk_size``: every
    random choice (crop box, polygon, alteration) is drawn first, per seed block of
    ``SEED_BLOCK`` rows from seeds derived from ``seed`` and the block's number, and takes a
    few hundred bytes per image; pixels are then made and written ``chunk_size`` rows at a
    time. Memory therefore grows with the number of images only by the index and labels,
    never by their pixels when ``images_path`` is given.

    Every argument named like a knob of ``params.yaml``'s ``data`` section is checked against
    its declaration (:class:`labelnoise.data.config.DataConfig`) and defaults to
    ``params.yaml``'s value; a ``ValueError`` names the knob (``data.area``), its bound and the
    value.

    Parameters
    ----------
    n_train, n_test
        Number of train and test images (at least one per class of the task).
    n_val_per_class
        Trusted validation images per class of the task.
    task
        ``"coarse"`` (4 classes) or ``"fine"`` (14 classes): which labels ``label`` holds.
    image_size
        Side of the square images in pixels, in [8, 512].
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
        Range of the crop side as a fraction of the source photo's shorter side, in (0, 1].
    seed
        Random seed.
    chunk_size
        Images made at a time; bounds the pixels in memory besides the result. With
        ``base="folder"`` each chunk decodes the photos it crops from (up to
        :attr:`labelnoise.data.base_images.BaseSource.CACHE_BYTES` of them are kept), so a large
        folder is decoded less often with larger chunks.
    images_path
        Write the image array into this ``.npy`` file chunk by chunk (atomically) and return it
        memory-mapped read-only; ``None`` keeps it in memory.
    progress
        Report the images made (:func:`labelnoise.progress.progress`).
    **alter_params
        Passed to :func:`labelnoise.data.alter.alter` (blob, blur and hue strengths).

    Returns
    -------
    Dataset
        Images ``(n_train + n_val_per_class * C + n_test, S, S, 3)`` with index and meta.
    """
    _check_generate_args(
        n_train=n_train,
        n_val_per_class=n_val_per_class,
        n_test=n_test,
        task=task,
        image_size=image_size,
        base=base,
        base_path=base_path,
        vertices=vertices,
        area=area,
        crop_scale=crop_scale,
        chunk_size=chunk_size,
        alter_params=alter_params,
    )
    classes = TASK_CLASSES[task]
    source = BaseSource(base, path=base_path, size=image_size, scale=crop_scale)

    roles = np.random.SeedSequence(seed).spawn(4)
    fine, split = _shuffled_fine_labels(n_train, n_val_per_class, n_test, task=task, seed=roles[0])
    coarse = np.asarray(FINE_TO_COARSE)[fine]
    label = coarse if task == "coarse" else fine

    n = fine.size
    sources: list[str] = []
    chunks = _image_chunks(
        fine, source, seeds=roles[1:], vertices=vertices, area=area, chunk_size=chunk_size,
        alter_params=alter_params, sources=sources,
    )  # fmt: skip
    shape = (n, image_size, image_size, 3)
    with show_progress(n, desc="generate", unit="img", enabled=progress) as report:
        images = write_images(_reported(chunks, report), shape=shape, path=images_path)
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
    return Dataset(images, index, _generated_meta(task, image_size))


def _check_generate_args(*, alter_params: dict, **values: object) -> None:
    """Raise on an argument of :func:`generate_dataset` outside its declaration
    (:func:`labelnoise.data.config.check`), or an unknown alteration parameter, before anything
    is drawn."""
    config.check({"source": "generate", **values})
    unknown = sorted(set(alter_params) - set(_DRAW_PARAMS) - set(_PAINT_PARAMS))
    if unknown:
        valid = ", ".join(_DRAW_PARAMS + _PAINT_PARAMS)
        raise ValueError(f"unknown alteration parameters {unknown}; valid: {valid}")


def _shuffled_fine_labels(
    n_train: int, n_val_per_class: int, n_test: int, *, task: str, seed: np.random.SeedSequence
) -> tuple[np.ndarray, np.ndarray]:
    """Fine labels (int64) and split names of every row, both ``(n,)``: balanced splits
    ordered train, val, test, each shuffled."""
    rng = np.random.default_rng(int(seed.generate_state(1)[0]))
    blocks = [
        split_fine_labels(n_train, task=task),
        split_fine_labels(n_val_per_class, task=task, per_class=True),
        split_fine_labels(n_test, task=task),
    ]
    fine = np.concatenate([b[rng.permutation(b.size)] for b in blocks])
    split = np.repeat(["train", "val", "test"], [b.size for b in blocks])
    return fine, split


def _generated_meta(task: str, image_size: int) -> dict:
    """Dataset metadata of the alteration dataset labelled for ``task``."""
    return {
        "task": task,
        "classes": list(TASK_CLASSES[task]),
        "coarse": list(COARSE_CLASSES),
        "fine": list(FINE_CLASSES),
        "fine_to_coarse": list(FINE_TO_COARSE),
        "image_size": image_size,
        "hflip_safe": True,
    }


def _image_chunks(
    fine: np.ndarray,
    source: BaseSource,
    *,
    seeds: list[np.random.SeedSequence],
    vertices: tuple[int, int],
    area: tuple[float, float],
    chunk_size: int,
    alter_params: dict,
    sources: list[str],
) -> Iterator[np.ndarray]:
    """Altered images of the rows of ``fine``, ``chunk_size`` at a time within each seed block;
    appends each image's base source to ``sources``."""
    size = source.size
    n_blocks = -(-fine.size // SEED_BLOCK)
    # Block b draws with word b of each role's seed sequence. Word 0 is the role's one-word
    # seed, so a set of up to SEED_BLOCK images is what base_crops, random_polygons and alter
    # give for those seeds in one call each.
    s_base, s_poly, s_alter = (s.generate_state(n_blocks) for s in seeds)
    draw_kw = {k: v for k, v in alter_params.items() if k in _DRAW_PARAMS}
    paint_kw = {k: v for k, v in alter_params.items() if k in _PAINT_PARAMS}
    for b in range(n_blocks):
        block = fine[b * SEED_BLOCK : (b + 1) * SEED_BLOCK]
        crops = source.draw(block.size, seed=int(s_base[b]))
        polygons = draw_polygons(
            block.size, size=size, vertices=vertices, area=area, seed=int(s_poly[b])
        )
        draws = draw_alterations(block, seed=int(s_alter[b]), **draw_kw)
        for a in range(0, block.size, chunk_size):
            rows = slice(a, a + chunk_size)
            base = source.render(_rows(crops, rows))
            masks = polygon_masks(_rows(polygons, rows), size=size)
            sources.extend(base.sources)
            yield apply_alterations(base.images, masks, block[rows], _rows(draws, rows), **paint_kw)


def _reported(chunks: Iterator[np.ndarray], report: Progress) -> Iterator[np.ndarray]:
    """``chunks``, each counted to ``report`` once it has been taken."""
    for chunk in chunks:
        yield chunk
        report.update(len(chunk))


def _rows(draws: T, rows: slice) -> T:
    """The same rows of every per-image array of a draws tuple."""
    return type(draws)(*(field[rows] for field in draws))
