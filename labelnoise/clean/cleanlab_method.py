"""Confident learning through cleanlab: flags from ``cleanlab.filter.find_label_issues``,
scores from ``cleanlab.rank.get_label_quality_scores`` and the noise rate from
``cleanlab.count.estimate_joint``."""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    check_scores,
    context_labels_probs,
    reject_unknown_params,
)

FilterBy = Literal[
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]
ScoreMethod = Literal["self_confidence", "normalized_margin", "confidence_weighted_entropy"]
FILTER_BY: tuple[str, ...] = get_args(FilterBy)
SCORE_METHODS: tuple[str, ...] = get_args(ScoreMethod)
ENTROPY_SMOOTHING = 1e-4
"""Weight of the uniform distribution mixed into the probabilities before cleanlab's
``confidence_weighted_entropy`` score (see :meth:`Cleanlab.run`)."""


def _off_diagonal_mass(joint: np.ndarray) -> float:
    return float(np.clip(1.0 - np.trace(joint), 0.0, 1.0))


def estimate_noise_rate(
    labels: np.ndarray, pred_probs: np.ndarray, *, source: str | None = None
) -> float:
    """cleanlab's estimate of the fraction of ``labels`` that are false.

    Parameters
    ----------
    labels
        Given labels, shape ``(n,)``.
    pred_probs
        Out-of-sample probabilities, shape ``(n, C)``.
    source
        Where ``pred_probs`` came from, named if they are rejected.

    Returns
    -------
    float
        Off-diagonal mass of the calibrated joint ``P(given, true)``, in ``[0, 1]``.
    """
    from cleanlab.count import estimate_joint

    probs = np.asarray(pred_probs)
    if probs.ndim != 2:
        where = f" from {source}" if source else ""
        raise ValueError(f"cleanlab: pred_probs{where} has shape {probs.shape}, expected (n, C)")
    ctx = CleanContext(
        labels=labels, n_classes=probs.shape[1], pred_probs=probs, pred_probs_source=source
    )
    labels, probs = context_labels_probs(ctx, "cleanlab")
    return _off_diagonal_mass(estimate_joint(labels, probs))


class Cleanlab(CleaningMethod):
    """Confident learning (Northcutt et al.) on out-of-sample probabilities."""

    name = "cleanlab"

    def run(
        self,
        ctx: CleanContext,
        *,
        filter_by: FilterBy = "prune_by_noise_rate",
        score_method: ScoreMethod = "self_confidence",
        frac_noise: float = 1.0,
        min_examples_per_class: int = 1,
        n_jobs: int = 1,
        **params: Any,
    ) -> CleanResult:
        """Find label issues with cleanlab.

        Parameters
        ----------
        ctx : CleanContext
            Uses ``labels`` and ``pred_probs`` (validated: shape ``(n, C)``, finite,
            non-negative, rows summing to 1).
        filter_by : str
            Flag rule passed to ``find_label_issues``, one of :data:`FILTER_BY`.
        score_method : str
            Label-quality score of ``get_label_quality_scores``, one of :data:`SCORE_METHODS`;
            ``confidence_weighted_entropy`` is computed on the probabilities mixed with
            :data:`ENTROPY_SMOOTHING` of the uniform distribution.
        frac_noise : float
            Flag only the top ``frac_noise`` of the issues cleanlab would flag, in ``(0, 1]``.
        min_examples_per_class : int
            Never flag so many examples that a class keeps fewer than this.
        n_jobs : int
            Processes for ``find_label_issues``; 1 avoids multiprocessing (same results).

        Returns
        -------
        CleanResult
            ``scores`` = 1 - label quality (higher = more likely mislabelled);
            ``noise_rate_estimate`` = off-diagonal mass of cleanlab's calibrated joint
            ``P(given, true)``; extras ``suggested_label`` (argmax of ``pred_probs``) and
            ``joint`` (``(C, C)`` estimated joint, rows = given label).
        """
        reject_unknown_params(self.name, params)
        if filter_by not in FILTER_BY:
            raise ValueError(f"cleanlab: unknown filter_by {filter_by!r}; valid: {FILTER_BY}")
        if score_method not in SCORE_METHODS:
            raise ValueError(
                f"cleanlab: unknown score_method {score_method!r}; valid: {SCORE_METHODS}"
            )
        if not 0.0 < float(frac_noise) <= 1.0:
            raise ValueError(f"cleanlab: frac_noise must be in (0, 1], got {frac_noise!r}")
        labels, probs = context_labels_probs(ctx, self.name)
        missing = np.setdiff1d(np.arange(ctx.n_classes), labels)
        if missing.size:
            raise ValueError(f"cleanlab: no train example is labelled class(es) {missing.tolist()}")

        from cleanlab.count import compute_confident_joint, estimate_joint
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        # One confident joint feeds both the flags and the estimate so they agree.
        confident_joint = compute_confident_joint(labels, probs)
        flags = find_label_issues(
            labels,
            probs,
            filter_by=filter_by,
            frac_noise=float(frac_noise),
            min_examples_per_class=int(min_examples_per_class),
            # cleanlab re-estimates the joint itself for confident_learning (and warns if given).
            confident_joint=None if filter_by == "confident_learning" else confident_joint,
            n_jobs=int(n_jobs),
        )
        rank_probs = probs
        if score_method == "confidence_weighted_entropy":
            # cleanlab divides by max(x, 1e-6), x = entropy / self-confidence: a row one-hot to
            # within ~1e-7 (common in float32) gets quality ~0 under the label the model predicts
            # and ~1 under any other, so the ranking turns over. A little of the uniform
            # distribution keeps x above that clip; the other two scores are affine in the
            # probabilities and need no such care.
            rank_probs = (1.0 - ENTROPY_SMOOTHING) * probs + ENTROPY_SMOOTHING / ctx.n_classes
        quality = get_label_quality_scores(labels, rank_probs, method=score_method)
        scores = check_scores(self.name, 1.0 - quality, len(labels))
        joint = estimate_joint(labels, probs, confident_joint=confident_joint)
        rate = _off_diagonal_mass(joint)
        return CleanResult(
            scores=scores,
            flags=np.asarray(flags, dtype=bool),
            noise_rate_estimate=rate,
            extras={"suggested_label": probs.argmax(axis=1), "joint": joint},
        )

    def flag_counts(self, ctx: CleanContext, result: CleanResult, counts: np.ndarray) -> np.ndarray:
        """cleanlab's own ``prune_by_class``: per given class ``j``, the ``counts[j]`` examples
        of lowest probability of their label (``find_label_issues`` with
        ``num_to_remove_per_class``)."""
        from cleanlab.filter import find_label_issues

        labels, probs = context_labels_probs(ctx, self.name)
        # cleanlab divides each class's count by its confident off-diagonal mass: 0/0 for a
        # class with neither, which then loses none.
        with np.errstate(divide="ignore", invalid="ignore"):
            flags = find_label_issues(
                labels,
                probs,
                filter_by="prune_by_class",
                num_to_remove_per_class=np.asarray(counts, dtype=np.int64).tolist(),
                n_jobs=1,
            )
        return np.asarray(flags, dtype=bool)
