"""Scores: how well a classifier does on clean labels; how well a cleaning method finds flips."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    class_names: Sequence[str],
) -> dict:
    """Test-set metrics of a classifier.

    Parameters
    ----------
    y_true, y_pred
        Integer labels, shape ``(n,)``; ``y_true`` are the clean labels.
    class_names
        Name of each class, index = label.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``n_test``, ``n_correct``,
        ``per_class`` (precision, recall, f1, support by class name) and, for two classes,
        ``hter`` (half total error rate: the mean of the two per-class error rates).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        precision_recall_fscore_support,
    )

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    labels = np.arange(len(class_names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "n_test": len(y_true),
        "n_correct": int((y_true == y_pred).sum()),
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(class_names)
        },
    }
    if len(class_names) == 2:
        metrics["hter"] = float(1.0 - recall.mean())
    return metrics


def detection_metrics(
    flipped: np.ndarray,
    scores: np.ndarray,
    flags: np.ndarray,
) -> dict:
    """How well a cleaning method found the falsified labels.

    Parameters
    ----------
    flipped
        Ground truth, shape ``(n,)`` bool: True where the given label is false.
    scores
        Suspicion scores, shape ``(n,)``; higher = more likely mislabelled.
    flags
        The method's decision, shape ``(n,)`` bool: True = flagged as mislabelled.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` of the flags (``None`` without a flip: every flag
        is then a false positive, counted below); ``auroc`` and ``auprc`` (average
        precision) of the scores — ``None`` when there is no flip or nothing but flips, as
        ranking quality is undefined then; ``f1_at_k``: F1 of the ``k`` highest scores with
        ``k`` the number of flips (the ranking judged apart from the method's count rule;
        ``None`` without a flip); ``flag_ratio``: flags per flip (1 = the rule's count is
        right; ``None`` without a flip); ``false_positive_rate``: the share of correctly
        labelled examples flagged; ``n_flagged``, ``n_flipped``, ``false_positives``.
    """
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    flipped = np.asarray(flipped, dtype=bool)
    flags = np.asarray(flags, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    if not (flipped.shape == flags.shape == scores.shape) or flipped.ndim != 1:
        raise ValueError(
            f"flipped, scores and flags must be 1-D of one length, got shapes "
            f"{flipped.shape}, {scores.shape}, {flags.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    precision, recall, f1, _ = precision_recall_fscore_support(
        flipped, flags, average="binary", zero_division=0
    )
    ranked = 0 < flipped.sum() < len(flipped)
    known = bool(flipped.any())
    k = int(flipped.sum())
    # Highest scores first; ties broken by position, so the k chosen are well defined.
    top = np.argsort(-scores, kind="stable")[:k]
    clean = len(flipped) - k
    return {
        "precision": float(precision) if known else None,
        "recall": float(recall) if known else None,
        "f1": float(f1) if known else None,
        "auroc": float(roc_auc_score(flipped, scores)) if ranked else None,
        "auprc": float(average_precision_score(flipped, scores)) if ranked else None,
        # With k picks for k flips, precision = recall = F1.
        "f1_at_k": float(flipped[top].mean()) if known else None,
        "flag_ratio": float(flags.sum() / k) if known else None,
        "false_positive_rate": float((flags & ~flipped).sum() / clean) if clean else None,
        "n_flagged": int(flags.sum()),
        "n_flipped": int(flipped.sum()),
        "false_positives": int((flags & ~flipped).sum()),
    }


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, *, bins: int = 15) -> float:
    """Top-label expected calibration error: how far confidence is from accuracy.

    Examples are binned by their highest probability into ``bins`` equal-width bins; the result
    is the example-weighted mean of ``|accuracy - mean confidence|`` over the bins, in [0, 1]
    (0 = calibrated; higher = worse).

    Parameters
    ----------
    y_true
        int ``(n,)`` true labels.
    proba
        float ``(n, C)`` predicted probabilities; rows sum to 1.
    bins
        Number of confidence bins.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(y_true) or len(y_true) == 0:
        raise ValueError(f"need proba (n, C) for {len(y_true)} labels, got shape {proba.shape}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    confidence = proba.max(1)
    correct = proba.argmax(1) == y_true
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, correct, minlength=bins) - np.bincount(which, confidence, minlength=bins)
    )
    return float(gap.sum() / count.sum())


def pr_curve(flipped: np.ndarray, scores: np.ndarray, *, max_points: int = 200) -> list[dict]:
    """Precision–recall curve of ``scores`` against ``flipped``, thinned to ``max_points``.

    Returns
    -------
    list of dict
        ``{"recall", "precision"}`` records, recall descending (empty when there is no flip) —
        the row form ``dvc plots`` reads.
    """
    from sklearn.metrics import precision_recall_curve

    flipped = np.asarray(flipped, dtype=bool)
    if not flipped.any():
        return []
    precision, recall, _ = precision_recall_curve(flipped, np.asarray(scores, dtype=float))
    keep = np.unique(np.linspace(0, len(recall) - 1, min(max_points, len(recall))).astype(int))
    return [
        {"recall": float(r), "precision": float(p)}
        for r, p in zip(recall[keep], precision[keep], strict=True)
    ]


def review_effort(
    flipped: np.ndarray, scores: np.ndarray, *, shares: Sequence[float] = (0.5, 0.9, 1.0)
) -> tuple[np.ndarray, dict[float, int]]:
    """How many images a person must review, most suspect first, to find the false labels.

    Parameters
    ----------
    flipped
        ``(n,)`` bool, the labels that are false.
    scores
        ``(n,)`` suspicion, higher = more likely mislabelled (ties: the earlier row first).
    shares
        Shares of the false labels to find, in ``(0, 1]``.

    Returns
    -------
    found, needed
        ``found`` ``(n + 1,)``: the share of the false labels among the ``k`` most suspect
        images, for ``k = 0..n`` (recall at ``k``; precision at ``k`` is ``found[k] *
        n_false / k``); ``needed``: per share, the smallest ``k`` that finds it.

    Raises
    ------
    ValueError
        Shapes that differ, or no false label to find.
    """
    flipped = np.asarray(flipped, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if flipped.shape != scores.shape or flipped.ndim != 1:
        raise ValueError(f"flipped {flipped.shape} and scores {scores.shape} must be equal (n,)")
    if not flipped.any():
        raise ValueError("review_effort: no false label to find")
    order = np.argsort(-scores, kind="stable")
    found = np.r_[0.0, np.cumsum(flipped[order]) / flipped.sum()]
    needed = {}
    for share in shares:
        if not 0 < share <= 1:
            raise ValueError(f"shares must lie in (0, 1], got {share!r}")
        needed[float(share)] = int(np.argmax(found >= share - 1e-12))
    return found, needed
