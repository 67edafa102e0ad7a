"""The README's sweep commands, run as written on a tiny profile in a fresh git repository:
`dvc exp run --queue` over a 2×2 grid, DVC's queue workers, `dvc exp show`, `dvc plots diff`."""

import csv
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from labelnoise.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# The tiny profile shrunk further so that four experiments of the whole pipeline, resnet18
# included, fit the test budget on 2 CPU cores. Each stage costs seconds of interpreter
# start-up whatever its size, so the grid is cut to one rate, the consensus members and one
# retrain; 8 px images leave resnet18's four stages 8, 4, 2 and 1 px wide.
SHRINK = {
    "data": {"image_size": 8, "n_train": 80, "n_val_per_class": 4, "n_test": 40},
    "noise": {"rates": [0.2]},
    "train": {"epochs": 1},
    "clean": {
        "methods": ["cleanlab", "mistakenness", "consensus"],
        "tvnet": {"episodes": 8, "train_per_class": 10, "val_per_class": 2},
    },
    "retrain": {"methods": ["consensus"]},
    "regress": {"bootstrap": 200},
}


def _merge(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict):
            _merge(target[key], value)
        else:
            target[key] = value


def readme_sweep_block() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- sweep-commands.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert found, "README.md lost its sweep-commands block"
    return found.group(1)


def test_readme_sweep_runs_as_written(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("stages", "labelnoise"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
    shutil.copytree(ROOT / ".dvc" / "plots", project / "plots-templates")
    yaml = YAML()
    base = yaml.load((ROOT / "params.yaml").read_text())
    params = apply_profile(base, yaml.load((ROOT / "profiles" / "tiny.yaml").read_text()))
    _merge(params, SHRINK)
    with open(project / "params.yaml", "w") as handle:
        yaml.dump(params, handle)
    (project / ".gitignore").write_text("/sweep/\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(project)
    setup = (
        "git init -q && dvc init -q && dvc config core.analytics false && "
        "mv plots-templates .dvc/plots && git add -A && "
        "git -c user.name=t -c user.email=t@t commit -qm tiny"
    )
    subprocess.run(["bash", "-ec", setup], cwd=project, env=env, check=True)
    log = tmp_path / "sweep.log"
    # Queue workers outlive `dvc queue start` and keep its stdout open: a file, never a pipe.
    with open(log, "w") as out:
        try:
            done = subprocess.run(
                ["bash", "-eu", "-c", readme_sweep_block()],
                cwd=project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=1500,
            )
        finally:
            subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=project, env=env, stdout=out)
    output = log.read_text()
    assert done.returncode == 0, output[-4000:]

    # The CSV table is followed by the other commands' output: keep its full-width lines.
    lines = output[output.index("Experiment,State,") :].splitlines()
    table = itertools.takewhile(lambda line: line.count(",") == lines[0].count(","), lines)
    experiments = [row for row in csv.DictReader(table) if row["Experiment"]]
    grid = {(row["train.model"], row["noise.kind"]) for row in experiments}
    assert grid == {(m, k) for m in ("small_cnn", "resnet18") for k in ("symmetric", "pairflip")}
    for row in experiments:
        assert row["State"] == "Success", row
        float(row["accuracy.none"])  # a number, not DVC's "!" (missing)
        float(row["accuracy.consensus"])
    names = subprocess.run(
        ["dvc", "exp", "ls", "--name-only"], cwd=project, env=env, capture_output=True, text=True
    ).stdout.split()
    page = (project / "sweep" / "plots_diff" / "index.html").read_text()
    assert all(name in page for name in names[:2]), names
