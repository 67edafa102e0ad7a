"""Many small models trained at once, as one: the K fold models of the cross-validation.

The models' parameters and buffers are stacked along a leading dimension
(``torch.func.stack_module_state``) and one ``vmap`` over ``functional_call`` runs all of them
on their own batches in the same kernels, so a small network fills a big GPU. Batch norm keeps
working as in :func:`~labelnoise.train.fit`: its running statistics are stacked buffers that
every model updates in place, each with its own batch's statistics, and they are what the
models use in eval mode afterwards.

Each model ``k`` draws the same initialisation, batch order and augmentation as
``fit(images[train_rows[k]], labels[train_rows[k]], seed=seeds[k])`` would; with subsets of
equal size the stacked and the sequential runs differ by float rounding only.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, stack_module_state

from labelnoise.train.distributed import world
from labelnoise.train.losses import per_example_loss
from labelnoise.train.models import build_model, load_weights
from labelnoise.train.trainer import (
    FitResult,
    TrainConfig,
    _autocast,
    _batch_bounds,
    _check_config,
    _check_images,
    _check_labels,
    _check_rows,
    _class_weights,
    _crop_flip,
    _derive_seed,
    _epoch_plan,
    _image_sums,
    _lr_at,
    _normalisation,
    _optimizer,
    _progress_bar,
    _set_lr,
    _to_device_nhwc,
    _worker_device,
    resolve_device,
)


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
        Show a progress bar over epochs (only when stderr is a terminal).
    desc
        Label of the progress bar.

    Returns
    -------
    list of FitResult
        One per model, in order: the model in eval mode, its ``history`` (``epoch``,
        ``train_loss``, ``lr``) and the device.
    """
    _check_config(config)
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be one non-negative int per model, got {seeds}")
    if len(seeds) != len(train_rows):
        raise ValueError(f"{len(seeds)} seeds for {len(train_rows)} row subsets")
    names = [f"fit_stacked: model {k}" for k in range(len(seeds))] if names is None else list(names)
    if len(names) != len(seeds):
        raise ValueError(f"{len(names)} names for {len(seeds)} models")
    images = _check_images(images, "images")
    labels = _check_labels(labels, len(images), n_classes, "labels")
    train_rows = [
        _check_rows(rows, len(images), name) for rows, name in zip(train_rows, names, strict=True)
    ]
    device = _worker_device(config.device) if world()[1] > 1 else resolve_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    n_models = len(seeds)
    height, width = images.shape[1:3]

    models = [
        build_model(
            config.model,
            n_classes=n_classes,
            width=config.width,
            depth=config.depth,
            image_size=min(height, width),
            seed=_derive_seed(seed, 1),
        )
        for seed in seeds
    ]
    x = _to_device_nhwc(images, device)
    y = torch.from_numpy(labels).to(device)
    rows_dev = [torch.from_numpy(rows).to(device) for rows in train_rows]
    sums = _image_sums(x) if config.weights is None else None
    for model, rows in zip(models, rows_dev, strict=True):
        if config.weights is not None:
            load_weights(model, config.weights)
        model.to(device)
        if sums is not None:
            model.set_normalisation(*_normalisation(sums[rows], height * width))
        model.train()
    # Each model pads with its own mean colour, as fit does.
    fill = torch.stack([m.mean.reshape(3).round().clamp(0, 255).to(torch.uint8) for m in models])
    weights = None
    if config.class_weights:
        weights = torch.stack([_class_weights(y[rows], n_classes) for rows in rows_dev])

    params, buffers = stack_module_state(models)
    # The template only lends its code to functional_call: its own tensors are never read.
    template = copy.deepcopy(models[0]).to("meta")

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], inputs: Tensor) -> Tensor:
        return functional_call(template, (p, b), (inputs,))

    stacked_forward = torch.vmap(forward)
    if config.compile:
        stacked_forward = torch.compile(stacked_forward)
    shapes = dict(models[0].named_parameters())
    optimizer = _optimizer(
        [params[k] for k in shapes if shapes[k].ndim > 1],
        [params[k] for k in shapes if shapes[k].ndim <= 1],
        config,
    )

    if epoch_size is None:
        epoch_size = min(len(rows) for rows in train_rows)
    else:
        n_max = max(len(rows) for rows in train_rows)
        if not isinstance(epoch_size, int | np.integer) or epoch_size < n_max:
            raise ValueError(
                f"epoch_size must be an int >= the largest subset ({n_max}), got {epoch_size!r}"
            )
        epoch_size = int(epoch_size)
    bounds = _batch_bounds(epoch_size, config.batch_size)
    steps = len(bounds) - 1
    total_steps = steps * config.epochs
    warmup_steps = round(config.warmup_epochs * steps)
    check_each_step = device.type == "cpu"
    histories: list[list[dict[str, Any]]] = [[] for _ in seeds]
    bar = _progress_bar(config.epochs, 0, progress, desc)
    try:
        for epoch in range(config.epochs):
            plans = [
                _epoch_plan(len(rows), seed, epoch, config, device, max(epoch_size, len(rows)))
                for rows, seed in zip(train_rows, seeds, strict=True)
            ]
            # (models, epoch_size): rows of `images`, crop offsets and flips, per model.
            perm = torch.stack(
                [r[p[:epoch_size]] for r, (p, _, _) in zip(rows_dev, plans, strict=True)]
            )
            offsets = torch.stack([o[:epoch_size] for _, o, _ in plans])
            flips = torch.stack([f[:epoch_size] for _, _, f in plans])
            step_losses = torch.zeros(steps, n_models, device=device)
            for s in range(steps):
                a, b = bounds[s], bounds[s + 1]
                idx = perm[:, a:b]
                batch = _crop_flip(
                    x, idx, offsets[:, a:b], flips[:, a:b], fill=fill, pad=config.crop_padding
                )
                targets = y[idx]
                with _autocast(device):
                    logits = stacked_forward(params, buffers, batch.permute(0, 1, 4, 2, 3).float())
                per_example = per_example_loss(
                    logits.float().flatten(0, 1),
                    targets.flatten(),
                    loss=config.loss,
                    label_smoothing=config.label_smoothing,
                    gce_q=config.gce_q,
                ).reshape(n_models, b - a)
                if weights is None:
                    losses = per_example.sum(1) / (b - a)
                else:
                    w = weights.gather(1, targets)
                    losses = (per_example * w).sum(1) / w.sum(1)
                step_losses[s] = losses.detach() * (b - a)
                if check_each_step and not torch.isfinite(losses).all():
                    _check_losses(step_losses[: s + 1], names, epoch)
                lr = _lr_at(epoch * steps + s, total_steps, warmup_steps, config.lr)
                _set_lr(optimizer, lr)
                optimizer.zero_grad(set_to_none=True)
                # The models share no parameter: the sum's gradient is each model's own.
                losses.sum().backward()
                optimizer.step()
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

    results = []
    for k, model in enumerate(models):
        state = {name: t[k].detach() for name, t in {**params, **buffers}.items()}
        model.load_state_dict(state)
        model.eval()
        results.append(FitResult(model=model, history=histories[k], device=device))
    return results


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
