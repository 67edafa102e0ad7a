"""File-tree snapshots around every stage command of a `dvc repro`, to see what each stage writes.

Run as a script, this file records one snapshot: ``python snapshots.py ROOT FILE``.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

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


def wrap_and_repro(project: Path, stages: dict, params: dict, log: Path) -> dict:
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
        ["cp", "-r", str(Path(__file__).resolve().parents[1] / ".dvc" / "plots"), ".dvc/plots"],
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


if __name__ == "__main__":
    # A copy of the wrapped project re-run by another test must not overwrite these snapshots.
    if not os.environ.get("SNAPSHOTS_OFF"):
        Path(sys.argv[2]).write_text(json.dumps(snapshot(Path(sys.argv[1]))))
