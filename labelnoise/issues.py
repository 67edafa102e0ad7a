"""Every issue type of a dirty image folder besides its false labels, from the libraries that
find them, in the column conventions of cleanlab's ``Datalab``.

- **Datalab** (cleanlab) on the baseline's penultimate-layer features and out-of-sample
  probabilities of the train images: ``outlier``, ``near_duplicate`` (features closer than a
  fraction of the median nearest-neighbour distance), ``non_iid`` (an ordering the images
  should not have), ``class_imbalance`` (a class far rarer than the others) and
  ``underperforming_group``, with the given classes as the groups (a class the models do
  worse on than on the rest).
- **cleanvision** on the images themselves, your original files when you imported a folder or
  CSV (so that ``odd_size`` and ``odd_aspect_ratio`` mean something; they are only read):
  ``dark``, ``light``, ``blurry``, ``low_information``, ``odd_size``, ``odd_aspect_ratio``,
  ``grayscale``, and ``exact_duplicates`` / ``near_duplicates`` by image hash (MD5 of the
  pixels, perceptual hash).
- **Leaks**: the same or nearly the same image in two splits (train↔val, train↔test,
  val↔test), which inflates every figure measured on the second split. Exact: identical pixels
  of the imported array. Near: the same perceptual hash (cleanvision's ``near_duplicates``, over
  every split at once). The hash, not the features, decides: it needs no model (the test
  split's features are never computed, and the hash is the same at every false-label rate),
  and it measures what the images look like, while the features of a model trained to
  separate classes put any two images of one class close together whether or not one is a
  copy of the other.

Every per-image score follows Datalab: in ``[0, 1]``, **lower = more severe**.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

DATALAB_TYPES = ("outlier", "near_duplicate", "non_iid", "class_imbalance", "underperforming_group")
ImageProperty = Literal[
    "dark", "light", "blurry", "low_information", "odd_size", "odd_aspect_ratio", "grayscale"
]
ImageDuplicate = Literal["exact_duplicates", "near_duplicates"]
ImageCheck = Literal[ImageProperty, ImageDuplicate]
"""cleanvision's checks (``results.image_checks``): the image properties, then the duplicates."""
IMAGE_PROPERTIES: tuple[str, ...] = get_args(ImageProperty)
IMAGE_DUPLICATES: tuple[str, ...] = get_args(ImageDuplicate)
IMAGE_CHECKS: tuple[str, ...] = get_args(ImageCheck)
ISSUE_TYPES = ("label", *DATALAB_TYPES, *IMAGE_CHECKS, "leak")
"""Every issue type, in the order of ``issues.csv`` and ``issue_summary.csv``."""
SUMMARY_COLUMNS = ("issue_type", "num_issues", "score")
LEAK_COLUMNS = ("split_a", "id_a", "path_a", "split_b", "id_b", "path_b", "kind", "pixel_distance")
SPLIT_ORDER = ("train", "val", "test")


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Keep the libraries' progress bars and chatter off the stage's output; what they said
    stays in the yielded buffer, for an error message."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        yield said


def datalab_issues(
    features: np.ndarray,
    pred_probs: np.ndarray,
    labels: np.ndarray,
    *,
    n_neighbors: int = 10,
    near_duplicate: float = 0.13,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Datalab's issues of ``n`` images other than their labels (:data:`DATALAB_TYPES`).

    Parameters
    ----------
    features
        ``(n, D)`` finite feature vectors (the baseline's penultimate layer).
    pred_probs
        ``(n, C)`` out-of-sample class probabilities, rows summing to 1.
    labels
        ``(n,)`` given labels in ``[0, C)``, every class present.
    n_neighbors
        ``k`` of Datalab's nearest-neighbour graph (outlier, near_duplicate, non_iid); at
        most ``n - 1`` is used.
    near_duplicate
        Datalab's ``near_duplicate`` threshold: features closer than this fraction of the median
        nearest-neighbour distance make a pair.
    seed
        Seed of the non-IID permutation test (numpy's global generator, which Datalab reseeds,
        is restored afterwards).

    Returns
    -------
    issues, summary
        ``issues``: ``(n, 2 · 5)`` columns ``is_<type>_issue`` (bool) and ``<type>_score``
        (lower = more severe) per type; ``summary``: one row per type, :data:`SUMMARY_COLUMNS`
        with Datalab's ``score`` (lower = more severe; for ``non_iid`` the test's p-value).

    Raises
    ------
    ValueError
        On a bad shape, a non-finite value, a label out of range, a missing class, or a type
        Datalab could not check (with its message).
    """
    x, p, y = _check_datalab_inputs(features, pred_probs, labels, n_neighbors)
    k = min(n_neighbors, len(x) - 1)
    if not 0.0 < near_duplicate < 1.0:
        raise ValueError(f"near_duplicate must be in (0, 1), got {near_duplicate!r}")
    from cleanlab import Datalab

    issue_types = {
        "outlier": {"k": k},
        "near_duplicate": {"k": k, "threshold": near_duplicate},
        "non_iid": {"k": k, "seed": seed},
        "class_imbalance": {},
        # The groups are the given classes, every one of them however small.
        "underperforming_group": {"cluster_ids": y, "min_cluster_samples": 1},
    }
    state = np.random.get_state()  # noqa: NPY002 (Datalab reseeds the global generator)
    try:
        with _quiet() as said:
            lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
            lab.find_issues(features=x, pred_probs=p, issue_types=issue_types)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    summary = lab.get_issue_summary()
    missing = [t for t in DATALAB_TYPES if t not in set(summary["issue_type"])]
    if missing:
        message = " ".join(said.getvalue().split())[-2000:]
        raise ValueError(f"Datalab could not check {missing}: {message or 'no message'}")
    columns = [c for t in DATALAB_TYPES for c in (f"is_{t}_issue", f"{t}_score")]
    issues = lab.get_issues()[columns].reset_index(drop=True)
    summary = summary.set_index("issue_type").loc[list(DATALAB_TYPES)].reset_index()
    summary["num_issues"] = summary["num_issues"].astype(np.int64)
    return issues, summary[list(SUMMARY_COLUMNS)]


def _check_datalab_inputs(
    features: np.ndarray, pred_probs: np.ndarray, labels: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    p = np.asarray(pred_probs, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {x.shape}")
    if p.ndim != 2 or len(p) != len(x):
        raise ValueError(f"pred_probs must be ({len(x)}, C) like features, got shape {p.shape}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be ({len(x)},) integers, got {y.dtype} {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(p).all()):
        raise ValueError("features or pred_probs hold NaN or infinite values")
    if not isinstance(n_neighbors, int) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be an int >= 1, got {n_neighbors!r}")
    if len(x) < 3:
        raise ValueError(f"needs at least 3 images, got {len(x)}")
    absent = sorted(set(range(p.shape[1])) - set(y.tolist()))
    if y.min() < 0 or y.max() >= p.shape[1] or absent:
        raise ValueError(
            f"labels must cover the {p.shape[1]} classes of pred_probs exactly; out of range "
            f"or absent: {sorted(set(y[(y < 0) | (y >= p.shape[1])].tolist())) or absent}"
        )
    return x, p, y.astype(np.int64)


class _Images:
    """What cleanvision reads: one ``(PIL image,)`` tuple per row, the form of a torchvision
    dataset, which ``Imagelab`` accepts. Rows of a uint8 ``(n, H, W, 3)`` array, or files.

    For worker processes it is spilled to a ``.npy`` file first: cleanvision pickles the
    dataset once per image, so it then pickles as the file's name only.
    """

    def __init__(self, images: np.ndarray | None, paths: np.ndarray | None) -> None:
        self._images, self._paths, self._file = images, paths, None

    def spill(self, folder: Path) -> None:
        self._file = folder / "rows.npy"
        np.save(self._file, self._images if self._paths is None else self._paths)

    def __getstate__(self) -> dict:
        if self._file is None:
            raise ValueError("spill() the images to a file before handing them to workers")
        return {"_file": self._file, "_is_paths": self._paths is not None}

    def __setstate__(self, state: dict) -> None:
        rows = np.load(state["_file"], mmap_mode="r")  # opened once per image: read lazily
        self._file = state["_file"]
        self._images, self._paths = (None, rows) if state["_is_paths"] else (rows, None)

    def __len__(self) -> int:
        return len(self._paths if self._images is None else self._images)

    def __getitem__(self, row: int) -> tuple:
        if self._paths is not None:
            return (_file_image(str(self._paths[row])),)
        return (_grey_if_equal(np.asarray(self._images[row])),)


def _grey_if_equal(rgb: np.ndarray):
    """An image whose three channels are equal, in mode L: the only one cleanvision's grayscale
    check counts."""
    from PIL import Image

    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return Image.fromarray(np.ascontiguousarray(rgb[..., 0]), mode="L")
    return Image.fromarray(rgb, mode="RGB")


def _file_image(path: str):
    """An original file at its own size, upright (EXIF), RGB as the importer decodes it (alpha
    on white, 16-bit scaled), in mode L when grey."""
    from PIL import Image, ImageOps

    from labelnoise.data.importer import _to_rgb

    try:
        with Image.open(path) as im:
            im.load()
            return _grey_if_equal(np.asarray(_to_rgb(ImageOps.exif_transpose(im))))
    except (OSError, SyntaxError, ValueError) as err:  # what PIL raises for a bad file
        raise ValueError(f"{path}: not a readable image ({err})") from None


def _imagelab(
    images: np.ndarray | None, paths: Sequence[str] | None, issue_types: dict, workers: int
):
    """A cleanvision ``Imagelab`` that has checked ``issue_types`` on the images or files."""
    if (images is None) == (paths is None):
        raise ValueError("give exactly one of images and paths")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if images is not None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (n, H, W, 3), got {images.dtype} {images.shape}"
            )
        rows = _Images(images, None)
    else:
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise ValueError(f"{len(missing)} image files not found: {', '.join(missing[:5])}")
        rows = _Images(None, np.asarray([str(p) for p in paths]))
    if len(rows) == 0:
        raise ValueError("no images to check")
    from cleanvision import Imagelab

    with tempfile.TemporaryDirectory(prefix="labelnoise-images-") as tmp, _quiet():
        if workers > 1:
            rows.spill(Path(tmp))
        lab = Imagelab(torchvision_dataset=rows, verbose=False)
        lab.find_issues(issue_types, n_jobs=workers, verbose=False)
    return lab


def image_properties(
    *,
    images: np.ndarray | None = None,
    paths: Sequence[str] | None = None,
    checks: Sequence[str] = IMAGE_PROPERTIES,
    workers: int = 1,
) -> pd.DataFrame:
    """cleanvision's image-property checks of ``n`` images or files.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``, or
    paths
        ``n`` image files, read at their own size and never written.
    checks
        Which of :data:`IMAGE_PROPERTIES` to run (others in the list are ignored).
    workers
        Processes cleanvision uses; 1 = this one (faster for small images, where starting
        and feeding processes costs more than the checks).

    Returns
    -------
    pandas.DataFrame
        ``(n, 2 · len(checks))``: ``is_<check>_issue`` (bool) and ``<check>_score`` (lower =
        more severe) per check, in :data:`IMAGE_PROPERTIES` order.
    """
    wanted = [c for c in IMAGE_PROPERTIES if c in checks]
    if not wanted:
        n = len(images if paths is None else paths)
        return pd.DataFrame(index=pd.RangeIndex(n))
    lab = _imagelab(images, paths, {c: {} for c in wanted}, workers)
    columns = [c for t in wanted for c in (f"is_{t}_issue", f"{t}_score")]
    return (
        lab.issues[columns].reset_index(drop=True).astype({f"is_{t}_issue": bool for t in wanted})
    )


def hash_duplicate_sets(
    *,
    images: np.ndarray | None = None,
    paths: Sequence[str] | None = None,
    workers: int = 1,
) -> dict[str, list[np.ndarray]]:
    """cleanvision's duplicate sets by image hash among ``n`` images or files.

    Returns
    -------
    dict
        ``"exact_duplicates"`` (the same pixels, MD5) and ``"near_duplicates"`` (the same
        perceptual hash, not exact): lists of int arrays of rows, each set of at least 2.
    """
    lab = _imagelab(images, paths, {t: {} for t in IMAGE_DUPLICATES}, workers)
    return {
        t: [np.sort(np.asarray(s, np.int64)) for s in lab.info[t]["sets"]] for t in IMAGE_DUPLICATES
    }


def pixel_duplicate_sets(images: np.ndarray, *, chunk: int = 4096) -> list[np.ndarray]:
    """Sets of rows of a uint8 ``(n, H, W, 3)`` array whose pixels are identical (each of at
    least 2 rows, sorted)."""
    if images.ndim != 4:
        raise ValueError(f"images must be (n, H, W, 3), got shape {images.shape}")
    digests = []
    for a in range(0, len(images), chunk):
        block = np.ascontiguousarray(images[a : a + chunk])
        digests += [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in block]
    codes = np.unique(np.array(digests, dtype="S16"), return_inverse=True)[1].ravel()
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    return sorted((g for g in groups if len(g) > 1), key=lambda g: int(g[0]))


def cross_split_leaks(
    index: pd.DataFrame,
    images: np.ndarray,
    *,
    exact_sets: Sequence[np.ndarray],
    near_sets: Sequence[np.ndarray] = (),
) -> pd.DataFrame:
    """Every pair of images in two different splits from the same duplicate set.

    Parameters
    ----------
    index
        One row per image (``id``, ``split``, ``source``), row = position in ``images``.
    images
        uint8 ``(N, H, W, 3)`` imported images, for the pixel distance.
    exact_sets, near_sets
        Sets of rows: identical pixels (:func:`pixel_duplicate_sets`) and near duplicates
        (:func:`hash_duplicate_sets`). A pair in both is exact.

    Returns
    -------
    pandas.DataFrame
        :data:`LEAK_COLUMNS`, side ``a`` in the earlier split of train, val, test; ``kind``
        ``exact`` or ``near``; ``pixel_distance`` the mean absolute difference of the imported
        pixels in ``[0, 255]`` (0 for exact). Sorted by the pair of splits, then by ids.
    """
    if len(index) != len(images):
        raise ValueError(f"{len(index)} index rows for {len(images)} images")
    unknown = set(index["split"]) - set(SPLIT_ORDER)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; valid: {', '.join(SPLIT_ORDER)}")
    order = index["split"].map(SPLIT_ORDER.index).to_numpy()
    pairs: dict[tuple[int, int], str] = {}
    for kind, sets in (("near", near_sets), ("exact", exact_sets)):
        for members in sets:
            members = np.asarray(members, dtype=np.int64)
            if members.size and (members.min() < 0 or members.max() >= len(index)):
                raise ValueError(f"a {kind} duplicate set holds rows outside 0..{len(index) - 1}")
            for i in members:
                for j in members:
                    if order[i] < order[j]:
                        pairs[(int(i), int(j))] = kind  # exact overwrites near
    a = np.array([p[0] for p in sorted(pairs)], dtype=np.int64)
    b = np.array([p[1] for p in sorted(pairs)], dtype=np.int64)
    distance = np.array(
        [np.abs(images[i].astype(np.int16) - images[j]).mean() for i, j in zip(a, b, strict=True)]
    )
    table = pd.DataFrame(
        {
            "split_a": index["split"].to_numpy()[a],
            "id_a": index["id"].to_numpy()[a],
            "path_a": index["source"].to_numpy()[a],
            "split_b": index["split"].to_numpy()[b],
            "id_b": index["id"].to_numpy()[b],
            "path_b": index["source"].to_numpy()[b],
            "kind": [pairs[p] for p in sorted(pairs)],
            "pixel_distance": distance.astype(np.float64).reshape(-1),
        }
    )
    table["_a"], table["_b"] = order[a], order[b]
    table = table.sort_values(["_a", "_b", "id_a", "id_b"], kind="stable")
    return table.drop(columns=["_a", "_b"]).reset_index(drop=True)


def within_split_duplicates(sets: dict[str, list[np.ndarray]], rows: np.ndarray) -> pd.DataFrame:
    """cleanvision's duplicate columns among some rows only (the train images): a set counts
    with its members among ``rows``, and only if at least two are.

    Returns
    -------
    pandas.DataFrame
        ``len(rows)`` rows: ``is_<type>_issue`` and ``<type>_score`` (cleanvision's: 1 / the
        set's size, 1 outside any set) for each of :data:`IMAGE_DUPLICATES` in ``sets``.
    """
    position = pd.Series(np.arange(len(rows)), index=np.asarray(rows))
    out = {}
    for kind in (k for k in IMAGE_DUPLICATES if k in sets):
        score = np.ones(len(rows))
        for members in sets[kind]:
            inside = position.reindex(members).dropna().to_numpy(np.int64)
            if len(inside) > 1:
                score[inside] = 1.0 / len(inside)
        out[f"is_{kind}_issue"], out[f"{kind}_score"] = score < 1.0, score
    return pd.DataFrame(out, index=pd.RangeIndex(len(rows)))


def leak_columns(ids: np.ndarray, leaks: pd.DataFrame) -> pd.DataFrame:
    """``is_leak_issue`` and ``leak_score`` of the images ``ids`` (the train images): an image
    in a leak pair is an issue; score 1 / (1 + its partners in other splits), 1 for none."""
    partners = pd.concat([leaks["id_a"], leaks["id_b"]]).value_counts()
    count = partners.reindex(np.asarray(ids)).fillna(0).to_numpy()
    return pd.DataFrame({"is_leak_issue": count > 0, "leak_score": 1.0 / (1.0 + count)})


def issue_summary(
    issues: pd.DataFrame, datalab_summary: pd.DataFrame, leaks: pd.DataFrame, *, n_images: int
) -> pd.DataFrame:
    """One row per issue type found in ``issues`` (and ``leak``), :data:`SUMMARY_COLUMNS`.

    ``num_issues`` is the number of ``True`` in ``is_<type>_issue`` of ``issues``, and for
    ``leak`` the number of pairs (rows of ``leaks``). ``score`` (lower = more severe): Datalab's
    own for its types; for ``label`` the share of labels not flagged (cleanlab's label health);
    for ``leak`` the share of the ``n_images`` images of every split in no leak pair; else the
    mean of the ``<type>_score`` column.
    """
    rows = []
    datalab = datalab_summary.set_index("issue_type")["score"]
    for kind in ISSUE_TYPES:
        if kind == "leak":
            involved = len(set(leaks["id_a"]) | set(leaks["id_b"]))
            rows.append((kind, len(leaks), 1.0 - involved / n_images))
            continue
        flag = f"is_{kind}_issue"
        if flag not in issues.columns:
            continue
        count = int(issues[flag].sum())
        if kind in datalab.index:
            score = float(datalab[kind])
        elif kind == "label":
            score = 1.0 - count / len(issues)
        else:
            score = float(issues[f"{kind}_score"].mean())
        rows.append((kind, count, score))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


LABEL_COLUMNS = ("id", "path", "is_label_issue", "label_score", "given_label", "predicted_label")


def dataset_issues(
    dataset,
    labels: pd.DataFrame,
    given: np.ndarray,
    features: np.ndarray,
    pred_probs: np.ndarray,
    *,
    checks: Sequence[str] = IMAGE_CHECKS,
    workers: int = 1,
    n_neighbors: int = 10,
    near_duplicate: float = 0.13,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every issue type of a dataset's ``n`` train images, and its leaks across splits.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.store.Dataset`. Imported images (task ``custom``) are checked
        from their original files (the index's ``source``, only read); generated ones from the
        uint8 array.
    labels
        ``n`` rows in train order with :data:`LABEL_COLUMNS`: the label issues of the cleaning
        method the results follow (``label_score`` lower = more likely mislabelled).
    given
        ``(n,)`` given labels of the train images.
    features, pred_probs
        ``(n, D)`` features and ``(n, C)`` out-of-sample probabilities of the train images.
    checks
        cleanvision's checks to run (:data:`IMAGE_CHECKS`); without ``near_duplicates`` only
        exact leaks are searched, without both duplicate checks no hash is computed.
    workers, n_neighbors, near_duplicate, seed
        As in :func:`image_properties` and :func:`datalab_issues`.

    Returns
    -------
    issues, summary, leaks
        ``issues``: ``n`` rows, :data:`LABEL_COLUMNS` then ``is_<type>_issue``,
        ``<type>_score`` per type of :data:`ISSUE_TYPES` after ``label``; ``summary``:
        :func:`issue_summary`; ``leaks``: :func:`cross_split_leaks`.
    """
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise ValueError(f"labels lacks the columns {missing}")
    unknown = sorted(set(checks) - set(IMAGE_CHECKS))
    if unknown:
        raise ValueError(f"unknown image checks {unknown}; valid: {', '.join(IMAGE_CHECKS)}")
    train = np.flatnonzero(dataset.index["split"].to_numpy() == "train")
    if (
        len(labels) != len(train)
        or not (labels["id"].to_numpy() == dataset.index["id"].to_numpy()[train]).all()
    ):
        raise ValueError(f"labels must be the {len(train)} train images in train order")
    datalab, datalab_summary = datalab_issues(
        features,
        pred_probs,
        given,
        n_neighbors=n_neighbors,
        near_duplicate=near_duplicate,
        seed=seed,
    )
    files = dataset.meta.get("task") == "custom"
    source = dataset.index["source"].to_numpy()
    every = {"paths": source} if files else {"images": dataset.images}
    train_only = {"paths": source[train]} if files else {"images": dataset.split("train")[0]}
    properties = image_properties(**train_only, checks=checks, workers=workers)
    sets = {}
    if set(IMAGE_DUPLICATES) & set(checks):
        sets = hash_duplicate_sets(**every, workers=workers)
        sets = {kind: found for kind, found in sets.items() if kind in checks}
    leaks = cross_split_leaks(
        dataset.index,
        dataset.images,
        exact_sets=pixel_duplicate_sets(dataset.images),
        near_sets=sets.get("near_duplicates", []),
    )
    duplicates = within_split_duplicates(sets, train)
    parts = [labels[list(LABEL_COLUMNS)].reset_index(drop=True), datalab, properties, duplicates]
    parts.append(leak_columns(labels["id"].to_numpy(), leaks))
    issues = pd.concat(parts, axis=1)
    summary = issue_summary(issues, datalab_summary, leaks, n_images=len(dataset.index))
    return issues, summary, leaks
