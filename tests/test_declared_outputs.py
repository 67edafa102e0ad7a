"""No stage writes outside the outputs that ``dvc.yaml`` declares for it.

``dvc repro`` runs a reduced tiny profile (one rate, the consensus members plus ``none``, one
retrained method, one epoch) in a fresh git repository, as ``test_pipeline.py`` does, with every
stage command wrapped: the file tree (paths, sizes, modification times) is recorded just before
and just after the stage's own command, so DVC's bookkeeping between stages (``.dvc/``,
``dvc.lock``) stays outside the comparison. Every path added, removed or changed in between
must lie in one of the stage's declared outs, metrics or plots; temporary files that a stage
removes again are not seen, as intended. Writes outside the project tree (library caches under
``$HOME``) are not checked.

Run as a script, this file records one snapshot: ``python test_declared_outputs.py ROOT FILE``.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
SKIP = (".git", ".dvc")


def snapshot(root: Path) -> dict[str, list[int]]:
    """``{relative path: [size, mtime_ns]}`` of every file and link under ``root``, outside
    ``.git`` and ``.dvc``."""
    found = {}
    for directory, dirs, files in os.walk(root):
        if directory == str(root):
            dirs[:] = [d for d in dirs if d not in SKIP]
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(directory, d)))]:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = [info.st_size, info.st_mtime_ns]
    return found


def _git_repro_project(project: Path, stages: dict, params: dict, log: Path) -> dict:
    """Write ``dvc.yaml`` with every command wrapped in snapshots into ``log``, commit, repro.

    Returns the environment the commands ran with.
    """
    from ruamel.yaml import YAML

    # Round-trip mode keeps the order of the matrix keys, which DVC's stage names follow.
    yaml = YAML()
    for name, stage in stages.items():
        if "foreach" in stage:
            label, body = f"{name}@${{item}}", stage["do"]
        elif "matrix" in stage:
            label = f"{name}@" + "-".join(f"${{item.{key}}}" for key in stage["matrix"])
            body = stage
        else:
            label, body = name, stage
        record = [sys.executable, str(Path(__file__).resolve()), str(project)]
        before = shlex.join([*record, str(log / f"{label}.before.json")])
        after = shlex.join([*record, str(log / f"{label}.after.json")])
        body["cmd"] = f"{before} && {body['cmd']} && {after}"
    with open(project / "dvc.yaml", "w") as fh:
        yaml.dump({"stages": stages}, fh)
    with open(project / "params.yaml", "w") as fh:
        yaml.dump(params, fh)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "declared"],
        ["dvc", "repro"],
    ):
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return env


def stage_writes(project: Path, log: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Per stage, the paths its command added, removed or changed: inside its declared outputs,
    and outside them.

    Every stage of the project must have left both snapshots in ``log``.
    """
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        declared = {stage.name: [out.def_path for out in stage.outs] for stage in repo.index.stages}
    found = {}
    for name, outs in declared.items():
        before = json.loads((log / f"{name}.before.json").read_text())
        after = json.loads((log / f"{name}.after.json").read_text())
        changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
        inside = [p for p in changed if any(p == o or p.startswith(f"{o}/") for o in outs)]
        found[name] = (inside, [p for p in changed if p not in inside])
    return found


def _reduced_params() -> dict:
    from labelnoise.params import CONSENSUS_MEMBERS, read_yaml

    params = read_yaml(ROOT / "profiles" / "tiny.yaml")
    params["noise"]["rates"] = [0.2]
    params["data"].update(n_train=200, n_val_per_class=10, n_test=80)
    params["train"]["epochs"] = 1
    params["clean"]["methods"] = ["none", *CONSENSUS_MEMBERS]
    params["clean"]["tvnet"].update(episodes=4, train_per_class=30, val_per_class=10)
    params["retrain"]["methods"] = ["cleanlab"]
    params["regress"]["bootstrap"] = 100
    return params


def test_no_stage_writes_outside_its_declared_outputs(tmp_path):
    from ruamel.yaml import YAML

    project, log = tmp_path / "project", tmp_path / "log"
    log.mkdir()
    for name in ("stages", "labelnoise"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    stages = YAML().load((ROOT / "dvc.yaml").read_text())["stages"]
    _git_repro_project(project, stages, _reduced_params(), log)
    writes = stage_writes(project, log)
    assert {"generate", "train@0.2", "clean@0.2-aum", "consensus@0.2", "report"} <= set(writes)
    assert not [name for name, (inside, _) in writes.items() if not inside]
    assert not {name: outside for name, (_, outside) in writes.items() if outside}


def test_a_write_outside_the_declared_outputs_is_caught(tmp_path):
    project, log = tmp_path / "project", tmp_path / "log"
    project.mkdir()
    log.mkdir()
    stages = {
        "tidy": {"cmd": "echo a > out.txt", "outs": ["out.txt"]},
        "sloppy": {
            "cmd": "mkdir -p res && echo b > res/ok.txt && echo c > stray.txt && rm -f gone.txt",
            "outs": ["res"],
        },
    }
    (project / "gone.txt").write_text("an input")
    _git_repro_project(project, stages, {}, log)
    assert stage_writes(project, log) == {
        "tidy": (["out.txt"], []),
        "sloppy": (["res/ok.txt"], ["gone.txt", "stray.txt"]),
    }


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(snapshot(Path(sys.argv[1]))))
