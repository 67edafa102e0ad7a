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
    assert validate(raw).data.path == "images"  # the folder in the repository, by default
    raw["data"].update(source="folder", path="")
    with pytest.raises(ValueError, match="data.path: String should have at least 1 character"):
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
    with pytest.raises(ValueError, match=r"retrain.methods: \['none', 'magic'\]"):
        validate(raw)


def test_relabel_and_robust_arms_are_checked():
    raw = _default()
    raw["retrain"].update(relabel=["oracle", "magic"], robust=["gce", "mae"], confidence=1.5)
    with pytest.raises(ValueError) as err:
        validate(raw)
    message = str(err.value)
    assert "2 invalid parameter(s)" in message
    assert "retrain.robust.1: Input should be 'gce'" in message
    assert "retrain.confidence: Input should be less than or equal to 1" in message
    raw["retrain"].update(robust=["gce"], confidence=0.5)
    with pytest.raises(ValueError, match=r"retrain.relabel: \['magic'\] are not cleaned"):
        validate(raw)
    raw["retrain"].update(relabel=["oracle", "oracle"])
    with pytest.raises(ValueError, match=r"arms must be distinct, got \['oracle', 'oracle'\]"):
        validate(raw)


def test_arms_are_the_dropping_relabelling_and_robust_ones():
    raw = _default()
    raw["retrain"].update(
        methods=["oracle", "cleanlab"], relabel=["cleanlab"], second=["cleanlab"], robust=["gce"]
    )
    raw["results"]["method"] = "cleanlab"  # the cleaned model is a drop arm
    assert validate(raw).retrain.arms == [
        "oracle", "cleanlab", "cleanlab_relabel", "cleanlab_second", "gce"
    ]  # fmt: skip
    raw["retrain"]["second"] = ["consensus"]  # no drop arm of the consensus to build on
    with pytest.raises(ValueError, match=r"retrain.second: \['consensus'\] build on the drop arm"):
        validate(raw)
    raw["retrain"]["second"] = []


def test_consensus_members_must_be_cleaned():
    raw = _default()
    raw["clean"]["methods"].remove("knn")
    assert "knn" not in raw["retrain"]["methods"]
    assert "knn" in raw["clean"]["consensus"]["members"]
    with pytest.raises(
        ValueError, match=r"clean.consensus.members: \['knn'\] are not cleaning methods"
    ):
        validate(raw)
    raw = _default()
    raw["clean"]["consensus"]["members"] = []
    with pytest.raises(ValueError, match="clean.consensus.members: must name at least one method"):
        validate(raw)
    del raw["clean"]["consensus"]["members"]
    with pytest.raises(ValueError, match="clean.consensus.members: must name at least one method"):
        validate(raw)
    # Without consensus in clean.methods, no members are needed.
    raw["clean"]["methods"].remove("consensus")
    raw["retrain"]["methods"].remove("consensus")
    raw["retrain"]["relabel"].remove("consensus")
    raw["retrain"]["second"].remove("consensus")
    params = validate(raw)
    assert "consensus" not in params.clean.cleaned and params.results.method == "cleanlab"


def test_model_training_method_in_clean_methods_is_refused():
    raw = _default()
    raw["clean"]["trained"].remove("aum")
    raw["clean"]["methods"].append("aum")
    with pytest.raises(
        ValueError,
        match=r"clean.methods: \['aum'\] train models of their own: list them in clean.trained",
    ):
        validate(raw)


def test_light_method_in_clean_trained_is_refused():
    raw = _default()
    raw["clean"]["methods"].remove("hardness")
    raw["clean"]["trained"].append("hardness")
    with pytest.raises(
        ValueError,
        match=r"clean.trained: \[.hardness.\] train no model of their own: list them in clean.m",
    ):
        validate(raw)


def test_cleaned_is_methods_then_trained():
    params = validate(_default())
    assert params.clean.cleaned == [*params.clean.methods, *params.clean.trained]
    assert set(params.clean.trained) == {"data_params", "aum"}


def test_report_and_results_rates_must_be_of_the_grid():
    raw = _default()
    raw["report"]["rate"] = 0.15
    raw["results"]["rate"] = 0.25
    with pytest.raises(ValueError, match=r"report.rate: 0.15 is not one of the rates"):
        validate(raw)
    raw["report"]["rate"] = None
    with pytest.raises(ValueError, match=r"results.rate: 0.25 is not one of the rates"):
        validate(raw)
    raw["results"]["rate"] = None
    params = validate(raw)
    assert params.report.rate == params.results.rate == 0.2


def test_own_images_make_a_grid_of_the_given_labels(tmp_path):
    raw = _default()
    raw["data"].update(source="folder", path=str(tmp_path))
    params = validate(raw)
    assert params.rates == [0.0] and params.report.rate == params.results.rate == 0.0
    raw["report"]["rate"] = 0.2  # a rate of the synthetic grid is refused before any work
    with pytest.raises(ValueError, match=r"report.rate: 0.2 is not one of the rates \[0.0\]"):
        validate(raw)
    raw["report"]["rate"] = None
    raw["noise"]["inject_own"] = True  # benchmark the methods on your data
    params = validate(raw)
    assert params.rates == raw["noise"]["rates"] and params.report.rate == 0.2


def test_results_method_must_be_a_cleaning_method():
    raw = _default()
    raw["results"]["method"] = "oracle"
    with pytest.raises(ValueError, match=r"results.method: 'oracle' is not a cleaning method"):
        validate(raw)
    raw["results"]["method"] = None
    raw["clean"]["methods"] = ["none", "oracle", "cleanlab"]
    raw["retrain"].update(methods=["cleanlab"], relabel=[], second=[])
    assert validate(raw).results.method == "cleanlab"


def test_results_method_must_have_a_drop_arm_to_deploy():
    raw = _default()
    raw["results"]["method"] = "knn"  # cleaned, but not retrained
    message = r"results.method: 'knn' has no drop arm, .* list it in retrain.methods \['oracle'"
    with pytest.raises(ValueError, match=message):
        validate(raw)
    raw["retrain"]["methods"].append("knn")
    assert validate(raw).results.method == "knn"
    raw["results"]["method"] = None  # resolved to the consensus, which must be retrained too
    raw["retrain"].update(methods=["oracle", "cleanlab"], relabel=[], second=[])
    with pytest.raises(ValueError, match=r"results.method: 'consensus' has no drop arm"):
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


def test_a_rate_has_one_spelling():
    raw = _default()
    raw["noise"]["rates"] = [0, 0.1, 0.2]
    assert validate(raw).noise.rates == [0.0, 0.1, 0.2]
    raw["noise"]["rates"] = [0, 0.0]
    with pytest.raises(ValueError, match=r"rates must be distinct, got \[0.0, 0.0\]"):
        validate(raw)


def test_cross_field_problems_are_reported_at_once_with_their_key_paths():
    raw = _default()
    raw["clean"]["trained"] = ["tvnet", "hardness"]
    raw["clean"]["consensus"]["members"] = ["cleanlab", "oracle"]
    raw["retrain"]["methods"] = ["magic"]
    raw["report"]["rate"] = 0.15
    raw["results"]["rate"] = 0.25
    raw["regress"]["reference"] = "gce_relabel"
    raw["report"]["methods"] = ["cleanlab", "nope"]
    with pytest.raises(ValueError) as err:
        validate(raw, source="params.yaml")
    message = str(err.value)
    assert message.startswith("params.yaml: 10 invalid parameter(s):")
    for key in (
        "clean.trained: ['hardness'] train no model",
        "retrain.second: ['consensus'] build on the drop arm's model",
        "clean.methods: ['hardness'] listed in both",
        "clean.consensus.members: ['oracle']",
        "retrain.methods: ['magic']",
        "results.method: 'consensus' has no drop arm",
        "report.rate: 0.15",
        "results.rate: 0.25",
        "regress.reference: 'gce_relabel'",
        "report.methods: ['nope']",
    ):
        assert f"\n  {key}" in message, key


def test_every_method_block_is_typed_by_its_method():
    raw = _default()
    raw["clean"]["tvnet"]["episods"] = 5
    raw["clean"]["data_params"]["frac"] = "most"
    raw["clean"]["mistakenness"]["threshold"] = "half"
    with pytest.raises(ValueError) as err:
        validate(raw)
    message = str(err.value)
    assert "clean.tvnet.episods: unknown key" in message
    assert "clean.data_params.frac" in message and "clean.mistakenness.threshold" in message
    params = validate(_default())
    assert params.clean.settings("tvnet")["episodes"] == 100
    assert params.clean.settings("aum")["threshold_frac"] is None  # run's default
