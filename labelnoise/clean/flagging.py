"""Score, then flag: the one step that turns a cleaning method's scores into flags.

Methods rank (their ``scores``, higher = more suspect) and may carry a rule of their own (their
``flags``: a threshold, cleanlab's filter); how many examples are flagged is decided here, once,
for every method, by ``clean.count``:

- ``own``: the method's own rule, as its ``run`` returned it.
- ``trusted``: per given class, as many as the trusted set's noise estimate says are false (the
  highest scores of each class; cleanlab through its own ``prune_by_class``).
- ``cost``: an example is flagged when the probability that its label is wrong exceeds
  ``1 / (1 + cost_ratio)``: keeping a false label costs ``cost_ratio`` times as much as giving
  up a correct one, so an example is worth flagging once ``cost_ratio * p > 1 - p``. That
  probability is the method's score calibrated (isotonic regression, so the ranking is kept)
  against :func:`wrong_label_posterior`, the fold models' view of each label, which the trusted
  set calibrates. Whatever it says, each class keeps at least half of the images that the noise
  estimate says are correct.

Only the ``clean`` stage flags, so the ``fit`` stages of the trained methods never depend on
these settings.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from labelnoise.clean.base import CleanContext, CleanResult, check_scores, flag_per_class

if TYPE_CHECKING:
    from labelnoise.clean.base import CleaningMethod

FlagRule = Literal["own", "trusted", "cost"]
FLAG_RULES: tuple[str, ...] = get_args(FlagRule)


def wrong_label_posterior(
    pred_probs: np.ndarray,
    labels: np.ndarray,
    *,
    val_probs: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    per_class_false: np.ndarray | None = None,
) -> np.ndarray:
    """The probability that each given label is wrong, from out-of-sample probabilities.

    With a trusted set, per given class ``j``: the train examples labelled ``j`` are a mixture
    of correct labels, whose probability of their label ``p(j | x)`` is distributed as it is on
    the trusted images of class ``j`` (the fold models have not seen either), and false ones,
    in the proportion ``eta_j`` that the trusted noise estimate gives. Then
    ``P(wrong | p) = 1 - (1 - eta_j) f_correct(p) / f_train(p)``; the density ratio comes from
    an isotonic regression that tells the train examples' ``p`` from the trusted ones', so the
    posterior falls as ``p`` rises. Without a trusted set, the fold models' own view ranks
    (the posterior falls linearly in ``p``) and ``per_class_false`` (then the cross-validated
    estimate) sets its level; with neither, it is the model's own ``1 - p``.

    Parameters
    ----------
    pred_probs
        ``(n, C)`` out-of-sample probabilities of the train examples.
    labels
        ``(n,)`` given labels in ``0..C-1``.
    val_probs
        ``(m, C)``, or ``(K, m, C)`` from each of K fold models, probabilities of the trusted
        images from models that never trained on them; None without a trusted set.
    val_labels
        ``(m,)`` true labels of the trusted images.
    per_class_false
        ``(C,)`` estimated count of false labels among the examples given each label (the
        noise estimate's ``per_class``); in every case the posteriors of a class sum to it.

    Returns
    -------
    np.ndarray
        ``(n,)`` float in ``[0, 1]``; higher = more likely that the given label is wrong.
    """
    from sklearn.isotonic import IsotonicRegression

    labels = np.asarray(labels)
    own = pred_probs[np.arange(len(labels)), labels].astype(np.float64)
    if val_probs is None:
        if per_class_false is None:
            return 1.0 - own
        posterior = 1.0 - own
        for c in range(pred_probs.shape[1]):
            rows = np.flatnonzero(labels == c)
            if rows.size:
                eta = float(np.clip(per_class_false[c] / rows.size, 0.0, 1.0))
                posterior[rows] = _matching_count(own[rows], eta)
        return posterior
    if val_labels is None or per_class_false is None:
        raise ValueError("wrong_label_posterior: a trusted set needs val_labels and the counts")
    val_probs = np.asarray(val_probs, dtype=np.float64)
    val_labels = np.asarray(val_labels)
    if val_probs.ndim == 3:  # each fold model's view of the trusted set is one more sample
        val_labels = np.tile(val_labels, val_probs.shape[0])
        val_probs = val_probs.reshape(-1, val_probs.shape[-1])
    posterior = 1.0 - own
    for c in range(pred_probs.shape[1]):
        rows = np.flatnonzero(labels == c)
        trusted = val_probs[val_labels == c, c]
        if rows.size == 0 or trusted.size == 0:
            continue  # no evidence of what a correct label looks like: the model's own view
        eta = float(np.clip(per_class_false[c] / rows.size, 0.0, 1.0))
        x = np.concatenate([own[rows], trusted])
        is_train = np.r_[np.ones(rows.size), np.zeros(trusted.size)]
        # Equal total weight to each side: the fit is then f_train / (f_train + f_correct).
        weight = np.r_[np.full(rows.size, 1.0 / rows.size), np.full(trusted.size, 1 / trusted.size)]
        share = IsotonicRegression(
            increasing=False, y_min=1e-6, y_max=1 - 1e-6, out_of_bounds="clip"
        )
        share.fit(x, is_train, sample_weight=weight)
        p_train = share.predict(own[rows])
        ratio = (1.0 - p_train) / p_train  # f_correct / f_train
        posterior[rows] = _matching_count(ratio, eta)
    return posterior


def _matching_count(ratio: np.ndarray, eta: float) -> np.ndarray:
    """``1 - s (1 - eta) ratio`` clipped to ``[0, 1]``, with the scale ``s`` (1 for an exact
    density ratio) that makes the posteriors sum to the estimated count ``eta * n``: the shape
    of the ratio comes from the data, its level from the noise estimate."""
    target = eta * len(ratio)

    def posterior(scale: float) -> np.ndarray:
        return np.clip(1.0 - scale * (1.0 - eta) * ratio, 0.0, 1.0)

    low, high = 0.0, 1.0
    while posterior(high).sum() > target and high < 1e9:
        high *= 2.0
    for _ in range(60):  # the sum falls as the scale grows: bisect
        middle = 0.5 * (low + high)
        low, high = (middle, high) if posterior(middle).sum() > target else (low, middle)
    return posterior(0.5 * (low + high))


def calibrate_scores(scores: np.ndarray, posterior: np.ndarray) -> np.ndarray:
    """A method's ``(n,)`` scores mapped to the probability that the label is wrong: the
    increasing (isotonic) function of the score closest to ``posterior`` ``(n,)``."""
    from sklearn.isotonic import IsotonicRegression

    fit = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0, out_of_bounds="clip")
    return fit.fit_transform(np.asarray(scores, dtype=np.float64), posterior)


def check_rule(rule: str, *, cost_ratio: float) -> None:
    """Raise ``ValueError`` for an unknown flag ``rule`` or a ``cost_ratio`` that is not > 0."""
    if rule not in FLAG_RULES:
        raise ValueError(f"unknown count {rule!r}; valid: {', '.join(FLAG_RULES)}")
    if isinstance(cost_ratio, bool) or not isinstance(cost_ratio, int | float) or cost_ratio <= 0:
        raise ValueError(f"cost_ratio must be a number > 0, got {cost_ratio!r}")


def per_class_counts(
    scores: np.ndarray, labels: np.ndarray, n_classes: int, *, rule: str, ctx: CleanContext,
    posterior: np.ndarray | None, cost_ratio: float,
) -> np.ndarray:  # fmt: skip
    """``(C,)`` how many examples of each given class the ``trusted`` or ``cost`` rule flags."""
    if ctx.trusted_noise is None:
        raise ValueError(
            f"count={rule!r} needs the trusted set's noise estimate (val_probs.npy of the train "
            "stage), which this context lacks"
        )
    if rule == "trusted":
        return np.asarray(ctx.trusted_noise.per_class, dtype=np.int64)
    if posterior is None:
        raise ValueError("count='cost' needs the wrong-label posterior")
    wrong = calibrate_scores(scores, posterior) > 1.0 / (1.0 + cost_ratio)
    counts = np.bincount(labels[wrong], minlength=n_classes).astype(np.int64)
    # Each class keeps at least half of the images the noise estimate says are correct: a score
    # that ranks nothing calibrates to the class's noise rate everywhere and would flag them all.
    sizes = np.bincount(labels, minlength=n_classes)
    correct = sizes - np.minimum(np.asarray(ctx.trusted_noise.per_class), sizes)
    return np.minimum(counts, sizes - np.ceil(correct / 2).astype(np.int64))


def flag(
    method: CleaningMethod,
    result: CleanResult,
    ctx: CleanContext,
    *,
    rule: str,
    cost_ratio: float,
    posterior: np.ndarray | None = None,
    verified: np.ndarray | None = None,
) -> CleanResult:
    """``result`` with the flags of ``rule``: the one place where examples get flagged.

    Parameters
    ----------
    method
        The method that scored; its :meth:`~labelnoise.clean.CleaningMethod.flag_counts`
        turns per-class counts into flags, and reference arms (``method.reference``) keep
        their own, which define them.
    result
        Its result: ``(n,)`` scores and its own rule's flags.
    ctx
        The context it ran in (labels, the trusted estimate).
    rule
        One of :data:`FLAG_RULES`.
    cost_ratio
        Cost of a false label kept over that of a correct one flagged (``cost``).
    posterior
        ``(n,)`` :func:`wrong_label_posterior` of the rate (``cost``).
    verified
        ``(n,)`` bool, labels a person reviewed (``data.reviewed``): never flagged, whatever
        the rule.

    Returns
    -------
    CleanResult
        The same scores and extras, the rule's flags; ``noise_rate_estimate`` stays the
        method's own.
    """
    check_rule(rule, cost_ratio=cost_ratio)
    if method.reference:
        return result
    if rule == "own":
        return _unflag(result, verified)
    scores = check_scores(method.name, result.scores, ctx.n)
    counts = per_class_counts(
        scores, ctx.labels, ctx.n_classes, rule=rule, ctx=ctx, posterior=posterior,
        cost_ratio=cost_ratio,
    )  # fmt: skip
    flags = method.flag_counts(ctx, result, counts)
    expected = int(np.sum(ctx.trusted_noise.per_class))
    if rule == "cost" and flags.sum() > 2 * expected:
        # A score that barely ranks the false labels calibrates to about the noise rate
        # everywhere; above 1 / (1 + cost_ratio) that flags nearly everything.
        warnings.warn(
            f"{method.name}: count='cost' flags {int(flags.sum())} examples, more than twice the "
            f"{expected} false labels the noise estimate expects: its scores rank them little "
            "better than chance; consider clean.flag_own or count='trusted' for it",
            stacklevel=2,
        )
    flagged = CleanResult(
        scores=result.scores,
        flags=np.asarray(flags, dtype=bool),
        noise_rate_estimate=result.noise_rate_estimate,
        extras=result.extras,
    )
    return _unflag(flagged, verified)


def _unflag(result: CleanResult, verified: np.ndarray | None) -> CleanResult:
    """``result`` with the ``verified`` ``(n,)`` rows unflagged (itself when none are)."""
    if verified is None or not np.any(verified):
        return result
    verified = np.asarray(verified, dtype=bool)
    if verified.shape != result.flags.shape:
        raise ValueError(
            f"verified rows of shape {verified.shape} for {result.flags.shape[0]} examples"
        )
    return CleanResult(
        scores=result.scores,
        flags=np.asarray(result.flags, dtype=bool) & ~verified,
        noise_rate_estimate=result.noise_rate_estimate,
        extras=result.extras,
    )


__all__ = [
    "FLAG_RULES",
    "FlagRule",
    "calibrate_scores",
    "flag",
    "flag_per_class",
    "per_class_counts",
    "wrong_label_posterior",
]
