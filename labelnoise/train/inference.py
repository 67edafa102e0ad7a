"""What a trained model makes of images: logits, probabilities, penultimate features and
predicted classes, a bounded batch at a time and in eval mode, on the model's device.

Probabilities and features are checked to be finite: a NaN or an infinity is a ``ValueError``
naming the rows, rather than a silent score.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from labelnoise.train.device import as_input, autocast, to_device_nhwc
from labelnoise.train.inputs import check_images


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


def predict_classes(model: nn.Module, x: Tensor, device: torch.device, batch: int) -> np.ndarray:
    """``(n,)`` int64 most likely class of each image of ``x`` uint8 ``(n, H, W, 3)``, already
    on ``device`` (a validation set during training)."""
    return _batched(model, x, model, device, batch).argmax(1).cpu().numpy()


@torch.inference_mode()
def _batched(
    model: nn.Module,
    images: Tensor | np.ndarray,
    fn: Callable[[Tensor], Tensor],
    device: torch.device,
    batch_size: int,
) -> Tensor:
    """``fn`` (the model or one of its parts) of uint8 ``images`` ``(n, H, W, 3)``, in eval mode
    and ``batch_size`` images at a time, as one float32 tensor ``(n, ...)`` on ``device``; the
    model's mode is restored afterwards."""
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


def _nonfinite_rows(values: Tensor | np.ndarray) -> np.ndarray:
    """Indices of the rows of ``values`` ``(n, ...)`` holding a NaN or an infinity."""
    values = torch.as_tensor(values)
    if values.ndim == 0 or len(values) == 0:
        return np.zeros(0, np.int64)
    finite = torch.isfinite(values.reshape(len(values), -1)).all(1)
    return torch.nonzero(~finite).flatten().cpu().numpy()


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
