"""Profiles are overlays on params.yaml: merged key by key, misspelt keys refused, and the same
params whether written by `python -m labelnoise.profiles` or applied by `dvc exp run -S`."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from labelnoise.params import read_yaml, validate
from labelnoise.profiles import apply_profile, profile_path, set_args

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("tiny", "gpu")


def _base() -> dict:
    return read_yaml(ROOT / "params.yaml")


def _overlay(name: str) -> dict:
    return read_yaml(ROOT / "profiles" / f"{name}.yaml")


def test_mappings_merge_key_by_key_and_lists_replace_whole():
    base = {"a": 1, "b": {"c": [1, 2, 3], "d": {"e": "x", "f": None}, "g": 2.0}, "h": [0.1]}
    overlay = {"b": {"c": [9], "d": {"f": "y"}}, "h": []}
    before = copy.deepcopy((base, overlay))

    merged = apply_profile(base, overlay)

    assert merged == {"a": 1, "b": {"c": [9], "d": {"e": "x", "f": "y"}, "g": 2.0}, "h": []}
    assert (base, overlay) == before  # inputs untouched
    merged["b"]["c"].append(10)
    assert overlay["b"]["c"] == [9]  # and not shared


def test_every_unknown_key_path_is_named_at_once():
    base = {"train": {"epochs": 4, "lr": 0.1}, "clean": {"tvnet": {"episodes": 10}}, "seed": 0}
    overlay = {
        "train": {"epoch": 5, "lr": 0.2},
        "clean": {"tvnet": {"episods": 3}, "aum": {"passes": 2}},
        "seed": {"value": 1},  # a mapping where the base has a scalar
    }
    with pytest.raises(ValueError) as err:
        apply_profile(base, overlay, source="profiles/x.yaml")
    assert str(err.value) == (
        "profiles/x.yaml: unknown keys train.epoch, clean.tvnet.episods, clean.aum, seed.value"
    )
    with pytest.raises(ValueError, match=r"^profile: unknown key train\.epoch$"):
        apply_profile(base, {"train": {"epoch": 5}})


@pytest.mark.parametrize("name", PROFILES)
def test_shipped_profiles_are_short_overlays_that_validate(name):
    path = profile_path(name, root=ROOT)
    lines = path.read_text().splitlines()
    assert len(lines) <= 30, f"{path}: {len(lines)} lines"
    assert lines[0].startswith("# ")
    overlay = read_yaml(path)
    merged = apply_profile(_base(), overlay, source=str(path))
    validate(merged, source=str(path))
    assert merged != _base()


def test_profile_path_lists_the_available_profiles():
    assert profile_path("tiny", root=ROOT) == ROOT / "profiles" / "tiny.yaml"
    for name in ("nope", "../params", ""):
        with pytest.raises(ValueError, match=r"available: ci, gpu, research, tiny"):
            profile_path(name, root=ROOT)


def _set(target: dict, dotted: str, value: object) -> None:
    *parents, key = dotted.split(".")
    for part in parents:
        target = target[part]
    assert key in target, dotted
    target[key] = value


@pytest.mark.parametrize(
    "overlay",
    [
        _overlay("tiny"),
        _overlay("gpu"),
        {
            "seed": 3,
            "data": {"path": "my images/a,b.csv", "task": "fine", "workers": 2},
            "noise": {"matrix": [[0.9, 0.1], [0.1, 0.9]], "kind": "matrix"},
            "train": {"lr": 1e-5, "weights": None, "hflip": False, "device": "cpu"},
            "clean": {"methods": ["none", "null", "true", "it's"], "none": {}},
            "results": {"method": "1e3"},
        },
    ],
    ids=["tiny", "gpu", "awkward"],
)
def test_set_args_apply_the_same_params_as_apply_profile(overlay):
    args = set_args(overlay)
    assert args[::2] == ["-S"] * (len(args) // 2)
    yaml = YAML(typ="safe", pure=True)
    params = _base()
    for pair in args[1::2]:
        dotted, _, text = pair.partition("=")
        _set(params, dotted, yaml.load(text))
    assert params == apply_profile(_base(), overlay)


@pytest.mark.parametrize("name", PROFILES)
def test_set_args_parse_in_dvc_as_in_yaml(name, tmp_path):
    """DVC reads -S values with Hydra's override grammar, not YAML: both must agree."""
    hydra = pytest.importorskip("dvc.utils.hydra")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    hydra.apply_overrides(tmp_path / "params.yaml", set_args(_overlay(name))[1::2])
    assert read_yaml(tmp_path / "params.yaml") == apply_profile(_base(), _overlay(name))


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labelnoise.profiles", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_cli_writes_params_yaml_and_prints_set_args(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    original = (tmp_path / "params.yaml").read_text()

    done = _cli(tmp_path, "tiny")  # not a git repository: applied on the file as it is
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "params.yaml").read_text()
    assert read_yaml(tmp_path / "params.yaml") == apply_profile(_base(), _overlay("tiny"))
    assert written.splitlines()[0] == original.splitlines()[0]  # the base's comments stay
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml", "profiles"]

    done = _cli(tmp_path, "gpu", "--set-args")
    assert done.returncode == 0, done.stderr
    # One line that `dvc exp run $(...)` word-splits into exactly the -S arguments.
    assert done.stdout.count("\n") == 1
    assert done.stdout.split() == set_args(_overlay("gpu"))


def test_cli_refuses_an_unknown_profile_or_key_with_exit_2(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "typo.yaml").write_text("train:\n  epoch: 3\n")
    before = (tmp_path / "params.yaml").read_text()

    done = _cli(tmp_path, "nope")
    assert done.returncode == 2
    assert "no profile 'nope'" in done.stderr and "available: typo" in done.stderr

    for args in (["typo"], ["typo", "--set-args"]):
        done = _cli(tmp_path, *args)
        assert done.returncode == 2
        assert done.stderr.strip() == "profiles/typo.yaml: unknown key train.epoch"
        assert done.stdout == ""
    assert (tmp_path / "params.yaml").read_text() == before
