"""CI's comparison sees a regression: `.ci/compare.py` run on a copy of the tiny pipeline's
outputs, once as they are, once after the clean stage ran again unchanged, and once each with a
planted regression — a flag rule that drops a random tenth of every method's flags, and an arm
two points of accuracy worse."""

import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# The clean stage with its one flagging step wrapped: after the rule decides, a random tenth of
# each cleaning method's flags is dropped (the reference arms keep theirs).
PLANTED_CLEAN = """
import runpy, sys
import numpy as np
import labelnoise.clean.flagging as flagging
from labelnoise.clean import CleanResult
rule = flagging.flag
def planted(method, result, ctx, **options):
    flagged = rule(method, result, ctx, **options)
    if method.reference:
        return flagged
    flags = np.asarray(flagged.flags, dtype=bool).copy()
    rows = np.flatnonzero(flags)
    flags[np.random.default_rng(0).choice(rows, size=len(rows) // 10, replace=False)] = False
    return CleanResult(flagged.scores, flags, flagged.noise_rate_estimate, flagged.extras)
flagging.flag = planted
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run_and_baseline(tiny_repro, tmp_path_factory):
    """A copy of the tiny run's outputs, and a baseline made of them as `.ci/baseline.py` makes
    one (its tolerance, its files)."""
    project, env, _ = tiny_repro
    work = tmp_path_factory.mktemp("ci")
    run = work / "run"
    shutil.copytree(project, run, ignore=shutil.ignore_patterns(".git", "cache", "tmp"))
    maker = _module(ROOT / ".ci" / "baseline.py", "ci_baseline")
    baseline = work / "baseline"
    for pattern in maker.BASELINE_FILES:
        for path in run.glob(pattern):
            target = baseline / path.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    (baseline / "tolerance.json").write_text(json.dumps({"tolerance": maker.TOLERANCE}))
    return run, baseline, {**env, "PYTHONPATH": str(run)}


def _stage(run: Path, env: dict, name: str, planted: bool = False) -> None:
    """Run ``name``'s command of the project's dvc.yaml (without its snapshot wrapping)."""
    stages = YAML(typ="safe", pure=True).load((ROOT / "dvc.yaml").read_text())["stages"]
    command = shlex.split(stages[name]["cmd"])
    assert command[:2] == ["python", f"stages/{name}.py"]
    if planted:
        command = [sys.executable, "-c", PLANTED_CLEAN, *command[1:]]
    else:
        command[0] = sys.executable
    done = subprocess.run(command, cwd=run, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_ci_tolerance_resolves_two_points_of_accuracy_and_a_twentieth_of_f1():
    tolerance = _module(ROOT / ".ci" / "baseline.py", "ci_baseline").TOLERANCE
    assert tolerance["accuracy"] <= 0.02 and tolerance["f1"] < 0.05
    committed = json.loads((ROOT / ".ci" / "baseline" / "tolerance.json").read_text())
    assert committed["tolerance"] == tolerance
    assert all(v <= tolerance[k] for k, v in committed["repeat_difference"].items())


def test_compare_passes_a_reproduced_run_and_fails_planted_regressions(run_and_baseline):
    run, baseline, env = run_and_baseline
    compare = _module(ROOT / ".ci" / "compare.py", "ci_compare").compare
    _, data, numbers = compare(run, baseline)
    assert data == [] and numbers == []
    # The clean stage again, unchanged: bit for bit the same numbers.
    _stage(run, env, "clean")
    _stage(run, env, "regress")
    assert compare(run, baseline)[1:] == ([], [])

    _stage(run, env, "clean", planted=True)
    _stage(run, env, "regress")
    _, data, numbers = compare(run, baseline)
    assert data == [] and any(line.startswith("f1 at rate 0.2") for line in numbers), numbers

    _stage(run, env, "clean")  # the regression undone
    record = run / "metrics" / "retrain" / "consensus" / "0.2.json"
    arm = json.loads(record.read_text())
    arm["n_correct"] -= round(0.02 * arm["n_test"]) + 1  # two points (and an image) worse
    arm["accuracy"] = arm["n_correct"] / arm["n_test"]
    record.write_text(json.dumps(arm))
    _stage(run, env, "regress")
    _, _, numbers = compare(run, baseline)
    assert numbers == [line for line in numbers if line.startswith("accuracy at rate 0.2")]
    assert any("consensus:" in line for line in numbers), numbers
