"""Training: models, the device-resident trainer (one process or data-parallel under torchrun),
many models stacked into one, and K-fold out-of-sample probabilities.

A training by phase, one module each: the knobs, checked (``config``); the caller's arrays,
checked (``inputs``); the device (``device``); the starting point: the network (``models``),
its normalisation, the loss weights and the optimizer (``prepare``); the steps of an epoch:
seeded plan, augmented batch, learning rate (``steps``, the losses in ``losses``, a cleaning
method's ``hooks``); the checkpoint (``checkpoints``); the logs (``logs``); and prediction
(``inference``). :func:`fit` (``trainer``) and :func:`fit_stacked` (``stacked``) train with
these pieces, :func:`out_of_sample_folds` (``crossval``) with those two; ``distributed`` and
``workers`` run trainings across processes or side by side.

Names are imported from their modules on first use, so that ``labelnoise.train.config`` (the
training knobs, read with the params) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "FoldPredictions": "crossval",
    "out_of_sample_folds": "crossval",
    "out_of_sample_proba": "crossval",
    "MODELS": "config",
    "TrainConfig": "config",
    "build_model": "models",
    "load_weights": "models",
    "fit_stacked": "stacked",
    "FitResult": "trainer",
    "TrainHook": "hooks",
    "extract_features": "inference",
    "fit": "trainer",
    "predict_logits": "inference",
    "predict_proba": "inference",
    "resolve_device": "device",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'labelnoise.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labelnoise.train.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
