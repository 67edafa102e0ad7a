"""Label-noise injection: change exactly ``round(rate * n)`` labels, never to their own class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np

from labelnoise.checks import check_labels, validate_pred_probs
from labelnoise.config import NoiseConfig, NoiseKind
from labelnoise.knobs import check, check_item

KINDS: tuple[str, ...] = get_args(NoiseKind)
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
    check(NoiseConfig, "noise", {"kind": kind})  # noise.kind's choices
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    check_item(NoiseConfig, "noise", "rates", rate)  # a rate of noise.rates
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
    """The train set's label noise, estimated with the help of a trusted set.

    Attributes
    ----------
    joint
        float64 ``(C, C)``: ``[j, i]`` estimates P(given label j, true class i) in the train set
        (cleanlab's orientation: rows = given label); sums to 1.
    rate
        Estimated fraction of false labels, P(given != true) = 1 - trace(joint).
    per_class
        int ``(C,)``: estimated number of false labels among the train examples *given* label
        ``j`` (what cleanlab's ``num_to_remove_per_class`` asks for).
    thresholds
        float64 ``(C,)``: the per-class confidence thresholds taken from the trusted set.
    """

    joint: np.ndarray
    rate: float
    per_class: np.ndarray
    thresholds: np.ndarray


def trusted_noise_estimate(
    pred_probs: np.ndarray,
    given: np.ndarray,
    val_probs: np.ndarray,
    val_labels: np.ndarray,
    *,
    n_classes: int,
) -> NoiseEstimate:
    """Estimate the noise of the given train labels with confident learning, calibrated on a
    trusted, correctly labelled set.

    Two things separate this from cleanlab's own estimate (whose confident joint and
    calibration it uses: ``cleanlab.count.compute_confident_joint`` and ``estimate_joint``):

    * **Thresholds.** cleanlab counts an example as truly class ``i`` when its probability of
      ``i`` reaches ``t_i``, the mean probability of ``i`` over the examples *labelled* ``i`` —
      which the false labels among them pull down. Here ``t_i`` is the mean over the trusted
      images that truly are ``i``.
    * **The model's own mistakes.** A model confidently wrong about an image looks exactly like
      a false label, so confident learning counts the model's error rate as noise. On the
      trusted set the same counting gives ``E[i, k]`` = P(the model confidently says ``k`` |
      true ``i``); the train set's joint of (given, confidently said) is the noise joint times
      ``E``, so the noise joint is that times ``E⁻¹`` (negatives clipped, renormalised).

    Parameters
    ----------
    pred_probs
        float ``(n, C)`` out-of-sample probabilities of the train examples; rows sum to 1.
    given
        int ``(n,)`` given (noisy) train labels; every class must occur.
    val_probs
        float ``(m, C)``, or ``(K, m, C)`` from each of K models, probabilities of the trusted
        images from models trained like the ones behind ``pred_probs`` but never on these
        images; rows sum to 1.
    val_labels
        int ``(m,)`` true labels of the trusted images; every class needs at least one.
    n_classes
        Number of classes C.

    Returns
    -------
    NoiseEstimate
        Joint, rate, per-given-class count of false labels and the thresholds used.
    """
    from cleanlab.count import compute_confident_joint, estimate_joint

    name = "trusted_noise_estimate"
    given = check_labels(np.asarray(given).ravel(), n_classes=n_classes, what="given", name=name)
    val_labels = check_labels(
        np.asarray(val_labels).ravel(), n_classes=n_classes, what="val_labels", name=name
    )
    val_probs = np.asarray(val_probs, dtype=np.float64)
    if val_probs.ndim == 3:  # one block per model: each is a model like the train set's
        val_labels = np.tile(val_labels, val_probs.shape[0])
        val_probs = val_probs.reshape(-1, val_probs.shape[-1])
    probs = validate_pred_probs(
        pred_probs, n=given.size, n_classes=n_classes, name=name, source="the train set"
    )
    val_probs = validate_pred_probs(
        val_probs, n=val_labels.size, n_classes=n_classes, name=name, source="the trusted set"
    )
    for what, labels in (("the trusted set", val_labels), ("the given labels", given)):
        counts = np.bincount(labels, minlength=n_classes)
        if (counts == 0).any():
            missing = np.flatnonzero(counts == 0).tolist()
            raise ValueError(f"{what} has no example of class(es) {missing}")
    thresholds = np.array([val_probs[val_labels == c, c].mean() for c in range(n_classes)])

    def joint_of(labels: np.ndarray, p: np.ndarray) -> np.ndarray:
        confident = compute_confident_joint(labels, p, thresholds=thresholds)
        return estimate_joint(labels, p, confident_joint=confident)

    said = joint_of(val_labels, val_probs)
    mistakes = said / said.sum(1, keepdims=True)  # E[i, k]: says k | truly i
    joint = np.clip(joint_of(given, probs) @ np.linalg.pinv(mistakes), 0.0, None)
    joint /= joint.sum()
    per_class = given.size * (joint.sum(1) - np.diag(joint))
    return NoiseEstimate(
        joint=joint,
        rate=float(np.clip(1.0 - np.trace(joint), 0.0, 1.0)),
        per_class=np.rint(per_class).astype(np.int64),
        thresholds=thresholds,
    )


def cross_validated_noise_estimate(
    pred_probs: np.ndarray, given: np.ndarray, *, n_classes: int
) -> NoiseEstimate:
    """cleanlab's own estimate of the train set's noise, from its out-of-sample probabilities
    alone: what stands in for :func:`trusted_noise_estimate` when the trusted set was carved
    out of the given labels (its labels are then no truth to calibrate on).

    Parameters
    ----------
    pred_probs
        float ``(n, C)`` out-of-sample probabilities of the train examples; rows sum to 1.
    given
        int ``(n,)`` given train labels; every class must occur.
    n_classes
        Number of classes C.

    Returns
    -------
    NoiseEstimate
        cleanlab's calibrated confident joint (``estimate_joint``) with its own thresholds (the
        mean probability of each class over the examples given it). It counts the models' own
        confident mistakes as noise, so it runs somewhat high.
    """
    from cleanlab.count import estimate_joint

    name = "cross_validated_noise_estimate"
    given = check_labels(np.asarray(given).ravel(), n_classes=n_classes, what="given", name=name)
    probs = validate_pred_probs(pred_probs, n=given.size, n_classes=n_classes, name=name)
    counts = np.bincount(given, minlength=n_classes)
    if (counts == 0).any():
        raise ValueError(
            f"the given labels have no example of class(es) {np.flatnonzero(counts == 0).tolist()}"
        )
    joint = estimate_joint(given, probs)
    per_class = given.size * (joint.sum(1) - np.diag(joint))
    return NoiseEstimate(
        joint=joint,
        rate=float(np.clip(1.0 - np.trace(joint), 0.0, 1.0)),
        per_class=np.rint(per_class).astype(np.int64),
        thresholds=np.array([probs[given == c, c].mean() for c in range(n_classes)]),
    )
