"""Each training knob is declared once, in TrainConfig: the train params section is built from it
and both refuse the same values with the same message (labelnoise.knobs), led by the key path
``train.<knob>``."""

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from labelnoise.knobs import knobs, problems
from labelnoise.params import LAUNCH_KNOBS, TrainParams
from labelnoise.train.config import TrainConfig, check_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_train_section_is_the_config_knobs_and_the_launch_knobs():
    assert set(TrainParams.model_fields) == set(knobs(TrainConfig)) | LAUNCH_KNOBS
    assert not set(knobs(TrainConfig)) & LAUNCH_KNOBS
    defaults = TrainParams().model_dump(exclude=LAUNCH_KNOBS)
    assert TrainConfig(**defaults) == TrainConfig()


@pytest.mark.parametrize(
    ("knob", "value", "message"),
    [
        ("width", 0, "train.width must lie in [1, 1024], got 0"),
        ("lr", 0.0, "train.lr must lie in (0, 10], got 0.0"),
        ("momentum", 1.0, "train.momentum must lie in [0, 1), got 1.0"),
        ("gce_q", 1.5, "train.gce_q must lie in (0, 1], got 1.5"),
        ("epochs", 0, "train.epochs must be >= 1, got 0"),
        ("loss", "focal", "train.loss: unknown 'focal'; valid: cross_entropy, gce"),
        ("device", "tpu", "train.device: unknown 'tpu'; valid: auto, cpu, cuda"),
        ("epochs", "ten", "train.epochs must be an integer, got 'ten'"),
        ("lr", "fast", "train.lr must be a number, got 'fast'"),
    ],
)
def test_config_and_params_refuse_the_same_values(knob, value, message):
    with pytest.raises(ValueError) as refused:
        check_config(TrainConfig(**{knob: value}))
    assert str(refused.value) == message
    with pytest.raises(ValueError, match=knob) as schema:
        TrainParams(**{knob: value})
    if not isinstance(value, str):  # a wrong type or an unknown choice is pydantic's to word
        assert message in str(schema.value)


def test_every_problem_of_a_config_is_listed():
    config = TrainConfig(width=0, depth=0, model="vgg")
    assert len(problems(TrainConfig, "train", asdict(config))) == 3
    with pytest.raises(ValueError, match="train.model.*; train.width.*; train.depth"):
        check_config(config)


def test_the_rule_between_knobs_is_the_same_for_config_and_params():
    message = "train.warmup_epochs must be <= train.epochs (2), got 3.0"
    with pytest.raises(ValueError) as refused:
        check_config(TrainConfig(epochs=2, warmup_epochs=3.0))
    assert str(refused.value) == message
    # Written once (TrainConfig.joint) and read by the params schema too.
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainParams(epochs=2, warmup_epochs=3.0)
    check_config(TrainConfig(epochs=2, warmup_epochs=2.0))
    TrainParams(epochs=2, warmup_epochs=2.0)


def test_only_a_train_config_is_checked():
    with pytest.raises(ValueError, match="config must be a TrainConfig, got dict"):
        check_config({"epochs": 2})


def test_the_knobs_import_no_torch():
    code = (
        "import sys; import labelnoise.train.config; import labelnoise.params; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
