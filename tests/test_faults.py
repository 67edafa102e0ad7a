"""Interruptions and repeats.

A stage killed outright (SIGKILL: no handler runs, nothing is cleaned up) at any moment leaves
each of its declared outputs as the previous complete version, the new complete version or
absent — never torn — and writes nothing else but its own temporary files beside them. A rerun
then ends byte-identical to a run that was never interrupted and leaves no temporary file
behind. Two fresh runs in separate folders produce the same bytes.

Runs use the tiny profile with ``train.epochs`` lowered to 2 (from 4) so that training fits the
test budget; every other stage runs the tiny profile as it is.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ruamel.yaml import YAML

from labelnoise import layout
from labelnoise.io import atomic_path, write_text
from labelnoise.params import read_yaml
from labelnoise.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
EPOCHS = 2
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Stage:
    """A stage script with its arguments, inputs and declared outputs (paths as in dvc.yaml)."""

    script: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # Written by the stage but outside the byte comparison: resumable training state and the
    # dvclive log, both designed to be continued rather than replaced.
    state: tuple[str, ...] = ()
    # Span of the reference run's duration the kill times are drawn from.
    window: tuple[float, float] = (0.0, 1.0)

    def command(self) -> list[str]:
        """The command line that runs the stage."""
        return [sys.executable, str(ROOT / "stages" / self.script), *self.args]


GENERATE = Stage(
    "generate.py",
    ("--out", "data/dataset", "--figure", "plots/images/alterations.png"),
    inputs=(),
    outputs=("data/dataset", "plots/images/alterations.png"),
)
CORRUPT = Stage(
    "corrupt.py",
    ("--dataset", "data/dataset", "--out", "data/noisy"),  # every rate of noise.rates
    inputs=("data/dataset",),
    outputs=("data/noisy",),
)
TRAIN = Stage(
    "train.py",
    (
        "--dataset", "data/dataset", "--noisy", "data/noisy", "--out", "data/train",
        "--metrics", "metrics/baseline", "--confusion", "plots/confusion", "--live", "data/live",
        "--checkpoints", "scratch/checkpoints/train",
    ),
    inputs=("data/dataset", "data/noisy"),
    outputs=("data/train", "metrics/baseline", "plots/confusion"),
    # data/live is a DVC output too, but a resumed log continues the killed one's.
    state=("scratch/checkpoints/train", "data/live"),
    window=(0.2, 0.8),  # mid-run, after a checkpoint and well before the end
)  # fmt: skip
PIPELINE = (GENERATE, CORRUPT, TRAIN)


def _write_params(directory: Path, *, seed: int) -> None:
    params = apply_profile(
        read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "profiles" / "tiny.yaml")
    )
    params["seed"] = seed
    params["train"]["epochs"] = EPOCHS
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "params.yaml", "w") as fh:
        YAML(typ="safe", pure=True).dump(params, fh)


def _run(stage: Stage, cwd: Path) -> float:
    """Run ``stage`` to completion in ``cwd``; return its wall time in seconds."""
    start = time.monotonic()
    done = subprocess.run(stage.command(), cwd=cwd, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, f"{stage.script}: {done.stderr[-3000:]}"
    return time.monotonic() - start


def _contents(path: Path) -> dict[str, bytes] | None:
    """Every file under ``path`` (or ``path`` itself) by relative name; None when absent."""
    if path.is_file():
        return {"": path.read_bytes()}
    if not path.exists():
        return None
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _is_temporary(relative: str, stage: Stage) -> bool:
    """Whether ``relative`` lies in a temporary file or folder of one of ``stage``'s outputs."""
    parts = Path(relative).parts
    for output in (*stage.outputs, *stage.state):
        out = Path(output)
        depth = len(out.parts) - 1
        if (
            parts[:depth] == out.parts[:-1]
            and len(parts) > depth
            and parts[depth].startswith((f".{out.name}.tmp-", f".{out.name}.old-"))
        ):
            return True
    return False


def _within(relative: str, paths: tuple[str, ...]) -> bool:
    return any(relative == p or relative.startswith(f"{p}/") for p in paths)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Uninterrupted runs: ``a`` and ``b`` with seed 0 in separate folders, ``previous`` with
    seed 1 (an older complete version of every output), and the wall time of each stage in
    ``a``."""
    base = tmp_path_factory.mktemp("runs")
    durations = {}
    for name, seed in (("a", 0), ("b", 0), ("previous", 1)):
        _write_params(base / name, seed=seed)
        for stage in PIPELINE if name != "previous" else (GENERATE, CORRUPT):
            elapsed = _run(stage, base / name)
            if name == "a":
                durations[stage.script] = elapsed
    params = read_yaml(base / "a" / "params.yaml")
    rates = params["noise"]["rates"]
    assert 0.2 in rates and len(rates) > 1, "corrupt must write several rates in one run"
    noisy = base / "a" / "data" / "noisy"
    assert sorted(p.name for p in noisy.iterdir()) == sorted(layout.rate_name(r) for r in rates)
    for rate in rates:
        labels = pd.read_csv(layout.noisy_labels(noisy, rate))
        assert labels["flipped"].sum() == round(rate * len(labels)), rate
    return base, durations


def test_two_fresh_runs_give_identical_bytes(runs):
    base, _ = runs
    for stage in PIPELINE:
        for output in stage.outputs:
            first, second = _contents(base / "a" / output), _contents(base / "b" / output)
            assert first, output
            assert first == second, f"{output} differs between two runs of the same params"
    assert _contents(base / "a" / "data" / "dataset") != _contents(
        base / "previous" / "data" / "dataset"
    ), "another seed must give another dataset, or the fault tests cannot tell versions apart"


def _kill_trial(stage: Stage, runs, tmp_path: Path, trial: int, *, rerun: bool) -> None:
    base, durations = runs
    reference, previous = base / "a", base / "previous"
    rng = np.random.default_rng(trial)
    work = tmp_path / "work"
    _write_params(work, seed=0)
    for name in stage.inputs:
        shutil.copytree(reference / name, work / name)
    # Half of the trials start from an older complete version of every output.
    with_previous = stage is not TRAIN and rng.random() < 0.5
    if with_previous:
        for name in stage.outputs:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            copy_ = shutil.copytree if (previous / name).is_dir() else shutil.copy2
            copy_(previous / name, work / name)
    before = _tree(work)

    # The density of the kill time rises linearly towards the end of the window, as outputs are
    # written late in a run, while every moment of the window stays possible.
    low, high = stage.window
    delay = durations[stage.script] * (low + (high - low) * np.sqrt(rng.random()))
    process = subprocess.Popen(
        stage.command(), cwd=work, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    if process.wait() == 0 and stage is TRAIN:
        pytest.skip("training finished before the kill: nothing to resume")

    for name in stage.inputs:
        assert _contents(work / name) == _contents(reference / name), f"input {name} changed"
    for name in stage.outputs:
        found = _contents(work / name)
        assert found in (None, _contents(reference / name), _contents(previous / name)), (
            f"{name} is torn after a kill at {delay:.2f} s"
        )
    written = _tree(work) - before
    stray = [
        p
        for p in written
        if not _within(p, stage.outputs + stage.state) and not _is_temporary(p, stage)
    ]
    assert not stray, f"written outside the declared outputs: {stray}"

    if rerun:
        _run(stage, work)
        for name in stage.outputs:
            assert _contents(work / name) == _contents(reference / name), name
        left = [p for p in _tree(work) if _is_temporary(p, stage)]
        assert not left, f"temporary files left after the rerun: {left}"


@pytest.mark.parametrize("trial", range(15))
def test_killed_generate_leaves_each_output_whole(runs, tmp_path, trial):
    # A rerun takes a full generation: every fifth trial checks it.
    _kill_trial(GENERATE, runs, tmp_path, trial, rerun=trial % 5 == 0)


@pytest.mark.parametrize("trial", range(35))
def test_killed_corrupt_leaves_each_output_whole_and_reruns_identically(runs, tmp_path, trial):
    _kill_trial(CORRUPT, runs, tmp_path, 100 + trial, rerun=True)


def test_killed_training_resumes_to_identical_outputs(runs, tmp_path):
    # One kill: each trial costs a killed and a resumed training run.
    _kill_trial(TRAIN, runs, tmp_path, 200, rerun=True)


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    target = tmp_path / "out"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    litter = [
        tmp_path / f".out.tmp-{dead_pid}-abc123.tmp",  # a killed writer's directory
        tmp_path / f".out.old-{dead_pid}",  # killed between the two renames of a replace
        tmp_path / f".out.tmp-{os.getppid()}-def456.tmp",  # a live writer's: kept
        tmp_path / ".out.5.tmp-1-x.tmp",  # another output's name: kept
    ]
    for path in litter:
        path.mkdir()
        (path / "half.npy").write_bytes(b"\x93NUMPY")
    with atomic_path(target, directory=True) as tmp:
        (tmp / "whole.txt").write_text("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out", litter[2].name, litter[3].name]
    )


def test_outputs_get_the_permissions_of_any_new_file_or_folder(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain.txt").write_text("x")
    with atomic_path(tmp_path / "atomic", directory=True) as tmp:
        (tmp / "inner.txt").write_text("x")
    write_text(tmp_path / "atomic.txt", "x")
    for plain, atomic in (("plain", "atomic"), ("plain.txt", "atomic.txt")):
        assert (tmp_path / atomic).stat().st_mode == (tmp_path / plain).stat().st_mode
