"""Import a user's labelled images (an ImageFolder tree or a CSV listing) into the dataset format,
and build ImageFolder trees of links to the originals.

Originals are only ever opened read-only: the import decodes each file once into one uint8 array
(optionally a ``.npy`` file written chunk by chunk, so 10^5+ images fit in bounded memory), and
:func:`link_tree` makes hard links or symlinks, never copies.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, ImageOps

from labelnoise.data import config
from labelnoise.data.config import DEFAULTS, ImportKind, LinkMode, OnBadImage, Resize
from labelnoise.data.reviewed import REVIEW_COLUMNS, apply_review, reviewed_table, trusted_rows
from labelnoise.data.store import SPLITS, Dataset, write_images
from labelnoise.io import atomic_path, read_path_label_csv
from labelnoise.knobs import choice_problems
from labelnoise.progress import progress as show_progress

RESIZE_MODES: tuple[str, ...] = get_args(Resize)
BAD_IMAGE_MODES: tuple[str, ...] = get_args(OnBadImage)
LINK_MODES: tuple[str, ...] = get_args(LinkMode)
SKIPPED_COLUMNS = ("path", "reason")
MAX_LISTED = 20

# Files the import reads and decode failures it cannot skip: operating-system droppings are
# ignored, any other file whose suffix Pillow cannot open is reported in the skipped table.
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})


@cache
def _image_suffixes() -> frozenset[str]:
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def import_dataset(
    path: str | os.PathLike,
    *,
    kind: str,
    image_size: int,
    resize: str = DEFAULTS.resize,
    val_fraction: float = DEFAULTS.val_fraction,
    test_fraction: float = DEFAULTS.test_fraction,
    on_bad_image: str = DEFAULTS.on_bad_image,
    seed: int,
    workers: int = DEFAULTS.workers,
    progress: bool = True,
    images_path: str | os.PathLike | None = None,
    chunk_size: int = DEFAULTS.chunk_size,
    hflip_safe: bool = True,
    reviewed: pd.DataFrame | None = None,
) -> tuple[Dataset, pd.DataFrame]:
    """Decode a user's labelled images into a :class:`Dataset` (task ``"custom"``).

    Layouts (``kind="folder"``): ``train/<class>/*`` with optional ``val/<class>/*`` (the
    trusted set) and ``test/<class>/*``, or a flat ``<class>/*`` tree that is all train. Files
    may sit in sub-folders of a class folder; hidden files are ignored and files with a suffix
    Pillow cannot open are listed in the skipped table. ``kind="csv"``: columns
    ``path,label[,split]``; relative paths resolve against the CSV's folder; labels are names
    (integers are read as names too); ``split`` is ``train``, ``val`` or ``test``.

    A split that the input does not provide (no ``val``/``test`` folder or split value) is
    carved out of train, stratified by class and seeded: per class ``round(fraction * n)``
    images, at least one when the fraction is positive, while train keeps at least two. Pass a
    fraction of 0 for no such split. Rows are ordered train, val, test (each split a contiguous
    slice), shuffled within each split.

    Classes are the sorted train label names (numerically when every name is an integer, so
    ``"2"`` comes before ``"10"``). Every image is converted to RGB uint8: EXIF orientation is
    applied; grey and palette images are expanded; alpha is composited onto white (as
    :func:`labelnoise.data.base_images.read_rgb` does); 16-bit images are scaled to 8 bits (``I``
    images with values above 255 are read as 16-bit, float images as 0..1 when their maximum
    is at most 1, else clipped to 0..255).

    The arguments named like knobs of ``params.yaml``'s ``data`` section (``kind`` is
    ``data.source``) are checked against their declaration
    (:class:`labelnoise.data.config.DataConfig`) and default to ``params.yaml``'s values; a
    ``ValueError`` names the knob (``data.val_fraction``), its bound and the value.

    Parameters
    ----------
    path
        Root of the image tree, or the CSV file.
    kind
        ``"folder"`` or ``"csv"``.
    image_size
        Side of the square output images in pixels, in [8, 512].
    resize
        ``"crop"``: scale the shorter side to ``image_size`` and cut the centre square;
        ``"pad"``: scale the longer side and letterbox with black; ``"stretch"``: scale each
        side independently.
    val_fraction, test_fraction
        Share of the train images of each class carved out as val / test when the input has
        no such split, each in [0, 1) and together below 1.
    on_bad_image
        ``"error"``: any unreadable, truncated or missing image file raises; ``"skip"``: such
        files are left out and listed in the returned table. Structural problems (a missing
        root, no images, duplicate paths, empty labels, val/test labels unknown to train, a
        class with fewer than two train images) raise in both modes.
    seed
        Random seed of the carved splits and the row order.
    workers
        Decoding threads (Pillow releases the GIL while decoding); 0 = ``os.cpu_count()``.
    progress
        Report the images decoded (:func:`labelnoise.progress.progress`).
    images_path
        Write the image array into this ``.npy`` file chunk by chunk (atomically; unreadable
        files leave no gap) and return it memory-mapped read-only; ``None`` keeps it in memory.
    chunk_size
        Files decoded at a time; bounds the decoded pixels in memory besides the result.
    hflip_safe
        Stored in the metadata; pass ``False`` when a mirrored image would change its class
        (text, digits, left/right classes) so training does not flip images.
    reviewed
        A person's verdicts (:func:`labelnoise.data.reviewed.read_reviewed`): they replace the given
        labels, stay out of a carved test split, and become the val split when none is given
        (:func:`labelnoise.data.reviewed.trusted_rows`); ``Dataset.reviewed`` records them.

    Returns
    -------
    dataset, skipped
        The dataset (images uint8 ``(N, image_size, image_size, 3)``; index ``source`` = the
        absolute original path; ``coarse`` and ``fine`` are -1) and a DataFrame with columns
        ``path, reason`` of every file left out (empty when none).
    """
    _check_import_args(
        kind=kind,
        resize=resize,
        on_bad_image=on_bad_image,
        image_size=image_size,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        workers=workers,
        chunk_size=chunk_size,
    )
    skip = on_bad_image == "skip"
    entries, skipped = _list_entries(path, kind=kind, skip=skip)
    classes = _check_labels(entries, path)
    given_splits = set(entries["split"])
    entries, trusted = _reviewed_entries(entries, reviewed, classes)
    fractions = {"val": val_fraction, "test": test_fraction}
    entries, split = _order_rows(entries, classes, fractions=fractions, seed=seed, trusted=trusted)
    images, entries, split, unreadable = _decode_rows(
        entries, split, classes, image_size=image_size, resize=resize, workers=workers,
        progress=progress, chunk_size=chunk_size, images_path=images_path, skip=skip, path=path,
    )  # fmt: skip
    skipped.append(unreadable)
    index = _import_index(entries, split, classes)
    meta = _import_meta(
        classes, split, given_splits, image_size=image_size, hflip_safe=hflip_safe,
        reviewed_val=bool(trusted.any()) and "val" not in given_splits,
    )  # fmt: skip
    review = reviewed_table(index, entries, entries["review_row"].to_numpy())
    return Dataset(images, index, meta, review), _skipped_table(skipped)


def _reviewed_entries(
    entries: pd.DataFrame, reviewed: pd.DataFrame | None, classes: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The entries with the reviewed labels applied (columns of
    :func:`labelnoise.data.reviewed.apply_review`, and ``review_row``) and the ``(n,)`` rows that
    become the trusted val split when none is given."""
    if reviewed is None:
        reviewed = pd.DataFrame(columns=[*REVIEW_COLUMNS, "where"])
    entries, row = apply_review(entries, reviewed, classes)
    entries["review_row"] = row
    return entries, trusted_rows(entries, row)


def scan_image_folder(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List the images of an ImageFolder tree (``train/<class>/*`` [``val/``, ``test/``] or a
    flat ``<class>/*``).

    Returns
    -------
    entries, ignored
        ``entries``: columns ``path`` (absolute), ``label_name``, ``split`` (``train``, ``val``
        or ``test``), ``where`` (for messages), ``exists`` (all True), sorted by split, class
        and path. ``ignored``: ``path, reason`` of files whose suffix Pillow cannot open.
    """
    root = Path(os.path.abspath(path))
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist or is not a folder")
    top_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name))
    if any(p.name == "train" for p in top_dirs):
        extra = [str(p) for p in top_dirs if p.name not in SPLITS]
        if extra:
            _raise_all(f"{root}: folders beside train/ must be val/ or test/", extra)
        split_roots = [(p.name, p) for p in top_dirs]
        stray = [str(p) for p in root.iterdir() if p.is_file() and _is_image_name(p.name)]
    else:
        split_roots = [("train", root)]
        stray = []
    suffixes = _image_suffixes()
    rows, ignored, empty = [], [], []
    for split, split_root in split_roots:
        for class_dir in sorted(p for p in split_root.iterdir() if not _hidden(p.name)):
            if not class_dir.is_dir():
                if _is_image_name(class_dir.name):
                    stray.append(str(class_dir))
                continue
            n_rows = len(rows)
            for file in _walk_files(class_dir):
                if file.suffix.lower() in suffixes:
                    rows.append((str(file), class_dir.name, split))
                elif file.name.lower() not in _JUNK_NAMES:
                    ignored.append((str(file), "not an image suffix Pillow can open"))
            if split == "train" and len(rows) == n_rows:
                empty.append(str(class_dir))
    if stray:
        _raise_all(f"{root}: image files outside a class folder", stray)
    if not rows:
        raise ValueError(f"image folder {root} contains no image files in class folders")
    if empty:
        _raise_all(f"{root}: train class folders without image files", empty)
    entries = pd.DataFrame(rows, columns=["path", "label_name", "split"])
    entries["where"] = entries["path"]
    entries["exists"] = True
    return entries, pd.DataFrame(ignored, columns=list(SKIPPED_COLUMNS))


def read_image_csv(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a ``path,label[,split]`` listing; relative paths resolve against the CSV's folder.

    Returns
    -------
    entries, ignored
        ``entries``: columns ``path`` (absolute), ``label_name``, ``split`` (``train`` for all
        rows without a split column), ``where`` (``"<csv> line N"``), ``exists`` (the file
        exists). ``ignored`` is empty (a listed file is never ignored).
    """
    csv = Path(os.path.abspath(path))
    if not csv.is_file():
        raise ValueError(f"image list {csv} does not exist or is not a file")
    table = read_path_label_csv(csv, expected="path,label[,split]")
    if table.empty:
        raise ValueError(f"{csv}: no rows")
    where = [f"{csv} line {i + 2}" for i in range(len(table))]
    rel = table["path"].str.strip()
    label = table["label"].str.strip()
    split = (
        table["split"].str.strip() if "split" in table.columns else pd.Series("train", table.index)
    )
    problems = [f"{w}: empty path" for w, p in zip(where, rel, strict=True) if not p]
    problems += [f"{w}: empty label" for w, lab in zip(where, label, strict=True) if not lab]
    problems += [
        f"{w}: unknown split {s!r} (valid: {', '.join(SPLITS)})"
        for w, s in zip(where, split, strict=True)
        if s not in SPLITS
    ]
    if problems:
        _raise_all(f"{csv}: bad rows", problems)
    full = [os.path.abspath(os.path.join(csv.parent, p)) for p in rel]
    entries = pd.DataFrame(
        {
            "path": full,
            "label_name": label.to_numpy(),
            "split": split.to_numpy(),
            "where": [f"{w} ({p})" for w, p in zip(where, full, strict=True)],
            "exists": [os.path.isfile(p) for p in full],
        }
    )
    return entries, pd.DataFrame(columns=list(SKIPPED_COLUMNS))


def decode_chunks(
    paths: Sequence[str | os.PathLike],
    *,
    image_size: int,
    resize: str = DEFAULTS.resize,
    workers: int = DEFAULTS.workers,
    progress: bool = True,
    chunk_size: int = DEFAULTS.chunk_size,
) -> Iterator[tuple[np.ndarray, list[str | None]]]:
    """Decode image files in parallel threads, ``chunk_size`` files at a time.

    Parameters
    ----------
    paths
        Image files; opened read-only.
    image_size, resize
        As in :func:`import_dataset`.
    workers
        Threads; 0 = ``os.cpu_count()``.
    progress
        Report the images decoded (:func:`labelnoise.progress.progress`).
    chunk_size
        Files per chunk.

    Yields
    ------
    images, reasons
        uint8 ``(m, image_size, image_size, 3)`` for the next ``m <= chunk_size`` files, in
        order: one buffer reused for every chunk, so copy out what you keep before asking for
        the next (rows of files that failed hold no image); and per file ``None`` when decoded,
        else a one-line reason why it could not be read.
    """
    config.check({"chunk_size": chunk_size})
    buf = np.empty((min(chunk_size, len(paths)), image_size, image_size, 3), dtype=np.uint8)

    def one(i: int, row: int) -> str | None:
        try:
            buf[row] = load_image(paths[i], image_size=image_size, resize=resize)
        # Pillow's plugins raise many exception types for malformed files; each one only marks
        # this file as unreadable and is reported by name.
        except Exception as err:
            return _one_line(f"{type(err).__name__}: {err}")
        return None

    n_workers = workers or os.cpu_count() or 1
    with (
        _strict_truncation(),
        ThreadPoolExecutor(max_workers=n_workers) as pool,
        show_progress(len(paths), desc="import", unit="img", enabled=progress) as bar,
    ):
        for start in range(0, len(paths), chunk_size):
            stop = min(start + chunk_size, len(paths))
            reasons = []
            for reason in pool.map(one, range(start, stop), range(stop - start)):
                reasons.append(reason)
                bar.update(1)
            yield buf[: stop - start], reasons


def load_image(
    path: str | os.PathLike, *, image_size: int, resize: str = DEFAULTS.resize
) -> np.ndarray:
    """Decode one image file to a square uint8 RGB array.

    Parameters
    ----------
    path
        Image file, opened read-only.
    image_size, resize
        As in :func:`import_dataset`.

    Returns
    -------
    np.ndarray
        uint8 ``(image_size, image_size, 3)``.
    """
    config.check({"resize": resize})
    size = (image_size, image_size)
    with Image.open(path) as im:
        # JPEG decodes straight at a reduced scale that is still at least image_size per side.
        im.draft(None, size)
        im.load()
        rgb = _to_rgb(ImageOps.exif_transpose(im))
    resample = Image.Resampling.LANCZOS
    if resize == "crop":
        rgb = ImageOps.fit(rgb, size, method=resample)
    elif resize == "pad":
        rgb = ImageOps.pad(rgb, size, method=resample, color=(0, 0, 0))
    else:
        rgb = rgb.resize(size, resample=resample)
    return np.asarray(rgb, dtype=np.uint8)


def link_tree(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    mode: str = "hardlink",  # results.links in params.yaml
) -> pd.DataFrame:
    """Build an ImageFolder tree ``<out_dir>/<label>/<name>`` of links to the original files.

    Nothing is copied and the originals' contents and modification times are untouched (a hard
    link does change the file's link count and ctime). Files reached through hard links are the
    originals: treat the tree as read-only. The tree is built in a temporary folder and renamed
    onto ``out_dir`` (replacing an existing one) only when complete.

    Parameters
    ----------
    paths
        ``n`` existing files.
    labels
        ``n`` class names, used as folder names.
    out_dir
        Folder to create.
    mode
        ``"hardlink"`` (fails with a clear error across file systems), ``"symlink"`` (absolute
        symbolic links) or ``"auto"`` (hard links, symbolic links where a hard link fails).

    Returns
    -------
    pd.DataFrame
        One row per input in input order: ``path`` (absolute original), ``label``, ``link``
        (path relative to ``out_dir``). A file name that occurs more than once in a label
        folder becomes ``<stem>__<i><suffix>`` with ``i`` its input position.
    """
    if mode not in LINK_MODES:
        raise ValueError(f"unknown link mode {mode!r}; valid: {', '.join(LINK_MODES)}")
    if len(paths) != len(labels):
        raise ValueError(f"got {len(paths)} paths but {len(labels)} labels")
    src = [os.path.abspath(p) for p in paths]
    names = [str(lab).strip() for lab in labels]
    problems = [f"{p}: file not found" for p in src if not os.path.isfile(p)]
    problems += [
        f"{p}: bad label {lab!r} (must be a non-empty folder name)"
        for p, lab in zip(src, names, strict=True)
        if lab in ("", ".", "..") or "/" in lab or os.sep in lab or "\0" in lab
    ]
    counts = pd.Series(src).value_counts()
    problems += [f"{p}: listed {c} times" for p, c in counts[counts > 1].items()]
    if problems:
        _raise_all("cannot build link tree", problems)
    base = pd.DataFrame({"label": names, "name": [os.path.basename(p) for p in src]})
    clash = base.duplicated(["label", "name"], keep=False).to_numpy()
    links = [
        os.path.join(lab, f"{Path(n).stem}__{i}{Path(n).suffix}" if clash[i] else n)
        for i, (lab, n) in enumerate(zip(names, base["name"], strict=True))
    ]
    if len(set(links)) != len(links):
        dup = pd.Series(links)
        _raise_all(
            "link names still clash after numbering", sorted(set(dup[dup.duplicated()].tolist()))
        )
    out = Path(out_dir)
    with atomic_path(out, directory=True) as tmp:
        for lab in sorted(set(names)):
            (tmp / lab).mkdir()
        for s, link in zip(src, links, strict=True):
            _link(s, tmp / link, mode=mode, out=out)
    return pd.DataFrame({"path": src, "label": names, "link": links})


def _link(src: str, dst: Path, *, mode: str, out: Path) -> None:
    if mode != "symlink":
        try:
            os.link(src, dst)
            return
        except OSError as err:
            if mode == "hardlink":
                why = "it is on another file system" if err.errno == errno.EXDEV else err.strerror
                raise ValueError(
                    f"cannot hard-link {src} into {out}: {why}; use mode='symlink' or 'auto'"
                ) from None
    os.symlink(src, dst)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        a = np.asarray(im)
        if im.mode == "F":
            a = a * 255.0 if np.nanmax(a, initial=0.0) <= 1.0 else a
        elif im.mode.startswith("I;16") or a.max(initial=0) > 255:
            a = a.astype(np.float64) * (255.0 / 65535.0)
        grey = np.clip(np.rint(np.nan_to_num(a)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    ):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


@contextmanager
def _strict_truncation() -> Iterator[None]:
    # A truncated file must fail instead of decoding to grey; the process-wide flag is restored.
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _check_import_args(*, kind: str, **values: object) -> None:
    """Raise on an argument of :func:`import_dataset` outside its declaration
    (:func:`labelnoise.data.config.check`; ``kind`` is ``data.source``, an import kind),
    before any file is read."""
    problems = choice_problems("data.source", kind, ImportKind)
    if problems:
        raise ValueError(problems[0])
    config.check({"source": kind, **values})


def _list_entries(
    path: str | os.PathLike, *, kind: str, skip: bool
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Entries of the existing listed files (columns as in :func:`scan_image_folder`) and the
    ``path, reason`` tables of the files left out so far; missing files raise unless
    ``skip``."""
    if kind == "folder":
        entries, ignored = scan_image_folder(path)
    else:
        entries, ignored = read_image_csv(path)
    missing = ~entries["exists"].to_numpy()
    if missing.any() and not skip:
        _raise_all(f"{path}: image files not found", _where(entries[missing]))
    skipped = [ignored, _skipped_frame(entries.loc[missing, "path"], "file not found")]
    return entries[~missing].reset_index(drop=True), skipped


def _check_labels(entries: pd.DataFrame, path: str | os.PathLike) -> list[str]:
    dup = entries["path"].duplicated(keep=False).to_numpy()
    if dup.any():
        _raise_all(f"{path}: files listed more than once", _where(entries[dup]))
    train = entries["split"] == "train"
    if not train.any():
        raise ValueError(f"{path}: no train images")
    classes = _sort_classes(entries.loc[train, "label_name"].unique())
    if len(classes) < 2:
        raise ValueError(
            f"{path}: a classification task needs at least 2 classes, found only {classes}"
        )
    unknown = ~entries["label_name"].isin(classes).to_numpy()
    if unknown.any():
        bad = entries[unknown]
        _raise_all(
            f"{path}: val/test labels that train does not have",
            [
                f"{w} (label {lab!r})"
                for w, lab in zip(bad["where"], bad["label_name"], strict=True)
            ],
        )
    _check_train_counts(entries.loc[train, "label_name"], classes, path, after_skip=False)
    return classes


def _check_train_counts(
    train_labels: pd.Series, classes: list[str], path: str | os.PathLike, *, after_skip: bool
) -> None:
    counts = train_labels.value_counts().reindex(classes, fill_value=0)
    few = counts[counts < 2]
    if len(few):
        when = " after leaving out unreadable files" if after_skip else ""
        _raise_all(
            f"{path}: a class needs >= 2 train images{when}",
            [f"class {c!r} has {n}" for c, n in few.items()],
        )


def _order_rows(
    entries: pd.DataFrame,
    classes: list[str],
    *,
    fractions: dict[str, float],
    seed: int,
    trusted: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Entries and their split names ``(n,)`` with the absent splits carved out of train,
    reordered train, val, test and shuffled within each split."""
    s_carve, s_order = (int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(2))
    split = _carve_splits(entries, classes, fractions=fractions, seed=s_carve, trusted=trusted)
    rng = np.random.default_rng(s_order)
    order = np.concatenate([rng.permutation(np.flatnonzero(split == s)) for s in SPLITS]).astype(
        np.int64
    )
    return entries.iloc[order].reset_index(drop=True), split[order]


def _carve_splits(
    entries: pd.DataFrame,
    classes: list[str],
    *,
    fractions: dict[str, float],
    seed: int,
    trusted: np.ndarray,
) -> np.ndarray:
    """Split column with the absent splits carved out of train, stratified per class: val is
    the ``trusted`` ``(n,)`` reviewed rows when there are any, and no reviewed image is
    carved into test."""
    split = entries["split"].to_numpy(dtype=object).copy()
    carve = [s for s in ("val", "test") if s not in set(split) and fractions[s] > 0]
    if "val" not in set(split) and trusted.any():
        missing = sorted(set(classes) - set(entries["label_name"][trusted]))
        if missing:
            raise ValueError(
                f"data.reviewed: the reviewed images that become the trusted val split (those "
                f"drawn at random) hold no image of class(es) {missing}: review at least one "
                "of each, or add a val/ folder"
            )
        split[trusted] = "val"
        carve = [s for s in carve if s != "val"]
        left = pd.Series(entries["label_name"][split == "train"]).value_counts()
        few = [c for c in classes if left.get(c, 0) < 2]
        if few:
            raise ValueError(
                f"data.reviewed: with the reviewed images as the val split, class(es) {few} keep "
                "fewer than 2 train images"
            )
    if not carve:
        return split.astype(str)
    rng = np.random.default_rng(seed)
    labels = entries["label_name"].to_numpy()
    reviewed = entries["review_row"].to_numpy() >= 0
    for c in classes:
        members = rng.permutation(np.flatnonzero((split == "train") & (labels == c) & ~reviewed))
        want = {s: max(1, int(np.floor(fractions[s] * members.size + 0.5))) for s in carve}
        # Train keeps two images per class: shrink the larger carved split first.
        while members.size - sum(want.values()) < 2 and any(want.values()):
            largest = max(reversed(carve), key=lambda s: want[s])
            want[largest] -= 1
        start = 0
        for s in carve:
            split[members[start : start + want[s]]] = s
            start += want[s]
    return split.astype(str)


def _decode_rows(
    entries: pd.DataFrame,
    split: np.ndarray,
    classes: list[str],
    *,
    image_size: int,
    resize: str,
    workers: int,
    progress: bool,
    chunk_size: int,
    images_path: str | os.PathLike | None,
    skip: bool,
    path: str | os.PathLike,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Decode the files of ``entries`` into one image array.

    Returns
    -------
    images, entries, split, unreadable
        uint8 ``(m, image_size, image_size, 3)`` of the ``m`` files that decoded (a
        memory-mapped ``.npy`` when ``images_path`` is given), their entries and split names
        ``(m,)``, and the ``path, reason`` table of the files that did not.
    """
    paths = entries["path"].tolist()
    reasons: list[str | None] = []

    def decoded() -> Iterator[np.ndarray]:
        for chunk, chunk_reasons in decode_chunks(
            paths,
            image_size=image_size,
            resize=resize,
            workers=workers,
            progress=progress,
            chunk_size=chunk_size,
        ):
            reasons.extend(chunk_reasons)
            ok = np.array([r is None for r in chunk_reasons])
            yield chunk if ok.all() else chunk[ok]
        # Raised while the image file is still a temporary one: a failed import leaves none.
        _check_bad(entries, split, reasons, classes, skip=skip, path=path)

    images = write_images(
        decoded(), shape=(len(paths), image_size, image_size, 3), path=images_path
    )
    bad = np.array([r is not None for r in reasons], dtype=bool)
    unreadable = pd.DataFrame(
        {"path": entries.loc[bad, "path"].to_numpy(), "reason": np.asarray(reasons)[bad]}
    )
    return images, entries[~bad].reset_index(drop=True), split[~bad], unreadable


def _check_bad(
    entries: pd.DataFrame,
    split: np.ndarray,
    reasons: list[str | None],
    classes: list[str],
    *,
    skip: bool,
    path: str | os.PathLike,
) -> np.ndarray:
    """Mask of the files that failed to decode; raises unless they may be skipped and every
    class keeps two train images."""
    bad = np.array([r is not None for r in reasons], dtype=bool)
    if bad.any() and not skip:
        _raise_all(
            f"{path}: unreadable images (on_bad_image='skip' leaves them out)",
            [
                f"{w}: {r}"
                for w, r in zip(entries.loc[bad, "where"], np.asarray(reasons)[bad], strict=True)
            ],
        )
    kept_train = entries["label_name"][~bad & (split == "train")]
    _check_train_counts(kept_train, classes, path, after_skip=True)
    return bad


def _import_index(entries: pd.DataFrame, split: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Dataset index of the imported rows: ``id, split, label, label_name, coarse, fine,
    source`` with ``coarse`` and ``fine`` -1 and ``source`` the original path."""
    label = pd.Categorical(entries["label_name"], categories=classes).codes.astype(np.int64)
    return pd.DataFrame(
        {
            "id": np.arange(len(entries), dtype=np.int64),
            "split": split,
            "label": label,
            "label_name": entries["label_name"].to_numpy(),
            "coarse": np.full(len(entries), -1, dtype=np.int64),
            "fine": np.full(len(entries), -1, dtype=np.int64),
            "source": entries["path"].to_numpy(),
        }
    )


def _import_meta(
    classes: list[str],
    split: np.ndarray,
    given_splits: set[str],
    *,
    image_size: int,
    hflip_safe: bool,
    reviewed_val: bool = False,
) -> dict:
    """Dataset metadata of a ``"custom"`` task with the imported ``classes``; ``reviewed_val``
    when the val split is the reviewed images."""
    return {
        "task": "custom",
        "classes": classes,
        "coarse": [],
        "fine": [],
        "fine_to_coarse": [],
        "image_size": image_size,
        "hflip_safe": bool(hflip_safe),
        # Whether the trusted val and the test split hold labels you gave for them, were
        # reviewed by a person, or were carved out of train (and so rest on its unverified
        # labels).
        "split_origin": {
            s: "given"
            if s in given_splits
            else "reviewed"
            if s == "val" and reviewed_val
            else "carved"
            if s in set(split)
            else "none"
            for s in ("val", "test")
        },
    }


def _skipped_table(skipped: list[pd.DataFrame]) -> pd.DataFrame:
    """One ``path, reason`` table (all str) of the non-empty tables in ``skipped``."""
    tables = [s for s in skipped if len(s)]
    return (
        pd.concat(tables, ignore_index=True).astype(str)[list(SKIPPED_COLUMNS)]
        if tables
        else pd.DataFrame({c: pd.Series(dtype=str) for c in SKIPPED_COLUMNS})
    )


def _sort_classes(names: Sequence[str]) -> list[str]:
    names = [str(n) for n in names]
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


def _skipped_frame(paths: pd.Series, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"path": paths.to_numpy(), "reason": reason})


def _where(entries: pd.DataFrame) -> list[str]:
    return entries["where"].tolist()


def _raise_all(header: str, items: Sequence[str]) -> None:
    shown = "; ".join(_one_line(i) for i in items[:MAX_LISTED])
    more = f"; and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    raise ValueError(f"{header}: {shown}{more}")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _is_image_name(name: str) -> bool:
    return not _hidden(name) and Path(name).suffix.lower() in _image_suffixes()


def _walk_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not _hidden(f))
    return files
