"""The training of one model, :func:`fit`, read top-down: check the arguments, prepare the model
and its data, resume a checkpoint, then train epoch by epoch, checking, validating, logging and
saving after each.

On a GPU the whole training set goes to the device once as uint8; on the CPU the trainer reads
the caller's array in place (a memory map too) and holds no copy of it. Each step gathers an
index slice of a seeded permutation, and random crop + flip happen in the same gather. All
randomness of epoch ``e`` comes from a generator seeded by ``(seed, e)``, so a run resumed from a
checkpoint ends exactly where an uninterrupted one does.

In a torch.distributed process group of several processes (torchrun workers that joined with
:func:`~labelnoise.train.distributed.process_group`), every process calls :func:`fit` with the
same arguments and holds the whole set on its device (its own GPU, or the CPU with gloo). All
draw the same plan; each takes its share of every batch, DDP averages the gradients and batch
norm uses the statistics of the whole batch, so the result is the single-process one up to float
rounding. The first process alone writes the logs and the checkpoint; all return the same model.
Hooks are refused, as their state would diverge between processes.

Each phase has a module of its own, shared with :func:`~labelnoise.train.fit_stacked` where
both do the same: the checks of the arguments (:mod:`~labelnoise.train.config`,
:mod:`~labelnoise.train.inputs`), the device (:mod:`~labelnoise.train.device`), the starting
point (:mod:`~labelnoise.train.prepare`), the steps of an epoch (:mod:`~labelnoise.train.steps`),
the checkpoint (:mod:`~labelnoise.train.checkpoints`), the logs (:mod:`~labelnoise.train.logs`)
and prediction (:mod:`~labelnoise.train.inference`).
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from labelnoise.progress import progress as show_progress
from labelnoise.train.checkpoints import Checkpoint, fingerprint
from labelnoise.train.config import TrainConfig, check_config
from labelnoise.train.device import as_input, autocast, to_device_nhwc, training_device
from labelnoise.train.distributed import synced_batch_norm, world
from labelnoise.train.hooks import TrainHook
from labelnoise.train.inference import predict_classes
from labelnoise.train.inputs import check_images, check_labels, check_n_classes, check_rows
from labelnoise.train.logs import close_log, log_epoch, open_log, write_class_report
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


@dataclass
class FitResult:
    """A trained model (in eval mode), one dict per epoch, and the device it lives on."""

    model: nn.Module
    history: list[dict[str, Any]] = field(default_factory=list)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


def fit(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    config: TrainConfig,
    seed: int,
    rows: np.ndarray | None = None,
    epoch_size: int | None = None,
    val_images: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    log_dir: str | os.PathLike | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    hook: TrainHook | None = None,
    progress: bool = True,
    desc: str = "train",
) -> FitResult:
    """Train a classifier from scratch (or from ``config.weights``) on uint8 images.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)`` training images. A memory map is fine: the CPU reads it in place,
        another device holds one copy.
    labels
        int ``(n,)`` labels in ``[0, n_classes)``.
    n_classes
        Number of classes.
    config
        Hyper-parameters; see :class:`TrainConfig`.
    seed
        Seeds the initialisation, the batch order and the augmentation.
    rows
        int ``(m,)`` distinct rows of ``images`` and ``labels`` to train on (at least 2); all
        when ``None``. The model, history and checkpoint fingerprint are those of training on
        ``images[rows]``, without that copy; the hook's ``index`` and the rows named in
        errors are rows of ``images``.
    epoch_size
        Examples drawn per epoch (default: the number trained on). Larger than that, an epoch
        goes on with a fresh permutation, so a cleaned subset gets the optimizer steps and
        learning-rate schedule of the set it came from: equal compute for every arm.
    val_images, val_labels
        Optional validation set; its accuracy is logged every epoch.
    class_names
        Names for the classification report and ``label_mapping.json``.
    log_dir
        If given: dvclive metrics (``train/loss``, ``val/acc``) without touching ``dvc.yaml``,
        ``class_report/epoch_XXX.json`` per epoch (when validating), ``model_summary.txt`` and
        ``label_mapping.json``.
    checkpoint_path
        If given, state is saved atomically after every epoch; an existing checkpoint of the
        same configuration, data and seed is resumed, ending exactly as an uninterrupted run.
    hook
        Replaces the loss (per-example, ``(B,)``) and is told of steps and epochs.
    progress, desc
        Report the epochs under ``desc`` (:func:`labelnoise.progress.progress`: a bar on a
        terminal, a line every tenth of the epochs in a log).

    Returns
    -------
    FitResult
        The model in eval mode, ``history`` (one dict per epoch: ``epoch`` from 0,
        ``train_loss``, ``lr`` and, with a validation set, ``val_acc``) and the device.

    Notes
    -----
    Under torch.distributed every process calls ``fit`` with the same arguments and all return
    the same model; hooks are refused (see the module's docstring).

    Raises
    ------
    ValueError
        Bad input, or a NaN/inf training loss (naming epoch and step) or weights (naming the
        epoch and tensors).
    """
    check_config(config)
    seed, images, labels, rows, val_images, val_labels, names = _checked_inputs(
        images, labels, n_classes, seed, rows, val_images, val_labels, class_names
    )
    rank, size = world()
    if size > 1 and hook is not None:
        raise ValueError("fit: a hook trains in one process; run it without torch.distributed")
    run = _prepare(images, labels, rows, n_classes, config, seed, epoch_size)
    device = run.device
    x_val = None if val_images is None else to_device_nhwc(val_images, device)
    ckpt, history, start_epoch = None, [], 0
    if checkpoint_path is not None:
        key = fingerprint(images, labels, rows, config, seed, n_classes, hook, run.epoch_size)
        ckpt = Checkpoint(Path(checkpoint_path), key)
        history, start_epoch = ckpt.resume(run.model, run.optimizer, hook, announce=rank == 0)
    # Only the first process writes: the others hold the same state.
    log_path = None if log_dir is None or rank > 0 else Path(log_dir)
    if rank > 0:
        ckpt = None
    live = None if log_path is None else open_log(log_path, run.model, names, history)
    shown = progress and rank == 0
    bar = show_progress(config.epochs, initial=start_epoch, desc=desc, unit="epoch", enabled=shown)
    run.model.train()
    try:
        with synced_batch_norm(run.model) if size > 1 else nullcontext():
            train_model = _data_parallel(run.model, device) if size > 1 else run.model
            if config.compile:
                train_model = torch.compile(train_model)
            for epoch in range(start_epoch, config.epochs):
                step_losses, lr = _train_epoch(run, train_model, epoch, config, seed, hook)
                record = _end_epoch(run, epoch, step_losses, lr, hook)
                if x_val is not None:
                    pred = predict_classes(run.model, x_val, device, config.eval_batch_size)
                    record["val_acc"] = float((pred == val_labels).mean()) if len(pred) else 0.0
                    write_class_report(log_path, epoch, val_labels, pred, names)
                history.append(record)
                log_epoch(record, live, bar)
                if ckpt is not None:
                    ckpt.save(epoch + 1, run.model, run.optimizer, hook, history)
    finally:
        close_log(bar, live)
    run.model.eval()
    return FitResult(model=run.model, history=history, device=device)


@dataclass
class _Run:
    """One training's model and optimizer, its data on the device, and its schedule."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    x_train: Tensor  # uint8 (n_images, H, W, 3)
    y_train: Tensor  # int64 (n_images,)
    rows: Tensor | None  # int64 (n,) rows trained on; all when None
    fill: Tensor  # uint8 (3,) colour of the crop border
    weights: Tensor | None  # (n_classes,) loss weights
    schedule: Schedule
    n: int
    epoch_size: int
    device: torch.device
    rank: int
    size: int


def _checked_inputs(images, labels, n_classes, seed, rows, val_images, val_labels, class_names):
    """fit's data arguments, checked; ``seed`` an int, class names as strings."""
    check_n_classes(n_classes)
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    images = check_images(images, "images")
    labels = check_labels(labels, len(images), n_classes, "labels")
    if rows is not None:
        rows = check_rows(rows, len(images), "fit")
    elif len(images) < 2:
        raise ValueError(f"need at least 2 training images, got {len(images)}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("val_images and val_labels must be given together")
    if val_images is not None:
        val_images = check_images(val_images, "val_images")
        val_labels = check_labels(val_labels, len(val_images), n_classes, "val_labels")
        if val_images.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"val_images shape {val_images.shape[1:]} != images shape {images.shape[1:]}"
            )
    if class_names is not None and len(class_names) != n_classes:
        raise ValueError(f"class_names has {len(class_names)} names for {n_classes} classes")
    names = [str(c) for c in (class_names if class_names is not None else range(n_classes))]
    return int(seed), images, labels, rows, val_images, val_labels, names


def _prepare(images, labels, rows, n_classes, config, seed, epoch_size) -> _Run:
    """The device, the model (initialised, normalised to the trained rows), optimizer, data and
    schedule."""
    rank, size = world()
    device = training_device(config)
    n = len(images) if rows is None else len(rows)
    if epoch_size is None:
        epoch_size = n
    elif not isinstance(epoch_size, int | np.integer) or epoch_size < n:
        raise ValueError(f"epoch_size must be an int >= the {n} examples, got {epoch_size!r}")
    epoch_size = int(epoch_size)
    height, width = images.shape[1:3]
    model = initial_model(config, n_classes=n_classes, image_size=min(height, width), seed=seed)
    model.to(device=device, memory_format=torch.channels_last)

    x_train = to_device_nhwc(images, device)
    y_train = torch.from_numpy(labels).to(device)
    rows_dev = None if rows is None else torch.from_numpy(rows).to(device)
    if config.weights is None:
        sums = image_sums(x_train)
        selected = sums if rows_dev is None else sums[rows_dev]
        model.set_normalisation(*normalisation(selected, height * width))
    fill = crop_fill(model)
    weights = None
    if config.class_weights:
        weights = class_weights(y_train if rows_dev is None else y_train[rows_dev], n_classes)
    optimizer = build_optimizer(
        [p for p in model.parameters() if p.ndim > 1],
        [p for p in model.parameters() if p.ndim <= 1],
        config,
    )
    schedule = Schedule.of(epoch_size, config)
    smallest = int(np.diff(schedule.bounds).min())
    if smallest < size:
        raise ValueError(
            f"fit: a batch of {smallest} examples cannot be split over {size} processes"
        )
    return _Run(
        model, optimizer, x_train, y_train, rows_dev, fill, weights, schedule, n, epoch_size,
        device, rank, size,
    )  # fmt: skip


def _train_epoch(
    run: _Run, train_model: nn.Module, epoch: int, config: TrainConfig, seed: int, hook
) -> tuple[Tensor, float]:
    """One pass of the epoch's plan; returns each step's summed loss ``(steps,)`` and the last
    learning rate."""
    schedule = run.schedule
    perm, offsets, flips = epoch_plan(run.n, seed, epoch, config, run.device, run.epoch_size)
    # Rows of the training arrays in this epoch's order.
    order = perm if run.rows is None else run.rows[perm]
    step_losses = torch.zeros(schedule.steps, device=run.device)
    # A per-step check costs a device sync, cheap on CPU only. Data-parallel processes check
    # the epoch's summed losses instead, so that they all stop together: one stopping alone
    # would leave the others waiting for it forever.
    check_each_step = run.device.type == "cpu" and run.size == 1
    lr = schedule.lr
    for s in range(schedule.steps):
        a, b = schedule.bounds[s], schedule.bounds[s + 1]
        # Every process draws the same plan; each takes its share of the batch.
        lo = a + (b - a) * run.rank // run.size
        hi = a + (b - a) * (run.rank + 1) // run.size
        idx = order[lo:hi]
        batch = crop_flip(
            run.x_train, idx, offsets[lo:hi], flips[lo:hi], fill=run.fill, pad=config.crop_padding
        )
        targets = run.y_train[idx]
        with autocast(run.device):
            logits = train_model(as_input(batch))
        logits = logits.float()
        if hook is None:
            per_example = per_example_loss(
                logits,
                targets,
                loss=config.loss,
                label_smoothing=config.label_smoothing,
                gce_q=config.gce_q,
            )
        else:
            per_example = hook.loss(logits, targets, idx, epoch)
        # This process's share of the mean over the whole batch.
        if run.weights is None:
            loss = per_example.sum() / (b - a)
        else:
            loss = (per_example * run.weights[targets]).sum() / run.weights[
                run.y_train[order[a:b]]
            ].sum()
        if check_each_step and not torch.isfinite(loss):
            bad = idx[~torch.isfinite(per_example)].cpu().numpy()
            raise ValueError(
                f"fit: non-finite training loss at epoch {epoch}, step {s}"
                + (f" (training rows {bad[:5].tolist()})" if len(bad) else "")
            )
        lr = schedule.lr_at(epoch, s)
        # Data parallelism averages the processes' gradients; the sum of their shares is the
        # gradient of the whole batch's mean.
        sgd_step(run.optimizer, loss * run.size, lr)
        if hook is not None:
            hook.after_step()
        step_losses[s] = loss.detach() * (b - a)
    return step_losses, lr


def _end_epoch(
    run: _Run, epoch: int, step_losses: Tensor, lr: float, hook: TrainHook | None
) -> dict[str, Any]:
    """Check the epoch's losses ``(steps,)`` and weights, tell the hook; the epoch's record."""
    if run.size > 1:
        dist.all_reduce(step_losses)
    _check_epoch(step_losses, run.model, where="fit", epoch=epoch)
    if hook is not None:
        hook.end_epoch(epoch)
    return {"epoch": epoch, "train_loss": float(step_losses.sum()) / run.epoch_size, "lr": lr}


def _check_epoch(step_losses: Tensor, model: nn.Module, *, where: str, epoch: int) -> None:
    """Raise ``ValueError`` if a step's loss ``(steps,)`` or the model's state is not finite."""
    finite = torch.isfinite(step_losses).cpu().numpy()
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{where}: non-finite training loss at epoch {epoch}, step {bad}")
    named = [(k, v) for k, v in model.state_dict().items() if v.is_floating_point()]
    ok = torch.stack([torch.isfinite(v).all() for _, v in named]).cpu().numpy()
    if not ok.all():
        names = [named[i][0] for i in np.flatnonzero(~ok)]
        raise ValueError(f"{where}: non-finite weights after epoch {epoch} ({', '.join(names)})")


def _data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    # Buffers need no broadcast at each step: the synced batch norm updates them identically
    # everywhere.
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        forward_sync_buffers=False,
        gradient_as_bucket_view=True,
    )
