"""Every stage can come from DVC's run cache: real `dvc exp run`s of a shrunk tiny profile in a
fresh git repository, counting the stages DVC ran from its own output."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from labelnoise.params import read_yaml
from labelnoise.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Seconds per stage at most: the point is which stages run, not what they compute.
SHRINK = {
    "data": {"image_size": 8, "n_train": 80, "n_val_per_class": 4, "n_test": 40},
    "noise": {"rates": [0.0, 0.2]},
    "train": {"epochs": 1},
    "clean": {"tvnet": {"episodes": 4, "train_per_class": 10, "val_per_class": 2}},
    "retrain": {"methods": ["oracle", "cleanlab", "consensus"]},
}
# `results` links your own images into ImageFolder trees; DVC never copies those into its
# cache, so that one stage runs again (a second or two).
NOT_CACHED = {"results"}


def _run(args: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    project = tmp_path_factory.mktemp("runcache")
    for name in ("stages", "labelnoise"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, project / name)
    params = apply_profile(read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "profiles/tiny.yaml"))
    params = apply_profile(params, SHRINK)
    with open(project / "params.yaml", "w") as handle:
        YAML().dump(params, handle)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(project)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    setup = (
        "git init -q && dvc init -q && dvc config core.analytics false && "
        f"cp -r {ROOT / '.dvc' / 'plots'} .dvc/plots && git add -A && "
        "git -c user.name=t -c user.email=t@t commit -qm tiny"
    )
    subprocess.run(["bash", "-ec", setup], cwd=project, env=env, check=True)
    return project, env


def test_a_b_a_runs_nothing_the_second_time(project):
    project, env = project
    first = _ran(_run(["dvc", "exp", "run"], project, env))
    assert {"generate", "corrupt", "train@0.0", "clean", "retrain@oracle", "report"} <= first
    changed = _ran(_run(["dvc", "exp", "run", "-S", "train.epochs=2"], project, env))
    assert "train@0.2" in changed and "generate" not in changed
    again = _ran(_run(["dvc", "exp", "run", "-S", "train.epochs=1"], project, env))
    assert again <= NOT_CACHED, f"ran again although run before: {sorted(again - NOT_CACHED)}"


def test_cleaning_sweep_trains_no_model(project):
    project, env = project
    sweep = ["dvc", "exp", "run", "--queue", "-S", "clean.cleanlab.filter_by=both,prune_by_class"]
    _run(sweep, project, env)
    log = project / "queue.log"
    with open(log, "w") as out:  # queue workers outlive the command: a file, never a pipe
        subprocess.run(["dvc", "queue", "start", "-j", "1"], cwd=project, env=env, stdout=out)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = _run(["dvc", "queue", "status"], project, env)
            if not re.search(r"\b(Queued|Running)\b", status):
                break
            time.sleep(2)
        else:
            subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=project, env=env, stdout=out)
            pytest.fail(f"queue did not finish:\n{status}")
    tasks = re.findall(r"^([0-9a-f]{7})\s+\S+\s+.*Success", status, re.M)
    assert len(tasks) == 2, status
    for task in tasks:
        ran = _ran(_run(["dvc", "queue", "logs", task], project, env))
        trained = {s for s in ran if s.startswith(("train@", "fit@"))}
        assert not trained, f"a cleaning sweep trained {sorted(trained)}"
        # Only cleanlab's own arm and the consensus it votes in are retrained.
        retrained = {s for s in ran if s.startswith("retrain@")}
        assert retrained <= {"retrain@cleanlab", "retrain@consensus"}, retrained
        assert "clean" in ran
