"""K-fold out-of-sample predicted probabilities: every training example is scored by a model
that never saw it (in-sample probabilities are useless for finding label errors)."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from labelnoise.train.distributed import world
from labelnoise.train.stacked import fit_stacked
from labelnoise.train.trainer import (
    FitResult,
    TrainConfig,
    _check_images,
    _check_labels,
    _predict_logits,
    _raise_if_nonfinite,
    _worker_device,
    fit,
)


def out_of_sample_folds(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    config: TrainConfig,
    seed: int,
    stack: bool = False,
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
    stack
        Train the fold models together (:func:`~labelnoise.train.stacked.fit_stacked`) rather
        than one after the other. Under torch.distributed, process ``r`` of ``N`` then trains
        folds ``r, r + N, ...`` on its own and the probabilities are summed across processes;
        otherwise every fold model trains data-parallel across all of them.
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
    splits = list(splitter.split(np.zeros(len(labels)), labels))
    rank, size = world()
    models: dict[int, FitResult] = {}
    if stack:
        mine = list(range(rank, len(splits), size))
        if mine:
            stacked = fit_stacked(
                images,
                labels,
                [splits[k][0] for k in mine],
                n_classes=n_classes,
                config=config,
                seeds=[seed + k for k in mine],
                names=[f"out_of_sample_folds: fold {k}" for k in mine],
                progress=progress and rank == 0,
                desc=f"{len(mine)} folds stacked",
            )
            models = dict(zip(mine, stacked, strict=True))
    proba = np.zeros((len(labels), n_classes), np.float32)
    fold = np.full(len(labels), -1, np.int64)
    for k, (train_idx, held_idx) in enumerate(splits):
        fold[held_idx] = k
        if stack and k not in models:
            continue
        if not stack:
            try:
                models[k] = fit(
                    images,
                    labels,
                    n_classes=n_classes,
                    config=config,
                    seed=seed + k,
                    rows=train_idx,
                    progress=progress,
                    desc=f"fold {k + 1}/{folds}",
                )
            except ValueError as err:
                raise ValueError(f"out_of_sample_folds: fold {k}: {err}") from None
        logits = _predict_logits(
            models.pop(k).model, images[held_idx], batch_size=config.eval_batch_size
        )
        held_proba = torch.softmax(logits, dim=1)
        _raise_if_nonfinite(
            held_proba,
            where=f"out_of_sample_folds: fold {k} (seed {seed + k})",
            what="probabilities",
            rows=held_idx,
        )
        proba[held_idx] = held_proba.cpu().numpy()
    if stack and size > 1:
        # Every row was predicted by exactly one process; the others hold zeros there.
        summed = torch.from_numpy(proba).to(_worker_device(config.device))
        dist.all_reduce(summed)
        proba = summed.cpu().numpy()
    return proba, fold


def out_of_sample_proba(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    config: TrainConfig,
    seed: int,
    stack: bool = False,
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
        stack=stack,
        progress=progress,
    )
    return proba
