"""One trainer, GPU first and correct on CPU.

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

The steps :func:`fit` shares with :func:`~labelnoise.train.fit_stacked` live in
:mod:`labelnoise.train.steps`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from labelnoise.io import atomic_path, write_json, write_text
from labelnoise.progress import progress as show_progress
from labelnoise.train.config import TrainConfig, config_problems
from labelnoise.train.distributed import synced_batch_norm, world
from labelnoise.train.losses import per_example_loss
from labelnoise.train.models import build_model, load_weights
from labelnoise.train.steps import (
    Schedule,
    as_input,
    autocast,
    build_optimizer,
    check_images,
    check_labels,
    check_rows,
    class_weights,
    crop_flip,
    derive_seed,
    epoch_plan,
    image_sums,
    normalisation,
    resolve_device,
    sgd_step,
    to_device_nhwc,
    worker_device,
)

# Fields that do not change what is learnt: a checkpoint may be resumed with other values.
_RUNTIME_FIELDS = ("device", "threads", "compile", "eval_batch_size")


@runtime_checkable
class TrainHook(Protocol):
    """Lets a cleaning method (Data Parameters, AUM) change the loss and see the logits; its
    ``loss`` takes the place of ``config.loss``."""

    def loss(self, logits: Tensor, targets: Tensor, index: Tensor, epoch: int) -> Tensor:
        """Per-example losses ``(B,)``; ``index`` holds the rows of the batch in the train
        arrays, ``epoch`` counts from 0."""
        ...

    def after_step(self) -> None:
        """Called after each optimizer step of the model."""
        ...

    def end_epoch(self, epoch: int) -> None:
        """Called once all steps of ``epoch`` (from 0) are done."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class FitResult:
    """A trained model (in eval mode), one dict per epoch, and the device it lives on."""

    model: nn.Module
    history: list[dict[str, Any]] = field(default_factory=list)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


def check_config(config: TrainConfig) -> None:
    """Raise ``ValueError`` naming every knob of ``config`` out of its range or choices."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    problems = config_problems(config)
    if problems:
        raise ValueError("; ".join(problems))


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def _batched(
    model: nn.Module, images: Tensor | np.ndarray, fn, device: torch.device, batch_size: int
) -> Tensor:
    was_training = model.training
    model.eval()
    outs = []
    try:
        for a in range(0, len(images), batch_size):
            chunk = images[a : a + batch_size]
            if isinstance(chunk, np.ndarray):
                chunk = to_device_nhwc(chunk, device)
            with autocast(device):
                outs.append(fn(as_input(chunk)).float())
    finally:
        model.train(was_training)
    if not outs:
        return torch.empty(0, device=device)
    return torch.cat(outs)


def _nonfinite_rows(values: Tensor | np.ndarray) -> np.ndarray:
    """Indices of the rows of ``values`` ``(n, ...)`` holding a NaN or an infinity."""
    values = torch.as_tensor(values)
    if values.ndim == 0 or len(values) == 0:
        return np.zeros(0, np.int64)
    finite = torch.isfinite(values.reshape(len(values), -1)).all(1)
    return torch.nonzero(~finite).flatten().cpu().numpy()


def raise_if_nonfinite(
    values: Tensor | np.ndarray, *, where: str, what: str, rows: np.ndarray | None = None
) -> None:
    """Raise ``ValueError`` naming ``where`` and the offending rows if ``values`` has NaN/inf.

    Parameters
    ----------
    values
        ``(n, ...)`` array or tensor.
    where
        Who produced the values (function, fold, epoch).
    what
        What the values are ("probabilities", "features").
    rows
        ``(n,)`` caller's indices of the rows of ``values``; ``arange(n)`` when ``None``.
    """
    bad = _nonfinite_rows(values)
    if len(bad):
        named = bad if rows is None else np.asarray(rows)[bad]
        shown = ", ".join(str(int(i)) for i in named[:5]) + (", ..." if len(named) > 5 else "")
        raise ValueError(
            f"{where}: non-finite {what} in {len(bad)} of {len(values)} rows ({shown}); "
            "the model's weights or inputs hold NaN/inf"
        )


def predict_logits(
    model: nn.Module,
    images: np.ndarray,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
) -> Tensor:
    """Float32 logits ``(n, C)`` on the device of uint8 images ``(n, H, W, 3)``, unchecked."""
    images = check_images(images, "images")
    dev = _model_device(model) if device is None else torch.device(device)
    model.to(dev)
    logits = _batched(model, images, model, dev, batch_size)
    if len(logits) == 0:
        return torch.zeros((0, model.head.out_features), device=dev)
    return logits


def predict_proba(
    model: nn.Module,
    images: np.ndarray,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Softmax probabilities ``(n, C)`` float32 of uint8 images ``(n, H, W, 3)``; rows sum to 1,
    higher = more likely that class. ``device`` defaults to the model's.

    Raises ``ValueError`` naming the rows whose probabilities are not finite.
    """
    logits = predict_logits(model, images, device=device, batch_size=batch_size)
    proba = torch.softmax(logits, dim=1)
    raise_if_nonfinite(proba, where="predict_proba", what="probabilities")
    return proba.cpu().numpy().astype(np.float32)


def extract_features(
    model: nn.Module,
    images: np.ndarray,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Penultimate-layer features ``(n, D)`` float32 of uint8 images ``(n, H, W, 3)``.

    Raises ``ValueError`` naming the rows whose features are not finite.
    """
    images = check_images(images, "images")
    dev = _model_device(model) if device is None else torch.device(device)
    model.to(dev)
    feats = _batched(model, images, model.features, dev, batch_size)
    if len(feats) == 0:
        return np.zeros((0, model.head.in_features), np.float32)
    raise_if_nonfinite(feats, where="extract_features", what="features")
    return feats.cpu().numpy().astype(np.float32)


def _fingerprint(
    images: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray | None,
    config: TrainConfig,
    seed: int,
    n_classes: int,
    hook,
) -> dict:
    """What a checkpoint must match to be resumed.

    Training on ``rows`` ``(m,)`` (all when ``None``) of ``images`` uint8 ``(n, H, W, 3)`` and
    ``labels`` ``(n,)`` gets the fingerprint of training on copies of those rows.
    """
    n = len(images) if rows is None else len(rows)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(labels if rows is None else labels[rows]).tobytes())
    # The images' bytes in C order, a bounded chunk at a time: one bytes object of them all
    # would be another copy of the training set.
    step = max(1, 2**24 // max(math.prod(images.shape[1:]), 1))
    for a in range(0, n, step):
        block = images[a : a + step] if rows is None else images[rows[a : a + step]]
        digest.update(np.ascontiguousarray(block).data)
    cfg = {k: v for k, v in dataclasses.asdict(config).items() if k not in _RUNTIME_FIELDS}
    return {
        "config": cfg,
        "seed": seed,
        "n_classes": n_classes,
        "shape": [n, *images.shape[1:]],
        "data": digest.hexdigest(),
        "hook": None if hook is None else type(hook).__qualname__,
    }


def _write_class_report(
    log_dir: Path | None, epoch: int, y_true: np.ndarray, y_pred: np.ndarray, names: list[str]
) -> None:
    if log_dir is None:
        return
    try:
        from sklearn.metrics import classification_report
    except ImportError:
        return
    report = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(names))),
        target_names=names,
        output_dict=True,
        zero_division=0,
    )
    write_json(log_dir / "class_report" / f"epoch_{epoch:03d}.json", report)


def _open_live(log_dir: Path, resume: bool):
    try:
        from dvclive import Live
    except ImportError:
        return None
    return Live(str(log_dir), resume=resume, dvcyaml=False, save_dvc_exp=False)


def _load_checkpoint(path: Path, key: dict, device: torch.device, *, announce: bool) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: unreadable checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("key") != key:
        # A finished or abandoned run of other settings (the pipeline keeps checkpoints between
        # runs): resuming it would be wrong, so this run starts afresh and overwrites it.
        if announce:
            print(
                f"{path}: checkpoint of other settings, data or seed; starting afresh",
                file=sys.stderr,
            )
        return None
    return state


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
    ckpt = None if checkpoint_path is None else Path(checkpoint_path)
    key, history, start_epoch = None, [], 0
    if ckpt is not None:
        key = _fingerprint(images, labels, rows, config, seed, n_classes, hook)
        key["epoch_size"] = run.epoch_size
        history, start_epoch = _resume(run, ckpt, key, hook, announce=rank == 0)
    # Only the first process writes: the others hold the same state.
    log_path = None if log_dir is None or rank > 0 else Path(log_dir)
    if rank > 0:
        ckpt = None
    live = None if log_path is None else _start_log(log_path, run.model, names, history)
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
                    pred = _predict_classes(run.model, x_val, device, config.eval_batch_size)
                    record["val_acc"] = float((pred == val_labels).mean()) if len(pred) else 0.0
                    _write_class_report(log_path, epoch, val_labels, pred, names)
                history.append(record)
                _log_epoch(record, live, bar)
                if ckpt is not None:
                    _save_checkpoint(ckpt, key, epoch + 1, run.model, run.optimizer, hook, history)
    finally:
        _close(bar, live)
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
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
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
    device = worker_device(config.device) if size > 1 else resolve_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    n = len(images) if rows is None else len(rows)
    if epoch_size is None:
        epoch_size = n
    elif not isinstance(epoch_size, int | np.integer) or epoch_size < n:
        raise ValueError(f"epoch_size must be an int >= the {n} examples, got {epoch_size!r}")
    epoch_size = int(epoch_size)
    height, width = images.shape[1:3]
    model = build_model(
        config.model,
        n_classes=n_classes,
        width=config.width,
        depth=config.depth,
        image_size=min(height, width),
        seed=derive_seed(seed, 1),
    )
    if config.weights is not None:
        load_weights(model, config.weights)
    model.to(device=device, memory_format=torch.channels_last)

    x_train = to_device_nhwc(images, device)
    y_train = torch.from_numpy(labels).to(device)
    rows_dev = None if rows is None else torch.from_numpy(rows).to(device)
    if config.weights is None:
        sums = image_sums(x_train)
        selected = sums if rows_dev is None else sums[rows_dev]
        model.set_normalisation(*normalisation(selected, height * width))
    # Crops reach into a border of the mean colour, which normalises to ~0 rather than to black.
    fill = model.mean.reshape(3).round().clamp(0, 255).to(torch.uint8)
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


def _resume(
    run: _Run, ckpt: Path, key: dict, hook: TrainHook | None, *, announce: bool
) -> tuple[list[dict[str, Any]], int]:
    """Load a matching checkpoint into the run; return its history and the epoch to start at
    (none and 0 without one)."""
    state = _load_checkpoint(ckpt, key, run.device, announce=announce)
    if state is None:
        return [], 0
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if hook is not None and state.get("hook") is not None:
        hook.load_state_dict(state["hook"])
    return list(state["history"]), int(state["epoch"])


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


def _close(bar, live) -> None:
    if bar is not None:
        bar.close()
    if live is not None:
        live.end()


def _predict_classes(model: nn.Module, x: Tensor, device: torch.device, batch: int) -> np.ndarray:
    return _batched(model, x, model, device, batch).argmax(1).cpu().numpy()


def _start_log(log_path: Path, model: nn.Module, names: list[str], history: list[dict]):
    """Write the model summary and label mapping; return the dvclive logger (or ``None``),
    holding the curve of the ``history`` already trained (a resumed checkpoint's epochs)."""
    n_params = sum(p.numel() for p in model.parameters())
    write_text(log_path / "model_summary.txt", f"{model}\n\nparameters: {n_params}\n")
    write_json(log_path / "label_mapping.json", {str(i): name for i, name in enumerate(names)})
    start_epoch = len(history)
    curve = log_path / "plots" / "metrics" / "train" / "loss.tsv"
    logged = len(curve.read_text().splitlines()) - 1 if curve.is_file() else 0
    resume = start_epoch > 0 and logged == start_epoch
    live = _open_live(log_path, resume=resume)
    if live is None:
        return None
    if resume:
        # dvclive resumes a log whose last step is 0 at step 0 again; the checkpoint's epoch is
        # the step of the next row in every case.
        live.step = start_epoch
    else:
        # The log is gone (DVC removes a stage's outputs before it runs) or is another run's:
        # the checkpoint's epochs are written again, so the curve is whole.
        for record in history:
            _log_epoch(record, live, None)
    return live


def _log_epoch(record: dict[str, Any], live, bar) -> None:
    """An epoch's record to dvclive and the progress bar."""
    if live is not None:
        live.log_metric("train/loss", record["train_loss"])
        if "val_acc" in record:
            live.log_metric("val/acc", record["val_acc"])
        live.next_step()
    if bar is not None:
        shown = {"loss": f"{record['train_loss']:.3f}"}
        if "val_acc" in record:
            shown["acc"] = f"{record['val_acc']:.3f}"
        bar.set_postfix(shown)
        bar.update(1)


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


def _save_checkpoint(
    path: Path,
    key: dict | None,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    hook: TrainHook | None,
    history: list[dict[str, Any]],
) -> None:
    # No generator state is stored: epoch e's randomness is re-derived from (seed, e).
    state = {
        "key": key,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "hook": None if hook is None else hook.state_dict(),
        "history": history,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
