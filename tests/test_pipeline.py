"""End to end: `dvc repro` of the tiny profile in a fresh git repository (`conftest.py`)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

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
    retrain = json.loads((project / "metrics" / "retrain" / "oracle" / "0.2.json").read_text())
    assert retrain["n_kept"] == retrain["n_removed"] * 4
    assert retrain["n_wrong_kept"] == retrain["n_relabeled"] == 0
    # The relabel oracle trains on every true label; the robust arm on every noisy one.
    fixed = json.loads((project / "metrics/retrain/oracle_relabel/0.2.json").read_text())
    assert fixed["n_removed"] == fixed["n_wrong_kept"] == 0
    assert fixed["n_relabeled"] == retrain["n_removed"] and fixed["method"] == "oracle_relabel"
    robust = json.loads((project / "metrics/retrain/gce/0.2.json").read_text())
    assert robust["n_removed"] == robust["n_relabeled"] == 0
    assert robust["n_wrong_kept"] == retrain["n_removed"]
    relabel = json.loads((project / "metrics/retrain/consensus_relabel/0.2.json").read_text())
    assert relabel["n_relabeled"] > 0 and relabel["n_wrong_kept"] < robust["n_wrong_kept"]


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


def test_results_hold_every_issue_type_and_the_report_their_counts(tiny_project):
    import pandas as pd

    from labelnoise.issues import ISSUE_TYPES

    project, _ = tiny_project
    results = project / "results"
    table = pd.read_csv(results / "issues.csv")
    summary = pd.read_csv(results / "issue_summary.csv")
    leaks = pd.read_csv(results / "leaks.csv")
    assert len(table) == len(pd.read_csv(results / "label_issues.csv"))
    assert list(summary["issue_type"]) == list(ISSUE_TYPES)
    counts = summary.set_index("issue_type")["num_issues"]
    for kind in ISSUE_TYPES[:-1]:
        assert counts[kind] == table[f"is_{kind}_issue"].sum(), kind
    assert counts["leak"] == len(leaks)
    html = (project / "report" / "index.html").read_text()
    for kind, count in counts.items():  # each row: type, found by, meaning, count, score
        row = rf'<tr><td class="text" data-value="{kind}">{kind}</td>(?:<td[^>]*>[^<]*</td>){{2}}'
        assert re.search(rf'{row}<td data-value="[^"]*">{count}</td>', html), kind


def test_the_cleaned_model_is_the_consensus_drop_arm_at_the_results_rate(tiny_project):
    from labelnoise.data import load_dataset
    from labelnoise.predict import load_cleaned_model
    from labelnoise.train import predict_proba

    project, _ = tiny_project
    model, card = load_cleaned_model(project / "models" / "cleaned")
    assert (card["trained_on"]["method"], card["trained_on"]["rate"]) == ("consensus", 0.2)
    record = json.loads((project / "metrics/retrain/consensus/0.2.json").read_text())
    assert card["test"]["accuracy"] == record["accuracy"]
    images, labels, _ = load_dataset(project / "data" / "dataset").split("test")
    predicted = predict_proba(model, images).argmax(axis=1)
    assert int((predicted == labels).sum()) == record["n_correct"]


def _would_run(project: Path, env: dict, pattern: str, replacement: str) -> set[str]:
    """The stages ``dvc repro --dry`` would run with ``pattern`` replaced once in params.yaml."""
    params = project / "params.yaml"
    original = params.read_text()
    changed = re.sub(pattern, replacement, original, count=1)
    assert changed != original, pattern
    params.write_text(changed)
    try:
        dry = _run(["dvc", "repro", "--dry"], project, env)
    finally:
        params.write_text(original)
    return {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}


def test_choosing_another_results_method_repackages_without_training(tiny_project):
    ran = _would_run(*tiny_project, r"(\nresults:\n(?:  .*\n)*?  method:)[^\n]*", r"\1 cleanlab")
    assert "model" in ran
    assert not {name for name in ran if name.split("@")[0] in {"train", "fit", "retrain"}}, ran


def test_changing_epochs_reruns_training_onwards_only(tiny_project):
    ran = _would_run(*tiny_project, r"\n  epochs: 4\b", "\n  epochs: 5")
    assert not ran & {"generate", "corrupt"}, ran
    assert {"train", "fit@aum", "retrain@oracle", "relabel@oracle", "robust@gce"} <= ran


def test_stale_files_of_another_grid_are_ignored(tiny_project, tmp_path):
    """A default-shaped run leaves files of rates and methods the tiny grid does not have; the
    regression, the summary and every plot cover the tiny grid only, and `dvc plots show`
    renders every plot without an error."""
    source, env = tiny_project
    project = tmp_path / "project"
    shutil.copytree(source, project, symlinks=True)
    metrics = project / "metrics"
    stale = {
        metrics / "baseline" / "0.4.json": metrics / "baseline" / "0.2.json",
        metrics / "retrain" / "tvnet" / "0.2.json": metrics / "retrain" / "oracle" / "0.2.json",
        metrics / "retrain" / "oracle" / "0.4.json": metrics / "retrain" / "oracle" / "0.2.json",
        metrics / "detect" / "0.4-aum.json": metrics / "detect" / "0.2-aum.json",
    }
    for target, origin in stale.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(origin.read_text().replace('"rate": 0.2', '"rate": 0.4'))
    out = _run(["dvc", "repro"], project, {**env, "SNAPSHOTS_OFF": "1"})
    assert "Running stage 'regress'" in out, out
    accuracy = (project / "plots" / "accuracy.csv").read_text().splitlines()
    rates = {line.split(",")[0] for line in accuracy[1:]}
    methods = {line.split(",")[1] for line in accuracy[1:]}
    assert rates == {"0.0", "0.2"}
    assert methods == {
        *("none", "oracle", "random", "cleanlab", "consensus"),
        *("oracle_relabel", "consensus_relabel", "consensus_second", "gce"),
    }
    regression = json.loads((metrics / "regression.json").read_text())
    assert "tvnet" not in regression["accuracy"]["methods"]
    summary = json.loads((metrics / "summary.json").read_text())
    assert summary["rate"] == 0.2 and set(summary["accuracy"]) == methods
    shown = json.loads(_run(["dvc", "plots", "show", "--json"], project, env))
    assert not shown.get("errors"), shown["errors"]
    assert "plots/accuracy.csv" in shown["data"] and "plots/pr.csv" in shown["data"]
