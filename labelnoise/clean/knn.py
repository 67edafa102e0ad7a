"""Cleaning method ``knn``: a label is suspect when the images nearest to it in the trained
features carry other labels.

A k-nearest-neighbour label vote in the spirit of SimiFeat (Zhu et al., ICML 2022) and of
cleanlab Datalab's neighbour-based label check: images that a network maps close together
mostly share their true class, so an example whose neighbours disagree with its given label
is likely mislabelled. It needs no model of its own: the neighbours are those of the
baseline's penultimate-layer features, searched with scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    check_labels,
    reject_unknown_params,
)


def neighbour_votes(
    features: np.ndarray, labels: np.ndarray, *, n_classes: int, n_neighbors: int = 20
) -> np.ndarray:
    """Share of each example's nearest neighbours that carry each label.

    Parameters
    ----------
    features
        ``(n, D)`` float features; compared by cosine similarity.
    labels
        ``(n,)`` given labels in ``0..n_classes-1``.
    n_classes
        Number of classes ``C``.
    n_neighbors
        Neighbours that vote, the example itself excluded (fewer when ``n - 1`` is smaller).

    Returns
    -------
    np.ndarray
        ``(n, C)`` float, rows summing to 1: the neighbours' label distribution.
    """
    from sklearn.neighbors import NearestNeighbors

    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if features.ndim != 2 or n != len(labels):
        raise ValueError(f"knn: features of shape {features.shape} for {len(labels)} labels")
    if n < 2:
        raise ValueError(f"knn: needs at least 2 examples, got {n}")
    if not np.isfinite(features).all():
        raise ValueError("knn: features hold NaN or inf")
    if not isinstance(n_neighbors, int) or isinstance(n_neighbors, bool) or n_neighbors < 1:
        raise ValueError(f"knn: n_neighbors must be an int >= 1, got {n_neighbors!r}")
    k = min(n_neighbors, n - 1)
    search = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(features)
    _, found = search.kneighbors(features)
    # Each row's own index is among its k + 1 nearest (an exact duplicate may come first):
    # drop it, or the farthest where a duplicate crowded it out.
    is_self = found == np.arange(n)[:, None]
    is_self[~is_self.any(1), -1] = True
    neighbours = found[~is_self].reshape(n, k)
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), k), labels[neighbours].ravel()), 1.0)
    return votes / k


class NeighbourVote(CleaningMethod):
    """k-NN label vote on the baseline's features (``clean.knn``)."""

    name = "knn"

    def run(self, ctx: CleanContext, *, n_neighbors: int = 20, **params: Any) -> CleanResult:
        """Score each example by how few of its neighbours share its given label.

        Parameters
        ----------
        ctx : CleanContext
            Uses ``labels`` and ``features`` ``(n, D)``.
        n_neighbors : int
            Neighbours that vote (the example excluded).

        Returns
        -------
        CleanResult
            ``scores`` = 1 - share of neighbours with the given label (higher = more likely
            mislabelled); ``flags``: a majority of the neighbours' labels is another than the
            given one (the vote's winner differs); extras ``suggested_label`` (the vote's
            winner) and ``votes`` ``(n, C)``.
        """
        reject_unknown_params(self.name, params)
        if ctx.features is None:
            raise ValueError("knn: needs the train features (train_features.npy)")
        labels = check_labels(ctx.labels, n_classes=ctx.n_classes, name=self.name)
        votes = neighbour_votes(
            ctx.features, labels, n_classes=ctx.n_classes, n_neighbors=n_neighbors
        )
        own = votes[np.arange(len(labels)), labels]
        winner = votes.argmax(1)
        flags = votes[np.arange(len(labels)), winner] > own
        return CleanResult(
            scores=1.0 - own,
            flags=flags,
            noise_rate_estimate=float(flags.mean()),
            extras={"suggested_label": winner, "votes": votes.astype(np.float32)},
        )
