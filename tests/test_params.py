import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

from labelnoise import noise, regress
from labelnoise.config import NoiseConfig, RegressConfig
from labelnoise.data import alter, base_images, figure, generate, importer
from labelnoise.data.config import DataConfig
from labelnoise.knobs import knobs
from labelnoise.params import (
    LAUNCH_KNOBS,
    DataParams,
    NoiseParams,
    RegressParams,
    TrainParams,
    read_yaml,
    schema,
    validate,
)
from labelnoise.profiles import apply_profile
from labelnoise.train.config import TrainConfig

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
    with pytest.raises(ValueError, match=r"data.path must be at least 1 character\(s\) long"):
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
    del raw["clean"]["consensus"]["members"]  # the default: params.yaml's pair
    assert list(validate(raw).clean.settings("consensus")["members"]) == ["cleanlab", "knn"]
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


# ---------------------------------------------------------------------------------------------
# Knobs declared once: the sections are built from the declarations, whose defaults are
# params.yaml's, and so are the library functions' defaults.

SPECS = {
    "data": (DataConfig, DataParams),
    "noise": (NoiseConfig, NoiseParams),
    "regress": (RegressConfig, RegressParams),
    "train": (TrainConfig, TrainParams),
}


@pytest.mark.parametrize("section", SPECS)
def test_a_section_is_its_declaration(section):
    spec, model = SPECS[section]
    declared = knobs(spec)
    launch = LAUNCH_KNOBS if section == "train" else set()  # how trainings are launched
    assert [name for name in model.model_fields if name not in launch] == list(declared)
    for name, knob in declared.items():
        assert model.model_fields[name].get_default(call_default_factory=True) == knob.default


# Defaults of the params models that are not params.yaml's, each for a reason; the test below
# fails once one of them agrees, so that it leaves this list.
DEFAULTS_OTHER_THAN_PARAMS_YAML = {
    # Opt-in lists: a default naming methods would need them cleaned (and retrained) in every
    # params file that leaves the key out.
    "clean.flag_own",
    "retrain.relabel",
    "retrain.second",
    "retrain.robust",
}


def _model_defaults(model: type[BaseModel], raw: dict, path: str = ""):
    """``(key, default, params.yaml's value)`` of every field with a default that params.yaml
    sets, through nested sections."""
    for name, field in model.model_fields.items():
        if name not in raw:
            continue
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _model_defaults(field.annotation, raw[name], f"{path}{name}.")
        elif not field.is_required():
            yield f"{path}{name}", field.get_default(call_default_factory=True), raw[name]


def test_the_params_models_default_to_params_yaml():
    found = list(_model_defaults(schema(), _default()))
    assert len(found) > 100
    differ = {key for key, default, value in found if _plain(default) != value}
    assert differ == DEFAULTS_OTHER_THAN_PARAMS_YAML


# Library parameters that take a knob under another name, and those named like one that are not
# that knob.
ALIASES = {
    "n_boot": "regress.bootstrap",
    "n_grid": "regress.grid",
    "reference": "regress.reference",
    "kind": {"noise": "noise.kind", "data": "data.source"},
}
BASE_ALIASES = {"source": "data.base", "path": "data.base_path", "scale": "data.crop_scale"}
NOT_KNOBS = {
    ("alterations_figure", "image_size"),  # the figure's own, larger than the training size
    ("link_tree", "mode"),  # results.links (test_link_tree_defaults_to_results_links)
    ("import_dataset", "reviewed"),  # the verdicts read from data.reviewed, not their path
}


def _public_callables(module):
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield name, value
        elif inspect.isclass(value) and "__init__" in vars(value):
            yield name, value.__init__


def _knob_key(module, section: str, parameter: str) -> str | None:
    if module is base_images and parameter in BASE_ALIASES:
        return BASE_ALIASES[parameter]
    alias = ALIASES.get(parameter)
    if isinstance(alias, dict):
        return alias.get(section)
    if alias:
        return alias
    if parameter == "seed":
        return "seed"
    return f"{section}.{parameter}"


@pytest.mark.parametrize(
    ("module", "section"),
    [
        # labelnoise.data.store and .reviewed take no data knob.
        *((m, "data") for m in (generate, importer, alter, base_images, figure)),
        (noise, "noise"),
        (regress, "regress"),
    ],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_library_defaults_are_params_yaml_values_or_absent(module, section):
    raw = _default()
    checked = []
    for name, function in _public_callables(module):
        for parameter in inspect.signature(function).parameters.values():
            key = _knob_key(module, section, parameter.name)
            if key is None or (name, parameter.name) in NOT_KNOBS:
                continue
            if parameter.default is parameter.empty:
                continue
            value = _lookup(raw, key)
            if value is not KeyError:
                checked.append(f"{name}.{parameter.name}")
                assert _plain(parameter.default) == value, (name, parameter.name, key)
    assert checked, module


def test_link_tree_defaults_to_results_links():
    mode = inspect.signature(importer.link_tree).parameters["mode"]
    assert mode.default == _default()["results"]["links"]


def _lookup(raw: dict, key: str):
    """params.yaml's value at a dotted key, or ``KeyError`` when it sets none."""
    for part in key.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return KeyError
        raw = raw[part]
    return raw


def _plain(value):
    """Tuples as lists, as YAML has them."""
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


# ---------------------------------------------------------------------------------------------
# The drifts the declarations ended: each value was accepted by the schema and refused by the
# function it reaches.


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # A convex polygon never covers the whole image (labelnoise.data.alter).
        ({"data.area": [0.3, 1.0]}, "data.area: each fraction must lie in (0, 1), got [0.3, 1.0]"),
        ({"data.task": "custom"}, "data.task: 'custom' is for your own images"),
        (
            {"data.n_train": 3},
            "data.n_train must be >= 4 (the classes of data.task 'coarse'), got 3",
        ),
        ({"data.task": "fine", "data.n_test": 13}, "data.n_test must be >= 14"),
        ({"data.base_path": "photos"}, "data.base_path is only used when data.base is 'folder'"),
        (
            {"data.source": "csv", "data.val_fraction": 0.5, "data.test_fraction": 0.5},
            "data.val_fraction + data.test_fraction must be < 1, got 0.5 + 0.5",
        ),
        ({"regress.bootstrap": 99}, "regress.bootstrap must be >= 100, got 99"),
    ],
)
def test_what_the_functions_refuse_the_schema_refuses(changes, message):
    raw = _default()
    for key, value in changes.items():
        section, name = key.split(".")
        raw[section][name] = value
    with pytest.raises(ValueError) as err:
        validate(raw, source="params.yaml")
    assert f"\n  {message}" in str(err.value)


def test_the_train_section_refuses_as_the_trainer_does():
    # One message per knob or rule (labelnoise.knobs), the trainer's own (check_config).
    raw = _default()
    raw["train"].update(lr=0.0, warmup_epochs=16.0)
    with pytest.raises(ValueError) as err:
        validate(raw, source="params.yaml")
    assert "\n  train.lr must lie in (0, 10], got 0.0" in str(err.value)
    raw["train"]["lr"] = 0.05
    with pytest.raises(ValueError) as err:
        validate(raw, source="params.yaml")
    assert "\n  train.warmup_epochs must be <= train.epochs (15), got 16.0" in str(err.value)


def test_the_pipeline_needs_a_val_and_a_test_split():
    # The import takes a fraction of 0 as "carve none"; the pipeline trains on a trusted val
    # split and tests on a test split.
    raw = _default()
    raw["data"].update(val_fraction=0.0, test_fraction=0.0)
    with pytest.raises(ValueError) as err:
        validate(raw)
    assert "data.val_fraction must be > 0 in the pipeline" in str(err.value)
    assert "data.test_fraction must be > 0 in the pipeline" in str(err.value)


def test_a_model_deeper_than_the_images_allow_is_refused_before_any_work():
    raw = _default()
    raw["train"]["depth"] = 6  # small_cnn halves the image in each block: 64 px needed
    with pytest.raises(ValueError, match=r"train.depth: small_cnn of depth 6 needs images of at "
                       r"least 64 px; data.image_size is 32"):  # fmt: skip
        validate(raw)
    raw["data"]["image_size"] = 64
    assert validate(raw).train.depth == 6
