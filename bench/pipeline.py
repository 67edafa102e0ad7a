"""Wall time of a whole `dvc repro` on a fresh clone, per stage and per stage kind.

Clones this repository (at ``--rev``, default HEAD) into a temporary folder, applies a profile
if one is named, and runs ``dvc repro`` with this project's virtual environment (installs
excluded), timing each stage from DVC's own "Running stage" lines as they stream: a stage's
time runs from its line to the next one (or the end), so DVC's bookkeeping after a stage counts
with that stage. Prints a markdown table (kind, count, mean and total seconds) and the total.

Run it with nothing else on the machine. To compare two commits back to back:

    python bench/pipeline.py --rev <before> && python bench/pipeline.py --rev HEAD

``--overlay FILE`` applies a profile kept outside ``profiles/``: ``bench/settings/`` holds the
settings of earlier measurements, so today's code can run at them.

Stage names given as arguments reproduce only those and what they need (a slice of the grid).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_repro(
    clone: Path, env: dict, targets: list[str]
) -> tuple[list[tuple[str, float]], float]:
    """Run ``dvc repro [targets]`` in ``clone``; return ``[(stage, seconds)]`` and the total."""
    start = time.monotonic()
    process = subprocess.Popen(
        ["dvc", "repro", *targets], cwd=clone, env=env, text=True, bufsize=1,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stages: list[tuple[str, float]] = []
    current, since = None, start
    for line in process.stdout:
        found = re.match(r"Running stage '([^']+)'", line)
        if found:
            now = time.monotonic()
            if current is not None:
                stages.append((current, now - since))
            current, since = found.group(1), now
            print(f"{now - start:7.1f} s  {current}", flush=True)
        elif line.startswith(("ERROR", "error")):
            print(line, end="", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"dvc repro failed in {clone} (exit {process.returncode})")
    end = time.monotonic()
    if current is not None:
        stages.append((current, end - since))
    return stages, end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rev", default="HEAD", help="commit to clone and run")
    parser.add_argument("--profile", help="a profiles/<name>.yaml to apply first")
    parser.add_argument(
        "--overlay", type=Path, help="a profile file from anywhere (e.g. bench/settings/) instead"
    )
    parser.add_argument("--keep", type=Path, help="clone into this new folder and keep it")
    parser.add_argument(
        "targets", nargs="*", help="stages to reproduce (with what they need); default: all"
    )
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as work:
        clone = args.keep or Path(work) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", args.rev], cwd=clone, check=True)
        env["PYTHONPATH"] = str(clone)  # the clone's own package, not the installed one
        profile = args.profile
        if args.overlay:
            profile = args.overlay.stem
            (clone / "profiles" / f"{profile}.yaml").write_text(args.overlay.read_text())
        if profile:
            subprocess.run(
                [sys.executable, "-m", "labelnoise.profiles", profile],
                cwd=clone, env=env, check=True,
            )  # fmt: skip
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
        ).stdout.strip()
        stages, total = timed_repro(clone, env, args.targets)
    kinds: dict[str, list[float]] = defaultdict(list)
    for name, seconds in stages:
        kinds[name.split("@")[0]].append(seconds)
    print(f"\n`dvc repro` of {rev} ({profile or 'params.yaml'}), {os.cpu_count()} CPU cores:\n")
    print("| stage kind | count | wall time each (mean, s) | total (s) |")
    print("|---|---|---|---|")
    for kind, times in kinds.items():
        print(f"| {kind} | {len(times)} | {sum(times) / len(times):.1f} | {sum(times):.0f} |")
    print(f"| **all** | {len(stages)} | | **{total:.0f}** ({total / 60:.1f} min) |")


if __name__ == "__main__":
    main()
