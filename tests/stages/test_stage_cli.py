"""Stage scripts refuse bad input with one line naming the culprit, exit 2, and write nothing."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from labelnoise import layout
from labelnoise.params import read_yaml
from labelnoise.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[2]
TINY = apply_profile(read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "profiles" / "tiny.yaml"))


def tiny_params(changes: dict) -> dict:
    """The tiny profile's params with ``changes`` (dotted key paths) applied."""
    params = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        section = params
        for part in parents:
            section = section[part]
        section[key] = value
    return params


def _write_params(directory: Path, changes: dict) -> None:
    (directory / "reviewed").mkdir(exist_ok=True)  # data.reviewed, empty as in the repository
    with open(directory / "params.yaml", "w") as fh:
        YAML(typ="safe", pure=True).dump(tiny_params(changes), fh)


def _stage(directory: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args],
        cwd=directory,
        capture_output=True,
        text=True,
    )


def _assert_refused(done: subprocess.CompletedProcess, pattern: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), done.stderr
    assert pattern in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dataset")
    _write_params(directory, {})
    done = _stage(directory, "generate.py", "--out", "ds", "--figure", "alterations.png")
    assert done.returncode == 0, done.stderr
    return directory / "ds"


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"data.task": "medium"}, "data.task"),
        ({"data.source": "web"}, "data.source"),
        ({"data.base": "folder", "data.base_path": "no/such/folder"}, "no/such/folder"),
        ({"data.image_size": 4}, "data.image_size"),
        ({"data.area": [0.5, 0.2]}, "data.area"),
        ({"noise.kind": "adversarial"}, "noise.kind"),
        ({"noise.rates": [0.0, 1.0]}, "noise.rates"),
        ({"train.model": "vgg"}, "train.model"),
        ({"train.device": "tpu"}, "train.device"),
        ({"clean.methods": ["cleanlab", "magic"]}, "magic"),
        # Typos in the sections of later stages are refused as early:
        ({"clean.tvnet.episods": 5}, "clean.tvnet.episods: unknown key"),
        ({"clean.aum.passes": "two"}, "clean.aum.passes"),
        ({"clean.cleanlab.count": "trusted"}, "clean.cleanlab.count: unknown key"),
        ({"clean.count": "some"}, "clean.count"),
        ({"clean.cost_ratio": 0}, "clean.cost_ratio"),
        ({"clean.flag_own": ["tvnet2"]}, "clean.flag_own"),
        ({"results.rate": 0.25}, "results.rate: 0.25 is not one of the rates [0.0, 0.2]"),
        ({"report.top_k": "eight"}, "report.top_k"),
        ({"regress.bootstrap": "many"}, "regress.bootstrap"),
        # and so are the cross-field rules:
        ({"report.rate": 0.1}, "report.rate: 0.1 is not one of the rates"),
        ({"clean.consensus.members": ["cleanlab", "oracle"]}, "clean.consensus.members"),
        ({"clean.trained": []}, "clean.trained: must name at least one"),
        ({"retrain.methods": ["hardness", "none"]}, "retrain.methods: ['none']"),
        ({"regress.reference": "gce_relabel"}, "regress.reference"),
        ({"results.method": "random"}, "results.method: 'random'"),
        ({"report.tsne_method": "tvnet2"}, "report.tsne_method"),
        ({"noise.kind": "within_coarse"}, "noise.kind: within_coarse"),
    ],
)
def test_generate_refuses_bad_params_before_any_work(tmp_path, changes, pattern):
    _write_params(tmp_path, changes)
    done = _stage(tmp_path, "generate.py", "--out", "ds", "--figure", "fig.png")
    _assert_refused(done, pattern)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "fig.png").exists()


def test_generate_refuses_an_empty_base_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    _write_params(tmp_path, {"data.base": "folder", "data.base_path": str(tmp_path / "photos")})
    done = _stage(tmp_path, "generate.py", "--out", "ds", "--figure", "fig.png")
    _assert_refused(done, "photos")
    assert not (tmp_path / "ds").exists()


def test_generate_refuses_an_unreadable_base_image(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    _write_params(tmp_path, {"data.base": "folder", "data.base_path": str(photos)})
    done = _stage(tmp_path, "generate.py", "--out", "ds", "--figure", "fig.png")
    _assert_refused(done, "broken.jpg")


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"noise.rates": [0.2, 1.5]}, "noise.rates"),
        ({"noise.rates": [0, 0.0]}, "rates must be distinct, got [0.0, 0.0]"),
        ({"noise.kind": "within_coarse"}, "within_coarse"),
        (
            {"noise.kind": "matrix", "noise.matrix": [[0.5, 0.2, 0.2, 0.2]] * 4},
            "rows must sum to 1",
        ),
    ],
)
def test_corrupt_refuses_bad_noise(tmp_path, tiny_dataset, changes, pattern):
    _write_params(tmp_path, changes)
    done = _stage(tmp_path, "corrupt.py", "--dataset", str(tiny_dataset), "--out", "n")
    _assert_refused(done, pattern)
    assert not (tmp_path / "n").exists()


def test_corrupt_writes_exact_flips_at_every_rate(tmp_path, tiny_dataset):
    import json

    import pandas as pd

    _write_params(tmp_path, {"noise.rates": [0.0, 0.25, 0.1], "report.rate": 0.25})
    done = _stage(tmp_path, "corrupt.py", "--dataset", str(tiny_dataset), "--out", "n")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["0.0", "0.1", "0.25"]
    for rate in (0.0, 0.25, 0.1):
        labels = pd.read_csv(layout.noisy_labels(tmp_path / "n", rate))
        assert labels["flipped"].sum() == round(rate * len(labels)), rate
        assert (labels["flipped"] == (labels["given"] != labels["true"])).all()
        matrix = json.loads(layout.noise_matrix(tmp_path / "n", rate).read_text())
        assert matrix["rate"] == rate
        assert matrix["n_flipped"] == labels["flipped"].sum()
        assert matrix["n_train"] == len(labels)


def test_a_finished_stage_ends_with_its_wall_time_on_stderr(tmp_path, tiny_dataset):
    _write_params(tmp_path, {})
    done = _stage(tmp_path, "corrupt.py", "--dataset", str(tiny_dataset), "--out", "n")
    assert done.returncode == 0, done.stderr
    last = done.stderr.splitlines()[-1]
    assert re.fullmatch(r"stage done in (\d+\.\d s|\d+ min \d\d s)", last), done.stderr
    assert "stage done" not in done.stdout
    refused = _stage(tmp_path, "corrupt.py", "--dataset", "absent", "--out", "m")
    assert refused.returncode == 2 and "stage done" not in refused.stderr


def _train_args(dataset: Path, noisy: Path, out: str) -> list[str]:
    return [
        "--dataset", str(dataset), "--noisy", str(noisy),
        "--out", f"{out}/arrays", "--metrics", f"{out}/metrics",
        "--confusion", f"{out}/confusion", "--live", f"{out}/live",
        "--checkpoints", f"{out}/checkpoints",
    ]  # fmt: skip


def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path, tiny_dataset):
    import json
    import signal
    import time

    _write_params(tmp_path, {"train.epochs": 6, "noise.rates": [0.25], "report.rate": 0.25})
    done = _stage(tmp_path, "corrupt.py", "--dataset", str(tiny_dataset), "--out", "n")
    assert done.returncode == 0, done.stderr
    noisy = tmp_path / "n"

    whole = _stage(tmp_path, "train.py", *_train_args(tiny_dataset, noisy, "whole"))
    assert whole.returncode == 0, whole.stderr

    checkpoint = tmp_path / "cut" / "checkpoints" / "0.25" / "full.pt"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "stages" / "train.py"),
            *_train_args(tiny_dataset, noisy, "cut"),
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("training finished before the signal arrived")
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert not (tmp_path / "cut" / "metrics").exists()

    resumed = _stage(tmp_path, "train.py", *_train_args(tiny_dataset, noisy, "cut"))
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads((tmp_path / "whole" / "metrics" / "0.25.json").read_text())
    second = json.loads((tmp_path / "cut" / "metrics" / "0.25.json").read_text())
    assert first == second
