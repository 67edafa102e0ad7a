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
    raw["clean"]["methods"].remove("mistakenness")
    raw["retrain"]["methods"].remove("mistakenness")
    assert "mistakenness" in raw["clean"]["consensus"]["members"]
    with pytest.raises(
        ValueError, match=r"clean.consensus.members \['mistakenness'\] are not cleaned"
    ):
        validate(raw)
    raw = _default()
    raw["clean"]["consensus"]["members"] = []
    with pytest.raises(ValueError, match="clean.consensus.members must be a non-empty list"):
        validate(raw)
    del raw["clean"]["consensus"]["members"]
    with pytest.raises(ValueError, match="clean.consensus.members must be a non-empty list"):
        validate(raw)
    # Without consensus in clean.methods, no members are needed.
    raw["clean"]["methods"].remove("consensus")
    raw["retrain"]["methods"].remove("consensus")
    raw["results"]["method"] = "cleanlab"
    assert "consensus" not in validate(raw).clean.cleaned


def test_model_training_method_in_clean_methods_is_refused():
    raw = _default()
    raw["clean"]["trained"].remove("tvnet")
    raw["clean"]["methods"].append("tvnet")
    with pytest.raises(
        ValueError, match=r"clean.methods \['tvnet'\] train models of their own.*clean.trained"
    ):
        validate(raw)


def test_light_method_in_clean_trained_is_refused():
    raw = _default()
    raw["clean"]["methods"].remove("hardness")
    raw["clean"]["trained"].append("hardness")
    with pytest.raises(
        ValueError, match=r"clean.trained \['hardness'\] train no model of their own"
    ):
        validate(raw)


def test_cleaned_is_methods_then_trained():
    params = validate(_default())
    assert params.clean.cleaned == [*params.clean.methods, *params.clean.trained]
    assert set(params.clean.trained) == {"tvnet", "data_params", "aum"}


def test_report_rate_must_be_one_of_the_rates():
    raw = _default()
    raw["report"]["rate"] = 0.15
    with pytest.raises(ValueError, match=r"report.rate 0.15 is not one of noise.rates"):
        validate(raw)


def test_report_rate_defaults_to_largest_rate_up_to_a_fifth():
    raw = _default()
    del raw["report"]["rate"]
    raw["noise"]["rates"] = [0.0, 0.05, 0.1, 0.3]
    assert validate(raw).report.rate == 0.1


def test_report_is_typed():
    raw = _default()
    raw["report"]["top_k"] = "eight"
    with pytest.raises(ValueError, match="report.top_k"):
        validate(raw)
    raw = _default()
    raw["report"]["colour"] = "blue"
    with pytest.raises(ValueError, match="report.colour: unknown key"):
        validate(raw)


def test_rates_must_be_written_as_floats():
    raw = _default()
    raw["noise"]["rates"] = [0, 0.1, 0.2]
    with pytest.raises(ValueError, match=r"noise.rates: write every rate as a float.*\[0\]"):
        validate(raw)
    raw["noise"]["rates"] = [0.0, 0.1, 0.2]
    assert validate(raw).noise.rates == [0.0, 0.1, 0.2]
