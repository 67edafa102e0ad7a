"""FiftyOne Brain's mistakenness and hardness, computed from out-of-sample probabilities.

Both follow the formulas of ``fiftyone.brain`` without depending on FiftyOne:

- mistakenness: with ``confidence = max_c p_c`` and ``m = +1`` if the predicted class differs
  from the given label else ``-1``, ``score = (m * confidence + 1) / 2`` in ``[0, 1]``.
- hardness: entropy of the predicted distribution, here divided by ``log C`` so it lies in
  ``[0, 1]`` whatever the number of classes. Hardness ignores the given label: it finds
  ambiguous examples, which overlap with mislabelled ones only when the noise targets them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    check_scores,
    context_labels_probs,
    reject_unknown_params,
)


def _check_threshold(name: str, threshold: float) -> float:
    value = float(threshold)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: threshold must be in [0, 1], got {threshold!r}")
    return value


def mistakenness_scores(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """FiftyOne mistakenness of each given label.

    Parameters
    ----------
    labels : np.ndarray
        ``(n,)`` int given labels.
    pred_probs : np.ndarray
        ``(n, C)`` out-of-sample probabilities (rows sum to 1).

    Returns
    -------
    np.ndarray
        ``(n,)`` in ``[0, 1]``; higher = more likely mistaken. Above 0.5 exactly when the
        predicted class differs from the given label.
    """
    confidence = pred_probs.max(axis=1)
    sign = np.where(pred_probs.argmax(axis=1) != labels, 1.0, -1.0)
    return (sign * confidence + 1.0) / 2.0


def normalized_entropy(pred_probs: np.ndarray) -> np.ndarray:
    """Entropy of each row divided by ``log C``.

    Parameters
    ----------
    pred_probs : np.ndarray
        ``(n, C)`` probabilities, ``C >= 2``.

    Returns
    -------
    np.ndarray
        ``(n,)`` in ``[0, 1]``: 0 for a one-hot row, 1 for the uniform distribution.
    """
    from scipy.special import entr

    return np.clip(entr(pred_probs).sum(axis=1) / np.log(pred_probs.shape[1]), 0.0, 1.0)


class Mistakenness(CleaningMethod):
    """FiftyOne mistakenness; flags ``score > threshold``.

    The default threshold 0.5 flags exactly the examples whose predicted class differs from the
    given label; a higher one also asks the model to be confident, e.g. 0.8 needs the other class
    predicted with probability > 0.6.
    """

    name = "mistakenness"

    def run(self, ctx: CleanContext, *, threshold: float = 0.5, **params: Any) -> CleanResult:
        """Score and flag with ``ctx.labels`` and ``ctx.pred_probs``.

        Parameters
        ----------
        ctx : CleanContext
            Uses ``labels`` and ``pred_probs``.
        threshold : float
            Flag examples with mistakenness strictly above this value, in ``[0, 1]``.

        Returns
        -------
        CleanResult
            ``scores`` = mistakenness (higher = more likely mislabelled); extras
            ``suggested_label`` (argmax of ``pred_probs``) and ``confidence`` (its probability).
        """
        reject_unknown_params(self.name, params)
        threshold = _check_threshold(self.name, threshold)
        labels, probs = context_labels_probs(ctx, self.name)
        scores = check_scores(self.name, mistakenness_scores(labels, probs), len(labels))
        flags = scores > threshold
        return CleanResult(
            scores=scores,
            flags=flags,
            noise_rate_estimate=float(flags.mean()) if len(labels) else 0.0,
            extras={"suggested_label": probs.argmax(axis=1), "confidence": probs.max(axis=1)},
        )


class Hardness(CleaningMethod):
    """FiftyOne hardness (normalised entropy of the OOS probabilities); flags ``> threshold``.

    ``exp(H)`` is the effective number of classes the model hesitates between, so the default
    threshold 0.8 flags examples spread over more than ``C ** 0.8`` effective classes.
    """

    name = "hardness"

    def run(self, ctx: CleanContext, *, threshold: float = 0.8, **params: Any) -> CleanResult:
        """Score and flag with ``ctx.pred_probs`` (the given labels only get validated).

        Parameters
        ----------
        ctx : CleanContext
            Uses ``pred_probs``.
        threshold : float
            Flag examples with normalised entropy strictly above this value, in ``[0, 1]``.

        Returns
        -------
        CleanResult
            ``scores`` = entropy / log C (higher = harder, more suspect).
        """
        reject_unknown_params(self.name, params)
        threshold = _check_threshold(self.name, threshold)
        if ctx.n_classes < 2:
            raise ValueError(f"hardness: needs at least 2 classes, got {ctx.n_classes}")
        labels, probs = context_labels_probs(ctx, self.name)
        scores = check_scores(self.name, normalized_entropy(probs), len(labels))
        flags = scores > threshold
        return CleanResult(
            scores=scores,
            flags=flags,
            noise_rate_estimate=float(flags.mean()) if len(labels) else 0.0,
        )
