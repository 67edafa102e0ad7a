"""The training knobs, each declared once: its type, its default and its bounds.

:class:`TrainConfig` is what :func:`labelnoise.train.fit` takes and a spec of
:mod:`labelnoise.knobs`: the ``train`` section of ``params.yaml``
(:class:`labelnoise.params.TrainParams`) is built from it and adds only the knobs of how
trainings are launched (folds, workers, processes), and :func:`check_config` is what
:func:`~labelnoise.train.fit` and :func:`~labelnoise.train.fit_stacked` check their config
with, so a value the schema accepts is one they accept, refused by both with the same message
(``train.<knob>``). This module imports the standard library alone, so that reading params
imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from labelnoise import knobs
from labelnoise.knobs import knob

Model = Literal["small_cnn", "resnet18"]
Loss = Literal["cross_entropy", "gce"]
Device = Literal["auto", "cpu", "cuda"]

MODELS: tuple[str, ...] = get_args(Model)
LOSSES: tuple[str, ...] = get_args(Loss)
"""Names of the training losses (``train.loss``; ``retrain.robust`` lists the robust ones)."""

SECTION = "train"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    The defaults were chosen on a 2-core CPU with 3,000 images of 32 px: width 16 trains about
    three times faster than width 32 at similar accuracy, and batches of 64 at lr 0.05 reached
    better accuracy than 128 or 256 at the same cost.
    """

    model: Model = "small_cnn"
    width: int = knob(16, ge=1, le=1024)  # channels of the first small_cnn block
    depth: int = knob(3, ge=1, le=8)  # conv blocks of small_cnn
    epochs: int = knob(15, ge=1)  # passes over the train images
    batch_size: int = knob(64, ge=1)  # images per optimizer step
    lr: float = knob(0.05, gt=0.0, le=10.0)  # peak SGD learning rate (Nesterov)
    momentum: float = knob(0.9, ge=0.0, lt=1.0)
    weight_decay: float = knob(5.0e-4, ge=0.0, lt=1.0)
    label_smoothing: float = knob(0.0, ge=0.0, lt=1.0)
    loss: Loss = "cross_entropy"
    gce_q: float = knob(0.7, gt=0.0, le=1.0)  # q of gce: 0 -> cross-entropy, 1 -> MAE
    warmup_epochs: float = knob(1.0, ge=0.0)  # epochs of linear warm-up, at most `epochs`
    crop_padding: int = knob(2, ge=0)  # px of random-crop padding
    hflip: bool = True
    class_weights: bool = False  # inverse-frequency loss weights
    device: Device = "auto"
    threads: int = knob(0, ge=0)  # torch CPU threads, 0 = torch's default
    compile: bool = False  # torch.compile (CUDA)
    weights: str | None = None  # local state_dict to start from
    eval_batch_size: int = knob(1024, ge=1)  # images per forward pass when predicting

    @staticmethod
    def joint(values: Mapping[str, Any]) -> list[str]:
        """The rules between training knobs that ``values`` breaks (each knob valid alone); a
        rule applies when its knobs are in ``values``."""
        if "warmup_epochs" in values and "epochs" in values:
            warmup, epochs = values["warmup_epochs"], values["epochs"]
            if warmup > epochs:
                return [f"train.warmup_epochs must be <= train.epochs ({epochs}), got {warmup}"]
        return []


def check_config(config: TrainConfig) -> None:
    """Raise ``ValueError`` naming every knob of ``config`` that breaks its declaration, and
    every rule between knobs it breaks (:func:`labelnoise.knobs.check`)."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    knobs.check(
        TrainConfig, SECTION, {name: getattr(config, name) for name in knobs.knobs(TrainConfig)}
    )


def smallest_image(model: str, depth: int) -> int:
    """The smallest square image side ``model`` takes: each of ``small_cnn``'s ``depth`` blocks
    halves the image, so it needs ``2 ** depth`` px; ``resnet18`` adapts to any size."""
    return 2**depth if model == "small_cnn" else 1
