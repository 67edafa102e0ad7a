"""Training: models, the device-resident trainer (one process or data-parallel under torchrun),
many models stacked into one, and K-fold out-of-sample probabilities.

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
    "TrainHook": "trainer",
    "extract_features": "trainer",
    "fit": "trainer",
    "predict_proba": "trainer",
    "resolve_device": "steps",
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
