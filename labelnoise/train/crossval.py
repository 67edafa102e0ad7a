"""K-fold out-of-sample predicted probabilities: every training example is scored by a model
that never saw it (in-sample probabilities are useless for finding label errors)."""

from __future__ import annotations

import numpy as np

from labelnoise.train.trainer import TrainConfig, _check_images, _check_labels, fit, predict_proba


def out_of_sample_folds(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    config: TrainConfig,
    seed: int,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-sample probabilities and the fold that held out each example.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``.
    labels
        int ``(n,)`` (possibly noisy) labels in ``[0, n_classes)``.
    n_classes
        Number of classes.
    folds
        Number of stratified folds (>= 2); every present class needs at least ``folds`` examples.
    config
        Training hyper-parameters of each fold model.
    seed
        Seeds the fold split and each fold model (fold ``k`` trains with ``seed + k``).
    progress
        Show a progress bar per fold.

    Returns
    -------
    proba : np.ndarray
        ``(n, n_classes)`` float32; row ``i`` comes from the model trained without fold
        ``fold[i]``; higher = more likely that class.
    fold : np.ndarray
        ``(n,)`` int64, the fold each example was held out in.
    """
    from sklearn.model_selection import StratifiedKFold

    images = _check_images(images, "images")
    labels = _check_labels(labels, len(images), n_classes, "labels")
    if not isinstance(folds, int | np.integer) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    counts = np.bincount(labels, minlength=n_classes)
    small = np.flatnonzero((counts > 0) & (counts < folds))
    if len(small):
        c = int(small[0])
        raise ValueError(f"class {c} has {counts[c]} examples, fewer than folds={folds}")
    splitter = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=seed)
    proba = np.full((len(labels), n_classes), np.nan, np.float32)
    fold = np.full(len(labels), -1, np.int64)
    for k, (train_idx, held_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        result = fit(
            images[train_idx],
            labels[train_idx],
            n_classes=n_classes,
            config=config,
            seed=seed + k,
            progress=progress,
            desc=f"fold {k + 1}/{folds}",
        )
        proba[held_idx] = predict_proba(
            result.model, images[held_idx], batch_size=config.eval_batch_size
        )
        fold[held_idx] = k
    return proba, fold


def out_of_sample_proba(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    config: TrainConfig,
    seed: int,
    progress: bool = True,
) -> np.ndarray:
    """``(n, n_classes)`` float32 probabilities, row ``i`` predicted by the fold model that never
    saw example ``i``; see :func:`out_of_sample_folds`."""
    proba, _ = out_of_sample_folds(
        images,
        labels,
        n_classes=n_classes,
        folds=folds,
        config=config,
        seed=seed,
        progress=progress,
    )
    return proba
