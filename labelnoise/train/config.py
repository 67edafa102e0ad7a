"""The training knobs, each defined once: its type, its default and its range.

:class:`TrainConfig` is what :func:`labelnoise.train.fit` takes. The ``train`` section of
``params.yaml`` (:class:`labelnoise.params.TrainParams`) is built from its fields and adds only
the knobs of how trainings are launched (folds, workers, processes). The rules are checked here
alone: each knob's bounds (:func:`knob`) and the rules between knobs (:func:`joint_problems`),
which :func:`check_config` applies to a config and the params schema to the ``train`` section.
This module imports the standard library alone, so that reading params imports no torch.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

Model = Literal["small_cnn", "resnet18"]
Loss = Literal["cross_entropy", "gce"]
Device = Literal["auto", "cpu", "cuda"]

MODELS: tuple[str, ...] = get_args(Model)
LOSSES: tuple[str, ...] = get_args(Loss)
"""Names of the training losses (``train.loss``; ``retrain.robust`` lists the robust ones)."""
DEVICES: tuple[str, ...] = get_args(Device)

_BOUNDS = {
    "ge": (operator.ge, ">="),
    "gt": (operator.gt, ">"),
    "le": (operator.le, "<="),
    "lt": (operator.lt, "<"),
}


def knob(default: Any, **bounds: float) -> Any:
    """A :class:`TrainConfig` field: its default and its bounds (``ge``, ``gt``, ``le``,
    ``lt``), which :func:`config_problems` and the params schema both enforce."""
    unknown = sorted(set(bounds) - set(_BOUNDS))
    if unknown:
        raise ValueError(f"unknown bounds {unknown}; valid: {sorted(_BOUNDS)}")
    return field(default=default, metadata=bounds)


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


def knobs() -> dict[str, tuple[Any, Any, dict[str, float]]]:
    """Every knob of :class:`TrainConfig` as ``name -> (type, default, bounds)``."""
    hints = get_type_hints(TrainConfig)
    return {f.name: (hints[f.name], f.default, dict(f.metadata)) for f in fields(TrainConfig)}


def config_problems(config: TrainConfig) -> list[str]:
    """Every knob of ``config`` out of its range or choices, and every rule between knobs it
    breaks (:func:`joint_problems`), one message each (empty if none)."""
    problems = []
    for name, (kind, _, bounds) in knobs().items():
        value = getattr(config, name)
        if bounds and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"config.{name} must be a number, got {value!r}")
            continue
        if get_origin(kind) is Literal and value not in get_args(kind):
            valid = ", ".join(get_args(kind))
            problems.append(f"config.{name}: unknown {value!r}; valid: {valid}")
        for key, bound in bounds.items():
            holds, sign = _BOUNDS[key]
            if not holds(value, bound):
                problems.append(f"config.{name} must be {sign} {bound}, got {value!r}")
    # The rules between knobs assume each knob is valid alone (a number, in its bounds).
    return problems or joint_problems(config, section="config")


def joint_problems(values: Any, *, section: str) -> list[str]:
    """Every rule between knobs that ``values`` breaks, one message each (empty if none).

    Parameters
    ----------
    values
        Anything with the knobs as attributes, each within its own bounds: a
        :class:`TrainConfig` or the ``train`` params section.
    section
        What the messages call it (``"config"``, ``"train"``).
    """
    problems = []
    if values.warmup_epochs > values.epochs:
        problems.append(
            f"{section}.warmup_epochs must be <= {section}.epochs ({values.epochs}), "
            f"got {values.warmup_epochs}"
        )
    return problems


def check_config(config: TrainConfig) -> None:
    """Raise ``ValueError`` naming every knob of ``config`` out of its range or choices, and
    every rule between knobs it breaks."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    problems = config_problems(config)
    if problems:
        raise ValueError("; ".join(problems))
