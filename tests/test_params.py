from pathlib import Path

import pytest

from labelnoise.params import read_yaml, validate
from labelnoise.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "path", sorted([ROOT / "params.yaml", *(ROOT / "profiles").glob("*.yaml")])
)
def test_shipped_params_files_are_valid(path):
    raw = read_yaml(ROOT / "params.yaml")
    if path.parent.name == "profiles":  # an overlay on params.yaml
        raw = apply_profile(raw, read_yaml(path), source=str(path))
    params = validate(raw, source=str(path))
    assert params.noise.rates


def _default() -> dict:
    return read_yaml(ROOT / "params.yaml")


def test_every_problem_is_reported_at_once_with_its_key_path():
    raw = _default()
    raw["data"]["task"] = "medium"
    raw["noise"]["rates"] = [0.1, 1.5]
    raw["train"]["lr"] = -1.0
    raw["train"]["colour"] = "blue"
    with pytest.raises(ValueError) as err:
        validate(raw, source="params.yaml")
    message = str(err.value)
    assert "4 invalid" in message
    for key in ("data.task", "noise.rates", "train.lr", "train.colour: unknown key"):
        assert key in message


def test_unknown_method_lists_valid_ones():
    raw = _default()
    raw["clean"]["methods"] = ["cleanlab", "magic"]
    with pytest.raises(ValueError, match=r"unknown methods \['magic'\]; valid: .*cleanlab"):
        validate(raw)


def test_folder_source_needs_a_path():
    raw = _default()
    raw["data"]["source"] = "folder"
    with pytest.raises(ValueError, match="data.path is required"):
        validate(raw)


def test_yaml_1_2_floats_and_unreadable_files(tmp_path):
    (tmp_path / "p.yaml").write_text("a: 1e-3\n")
    assert read_yaml(tmp_path / "p.yaml") == {"a": 0.001}
    with pytest.raises(ValueError, match="nope.yaml: file not found"):
        read_yaml(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        read_yaml(tmp_path / "bad.yaml")


def test_retrain_methods_must_be_cleaned_first():
    raw = _default()
    raw["retrain"]["methods"] = ["cleanlab", "none", "magic"]
    with pytest.raises(ValueError, match=r"retrain.methods \['none', 'magic'\]"):
        validate(raw)


def test_consensus_members_must_be_cleaned():
    raw = _default()
    raw["clean"]["methods"] = ["cleanlab", "oracle"]
    with pytest.raises(ValueError, match="consensus stage needs"):
        validate(raw)
    raw["clean"]["methods"] = [*_default()["clean"]["methods"], "consensus"]
    with pytest.raises(ValueError, match="stage of its own"):
        validate(raw)
