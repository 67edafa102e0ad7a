"""bench/gpu_check.py at toy size on the CPU, with none of the pipeline's dependencies that a bare
GPU machine lacks: the GPU check cannot rot between GPU runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What the GPU machine does not have; None in sys.modules makes `import name` fail, in this
# process and (through PYTHONPATH) in the pytest it starts.
BLOCK = """
import sys
for name in ("dvc", "dvclive", "cleanlab", "pydantic", "ruamel", "vl_convert", "playwright"):
    sys.modules[name] = None
"""


def test_quick_cpu_run_passes_every_part_without_the_pipeline_dependencies(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK)
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "bench/gpu_check.py", str(out), "--device", "cpu", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((out / "gpu_check.json").read_text())
    assert set(record["parts"]) == {
        "tests", "trainer", "folds", "tvnet", "cell", "agreement", "compile"
    }  # fmt: skip
    statuses = {name: part["status"] for name, part in record["parts"].items()}
    assert statuses == {**dict.fromkeys(statuses, "ok"), "compile": "skipped"}
    assert record["checks"] and all(check["ok"] for check in record["checks"])
    assert record["parts"]["cell"]["detection"]["oracle"]["f1"] == 1.0
    assert "| tvnet | batched equals the reference | ok |" in (out / "gpu_check.md").read_text()


def test_a_failed_check_fails_the_run(tmp_path):
    # The folds part checks stacked against separate fold models; a negative tolerance cannot
    # hold, so the run must exit 1 and say which check failed.
    script = (
        "import runpy, sys; sys.argv = ['gpu_check.py', sys.argv[1], '--device', 'cpu', "
        "'--quick', '--parts', 'folds'];"
        "g = runpy.run_path('bench/gpu_check.py', run_name='gpu_check');"
        "g['part_folds'].__globals__['FOLD_ACCURACY_TOLERANCE'] = -1.0;"
        "sys.exit(g['main']())"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    record = json.loads((out / "gpu_check.json").read_text())
    assert record["failed"] is True
    assert [c["ok"] for c in record["checks"]] == [False]
    assert "FAILED" in (out / "gpu_check.md").read_text()
