"""Seed replicates kept as DVC experiments, pooled by `stages/regress.py --experiments`.

The experiments here come from a one-stage pipeline that writes metric files shifted by the
seed, so that real `dvc exp run`s and git revisions are exercised without training anything.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_regress import N_TEST, _classification, _write

from labelnoise import layout
from labelnoise.metrics import baseline_file, detect_file, retrain_file
from labelnoise.params import load_params
from labelnoise.replicates import export_metrics, find_replicates

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

METRICS_STAGE = """\
stages:
  metrics:
    cmd: python write_metrics.py
    deps: [write_metrics.py, source]
    params: [seed]
    outs:
      - data
      - metrics:
          cache: false
"""

# Each seed loses 3 more test images per file, so pooled fits see replicates that differ.
WRITE_METRICS = """\
import json, shutil
from pathlib import Path
from ruamel.yaml import YAML

seed = YAML(typ="safe").load(Path("params.yaml").read_text())["seed"]
shutil.rmtree("metrics", ignore_errors=True)
shutil.copytree("source", "metrics")
Path("data").mkdir(exist_ok=True)
Path("data/seed.txt").write_text(str(seed))
for path in [*Path("metrics/baseline").glob("*.json"), *Path("metrics/retrain").rglob("*.json")]:
    record = json.loads(path.read_text())
    record["n_correct"] -= 3 * seed
    record["accuracy"] = record["n_correct"] / record["n_test"]
    path.write_text(json.dumps(record))
"""


REGRESS = [sys.executable, str(ROOT / "stages" / "regress.py"), "--experiments"]
# The regress stage's other inputs, written into each toy repo by _stage_inputs.
OUTPUTS = ["--pr-dir", "pr", "--live-dir", "live"]


def _run(args, cwd, env, *, check=True):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done


ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def _source_metrics(source: Path) -> None:
    """Metric files of one run of the default grid: accuracy falling with the rate (slower for
    the cleaned arms), detection scores, in the pipeline's layout."""
    params = load_params(ROOT / "params.yaml")
    rng = np.random.default_rng(0)
    for rate in params.noise.rates:
        record = _classification(rng, rate, int(N_TEST * (0.94 - 0.3 * rate)))
        _write(baseline_file(source, rate), record)
        for k, method in enumerate(params.retrain.arms):
            record = _classification(rng, rate, int(N_TEST * (0.94 - 0.2 * rate + 0.001 * k)))
            record.update(method=method, n_kept=900, n_removed=100, n_flipped_kept=0)
            _write(retrain_file(source, method, rate), record)
        for method in params.clean.cleaned:
            if method == "none":
                continue
            _write(
                detect_file(source, rate, method),
                {
                    "rate": rate, "method": method, "precision": 0.8, "recall": 0.7,
                    "f1": 0.75, "auroc": None if rate == 0 else 0.9, "auprc": 0.6,
                    "n_flagged": 10, "n_flipped": 10, "false_positives": 2,
                    "f1_at_k": 0.8, "flag_ratio": 1.0, "false_positive_rate": 0.01,
                    "true_noise_rate": rate, "trusted_noise_rate": rate,
                    "estimated_noise_rate": rate,
                },
            )  # fmt: skip


def _stage_inputs(repo: Path) -> None:
    """The PR curves and dvclive folders the regress stage draws its plots from."""
    params = load_params(ROOT / "params.yaml")
    for method in params.clean.cleaned:
        path = layout.pr_file(repo / "pr", params.report.rate, method)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"curve": [[0.0, 1.0], [1.0, 0.2]]}))
    for rate in params.noise.rates:
        metrics = layout.live_dir(repo / "live", rate) / "plots" / "metrics"
        for sub, name in (("train", "loss"), ("val", "acc")):
            path = metrics / sub / f"{name}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"timestamp\tstep\t{name}\n1\t0\t0.9\n2\t1\t0.5\n")


def _regress(out: str, summary: str, plots: str) -> list[str]:
    return [*REGRESS, "--out", out, "--summary", summary, "--plots-dir", plots, *OUTPUTS]


def _metrics_project(repo: Path, env: dict) -> None:
    """A committed run of seed 0 of the one-stage metrics pipeline."""
    repo.mkdir(exist_ok=True)
    _source_metrics(repo / "source")
    _stage_inputs(repo)
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    (repo / "dvc.yaml").write_text(METRICS_STAGE)
    (repo / "write_metrics.py").write_text(WRITE_METRICS)
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    _run(["dvc", "config", "core.analytics", "false"], repo, env)
    _run(["dvc", "repro", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run([*GIT, "commit", "-qm", "seed 0"], repo, env)


@pytest.fixture(scope="module")
def replicate_repo(tmp_path_factory):
    repo, env = tmp_path_factory.mktemp("replicates"), ENV
    _metrics_project(repo, env)
    for overrides in (["seed=1"], ["seed=2"], ["seed=0"], ["seed=3", "train.epochs=99"]):
        _run(["dvc", "exp", "run", "-q", *[a for o in overrides for a in ("-S", o)]], repo, env)
    _run(["git", "checkout", "-q", "--", "params.yaml", "metrics"], repo, env)
    return repo, env


def test_replicates_are_the_runs_that_differ_only_in_seed(replicate_repo):
    repo, _ = replicate_repo
    survey = find_replicates(repo)
    assert sorted(r.seed for r in survey.replicates) == [0, 1, 2]
    reasons = "\n".join(survey.left_out)
    assert "seed 0 already taken" in reasons
    assert "other settings (train)" in reasons


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json"))


def test_export_copies_each_replicates_own_metrics(replicate_repo, tmp_path):
    repo, _ = replicate_repo
    replicates = find_replicates(repo).replicates
    roots = export_metrics(replicates, tmp_path, repo=repo)
    source = repo / "source"
    baseline = json.loads(baseline_file(source, 0.2).read_text())
    retrained = json.loads(retrain_file(source, "cleanlab", 0.2).read_text())
    for replicate, root in zip(replicates, roots, strict=True):
        record = json.loads(baseline_file(root, 0.2).read_text())
        assert record["n_correct"] == baseline["n_correct"] - 3 * replicate.seed
        # retrain/<method>/<rate>.json: the sub-folders are kept.
        record = json.loads(retrain_file(root, "cleanlab", 0.2).read_text())
        assert record["n_correct"] == retrained["n_correct"] - 3 * replicate.seed
        for part in ("baseline", "retrain", "detect"):
            assert _files(root / part) == _files(source / part), part
    assert any((roots[0] / "retrain").glob("*/*.json"))


def test_regress_pools_the_seed_sweep(replicate_repo):
    repo, env = replicate_repo
    env = {**env, "PYTHONPATH": str(ROOT)}
    single = [sys.executable, str(ROOT / "stages" / "regress.py"), "--metrics-dir", "metrics"]
    single += ["--out", "one/regression.json", "--summary", "one/summary.json"]
    _run([*single, "--plots-dir", "one/plots", *OUTPUTS], repo, env)
    done = _run(
        _regress("sweep/regression.json", "sweep/summary.json", "sweep/plots"),
        repo,
        env,
    )
    assert "pooling 3 replicate(s)" in done.stdout
    report = json.loads((repo / "sweep" / "regression.json").read_text())
    assert report["n_runs"] == 3 and sorted(report["seeds"]) == [0, 1, 2]
    one = json.loads((repo / "one" / "regression.json").read_text())
    assert one["n_runs"] == 1
    assert report["accuracy"]["glm"]["n_obs"] == 3 * one["accuracy"]["glm"]["n_obs"]
    summary = json.loads((repo / "sweep" / "summary.json").read_text())
    assert summary["n_seeds"] == 3
    assert (repo / "sweep" / "plots" / "accuracy.csv").is_file()


def test_regress_without_replicates_says_how_to_make_them(tmp_path):
    env = ENV
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    _stage_inputs(tmp_path)
    _run(["git", "init", "-q"], tmp_path, env)
    _run(["dvc", "init", "-q"], tmp_path, env)
    done = _run(
        _regress("r.json", "s.json", "p"),
        tmp_path,
        {**env, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 2
    assert "dvc exp run --queue -S 'seed=1,2'" in done.stderr
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "s.json").exists()


QUEUE_AND_PUSH = """
dvc exp run -q --queue -S seed={seed}
dvc queue start -j 1
while dvc queue status | grep -qE 'Queued|Running'; do sleep 1; done
dvc exp push origin
"""


def test_machines_share_a_grid_through_one_remote(tmp_path):
    """Two machines each run their share of the seeds from the queue and push it to one git
    remote and one DVC remote (a directory standing in for S3); a third pulls every experiment,
    pools the replicates, and gets the cached outputs of another machine's run."""
    env = ENV
    origin, storage, hub = tmp_path / "origin.git", tmp_path / "storage", tmp_path / "hub"
    _run(["git", "init", "-q", "--bare", origin], tmp_path, env)
    _metrics_project(hub, env)
    _run(["dvc", "remote", "add", "-d", "storage", storage], hub, env)
    _run([*GIT, "commit", "-qam", "remote"], hub, env)
    _run(["git", "push", "-q", origin, "HEAD:main"], hub, env)
    for machine, seed in (("a", 1), ("b", 2)):
        _run(["git", "clone", "-q", "-b", "main", origin, machine], tmp_path, env)
        with open(tmp_path / f"{machine}.log", "w") as log:  # workers keep stdout open
            subprocess.run(
                ["bash", "-eu", "-c", QUEUE_AND_PUSH.format(seed=seed)],
                cwd=tmp_path / machine,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=600,
            )
    _run(["git", "clone", "-q", "-b", "main", origin, "collector"], tmp_path, env)
    collector = tmp_path / "collector"
    _run(["dvc", "exp", "pull", "origin"], collector, env)
    survey = find_replicates(collector)
    assert sorted(r.seed for r in survey.replicates) == [0, 1, 2], survey
    done = _run(_regress("r.json", "s.json", "p"), collector, env)
    assert "pooling 3 replicate(s)" in done.stdout
    from_b = next(r for r in survey.replicates if r.seed == 2)
    _run(["dvc", "exp", "apply", from_b.name], collector, env)
    assert (collector / "data" / "seed.txt").read_text() == "2"
