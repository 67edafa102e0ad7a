"""Label-noise injection: change exactly ``round(rate * n)`` labels, never to their own class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("symmetric", "pairflip", "within_coarse", "matrix")
ROW_SUM_TOLERANCE = 1e-6


def corrupt_labels(
    labels: np.ndarray,
    *,
    rate: float,
    n_classes: int,
    kind: str = "symmetric",
    seed: int,
    fine_to_coarse: Sequence[int] | np.ndarray | None = None,
    transition: np.ndarray | None = None,
) -> np.ndarray:
    """Falsify a fixed fraction of labels.

    The positions to change are drawn uniformly without replacement; each chosen label moves
    to a different class according to ``kind``.

    Parameters
    ----------
    labels
        int array of true labels in ``0..n_classes-1``, any shape.
    rate
        Fraction of labels to change, in [0, 1). Exactly ``round(rate * labels.size)`` change.
    n_classes
        Number of classes C (>= 2).
    kind
        ``"symmetric"``: uniformly to one of the other C - 1 classes; ``"pairflip"``: c to
        (c + 1) % C; ``"within_coarse"``: uniformly to another fine class with the same coarse
        parent (needs ``fine_to_coarse``; only examples of classes with a sibling are
        flipped, so a lone subclass such as ``gaussian_blur`` keeps its labels);
        ``"matrix"``: to class j with probability ``transition[c, j]`` renormalised over
        j != c (every row needs off-diagonal mass).
    seed
        Random seed.
    fine_to_coarse
        ``(C,)`` coarse parent of each class, for ``"within_coarse"``.
    transition
        ``(C, C)`` row-stochastic matrix, for ``"matrix"``; its diagonal is ignored.

    Returns
    -------
    np.ndarray
        int64 labels of the same shape; ``result != labels`` at exactly the changed positions.
    """
    labels = np.asarray(labels)
    if kind not in KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(KINDS)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    if not 0 <= rate < 1:
        raise ValueError(f"rate must lie in [0, 1), got {rate}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    flat = labels.astype(np.int64).ravel()
    if flat.size and (flat.min() < 0 or flat.max() >= n_classes):
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got values {flat.min()}..{flat.max()}"
        )
    if kind != "within_coarse" and fine_to_coarse is not None:
        raise ValueError(f"fine_to_coarse is only used with kind='within_coarse', not {kind!r}")
    if kind != "matrix" and transition is not None:
        raise ValueError(f"transition is only used with kind='matrix', not {kind!r}")
    eligible = None
    if kind == "within_coarse":
        siblings, n_siblings = _siblings(fine_to_coarse, n_classes)
        eligible = np.flatnonzero(n_siblings[flat] > 0)
    if kind == "matrix":
        cumulative = _off_diagonal_cdf(transition, n_classes)

    rng = np.random.default_rng(seed)
    n_flip = round(rate * flat.size)
    out = flat.copy()
    if eligible is not None and n_flip > eligible.size:
        raise ValueError(
            f"rate {rate} needs {n_flip} flips but only {eligible.size} of {flat.size} labels "
            f"belong to a class with a sibling under the same coarse class"
        )
    if n_flip == 0:
        return out.reshape(labels.shape)
    pos = rng.choice(flat.size if eligible is None else eligible, size=n_flip, replace=False)
    old = flat[pos]
    if kind == "symmetric":
        new = (old + rng.integers(1, n_classes, size=n_flip)) % n_classes
    elif kind == "pairflip":
        new = (old + 1) % n_classes
    elif kind == "within_coarse":
        pick = np.floor(rng.random(n_flip) * n_siblings[old]).astype(np.int64)
        new = siblings[old, pick]
    else:
        u = rng.random(n_flip)
        # First class whose cumulative probability exceeds u; zero-probability classes (the
        # diagonal included) never exceed the previous step, so they are never chosen.
        new = np.argmax(cumulative[old] > u[:, None], axis=1)
    out[pos] = new
    return out.reshape(labels.shape)


def _siblings(fine_to_coarse, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if fine_to_coarse is None:
        raise ValueError("kind='within_coarse' needs fine_to_coarse")
    f2c = np.asarray(fine_to_coarse)
    if f2c.shape != (n_classes,) or not np.issubdtype(f2c.dtype, np.integer):
        raise ValueError(
            f"fine_to_coarse must be {n_classes} ints (one per class), got shape {f2c.shape}"
        )
    same = (f2c[:, None] == f2c[None, :]) & ~np.eye(n_classes, dtype=bool)
    n_siblings = same.sum(1)
    # Row c lists c's siblings first (stable sort keeps class order), padding after them.
    order = np.argsort(~same, axis=1, kind="stable")
    return order, n_siblings


def _off_diagonal_cdf(transition, n_classes: int) -> np.ndarray:
    if transition is None:
        raise ValueError("kind='matrix' needs a transition matrix")
    t = np.asarray(transition, dtype=np.float64)
    if t.shape != (n_classes, n_classes):
        raise ValueError(f"transition must be {n_classes}x{n_classes}, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or (t < 0).any():
        raise ValueError("transition must be finite and non-negative")
    sums = t.sum(1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if bad.size:
        raise ValueError(f"transition rows must sum to 1; row {bad[0]} sums to {sums[bad[0]]:.6g}")
    off = t * ~np.eye(n_classes, dtype=bool)
    mass = off.sum(1)
    empty = np.flatnonzero(mass <= 0)
    if empty.size:
        raise ValueError(f"transition rows {empty.tolist()} have no off-diagonal mass")
    cumulative = np.cumsum(off / mass[:, None], axis=1)
    # Rounding may leave the last step just below 1; u < 1 must always find a class.
    last = n_classes - 1 - np.argmax(off[:, ::-1] > 0, axis=1)
    cumulative[np.arange(n_classes)[None, :] >= last[:, None]] = np.inf
    return cumulative


def noise_matrix(true: np.ndarray, given: np.ndarray, *, n_classes: int) -> np.ndarray:
    """Realised noise transition matrix.

    Parameters
    ----------
    true, given
        int ``(n,)`` true and given labels in ``0..n_classes-1``.
    n_classes
        Number of classes C.

    Returns
    -------
    np.ndarray
        float64 ``(C, C)``: entry ``[i, j]`` is the fraction of examples of true class i given
        label j (rows sum to 1; rows of classes absent from ``true`` are all zero).
    """
    true = np.asarray(true).ravel()
    given = np.asarray(given).ravel()
    if true.shape != given.shape:
        raise ValueError(f"true and given differ in length: {true.size} vs {given.size}")
    for name, a in (("true", true), ("given", given)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} labels must lie in 0..{n_classes - 1}")
    counts = np.bincount(
        true.astype(np.int64) * n_classes + given.astype(np.int64), minlength=n_classes**2
    ).reshape(n_classes, n_classes)
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros((n_classes, n_classes)), where=totals > 0)


@dataclass(frozen=True)
class NoiseEstimate:
    """The train set's label noise as a model trained on it sees the trusted validation set.

    Attributes
    ----------
    matrix
        float64 ``(C, C)``: ``[i, j]`` estimates P(given label j | true class i); rows sum to 1.
    prior
        float64 ``(C,)``: estimated share of each true class in the train set.
    rate
        Estimated fraction of false labels in the train set, P(given != true).
    per_class
        int ``(C,)``: estimated number of false labels among the train examples *given* label
        ``j`` (what cleanlab's ``num_to_remove_per_class`` asks for).
    """

    matrix: np.ndarray
    prior: np.ndarray
    rate: float
    per_class: np.ndarray


def trusted_noise_estimate(
    val_probs: np.ndarray, val_labels: np.ndarray, given: np.ndarray, *, n_classes: int
) -> NoiseEstimate:
    """Estimate the noise of the given train labels from a trusted, correctly labelled set.

    A model trained on the noisy labels learns P(given label | image). Averaged over the trusted
    images of true class ``i``, its probabilities estimate row ``i`` of the noise matrix T. The
    train set's true-class shares ``p`` then follow from its given-label shares ``q = Tᵀ p``
    (non-negative least squares), and the noise rate is ``1 - Σ_i p_i T_ii``.

    Parameters
    ----------
    val_probs
        float ``(m, C)`` probabilities of the trusted images from models trained on the noisy
        labels without them (e.g. the mean of the K fold models); rows sum to 1.
    val_labels
        int ``(m,)`` true labels of the trusted images; every class needs at least one.
    given
        int ``(n,)`` given (noisy) train labels.
    n_classes
        Number of classes C.

    Returns
    -------
    NoiseEstimate
        Matrix, true-class prior, rate and per-given-class count of false labels.
    """
    from scipy.optimize import nnls

    val_probs = np.asarray(val_probs, dtype=np.float64)
    val_labels = np.asarray(val_labels).ravel()
    given = np.asarray(given).ravel()
    if val_probs.ndim != 2 or val_probs.shape != (val_labels.size, n_classes):
        raise ValueError(
            f"val_probs must have shape ({val_labels.size}, {n_classes}), got {val_probs.shape}"
        )
    if not np.isfinite(val_probs).all() or not np.allclose(val_probs.sum(1), 1, atol=1e-3):
        raise ValueError("val_probs must be finite and its rows must sum to 1")
    for name, labels in (("val_labels", val_labels), ("given", given)):
        if labels.size == 0 or labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"{name} must be non-empty labels in 0..{n_classes - 1}")
    counts = np.bincount(val_labels, minlength=n_classes)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"the trusted set has no example of class(es) {missing}")
    matrix = np.zeros((n_classes, n_classes))
    np.add.at(matrix, val_labels, val_probs)
    matrix /= counts[:, None]
    shares = np.bincount(given, minlength=n_classes) / given.size
    prior, _ = nnls(matrix.T, shares)
    prior = prior / prior.sum() if prior.sum() > 0 else shares
    joint = prior[:, None] * matrix  # P(true i, given j)
    per_class = given.size * (joint.sum(0) - np.diag(joint))
    return NoiseEstimate(
        matrix=matrix,
        prior=prior,
        rate=float(1.0 - np.trace(joint)),
        per_class=np.rint(per_class).astype(np.int64),
    )
