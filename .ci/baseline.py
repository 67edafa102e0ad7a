"""Make CI's baseline: what `.ci/compare.py` compares every CI run of the `ci` profile with.

Runs the `ci` profile twice at its seed in fresh clones of this repository (commit first: a
clone holds committed files only) and checks that the two runs agree to the bit: CI's tolerance
(``TOLERANCE``: 0.02 of accuracy, 0.03 of F1, 0.02 of AUROC) is then the resolution of the
comparison, not room for noise, and a regression of 2 points of accuracy or 0.05 of F1 fails CI.
The first run becomes the baseline: its ``dvc.lock`` (the data stages' hashes, compared
exactly), ``metrics/summary.json`` and plot tables; ``tolerance.json`` records the tolerance, the
two runs' largest difference and, with ``--seeds``, the seed-to-seed spread of other seeds (what
another CPU type may move the numbers by, which is why a baseline belongs to one machine type).

Usage: python .ci/baseline.py [--seeds 1 2]   (about 3 minutes per run on 2 cores)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"accuracy": ("accuracy.csv", "accuracy"), "f1": ("detection_f1.csv", "f1")}
KINDS["auroc"] = ("detection_auroc.csv", "auroc")
BASELINE_FILES = ("dvc.lock", "params.yaml", "metrics/summary.json", "plots/**/*.csv")
PROFILE = "ci"
TOLERANCE = {"accuracy": 0.02, "f1": 0.03, "auroc": 0.02}


def run_profile(seed: int | None, work: Path, name: str) -> Path:
    """The `ci` profile (at ``seed``, or its own) in a fresh clone; returns its ``plots/``."""
    clone = work / name
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(clone)
    subprocess.run(["python", "-m", "labelnoise.profiles", PROFILE], cwd=clone, env=env, check=True)
    if seed is not None:
        params = clone / "params.yaml"
        params.write_text(re.sub(r"(?m)^seed: \d+", f"seed: {seed}", params.read_text(), count=1))
    subprocess.run(["dvc", "repro", "-q"], cwd=clone, env=env, check=True)
    return clone / "plots"


def largest_difference(runs: list[Path]) -> dict[str, float]:
    """Per kind, the largest spread (max − min) over ``runs`` of any rate and method."""
    spreads = {}
    for kind, (name, column) in KINDS.items():
        tables = [pd.read_csv(plots / name).set_index(["rate", "method"])[column] for plots in runs]
        joined = pd.concat(tables, axis=1).dropna()
        spreads[kind] = float((joined.max(axis=1) - joined.min(axis=1)).max())
    return spreads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="other seeds to run")
    parser.add_argument("--out", type=Path, default=ROOT / ".ci" / "baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        first, again = (run_profile(None, Path(work), name) for name in ("first", "again"))
        repeat = largest_difference([first, again])
        differ = {k: v for k, v in repeat.items() if v != 0.0}
        if differ:
            raise SystemExit(f"two runs of one commit differ, not to the bit: {differ}")
        seeds = [run_profile(s, Path(work), f"seed{s}") for s in args.seeds]
        record = {
            "profile": PROFILE,
            "tolerance": TOLERANCE,
            "repeat_difference": repeat,
            "seed_spread": largest_difference([first, *seeds]) if seeds else None,
            "seeds": args.seeds,
        }
        if args.out.exists():
            shutil.rmtree(args.out)
        for pattern in BASELINE_FILES:
            for path in first.parent.glob(pattern):
                target = args.out / path.relative_to(first.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    (args.out / "tolerance.json").write_text(json.dumps(record, indent=2) + "\n")
    json.dump(record, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
