"""Many small models trained at once, as one: the K fold models of the cross-validation.

The models' parameters and buffers are stacked along a leading dimension
(``torch.func.stack_module_state``) and one ``vmap`` over ``functional_call`` runs all of them
on their own batches in the same kernels, so a small network fills a big GPU. Batch norm keeps
working as in :func:`~labelnoise.train.fit`: its running statistics are stacked buffers that
every model updates in place, each with its own batch's statistics, and they are what the
models use in eval mode afterwards.

Each model ``k`` draws the same initialisation, batch order and augmentation as
``fit(images[train_rows[k]], labels[train_rows[k]], seed=seeds[k])`` would, from the same
pieces: the checks, the device, the starting point (:mod:`labelnoise.train.prepare`) and the
steps of an epoch (:mod:`labelnoise.train.steps`). With subsets of equal size the stacked and
the sequential runs differ by float rounding only.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

from labelnoise.progress import progress as show_progress
from labelnoise.train.config import TrainConfig, check_config
from labelnoise.train.device import autocast, to_device_nhwc, training_device
from labelnoise.train.inputs import check_images, check_labels, check_n_classes, check_rows
from labelnoise.train.losses import per_example_loss
from labelnoise.train.prepare import (
    build_optimizer,
    class_weights,
    crop_fill,
    image_sums,
    initial_model,
    normalisation,
)
from labelnoise.train.steps import Schedule, crop_flip, epoch_plan, sgd_step
from labelnoise.train.trainer import FitResult


def fit_stacked(
    images: np.ndarray,
    labels: np.ndarray,
    train_rows: Sequence[np.ndarray],
    *,
    n_classes: int,
    config: TrainConfig,
    seeds: Sequence[int],
    names: Sequence[str] | None = None,
    epoch_size: int | None = None,
    progress: bool = True,
    desc: str = "stacked",
) -> list[FitResult]:
    """Train one classifier per subset of the rows, all at once.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``, shared by all the models: the CPU reads it in place (a memory
        map is fine), another device holds one copy.
    labels
        int ``(n,)`` labels in ``[0, n_classes)``.
    train_rows
        One 1-D integer array of rows of ``images`` per model (distinct rows, at least 2).
        Subsets may differ in size: every epoch each model then trains on a random
        ``min(len(rows))`` of its rows, so that all models take equal steps.
    n_classes
        Number of classes.
    config
        Hyper-parameters shared by all models; ``weights`` initialises every model.
    seeds
        One seed per model, playing the role of ``fit``'s ``seed``.
    names
        What to call each model in errors (e.g. ``"fold 2"``); ``"fit_stacked: model k"`` by
        default.
    epoch_size
        Draws per model and epoch, at least the largest subset: as in ``fit``, an epoch then
        goes on with a fresh permutation of the model's rows. Default ``min(len(rows))``.
    progress
        Report the epochs (:func:`labelnoise.progress.progress`: a bar on a terminal, a line
        every tenth of the epochs in a log).
    desc
        What the report calls the training.

    Returns
    -------
    list of FitResult
        One per model, in order: the model in eval mode, its ``history`` (``epoch``,
        ``train_loss``, ``lr``) and the device.
    """
    check_config(config)
    seeds, names, images, labels, train_rows = _checked_inputs(
        images, labels, train_rows, n_classes, seeds, names
    )
    device = training_device(config)
    epoch_size = _epoch_size(epoch_size, train_rows)
    x = to_device_nhwc(images, device)
    models = _models(x, train_rows, n_classes, config, seeds, device)
    y = torch.from_numpy(labels).to(device)
    rows_dev = [torch.from_numpy(rows).to(device) for rows in train_rows]
    # Each model pads with its own mean colour, as fit does.
    fill = torch.stack([crop_fill(m) for m in models])
    weights = None
    if config.class_weights:
        weights = torch.stack([class_weights(y[rows], n_classes) for rows in rows_dev])

    params, buffers = stack_module_state(models)
    # The template only lends its code to functional_call: its own tensors are never read.
    template = copy.deepcopy(models[0]).to("meta")

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], inputs: Tensor) -> Tensor:
        return functional_call(template, (p, b), (inputs,))

    stacked_forward = torch.vmap(forward)
    if config.compile:
        stacked_forward = torch.compile(stacked_forward)
    shapes = dict(models[0].named_parameters())
    optimizer = build_optimizer(
        [params[k] for k in shapes if shapes[k].ndim > 1],
        [params[k] for k in shapes if shapes[k].ndim <= 1],
        config,
    )
    schedule = Schedule.of(epoch_size, config)
    histories: list[list[dict[str, Any]]] = [[] for _ in seeds]
    bar = show_progress(config.epochs, desc=desc, unit="epoch", enabled=progress)
    try:
        for epoch in range(config.epochs):
            perm, offsets, flips = _stacked_plan(
                train_rows, rows_dev, seeds, epoch, config, device, epoch_size
            )
            step_losses = torch.zeros(schedule.steps, len(models), device=device)
            for s, (a, b) in enumerate(itertools.pairwise(schedule.bounds)):
                idx = perm[:, a:b]
                batch = crop_flip(
                    x, idx, offsets[:, a:b], flips[:, a:b], fill=fill, pad=config.crop_padding
                )
                with autocast(device):
                    logits = stacked_forward(params, buffers, batch.permute(0, 1, 4, 2, 3).float())
                losses = _mean_losses(logits, y[idx], weights, config)
                step_losses[s] = losses.detach() * (b - a)
                if device.type == "cpu" and not torch.isfinite(losses).all():
                    _check_losses(step_losses[: s + 1], names, epoch)
                lr = schedule.lr_at(epoch, s)
                # The models share no parameter: the sum's gradient is each model's own.
                sgd_step(optimizer, losses.sum(), lr)
            _check_losses(step_losses, names, epoch)
            _check_state({**params, **buffers}, names, epoch)
            totals = (step_losses.sum(0) / epoch_size).tolist()
            for history, total in zip(histories, totals, strict=True):
                history.append({"epoch": epoch, "train_loss": total, "lr": lr})
            if bar is not None:
                bar.set_postfix({"loss": f"{np.mean(totals):.3f}"})
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    return _unstack(models, {**params, **buffers}, histories, device)


def _unstack(
    models: list[nn.Module], state: dict[str, Tensor], histories: list[list], device
) -> list[FitResult]:
    """Each model with its slice of the stacked ``state``, in eval mode."""
    results = []
    for k, model in enumerate(models):
        model.load_state_dict({name: t[k].detach() for name, t in state.items()})
        model.eval()
        results.append(FitResult(model=model, history=histories[k], device=device))
    return results


def _checked_inputs(images, labels, train_rows, n_classes, seeds, names):
    """fit_stacked's data arguments, checked: seeds as ints, a name per model."""
    check_n_classes(n_classes)
    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be one non-negative int per model, got {seeds}")
    if len(seeds) != len(train_rows):
        raise ValueError(f"{len(seeds)} seeds for {len(train_rows)} row subsets")
    names = [f"fit_stacked: model {k}" for k in range(len(seeds))] if names is None else list(names)
    if len(names) != len(seeds):
        raise ValueError(f"{len(names)} names for {len(seeds)} models")
    images = check_images(images, "images")
    labels = check_labels(labels, len(images), n_classes, "labels")
    train_rows = [
        check_rows(rows, len(images), name) for rows, name in zip(train_rows, names, strict=True)
    ]
    return seeds, names, images, labels, train_rows


def _epoch_size(epoch_size: int | None, train_rows: list[np.ndarray]) -> int:
    """Draws per model and epoch: the smallest subset by default, else at least the largest."""
    if epoch_size is None:
        return min(len(rows) for rows in train_rows)
    n_max = max(len(rows) for rows in train_rows)
    if not isinstance(epoch_size, int | np.integer) or epoch_size < n_max:
        raise ValueError(
            f"epoch_size must be an int >= the largest subset ({n_max}), got {epoch_size!r}"
        )
    return int(epoch_size)


def _models(x, train_rows, n_classes, config, seeds, device) -> list[nn.Module]:
    """One model per seed, as fit initialises it, normalised to its own rows of ``x`` (the
    images on the device, NHWC), in train mode."""
    height, width = x.shape[1:3]
    models = [
        initial_model(config, n_classes=n_classes, image_size=min(height, width), seed=seed)
        for seed in seeds
    ]
    sums = image_sums(x) if config.weights is None else None
    for model, rows in zip(models, train_rows, strict=True):
        model.to(device)
        if sums is not None:
            model.set_normalisation(
                *normalisation(sums[torch.from_numpy(rows).to(device)], height * width)
            )
        model.train()
    return models


def _stacked_plan(train_rows, rows_dev, seeds, epoch, config, device, epoch_size):
    """Each model's epoch plan, stacked ``(models, epoch_size)``: rows of ``images``, crop
    offsets (``(..., 2)``) and flips."""
    plans = [
        epoch_plan(len(rows), seed, epoch, config, device, max(epoch_size, len(rows)))
        for rows, seed in zip(train_rows, seeds, strict=True)
    ]
    perm = torch.stack([r[p[:epoch_size]] for r, (p, _, _) in zip(rows_dev, plans, strict=True)])
    offsets = torch.stack([o[:epoch_size] for _, o, _ in plans])
    flips = torch.stack([f[:epoch_size] for _, _, f in plans])
    return perm, offsets, flips


def _mean_losses(logits: Tensor, targets: Tensor, weights: Tensor | None, config) -> Tensor:
    """Each model's (weighted) mean loss ``(models,)`` of its batch: ``logits`` ``(models, b, C)``,
    ``targets`` ``(models, b)``."""
    n_models, batch = targets.shape
    per_example = per_example_loss(
        logits.float().flatten(0, 1),
        targets.flatten(),
        loss=config.loss,
        label_smoothing=config.label_smoothing,
        gce_q=config.gce_q,
    ).reshape(n_models, batch)
    if weights is None:
        return per_example.sum(1) / batch
    w = weights.gather(1, targets)
    return (per_example * w).sum(1) / w.sum(1)


def _check_losses(step_losses: Tensor, names: list[str], epoch: int) -> None:
    """Raise ``ValueError`` naming the first model and step whose loss ``(steps, models)`` is
    not finite."""
    finite = torch.isfinite(step_losses).cpu().numpy()
    if not finite.all():
        step, model = (int(i[0]) for i in np.nonzero(~finite))
        raise ValueError(f"{names[model]}: non-finite training loss at epoch {epoch}, step {step}")


def _check_state(state: dict[str, Tensor], names: list[str], epoch: int) -> None:
    """Raise ``ValueError`` naming the first model with a NaN/inf in its stacked ``state``."""
    floats = {k: v for k, v in state.items() if v.is_floating_point()}
    ok = torch.stack([torch.isfinite(v.flatten(1)).all(1) for v in floats.values()])
    if not ok.all():
        tensor, model = (int(i[0]) for i in np.nonzero(~ok.cpu().numpy()))
        raise ValueError(
            f"{names[model]}: non-finite weights after epoch {epoch} ({list(floats)[tensor]})"
        )
