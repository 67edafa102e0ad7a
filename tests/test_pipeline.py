"""End to end: `dvc repro` of the tiny profile in a fresh git repository (`conftest.py`)."""

import json
import subprocess

import pytest

pytestmark = pytest.mark.slow


def _run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


@pytest.fixture(scope="module")
def tiny_project(tiny_repro):
    project, env, _ = tiny_repro
    return project, env


def test_repro_writes_every_declared_metric(tiny_project):
    project, _ = tiny_project
    baseline = sorted((project / "metrics" / "baseline").glob("*.json"))
    assert [p.stem for p in baseline] == ["0.0", "0.2"]
    for path in baseline:
        assert 0.0 <= json.loads(path.read_text())["accuracy"] <= 1.0
    detect = json.loads((project / "metrics" / "detect" / "0.2-cleanlab.json").read_text())
    assert detect["n_flipped"] > 0 and detect["auroc"] is not None
    retrain = json.loads((project / "metrics" / "retrain" / "0.2-oracle.json").read_text())
    assert retrain["n_kept"] == retrain["n_removed"] * 4


def test_second_repro_is_up_to_date(tiny_project):
    project, env = tiny_project
    out = _run(["dvc", "status"], project, env)
    assert "up to date" in out, out


def test_report_and_regression_come_out(tiny_project):
    project, _ = tiny_project
    regression = json.loads((project / "metrics" / "regression.json").read_text())
    assert "slope_ci" in regression["accuracy"]["methods"]["none"]
    html = (project / "report" / "index.html").read_text()
    assert 'id="gallery"' in html and "http://" not in html


def test_changing_epochs_reruns_training_onwards_only(tiny_project):
    project, env = tiny_project
    params = project / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("  epochs: 4\n", "  epochs: 5\n"))
    try:
        dry = _run(["dvc", "repro", "--dry"], project, env)
    finally:
        params.write_text(original)
    ran = {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}
    assert not any(name == "generate" or name.startswith("corrupt@") for name in ran), ran
    assert {"train@0.0", "train@0.2", "clean@0.2-aum", "retrain@0.2-oracle"} <= ran
