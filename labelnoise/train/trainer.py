"""One trainer, GPU first and correct on CPU.

On a GPU the whole training set goes to the device once as uint8; on the CPU the trainer reads
the caller's array in place (a memory map too) and holds no copy of it. Each step gathers an
index slice of a seeded permutation, and random crop + flip happen in the same gather. All
randomness of epoch ``e`` comes from a generator seeded by ``(seed, e)``, so a run resumed from a
checkpoint ends exactly where an uninterrupted one does. Under torch.distributed every process
draws the same plan and trains on its own slice of each batch (see
:mod:`labelnoise.train.distributed`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from labelnoise.io import atomic_path, write_json, write_text
from labelnoise.train.distributed import synced_batch_norm, world
from labelnoise.train.losses import check_loss, per_example_loss
from labelnoise.train.models import build_model, load_weights

# Fields that do not change what is learnt: a checkpoint may be resumed with other values.
_RUNTIME_FIELDS = ("device", "threads", "compile", "eval_batch_size")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    The defaults were chosen on a 2-core CPU with 3,000 images of 32 px: width 16 trains about
    three times faster than width 32 at similar accuracy, and batches of 64 at lr 0.05 reached
    better accuracy than 128 or 256 at the same cost.
    """

    model: str = "small_cnn"
    width: int = 16
    depth: int = 3
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5.0e-4
    label_smoothing: float = 0.0
    loss: str = "cross_entropy"
    gce_q: float = 0.7
    warmup_epochs: float = 1.0
    crop_padding: int = 2
    hflip: bool = True
    class_weights: bool = False
    device: str = "auto"
    threads: int = 0
    compile: bool = False
    weights: str | None = None
    eval_batch_size: int = 1024


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


def resolve_device(device: str) -> torch.device:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a torch device, checking CUDA exists."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s)")
        return dev
    raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")


def _derive_seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def _check_images(images: Any, name: str) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n, H, W, 3), got {images.shape}")
    return images


def _check_labels(labels: Any, n: int, n_classes: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but there are {n} images")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"{name} contains {bad}, outside [0, {n_classes})")
    return labels.astype(np.int64)


def _check_rows(rows: Any, n: int, name: str) -> np.ndarray:
    """``rows`` as int64 ``(m,)``, checked to be distinct rows of an ``n``-row array, m >= 2."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"{name}: train rows must be a 1-D integer array, got {rows.dtype}")
    if len(rows) < 2:
        raise ValueError(f"{name}: needs at least 2 training rows, got {len(rows)}")
    if rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"{name}: train rows outside [0, {n})")
    if len(np.unique(rows)) != len(rows):
        raise ValueError(f"{name}: train rows repeat an index")
    return rows.astype(np.int64)


def _check_config(config: TrainConfig) -> None:
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    positive = ("epochs", "batch_size", "eval_batch_size", "width", "depth")
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"config.{name} must be >= 1, got {getattr(config, name)}")
    if not config.lr > 0:
        raise ValueError(f"config.lr must be > 0, got {config.lr}")
    if config.crop_padding < 0:
        raise ValueError(f"config.crop_padding must be >= 0, got {config.crop_padding}")
    if not 0 <= config.warmup_epochs <= config.epochs:
        raise ValueError(f"config.warmup_epochs must be in [0, epochs], got {config.warmup_epochs}")
    if not 0 <= config.label_smoothing < 1:
        raise ValueError(f"config.label_smoothing must be in [0, 1), got {config.label_smoothing}")
    try:
        check_loss(config.loss, config.gce_q)
    except ValueError as err:
        raise ValueError(f"config: {err}") from None


def _to_device_nhwc(images: np.ndarray, device: torch.device) -> Tensor:
    """uint8 ``(n, H, W, 3)`` images as a tensor on ``device``, never to be written to.

    On the CPU the tensor shares the array's memory, so a memory map stays on disk until
    read; on another device it is the one copy there.
    """
    if any(stride < 0 for stride in images.strides):
        images = np.ascontiguousarray(images)  # torch cannot view negative strides
    with warnings.catch_warnings():
        # A read-only array (the dataset's memory map) is safe to share: every use of the
        # tensor gathers or converts it into new tensors.
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        tensor = torch.from_numpy(images)
    return tensor.to(device)


def _as_input(batch_nhwc: Tensor) -> Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)``; the permuted view is channels_last."""
    return batch_nhwc.permute(0, 3, 1, 2).float()


def _crop_flip(
    images: Tensor, idx: Tensor, offsets: Tensor, flips: Tensor, *, fill: Tensor, pad: int
) -> Tensor:
    """Gather a batch of randomly cropped and flipped images in one indexing operation.

    Each image is shifted by its offset within a border of ``pad`` pixels of colour ``fill``
    (read off the image where it lies inside, so no padded copy of the set is needed), then
    mirrored left-right if its flag is set.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``, only read.
    idx
        int64 ``(..., b)`` rows of ``images``.
    offsets
        int64 ``(..., b, 2)`` crop origins ``(dy, dx)`` in ``[0, 2 * pad]``.
    flips
        bool ``(..., b)``.
    fill
        uint8 ``(..., 3)``, the colour of the border (one per leading index, or shared).
    pad
        Border width in pixels.

    Returns
    -------
    Tensor
        uint8 ``(..., b, H, W, 3)``.
    """
    height, width = images.shape[1:3]
    rows = torch.arange(height, device=images.device)
    cols = torch.arange(width, device=images.device)
    r = offsets[..., 0:1] - pad + rows
    dx = offsets[..., 1:2] - pad
    c = torch.where(flips[..., None], dx + (width - 1) - cols, dx + cols)
    batch = images[
        idx[..., None, None],
        r.clamp(0, height - 1)[..., :, None],
        c.clamp(0, width - 1)[..., None, :],
    ]
    if not pad:
        return batch
    inside_r = (r >= 0) & (r < height)
    inside_c = (c >= 0) & (c < width)
    inside = inside_r[..., :, None, None] & inside_c[..., None, :, None]
    return torch.where(inside, batch, fill[..., None, None, None, :])


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


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
                chunk = _to_device_nhwc(chunk, device)
            with _autocast(device):
                outs.append(fn(_as_input(chunk)).float())
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


def _raise_if_nonfinite(
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


def _predict_logits(
    model: nn.Module,
    images: np.ndarray,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
) -> Tensor:
    """Float32 logits ``(n, C)`` on the device of uint8 images ``(n, H, W, 3)``, unchecked."""
    images = _check_images(images, "images")
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
    logits = _predict_logits(model, images, device=device, batch_size=batch_size)
    proba = torch.softmax(logits, dim=1)
    _raise_if_nonfinite(proba, where="predict_proba", what="probabilities")
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
    images = _check_images(images, "images")
    dev = _model_device(model) if device is None else torch.device(device)
    model.to(dev)
    feats = _batched(model, images, model.features, dev, batch_size)
    if len(feats) == 0:
        return np.zeros((0, model.head.in_features), np.float32)
    _raise_if_nonfinite(feats, where="extract_features", what="features")
    return feats.cpu().numpy().astype(np.float32)


def _image_sums(x: Tensor) -> Tensor:
    """Per-image channel sums and sums of squares ``(n, 2, 3)`` float64 of uint8 ``(n, H, W, 3)``.

    Summed in chunks of about 2**22 values in float64, which holds these sums of integers
    exactly. The result is allocated before the first chunk: small results kept between the
    chunks' large temporaries would stop the allocator from reusing the freed ones, and the
    heap would grow with the data.
    """
    sums = torch.empty((len(x), 2, 3), dtype=torch.float64, device=x.device)
    chunk = max(1, 2**22 // max(math.prod(x.shape[1:]), 1))
    for a in range(0, len(x), chunk):
        values = x[a : a + chunk].double()
        sums[a : a + chunk, 0] = values.sum((1, 2))
        sums[a : a + chunk, 1] = values.square_().sum((1, 2))
    return sums


def _normalisation(sums: Tensor, pixels_per_image: int) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std ``(3,)`` float32 of the images whose :func:`_image_sums` are
    ``sums`` ``(n, 2, 3)``; the std is at least 1 so that flat images do not blow up."""
    total = sums.sum(0)
    count = len(sums) * pixels_per_image
    mean = total[0] / count
    var = ((total[1] - count * mean.square()) / max(count - 1, 1)).clamp_min(0.0)
    return mean.float(), var.sqrt().float().clamp_min(1.0)


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


def _lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * max(total - step, 0) / max(total - warmup, 1)


def _epoch_plan(
    n: int,
    seed: int,
    epoch: int,
    config: TrainConfig,
    device: torch.device,
    size: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One epoch's order of ``size`` (default ``n``) draws from ``n`` examples, with per-draw
    crop offsets (dy, dx) and flip flags, on device.

    Past ``n`` the order goes on with fresh permutations, so a smaller set takes as many steps
    as a larger one while every example is seen once before any is seen twice.
    """
    size = n if size is None else size
    gen = torch.Generator().manual_seed(_derive_seed(seed, 2, epoch))
    perm = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-size // n))])[:size]
    offsets = torch.randint(0, 2 * config.crop_padding + 1, (size, 2), generator=gen)
    if config.hflip:
        flips = torch.rand(size, generator=gen) < 0.5
    else:
        flips = torch.zeros(size, dtype=torch.bool)
    return perm.to(device), offsets.to(device), flips.to(device)


def _write_class_report(
    log_dir: Path, epoch: int, y_true: np.ndarray, y_pred: np.ndarray, names: list[str]
) -> None:
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


def _progress_bar(total: int, initial: int, enabled: bool, desc: str):
    if not (enabled and sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="epoch", leave=False)


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
    progress
        Show a progress bar over epochs (only when stderr is a terminal).
    desc
        Label of the progress bar.

    Returns
    -------
    FitResult
        The model in eval mode, ``history`` (one dict per epoch: ``epoch`` from 0,
        ``train_loss``, ``lr`` and, with a validation set, ``val_acc``) and the device.

    Notes
    -----
    In a torch.distributed process group of several processes (torchrun workers that joined
    with :func:`~labelnoise.train.distributed.process_group`), every process calls ``fit`` with
    the same arguments and holds the whole set on its device (its own GPU, or the CPU with
    gloo). Each takes its share of every batch, DDP averages the gradients and batch norm uses
    the statistics of the whole batch, so the result is the single-process one up to float
    rounding. The first process alone writes ``log_dir`` and the checkpoint; all return the
    same model. Hooks are refused, as their state would diverge between processes.

    Raises
    ------
    ValueError
        Bad input, or a NaN/inf training loss (naming epoch and step) or weights (naming the
        epoch and tensors).
    """
    _check_config(config)
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    images = _check_images(images, "images")
    labels = _check_labels(labels, len(images), n_classes, "labels")
    if rows is not None:
        rows = _check_rows(rows, len(images), "fit")
    elif len(images) < 2:
        raise ValueError(f"need at least 2 training images, got {len(images)}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("val_images and val_labels must be given together")
    if val_images is not None:
        val_images = _check_images(val_images, "val_images")
        val_labels = _check_labels(val_labels, len(val_images), n_classes, "val_labels")
        if val_images.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"val_images shape {val_images.shape[1:]} != images shape {images.shape[1:]}"
            )
    if class_names is not None and len(class_names) != n_classes:
        raise ValueError(f"class_names has {len(class_names)} names for {n_classes} classes")
    names = [str(c) for c in (class_names if class_names is not None else range(n_classes))]
    rank, size = world()
    if size > 1 and hook is not None:
        raise ValueError("fit: a hook trains in one process; run it without torch.distributed")
    device = _worker_device(config.device) if size > 1 else resolve_device(config.device)
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
        seed=_derive_seed(seed, 1),
    )
    if config.weights is not None:
        load_weights(model, config.weights)
    model.to(device=device, memory_format=torch.channels_last)

    x_train = _to_device_nhwc(images, device)
    y_train = torch.from_numpy(labels).to(device)
    rows_dev = None if rows is None else torch.from_numpy(rows).to(device)
    if config.weights is None:
        sums = _image_sums(x_train)
        selected = sums if rows_dev is None else sums[rows_dev]
        model.set_normalisation(*_normalisation(selected, height * width))
    # Crops reach into a border of the mean colour, which normalises to ~0 rather than to black.
    fill = model.mean.reshape(3).round().clamp(0, 255).to(torch.uint8)
    x_val = None if val_images is None else _to_device_nhwc(val_images, device)

    weights = None
    if config.class_weights:
        weights = _class_weights(y_train if rows_dev is None else y_train[rows_dev], n_classes)

    optimizer = _optimizer(
        [p for p in model.parameters() if p.ndim > 1],
        [p for p in model.parameters() if p.ndim <= 1],
        config,
    )

    bounds = _batch_bounds(epoch_size, config.batch_size)
    steps = len(bounds) - 1
    smallest = int(np.diff(bounds).min())
    if smallest < size:
        raise ValueError(
            f"fit: a batch of {smallest} examples cannot be split over {size} processes"
        )
    total_steps = steps * config.epochs
    warmup_steps = round(config.warmup_epochs * steps)

    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt = None if checkpoint_path is None else Path(checkpoint_path)
    key = None
    if ckpt is not None:
        key = _fingerprint(images, labels, rows, config, seed, n_classes, hook)
        key["epoch_size"] = epoch_size
        state = _load_checkpoint(ckpt, key, device, announce=rank == 0)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if hook is not None and state.get("hook") is not None:
                hook.load_state_dict(state["hook"])
            history = list(state["history"])
            start_epoch = int(state["epoch"])

    # Only the first process writes: the others hold the same state.
    log_path = None if log_dir is None or rank > 0 else Path(log_dir)
    if rank > 0:
        ckpt = None
    live = None
    if log_path is not None:
        n_params = sum(p.numel() for p in model.parameters())
        write_text(log_path / "model_summary.txt", f"{model}\n\nparameters: {n_params}\n")
        write_json(log_path / "label_mapping.json", {str(i): name for i, name in enumerate(names)})
        live = _open_live(log_path, resume=start_epoch > 0)
        if live is not None and start_epoch > 0:
            # dvclive resumes a log whose last step is 0 at step 0 again; the checkpoint's epoch
            # is the step of the next row in every case.
            live.step = start_epoch

    bar = _progress_bar(config.epochs, start_epoch, progress and rank == 0, desc)
    # A per-step check costs a device sync, cheap on CPU only. Data-parallel processes check
    # the epoch's summed losses instead, so that they all stop together: one stopping alone
    # would leave the others waiting for it forever.
    check_each_step = device.type == "cpu" and size == 1
    model.train()
    try:
        with synced_batch_norm(model) if size > 1 else nullcontext():
            train_model = _data_parallel(model, device) if size > 1 else model
            if config.compile:
                train_model = torch.compile(train_model)
            for epoch in range(start_epoch, config.epochs):
                perm, offsets, flips = _epoch_plan(n, seed, epoch, config, device, epoch_size)
                # Rows of the training arrays in this epoch's order.
                order = perm if rows_dev is None else rows_dev[perm]
                step_losses = torch.zeros(steps, device=device)
                for s in range(steps):
                    a, b = bounds[s], bounds[s + 1]
                    # Every process draws the same plan; each takes its share of the batch.
                    lo, hi = a + (b - a) * rank // size, a + (b - a) * (rank + 1) // size
                    idx = order[lo:hi]
                    batch = _crop_flip(
                        x_train,
                        idx,
                        offsets[lo:hi],
                        flips[lo:hi],
                        fill=fill,
                        pad=config.crop_padding,
                    )
                    targets = y_train[idx]
                    with _autocast(device):
                        logits = train_model(_as_input(batch))
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
                    if weights is None:
                        loss = per_example.sum() / (b - a)
                    else:
                        loss = (per_example * weights[targets]).sum() / weights[
                            y_train[order[a:b]]
                        ].sum()
                    if check_each_step and not torch.isfinite(loss):
                        bad = idx[~torch.isfinite(per_example)].cpu().numpy()
                        raise ValueError(
                            f"fit: non-finite training loss at epoch {epoch}, step {s}"
                            + (f" (training rows {bad[:5].tolist()})" if len(bad) else "")
                        )
                    lr = _lr_at(epoch * steps + s, total_steps, warmup_steps, config.lr)
                    _set_lr(optimizer, lr)
                    optimizer.zero_grad(set_to_none=True)
                    # Data parallelism averages the processes' gradients; the sum of their
                    # shares is the gradient of the whole batch's mean.
                    (loss * size).backward()
                    optimizer.step()
                    if hook is not None:
                        hook.after_step()
                    step_losses[s] = loss.detach() * (b - a)
                if size > 1:
                    dist.all_reduce(step_losses)
                _check_epoch(step_losses, model, where="fit", epoch=epoch)
                if hook is not None:
                    hook.end_epoch(epoch)
                record: dict[str, Any] = {
                    "epoch": epoch,
                    "train_loss": float(step_losses.sum()) / epoch_size,
                    "lr": lr,
                }
                if x_val is not None:
                    logits_val = _batched(model, x_val, model, device, config.eval_batch_size)
                    pred = logits_val.argmax(1).cpu().numpy()
                    record["val_acc"] = float((pred == val_labels).mean()) if len(pred) else 0.0
                    if log_path is not None:
                        _write_class_report(log_path, epoch, val_labels, pred, names)
                history.append(record)
                if live is not None:
                    live.log_metric("train/loss", record["train_loss"])
                    if "val_acc" in record:
                        live.log_metric("val/acc", record["val_acc"])
                    live.next_step()
                if ckpt is not None:
                    _save_checkpoint(ckpt, key, epoch + 1, model, optimizer, hook, history)
                if bar is not None:
                    shown = {"loss": f"{record['train_loss']:.3f}"}
                    if "val_acc" in record:
                        shown["acc"] = f"{record['val_acc']:.3f}"
                    bar.set_postfix(shown)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if live is not None:
            live.end()
    model.eval()
    return FitResult(model=model, history=history, device=device)


def _worker_device(requested: str) -> torch.device:
    """The device of this torchrun worker: its own GPU (``LOCAL_RANK``, made current by
    :func:`~labelnoise.train.distributed.process_group`) or the CPU."""
    device = resolve_device(requested)
    backend = dist.get_backend()
    if device.type == "cuda":
        if device.index is not None and device.index != torch.cuda.current_device():
            raise ValueError(
                f"device {requested!r}: under torch.distributed each process trains on its own "
                "GPU; ask for 'cuda' or 'auto'"
            )
        device = torch.device("cuda", torch.cuda.current_device())
    if (device.type == "cuda") != (backend == "nccl"):
        raise ValueError(f"training on {device.type} needs another backend than {backend!r}")
    return device


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


def _class_weights(labels: Tensor, n_classes: int) -> Tensor:
    """Inverse-frequency weights ``(n_classes,)``; absent classes weigh 0."""
    counts = torch.bincount(labels, minlength=n_classes).float()
    return torch.where(counts > 0, len(labels) / (n_classes * counts.clamp_min(1)), 0.0)


def _optimizer(
    decay: list[Tensor], no_decay: list[Tensor], config: TrainConfig
) -> torch.optim.Optimizer:
    """Nesterov SGD; weight decay on the weight matrices and kernels only."""
    return torch.optim.SGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.momentum > 0,
    )


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _batch_bounds(n: int, batch_size: int) -> list[int]:
    """Start of every batch and the end of the last, ``(steps + 1,)``."""
    steps = max(math.ceil(n / batch_size), 1)
    # Near-equal batches: no tiny trailing batch for batch norm, few distinct shapes to compile.
    return np.linspace(0, n, steps + 1).round().astype(int).tolist()


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
