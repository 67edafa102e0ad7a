"""Issues other than false labels, from the penultimate-layer features the `train` stage
computes: outliers (scikit-learn's local outlier factor) and duplicates, exact (the same pixels
after import) and near (features much closer than images usually are to their nearest
neighbour).

One cosine k-nearest-neighbour graph of the features serves both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class NeighbourIssues:
    """Outliers and duplicates of ``n`` images.

    Attributes
    ----------
    outlier_score : np.ndarray
        ``(n,)`` local outlier factor, higher = more of an outlier (about 1 inside a cluster).
    is_outlier : np.ndarray
        ``(n,)`` bool, scikit-learn's own rule (``contamination="auto"``: factor above 1.5).
    nearest : np.ndarray
        ``(n,)`` int, row of each image's nearest other image.
    nearest_distance : np.ndarray
        ``(n,)`` cosine distance of the features to it.
    exact_duplicate : np.ndarray
        ``(n,)`` bool, another image has the same pixels.
    near_duplicate : np.ndarray
        ``(n,)`` bool, not exact, but features closer to another image than ``near_duplicate``
        times the median nearest-neighbour distance.
    group : np.ndarray
        ``(n,)`` int, duplicate group (connected exact and near pairs) from 0, or -1 for none.
    """

    outlier_score: np.ndarray
    is_outlier: np.ndarray
    nearest: np.ndarray
    nearest_distance: np.ndarray
    exact_duplicate: np.ndarray
    near_duplicate: np.ndarray
    group: np.ndarray


def _check(features: np.ndarray, images: np.ndarray | None, n_neighbors: int) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (n, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features hold NaN or infinite values")
    if images is not None and len(images) != len(x):
        raise ValueError(f"{len(images)} images for {len(x)} feature rows")
    if not isinstance(n_neighbors, int) or n_neighbors < 2:
        raise ValueError(f"n_neighbors must be an int >= 2, got {n_neighbors!r}")
    if len(x) <= n_neighbors:
        raise ValueError(f"needs more than n_neighbors={n_neighbors} images, got {len(x)}")
    return x


def _pixel_groups(images: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``(n,)`` int: rows with identical pixels share a number."""
    digests = []
    for a in range(0, len(images), chunk):
        block = np.ascontiguousarray(images[a : a + chunk])
        digests += [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in block]
    return np.unique(np.array(digests, dtype="S16"), return_inverse=True)[1].ravel()


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the ``(m, 2)`` pairs, numbered from 0 in order of their first
    row; ``-1`` for a row in no pair."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    group = np.full(n, -1, dtype=np.int64)
    if len(pairs) == 0:
        return group
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    members = np.zeros(n, dtype=bool)
    members[pairs.ravel()] = True
    _, first, inverse = np.unique(labels[members], return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    group[members] = rank[inverse.ravel()]
    return group


def neighbour_issues(
    features: np.ndarray,
    *,
    images: np.ndarray | None = None,
    n_neighbors: int = 20,
    near_duplicate: float = 0.1,
) -> NeighbourIssues:
    """Outliers and duplicates among ``n`` images from their features.

    Parameters
    ----------
    features
        ``(n, D)`` penultimate-layer features.
    images
        ``(n, H, W, 3)`` uint8 images, for exact duplicates (identical pixels); without them
        no image is an exact duplicate.
    n_neighbors
        Neighbours of the local outlier factor (at least 2, fewer than ``n``).
    near_duplicate
        In ``(0, 1)``: features closer than this fraction of the median nearest-neighbour
        distance make a near-duplicate pair. Relative, so it holds whatever the features'
        scale.

    Returns
    -------
    NeighbourIssues
    """
    from scipy.sparse import csr_matrix
    from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

    x = _check(features, images, n_neighbors)
    if not 0.0 < near_duplicate < 1.0:
        raise ValueError(f"near_duplicate must be in (0, 1), got {near_duplicate!r}")
    n = len(x)
    # Each image's n_neighbors + 1 nearest, itself among them (distance 0): the graph form
    # scikit-learn's precomputed neighbours take.
    distance, index = (
        NearestNeighbors(n_neighbors=n_neighbors + 1, metric="cosine").fit(x).kneighbors(x)
    )
    distance = np.clip(distance, 0.0, None)
    steps = np.arange(0, distance.size + 1, n_neighbors + 1)
    graph = csr_matrix((distance.ravel(), index.ravel(), steps), shape=(n, n))
    lof = LocalOutlierFactor(n_neighbors=n_neighbors, metric="precomputed")
    is_outlier = lof.fit_predict(graph) == -1
    # The nearest other image: the first neighbour that is not the image itself (a duplicate
    # may come first).
    other = index != np.arange(n)[:, None]
    first = other.argmax(axis=1)
    nearest = index[np.arange(n), first].astype(np.int64)
    distance = distance[np.arange(n), first]
    exact = np.zeros(n, dtype=bool)
    pairs = []
    if images is not None:
        codes = _pixel_groups(images)
        counts = np.bincount(codes)
        exact = counts[codes] > 1
        order = np.argsort(codes, kind="stable")
        same = codes[order][1:] == codes[order][:-1]
        pairs.append(np.stack([order[:-1][same], order[1:][same]], axis=1))
    close = distance < near_duplicate * float(np.median(distance))
    near = close & ~exact
    pairs.append(np.stack([np.flatnonzero(close), nearest[close]], axis=1))
    return NeighbourIssues(
        outlier_score=-lof.negative_outlier_factor_,
        is_outlier=is_outlier,
        nearest=nearest,
        nearest_distance=distance,
        exact_duplicate=exact,
        near_duplicate=near,
        group=_components(n, np.concatenate(pairs).astype(np.int64)),
    )


def outliers_table(found: NeighbourIssues, train: pd.DataFrame) -> pd.DataFrame:
    """The train images ranked by outlier score, most outlying first.

    ``train`` holds ``id, path, given_label`` per image in train order. Columns: ``rank, id,
    path, given_label, outlier_score`` (higher = more of an outlier), ``is_outlier``.
    """
    table = train[["id", "path", "given_label"]].assign(
        outlier_score=found.outlier_score, is_outlier=found.is_outlier
    )
    table = table.sort_values("outlier_score", ascending=False, kind="stable")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def duplicates_table(found: NeighbourIssues, train: pd.DataFrame) -> pd.DataFrame:
    """Every image in a duplicate group, by group: ``group, id, path, given_label, kind``
    (``exact`` or ``near``), ``nearest_id`` and the cosine ``distance`` to it."""
    ids = train["id"].to_numpy()
    table = train[["id", "path", "given_label"]].assign(
        group=found.group,
        kind=np.where(found.exact_duplicate, "exact", "near"),
        nearest_id=ids[found.nearest],
        distance=found.nearest_distance,
    )
    table = table[table["group"] >= 0].sort_values(["group", "id"], kind="stable")
    return table[["group", "id", "path", "given_label", "kind", "nearest_id", "distance"]]
