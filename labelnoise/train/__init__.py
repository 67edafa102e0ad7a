"""Training: models, the device-resident trainer (one process or data-parallel under torchrun),
many models stacked into one, and K-fold out-of-sample probabilities."""

from labelnoise.train.crossval import FoldPredictions, out_of_sample_folds, out_of_sample_proba
from labelnoise.train.models import MODELS, build_model, load_weights
from labelnoise.train.stacked import fit_stacked
from labelnoise.train.trainer import (
    FitResult,
    TrainConfig,
    TrainHook,
    extract_features,
    fit,
    predict_proba,
    resolve_device,
)

__all__ = [
    "MODELS",
    "FitResult",
    "FoldPredictions",
    "TrainConfig",
    "TrainHook",
    "build_model",
    "extract_features",
    "fit",
    "fit_stacked",
    "load_weights",
    "out_of_sample_folds",
    "out_of_sample_proba",
    "predict_proba",
    "resolve_device",
]
