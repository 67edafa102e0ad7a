"""Experiments at DVC speed, with real `dvc exp run`s of a shrunk tiny profile in a fresh git
repository: every stage comes from the run cache, and the README's sweep block, run as written,
queues a sweep of the flag criterion that trains no scoring model. Stages that ran are counted
from DVC's own output."""

import csv
import itertools
import re
import subprocess
from pathlib import Path

import pytest
from projects import dvc_project

from labelnoise.params import read_yaml
from labelnoise.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Seconds per stage at most: the point is which stages run, not what they compute.
SHRINK = {
    "data": {"image_size": 8, "n_train": 80, "n_val_per_class": 4, "n_test": 40},
    "noise": {"rates": [0.2]},
    "train": {"epochs": 1},
    "clean": {"trained": ["aum"]},
    "retrain": {"methods": ["oracle", "consensus"], "relabel": [], "second": [], "robust": []},
    "regress": {"bootstrap": 100},
}


def _run(args: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def readme_sweep_block() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- sweep-commands.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert found, "README.md lost its sweep-commands block"
    return found.group(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    project = tmp_path_factory.mktemp("sweep")
    params = apply_profile(read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "profiles/tiny.yaml"))
    env = dvc_project(project, apply_profile(params, SHRINK))
    env.pop("OMP_NUM_THREADS")  # the README's sweep sets it for its queue workers
    return project, env


def test_a_b_a_runs_nothing_the_second_time(project):
    project, env = project
    first = _ran(_run(["dvc", "exp", "run"], project, env))
    assert {"generate", "corrupt", "train", "fit@aum", "clean", "retrain@oracle"} <= first
    assert "retrain@consensus" in first
    changed = _ran(_run(["dvc", "exp", "run", "-S", "train.epochs=2"], project, env))
    assert "train" in changed and "generate" not in changed
    again = _ran(_run(["dvc", "exp", "run", "-S", "train.epochs=1"], project, env))
    assert not again, f"ran again although run before: {sorted(again)}"


def test_readme_sweep_runs_as_written_and_trains_no_model(project):
    project, env = project
    log = project / "sweep.log"
    # Queue workers outlive `dvc queue start` and keep its stdout open: a file, never a pipe.
    with open(log, "w") as out:
        try:
            done = subprocess.run(
                ["bash", "-eu", "-c", readme_sweep_block()],
                cwd=project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=900,
            )
        finally:
            subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=project, env=env, stdout=out)
    output = log.read_text()
    assert done.returncode == 0, output[-4000:]

    # The CSV table is followed by the other commands' output: keep its full-width lines.
    lines = output[output.index("Experiment,State,") :].splitlines()
    table = itertools.takewhile(lambda line: line.count(",") == lines[0].count(","), lines)
    experiments = [row for row in csv.DictReader(table) if row["Experiment"]]
    assert {row["clean.cost_ratio"] for row in experiments} == {"1.0", "1.5", "3.0"}
    assert len(lines[0].split(",")) <= 60
    status = _run(["dvc", "queue", "status"], project, env)
    tasks = dict(re.findall(r"^([0-9a-f]{7})\s+(\S+)\s+.*Success", status, re.M))
    assert len(tasks) == 3, status
    queued = [row for row in experiments if row["Experiment"] in tasks.values()]
    assert len(queued) == 3, experiments
    for row in queued:
        assert row["State"] == "Success", row
        float(row["accuracy.none"])  # a number, not DVC's "!" (missing)
        float(row["accuracy.consensus"])
    for task in tasks:
        ran = _ran(_run(["dvc", "queue", "logs", task], project, env))
        trained = {s for s in ran if s == "train" or s.startswith("fit@")}
        assert not trained, f"a sweep of the flag criterion trained {sorted(trained)}"
        # Only the arms of flagged methods are retrained: the oracle's flags are the truth, so its
        # arm stays cached.
        arms = {stage for stage in ran if stage.startswith(("retrain@", "relabel@", "second@"))}
        assert arms <= {"retrain@consensus"}, sorted(arms)
    names = _run(["dvc", "exp", "ls", "--name-only"], project, env).split()
    page = (project / "sweep" / "plots_diff" / "index.html").read_text()
    assert all(name in page for name in names[:2]), names
