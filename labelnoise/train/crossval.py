"""K-fold out-of-sample predicted probabilities: every training example is scored by a model
that never saw it (in-sample probabilities are useless for finding label errors)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist

from labelnoise.progress import track
from labelnoise.train.config import TrainConfig
from labelnoise.train.device import worker_device
from labelnoise.train.distributed import world
from labelnoise.train.inference import predict_logits, raise_if_nonfinite
from labelnoise.train.inputs import check_images, check_labels
from labelnoise.train.stacked import fit_stacked
from labelnoise.train.trainer import FitResult, fit


class FoldPredictions(NamedTuple):
    """What the K fold models predict.

    Attributes
    ----------
    proba
        ``(n, C)`` float32; row ``i`` from the model trained without fold ``fold[i]``.
    fold
        ``(n,)`` int64, the fold each example was held out in.
    others
        ``(K, m, C)`` float32 probabilities of every fold model for the ``m`` other images
        asked for (e.g. the trusted and test sets), or ``None``.
    """

    proba: np.ndarray
    fold: np.ndarray
    others: np.ndarray | None = None


def out_of_sample_folds(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    config: TrainConfig,
    seed: int,
    stack: bool = False,
    other_images: np.ndarray | None = None,
    progress: bool = True,
) -> FoldPredictions:
    """Out-of-sample probabilities and the fold that held out each example.

    Each fold model takes as many optimizer steps as a model of all ``n`` examples (its epochs
    go on with fresh permutations of its rows), so the models behind the probabilities are
    trained as far as the baseline.

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
    other_images
        uint8 ``(m, H, W, 3)`` images no fold model trains on (the trusted and test sets), for
        every fold model to predict as well: how good and how calibrated those models are, and
        what they make of the trusted labels.
    progress
        Report the folds done and each fold model's epochs (:mod:`labelnoise.progress`).

    Returns
    -------
    FoldPredictions
        ``proba`` ``(n, n_classes)`` (higher = more likely that class), ``fold`` ``(n,)`` and,
        with ``other_images``, ``others`` ``(folds, m, n_classes)``.
    """
    from sklearn.model_selection import StratifiedKFold

    images = check_images(images, "images")
    labels = check_labels(labels, len(images), n_classes, "labels")
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
        models = _stacked_fold_models(
            images, labels, splits, n_classes, config, seed, progress=progress and rank == 0
        )
    proba = np.zeros((len(labels), n_classes), np.float32)
    fold = np.full(len(labels), -1, np.int64)
    others = None
    if other_images is not None:
        other_images = check_images(other_images, "other_images")
        others = np.zeros((len(splits), len(other_images), n_classes), np.float32)
    # Stacked, the fold models train together and report their epochs as one.
    shown = progress and rank == 0 and not stack
    done = track(list(enumerate(splits)), desc="folds", unit="fold", enabled=shown)
    for k, (train_idx, held_idx) in done:
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
                    epoch_size=len(labels),
                    progress=progress,
                    desc=f"fold {k + 1}/{folds}",
                )
            except ValueError as err:
                raise ValueError(f"out_of_sample_folds: fold {k}: {err}") from None
        model = models.pop(k).model
        if others is not None:
            others[k] = _probabilities(model, other_images, config, where=f"fold {k}")
        logits = predict_logits(model, images[held_idx], batch_size=config.eval_batch_size)
        held_proba = torch.softmax(logits, dim=1)
        raise_if_nonfinite(
            held_proba,
            where=f"out_of_sample_folds: fold {k} (seed {seed + k})",
            what="probabilities",
            rows=held_idx,
        )
        proba[held_idx] = held_proba.cpu().numpy()
    if stack and size > 1:
        # Every row was predicted by exactly one process; the others hold zeros there.
        summed = torch.from_numpy(proba).to(worker_device(config.device))
        dist.all_reduce(summed)
        proba = summed.cpu().numpy()
        if others is not None:
            summed = torch.from_numpy(others).to(worker_device(config.device))
            dist.all_reduce(summed)
            others = summed.cpu().numpy()
    return FoldPredictions(proba, fold, others)


def _stacked_fold_models(
    images, labels, splits, n_classes, config, seed, *, progress: bool
) -> dict[int, FitResult]:
    """This process's fold models (under torch.distributed, process ``r`` of ``N`` trains folds
    ``r, r + N, ...``), trained together; keyed by fold."""
    rank, size = world()
    mine = list(range(rank, len(splits), size))
    if not mine:
        return {}
    stacked = fit_stacked(
        images,
        labels,
        [splits[k][0] for k in mine],
        n_classes=n_classes,
        config=config,
        seeds=[seed + k for k in mine],
        names=[f"out_of_sample_folds: fold {k}" for k in mine],
        epoch_size=len(labels),
        progress=progress,
        desc=f"{len(mine)} folds stacked",
    )
    return dict(zip(mine, stacked, strict=True))


def _probabilities(model, images: np.ndarray, config: TrainConfig, *, where: str) -> np.ndarray:
    proba = torch.softmax(predict_logits(model, images, batch_size=config.eval_batch_size), 1)
    raise_if_nonfinite(proba, where=f"out_of_sample_folds: {where}", what="probabilities")
    return proba.cpu().numpy()


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
    return out_of_sample_folds(
        images,
        labels,
        n_classes=n_classes,
        folds=folds,
        config=config,
        seed=seed,
        stack=stack,
        progress=progress,
    ).proba
