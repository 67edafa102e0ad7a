"""Data-parallel training under torchrun learns what one process learns."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ddp_worker
import numpy as np
import pytest
import torch
from ruamel.yaml import YAML

from labelnoise import layout
from labelnoise.clean import CleanResult, save_result
from labelnoise.params import read_yaml
from labelnoise.profiles import apply_profile
from labelnoise.train import build_model
from labelnoise.train.distributed import process_group, synced_batch_norm, torchrun_command

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@pytest.fixture
def restore_threads():
    """The worker's config sets torch's thread count in this process too."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_two_gloo_processes_learn_what_one_learns(tmp_path, restore_threads):
    out = tmp_path / "ddp.npz"
    command = torchrun_command(
        str(HERE / "ddp_worker.py"), [str(out)], nproc_per_node=2, cuda=False
    )
    # One thread per process: two processes share the two cores of a small machine. The
    # timeout only keeps a hung collective from hanging the test session.
    done = subprocess.run(
        command,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    parallel = np.load(out)
    single = ddp_worker.run()
    # Both runs see the same global batches, batch norm normalises over the whole global batch
    # and the gradient is that of the whole batch's mean, so they differ by float rounding only:
    # each process sums its half, then the halves are added (measured: ~1e-6 after 28 steps).
    # 1e-4 leaves room for other CPUs and thread counts; a wrong loss scale, per-process batch
    # statistics or diverging shuffles move the probabilities by more than 1e-2.
    np.testing.assert_allclose(parallel["val_proba"], single["val_proba"], atol=1e-4)
    np.testing.assert_allclose(parallel["train_loss"], single["train_loss"], rtol=1e-4)
    # The stacked fold models are shared out whole between the processes.
    np.testing.assert_array_equal(parallel["folds"], single["folds"])
    np.testing.assert_allclose(parallel["oos"], single["oos"], atol=1e-4)
    np.testing.assert_allclose(parallel["oos"].sum(1), 1.0, atol=1e-5)


def test_synced_batch_norm_leaves_the_model_as_it_was():
    model = build_model("small_cnn", n_classes=3, width=8, depth=2, image_size=16)
    before = [type(m) for m in model.modules()]
    with synced_batch_norm(model):
        assert any(type(m).__name__ == "GlobalBatchNorm2d" for m in model.modules())
        model.eval()
        x = torch.rand(4, 3, 16, 16) * 255
        inside = model(x)  # eval mode needs no process group
    assert [type(m) for m in model.modules()] == before
    torch.testing.assert_close(model(x), inside)


def test_process_group_needs_a_torchrun_worker(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with pytest.raises(ValueError, match="torchrun"), process_group(cuda=False):
        pass


def test_torchrun_command():
    command = torchrun_command("stages/train.py", ["--rate", "0.1"], nproc_per_node=3, cuda=False)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in command and "--nproc-per-node=3" in command
    assert command[-3:] == ["stages/train.py", "--rate", "0.1"]
    with pytest.raises(ValueError, match="nproc_per_node"):
        torchrun_command("x.py", [], nproc_per_node=0, cuda=False)
    too_many = torch.cuda.device_count() + 1
    with pytest.raises(ValueError, match="GPU"):
        torchrun_command("x.py", [], nproc_per_node=too_many, cuda=True)


@pytest.mark.slow
def test_train_and_retrain_stages_run_themselves_under_torchrun(tmp_path):
    params = apply_profile(
        read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "profiles" / "tiny.yaml")
    )
    params["data"]["n_train"] = 200
    params["noise"]["rates"] = [0.2]
    params["clean"].update(methods=["oracle"], trained=["aum"])
    # aum, the results method, has a drop arm in the params; only the oracle's runs here.
    params["retrain"].update(methods=["oracle", "aum"], relabel=[], second=[], robust=[])
    params["train"].update(
        {
            "distributed": True,
            "nproc_per_node": 2,
            "device": "cpu",
            "epochs": 2,
            "stack_folds": True,
        }
    )
    with open(tmp_path / "params.yaml", "w") as fh:
        YAML(typ="safe", pure=True).dump(params, fh)

    def stage(script: str, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(ROOT / "stages" / script), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return done

    stage("generate.py", "--out", "ds", "--figure", "fig.png")
    stage("corrupt.py", "--dataset", "ds", "--out", "noisy")
    done = stage(
        "train.py", "--dataset", "ds", "--noisy", "noisy", "--out", "train",
        "--metrics", "baseline", "--confusion", "out/confusion", "--live", "out/live",
        "--checkpoints", "out/checkpoints",
    )  # fmt: skip
    assert "data-parallel on 2 processes (gloo)" in done.stdout
    assert done.stdout.count("test accuracy") == 1  # one process reports and writes
    assert json.loads(layout.rate_record(tmp_path / "baseline", 0.2).read_text())["rate"] == 0.2
    oos = np.load(layout.oos_probs(tmp_path / "train", 0.2))
    np.testing.assert_allclose(oos.sum(1), 1.0, atol=1e-5)
    checkpoint = torch.load(tmp_path / "out/checkpoints/0.2/full.pt", weights_only=True)
    assert checkpoint["epoch"] == 2
    leftovers = [p.name for d in ("out", "train", "baseline") for p in (tmp_path / d).rglob(".*")]
    assert leftovers == []

    # aum's fit stage trains in one process; the clean stage only reads its result.
    n = len(oos)
    fit = layout.result_file(tmp_path / "fit", 0.2, "aum")
    save_result(CleanResult(np.linspace(0, 1, n), np.zeros(n, bool), 0.0), fit)
    stage(
        "clean.py", "--dataset", "ds", "--noisy", "noisy", "--train", "train", "--fit", "fit",
        "--out", "clean", "--metrics", "detect", "--pr", "pr",
    )  # fmt: skip
    retrain = [
        "retrain.py", "--method", "oracle", "--dataset", "ds", "--noisy", "noisy",
        "--flags", "clean/oracle", "--baseline", "baseline",
    ]  # fmt: skip
    done = stage(*retrain, "--out", "ddp", "--checkpoints", "ddp-checkpoints")
    assert done.stdout.count("oracle @ 0.2: kept") == 1  # one process reports and writes
    params["train"]["distributed"] = False
    with open(tmp_path / "params.yaml", "w") as fh:
        YAML(typ="safe", pure=True).dump(params, fh)
    stage(*retrain, "--out", "single", "--checkpoints", "single-checkpoints")
    ddp, single = (json.loads((tmp_path / f / "0.2.json").read_text()) for f in ("ddp", "single"))
    # Probabilities agree to ~1e-6 (see above): at most a test image on a decision boundary
    # may change sides.
    assert abs(ddp["n_correct"] - single["n_correct"]) <= 1
    assert ddp["n_kept"] == single["n_kept"] < 200
