"""Make CI's tiny baseline: what `.ci/compare.py` compares every CI run of the tiny profile with.

Runs the tiny profile once per seed in fresh clones of this repository (commit first: a clone
holds committed files only). The first seed's run (the profile's own seed) becomes the baseline:
its ``dvc.lock`` (the data stages' hashes, compared exactly), ``metrics/summary.json`` and plot
tables. The tolerance for trained numbers is, per kind (test accuracy, detection F1, AUROC), the
largest spread (max − min over seeds) of any rate and method, in ``tolerance.json``: the same
commit moves its trained numbers across CPU types, and the seed-to-seed spread bounds that.

Usage: python .ci/baseline.py [--seeds 0 1 2]   (about 2 minutes per seed on 2 cores)
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


def run_tiny(seed: int, work: Path) -> Path:
    """The tiny profile at ``seed`` in a fresh clone; returns its ``plots/`` folder."""
    clone = work / f"seed{seed}"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(clone)
    subprocess.run(["python", "-m", "labelnoise.profiles", "tiny"], cwd=clone, env=env, check=True)
    params = clone / "params.yaml"
    params.write_text(re.sub(r"(?m)^seed: \d+", f"seed: {seed}", params.read_text(), count=1))
    subprocess.run(["dvc", "repro", "-q"], cwd=clone, env=env, check=True)
    return clone / "plots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / ".ci" / "baseline")
    args = parser.parse_args()
    spreads = {}
    with tempfile.TemporaryDirectory() as work:
        runs = [run_tiny(seed, Path(work)) for seed in args.seeds]
        for kind, (name, column) in KINDS.items():
            tables = [
                pd.read_csv(plots / name).set_index(["rate", "method"])[column] for plots in runs
            ]
            joined = pd.concat(tables, axis=1).dropna()
            spreads[kind] = float((joined.max(axis=1) - joined.min(axis=1)).max())
        first = runs[0].parent
        if args.out.exists():
            shutil.rmtree(args.out)
        for pattern in BASELINE_FILES:
            for path in first.glob(pattern):
                target = args.out / path.relative_to(first)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    record = {"seeds": args.seeds, "max_spread": spreads}
    (args.out / "tolerance.json").write_text(json.dumps(record, indent=2) + "\n")
    json.dump(record, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
