"""No stage writes outside the outputs that ``dvc.yaml`` declares for it.

The session's tiny-profile ``dvc repro`` (``conftest.py``) runs with every stage command wrapped:
the file tree (paths, sizes, modification times) is recorded just before and just after the
stage's own command, so DVC's bookkeeping between stages (``.dvc/``, ``dvc.lock``) stays outside
the comparison. Every path added, removed or changed in between must lie in one of the stage's
declared outs, metrics or plots; temporary files that a stage removes again are not seen, as
intended. Writes outside the project tree (library caches under ``$HOME``) are not checked, nor
resume state under ``scratch/`` (checkpoints, ignored by git and DVC).
"""

import pytest
from snapshots import stage_writes, wrap_and_repro

pytestmark = pytest.mark.slow


def test_no_stage_writes_outside_its_declared_outputs(tiny_repro):
    project, _, log = tiny_repro
    writes = stage_writes(project, log)
    assert {
        "generate",
        "corrupt",
        "train",
        "fit@aum",
        "clean",
        "retrain@oracle",
        "relabel@consensus",
        "robust@gce",
        "model",
        "results",
        "report",
    } <= set(writes)
    assert not [name for name, (inside, _) in writes.items() if not inside]
    # Resume state (training checkpoints) goes to scratch/, which git and DVC ignore by design.
    stray = {
        name: [p for p in out if not p.startswith("scratch/")] for name, (_, out) in writes.items()
    }
    assert not {name: paths for name, paths in stray.items() if paths}


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
    wrap_and_repro(project, stages, {}, log)
    assert stage_writes(project, log) == {
        "tidy": (["out.txt"], []),
        "sloppy": (["res/ok.txt"], ["gone.txt", "stray.txt"]),
    }
