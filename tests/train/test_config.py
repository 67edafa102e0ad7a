"""Each training knob is defined once, in TrainConfig: the train params section is built from it
and both refuse the same values."""

import subprocess
import sys
from pathlib import Path

import pytest

from labelnoise.params import LAUNCH_KNOBS, TrainParams
from labelnoise.train.config import TrainConfig, check_config, config_problems, knobs

ROOT = Path(__file__).resolve().parents[2]


def test_the_train_section_is_the_config_knobs_and_the_launch_knobs():
    assert set(TrainParams.model_fields) == set(knobs()) | LAUNCH_KNOBS
    assert not set(knobs()) & LAUNCH_KNOBS
    defaults = TrainParams().model_dump(exclude=LAUNCH_KNOBS)
    assert TrainConfig(**defaults) == TrainConfig()


@pytest.mark.parametrize(
    ("knob", "value", "message"),
    [
        ("width", 0, "config.width must be >= 1, got 0"),
        ("lr", 0.0, "config.lr must be > 0.0, got 0.0"),
        ("momentum", 1.0, "config.momentum must be < 1.0, got 1.0"),
        ("gce_q", 1.5, "config.gce_q must be <= 1.0, got 1.5"),
        ("loss", "focal", "config.loss: unknown 'focal'; valid: cross_entropy, gce"),
        ("epochs", "ten", "config.epochs must be a number, got 'ten'"),
    ],
)
def test_config_and_params_refuse_the_same_values(knob, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_config(TrainConfig(**{knob: value}))
    with pytest.raises(ValueError, match=knob):
        TrainParams(**{knob: value})


def test_every_problem_of_a_config_is_listed():
    problems = config_problems(TrainConfig(width=0, depth=0, model="vgg"))
    assert len(problems) == 3
    assert config_problems(TrainConfig(epochs=2, warmup_epochs=3.0)) == [
        "config.warmup_epochs must be <= config.epochs (2), got 3.0"
    ]
    # The rule is written once (joint_problems) and read by the params schema too.
    with pytest.raises(
        ValueError, match=r"train.warmup_epochs must be <= train.epochs \(2\), got 3.0"
    ):
        TrainParams(epochs=2, warmup_epochs=3.0)


def test_the_knobs_import_no_torch():
    code = (
        "import sys; import labelnoise.train.config; import labelnoise.params; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
