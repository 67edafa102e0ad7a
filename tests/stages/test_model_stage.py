"""The cleaned model as a DVC artifact: the `retrain` stage keeps every drop arm's weights, the
`model` stage packages results.method's at the results rate as ``models/cleaned`` (declared as
the artifact ``cleaned-model``), and what ``labelnoise.predict`` makes of the test images
reproduces the test accuracy the arm recorded."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from ruamel.yaml import YAML
from test_own_images import _image_folder
from test_stage_cli import _stage, _write_params

from labelnoise import layout
from labelnoise.clean import CleanResult, save_result
from labelnoise.data import load_dataset
from labelnoise.io import save_npy, write_json
from labelnoise.predict import load_cleaned_model, predict_folder
from labelnoise.train import build_model
from labelnoise.train_test import save_weights

ROOT = Path(__file__).resolve().parents[2]
# One cheap cleaning method retrained; aum's result (a consensus member elsewhere) is made up.
PARAMS = {
    "noise.rates": [0.2],
    "report.rate": 0.2,
    "clean.methods": ["cleanlab"],
    "clean.trained": ["aum"],
    "retrain.methods": ["cleanlab"],
    "retrain.relabel": [],
    "retrain.second": [],
    "results.method": "cleanlab",
}


def _run(root: Path, script: str, *args: str) -> None:
    done = _stage(root, script, *args)
    assert done.returncode == 0, f"{script}: {done.stderr[-3000:]}"


def _cleaned_project(root: Path, *, folder: bool) -> tuple[Path, str]:
    """Generate (or import a folder of images), corrupt, made-up train-stage arrays and aum
    result, then the clean, retrain (cleanlab's drop arm) and model stages as dvc.yaml runs
    them. Returns the project and the results rate."""
    changes = dict(PARAMS)
    if folder:  # your labels as given: the one rate 0.0
        changes.update({"data.source": "folder", "data.path": str(root / "images")})
        changes["report.rate"] = None
        _image_folder(root / "images")
    _write_params(root, changes)
    rate = 0.0 if folder else 0.2
    _run(root, "generate.py", "--out", "data/dataset", "--figure", "fig.png")
    _run(root, "corrupt.py", "--dataset", "data/dataset", "--out", "data/noisy")
    dataset = load_dataset(root / "data" / "dataset")
    n, n_val = len(dataset.split("train")[1]), len(dataset.split("val")[1])
    rng = np.random.default_rng(0)
    train, c = root / "data" / "train", dataset.n_classes
    save_npy(layout.oos_probs(train, rate), rng.dirichlet(np.ones(c), n).astype(np.float32))
    save_npy(layout.features(train, rate, "train"), rng.normal(size=(n, 8)).astype(np.float32))
    save_npy(layout.features(train, rate, "val"), rng.normal(size=(n_val, 8)).astype(np.float32))
    val_probs = rng.dirichlet(np.ones(c), (2, n_val)).astype(np.float32)
    save_npy(layout.val_probs(train, rate), val_probs)
    flags = rng.random(n) < 0.2
    fit = layout.result_file(root / "data" / "fit", rate, "aum")
    save_result(CleanResult(rng.random(n), flags, float(flags.mean())), fit)
    _run(
        root, "clean.py", "--dataset", "data/dataset", "--noisy", "data/noisy",
        "--train", "data/train", "--fit", "data/fit", "--out", "data/clean",
        "--metrics", "metrics/detect", "--pr", "data/pr",
    )  # fmt: skip
    _run(
        root, "retrain.py", "--arm", "drop", "--method", "cleanlab", "--dataset", "data/dataset",
        "--noisy", "data/noisy", "--flags", "data/clean/cleanlab", "--train", "data/train",
        "--baseline", "metrics/baseline", "--out", "metrics/retrain/cleanlab",
        "--save-probs", "data/first/cleanlab", "--checkpoints", "checkpoints",
    )  # fmt: skip
    _run(*_model_command(root))
    return root, rate


def _model_command(root: Path) -> tuple:
    """The `model` stage's command as dvc.yaml writes it."""
    cmd = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]["model"]["cmd"]
    script, *args = cmd.split()[1:]
    return root, Path(script).name, *args


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return _cleaned_project(tmp_path_factory.mktemp("generated"), folder=False)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    return _cleaned_project(tmp_path_factory.mktemp("imported"), folder=True)


@pytest.mark.parametrize("project", ["generated", "imported"])
def test_the_model_stage_packages_the_drop_arm_that_retrain_kept(project, request):
    root, rate = request.getfixturevalue(project)
    folder = root / "models" / "cleaned"
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.pt"]
    kept = layout.first_weights(root / "data" / "first", rate, "cleanlab")
    assert (folder / "model.pt").read_bytes() == kept.read_bytes()
    card = json.loads((folder / "model.json").read_text())
    record = json.loads(layout.rate_record(root / "metrics/retrain/cleanlab", rate).read_text())
    dataset = load_dataset(root / "data" / "dataset")
    assert card["classes"] == dataset.classes
    assert card["architecture"] == {
        "model": "small_cnn",
        "width": 16,
        "depth": 3,
        "n_classes": 2 if project == "imported" else 4,
    }
    assert card["input"]["image_size"] == 16 and card["input"]["dtype"] == "uint8"
    assert card["input"]["resize"] == ("crop" if project == "imported" else None)
    assert card["test"]["labels"] == ("carved" if project == "imported" else "generated")
    assert card["trained_on"] == {
        "method": "cleanlab", "arm": "drop", "rate": rate, "seed": 0,
        "n_kept": record["n_kept"], "n_removed": record["n_removed"],
        "n_flipped_kept": record["n_flipped_kept"],
    }  # fmt: skip
    assert 0 < record["n_removed"] and card["test"]["accuracy"] == record["accuracy"]


def _test_images_as_files(root: Path, out: Path) -> pd.Series:
    """The generated test split written as lossless PNGs ``<out>/<class>/<id>.png``; their
    true class names by path."""
    dataset = load_dataset(root / "data" / "dataset")
    images, labels, ids = dataset.split("test")
    truth = {}
    for image, label, image_id in zip(images, labels, ids, strict=True):
        path = out / dataset.classes[label] / f"{image_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        truth[str(path)] = dataset.classes[label]
    return pd.Series(truth)


def test_predicting_the_generated_test_images_reproduces_the_recorded_accuracy(generated, tmp_path):
    root, _ = generated
    truth = _test_images_as_files(root, tmp_path / "test")
    table = predict_folder(root / "models" / "cleaned", tmp_path / "test", batch_size=64)
    assert list(table["path"]) == sorted(truth.index)
    card = json.loads((root / "models" / "cleaned" / "model.json").read_text())
    correct = int((table["predicted_label"].to_numpy() == truth[table["path"]].to_numpy()).sum())
    assert (len(table), correct) == (card["test"]["n_test"], card["test"]["n_correct"])


def test_predicting_your_own_folder_reproduces_the_recorded_accuracy_and_reads_only(imported):
    root, _ = imported
    images = root / "images"
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in images.rglob("*.*")}
    table = predict_folder(root / "models" / "cleaned", images).set_index("path")
    assert len(table) == len(before)  # every image, train and carved val and test alike
    dataset = load_dataset(root / "data" / "dataset")
    test = dataset.index[dataset.index["split"] == "test"]
    predicted = table.loc[test["source"], "predicted_label"].to_numpy()
    card = json.loads((root / "models" / "cleaned" / "model.json").read_text())
    assert int((predicted == test["label_name"].to_numpy()).sum()) == card["test"]["n_correct"]
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in images.rglob("*.*")} == before


def test_an_arm_that_is_the_baseline_still_keeps_the_baselines_weights(generated, tmp_path):
    """Where the method flags nothing, retrain reuses the baseline's metrics without training;
    the weights it keeps are then the baseline's own."""
    root, rate = generated
    work = tmp_path / "project"
    shutil.copytree(root, work, ignore=shutil.ignore_patterns("checkpoints"))
    dataset = load_dataset(work / "data" / "dataset")
    n = len(dataset.split("train")[1])
    flags = layout.result_file(work / "data" / "clean", rate, "none")
    save_result(CleanResult(np.zeros(n), np.zeros(n, bool), 0.0), flags)
    baseline = build_model("small_cnn", n_classes=4, width=16, depth=3, image_size=16, seed=7)
    save_weights(layout.baseline_weights(work / "data" / "train", rate), baseline)
    write_json(
        layout.rate_record(work / "metrics" / "baseline", rate), {"rate": 0.2, "accuracy": 0.5}
    )
    _run(
        work, "retrain.py", "--arm", "drop", "--method", "none", "--dataset", "data/dataset",
        "--noisy", "data/noisy", "--flags", "data/clean/none", "--train", "data/train",
        "--baseline", "metrics/baseline", "--out", "metrics/retrain/none",
        "--save-probs", "data/first/none", "--checkpoints", "checkpoints",
    )  # fmt: skip
    assert not (work / "checkpoints").exists()  # nothing trained
    kept = torch.load(
        layout.first_weights(work / "data" / "first", rate, "none"), weights_only=True
    )
    assert kept.keys() == baseline.state_dict().keys()
    assert all(torch.equal(kept[k], v) for k, v in baseline.state_dict().items())


def test_the_model_stage_refuses_a_metrics_file_of_another_arm(generated, tmp_path):
    root, rate = generated
    work = tmp_path / "project"
    shutil.copytree(root, work, ignore=shutil.ignore_patterns("checkpoints", "models"))
    path = layout.rate_record(work / "metrics" / "retrain" / "cleanlab", rate)
    path.write_text(json.dumps({**json.loads(path.read_text()), "method": "oracle"}))
    done = _stage(*_model_command(work))
    assert done.returncode == 2 and f"{path.relative_to(work)}: holds 'oracle'" in done.stderr
    assert not (work / "models").exists()


def test_the_artifact_is_the_model_stages_output_alone():
    dvc_yaml = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())
    artifact = dvc_yaml["artifacts"]["cleaned-model"]
    assert artifact["path"] == "models/cleaned" and artifact["type"] == "model"
    assert artifact["desc"] and artifact["labels"]
    writers = [
        name
        for name, stage in dvc_yaml["stages"].items()
        for out in stage.get("do", stage).get("outs", [])
        if (out if isinstance(out, str) else next(iter(out))) == artifact["path"]
    ]
    assert writers == ["model"]
    params = dvc_yaml["stages"]["model"]["params"]
    assert {"results.method", "results.rate", "report.rate"} <= set(params)


def _git_dvc(project: Path, env: dict, *commands: list[str]) -> None:
    for command in commands:
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_dvc_finds_versions_and_fetches_the_declared_artifact(generated, tmp_path):
    """dvc.yaml's artifacts section as written, on a stand-in for the model stage: DVC parses
    it, resolves a version tag and downloads the folder that loads as the cleaned model."""
    from dvc.api import artifacts_show

    root, _ = generated
    project = tmp_path / "project"
    shutil.copytree(root / "models" / "cleaned", project / "built")
    artifacts = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["artifacts"]
    copy = "import shutil; shutil.copytree('built', 'models/cleaned')"
    stage = {"cmd": f'{sys.executable} -c "{copy}"', "deps": ["built"], "outs": ["models/cleaned"]}
    with open(project / "dvc.yaml", "w") as fh:
        YAML().dump({"stages": {"model": stage}, "artifacts": artifacts}, fh)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "DVC_STUDIO_OFFLINE": "true", "DVC_NO_ANALYTICS": "true"}
    commit = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "model"]
    _git_dvc(
        project, env, ["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"],
        ["git", "add", "-A"], commit, ["git", "tag", "-a", "cleaned-model@v1.0.0", "-m", "v1"],
    )  # fmt: skip
    shown = artifacts_show("cleaned-model", repo=str(project))
    assert shown["path"] == os.path.join("models", "cleaned")
    got = tmp_path / "got"
    _git_dvc(
        tmp_path, env, ["dvc", "artifacts", "get", str(project), "cleaned-model", "-o", str(got)]
    )
    _, card = load_cleaned_model(got)
    assert card == json.loads((root / "models" / "cleaned" / "model.json").read_text())
    assert (got / "model.pt").read_bytes() == (root / "models/cleaned/model.pt").read_bytes()
