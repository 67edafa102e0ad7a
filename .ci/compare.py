"""Compare this CI run of the `ci` profile with the committed baseline (`.ci/baseline/`).

- Data stages (`generate`, `corrupt`) are bitwise reproducible across machines: their output
  hashes in `dvc.lock` must equal the baseline's.
- Trained numbers (test accuracy, detection F1 and AUROC per rate and method) must stay within
  `tolerance.json`: 0.02 of accuracy, 0.03 of F1, 0.02 of AUROC. On the machine type the
  baseline was made on a run is reproduced bit for bit (`.ci/baseline.py` checks it), so these
  are the resolution CI promises, not room for noise: a change of 2 points of accuracy or 0.05
  of F1 in any cell fails it. A change that moves the numbers on purpose, or another CPU type,
  regenerates the baseline (`python .ci/baseline.py`).
- `dvc metrics diff` and `dvc plots diff` compare like with like: the baseline's files are put
  into a commit of their own (git plumbing; the work tree is not touched) and diffed against the
  workspace. Everything goes into one markdown report with SVG plots, as a PR comment shows it.

Usage: python .ci/compare.py OUT_DIR   (after `make run PROFILE=ci`; exit 1 beyond tolerance)
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import vl_convert
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".ci" / "baseline"
DATA_STAGES = ("generate", "corrupt")
KINDS = {"accuracy": "accuracy.csv", "f1": "detection_f1.csv", "auroc": "detection_auroc.csv"}


def _git(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def baseline_commit() -> str:
    """A commit of HEAD's tree with the baseline's files at their workspace paths."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git("read-tree", "HEAD", env=env)
        for path in BASELINE.rglob("*"):
            if path.is_file() and path.name != "tolerance.json":
                blob = _git("hash-object", "-w", str(path))
                relative = path.relative_to(BASELINE).as_posix()
                _git("update-index", "--add", "--cacheinfo", f"100644,{blob},{relative}", env=env)
        tree = _git("write-tree", env=env)
    return _git(
        "-c", "user.name=ci", "-c", "user.email=ci@localhost",
        "commit-tree", tree, "-p", "HEAD", "-m", "committed ci baseline",
    )  # fmt: skip


def data_hashes(lock: Path) -> dict[str, str]:
    stages = YAML(typ="safe", pure=True).load(lock.read_text())["stages"]
    return {out["path"]: out["md5"] for name in DATA_STAGES for out in stages[name].get("outs", [])}


def compare_numbers(
    root: Path, baseline: Path, tolerance: dict[str, float]
) -> tuple[pd.DataFrame, list[str]]:
    """Every trained number of the run in ``root`` against ``baseline``'s plot tables: the
    joined table and one line per cell (or missing cell) beyond ``tolerance``."""
    rows, failures = [], []
    for kind, name in KINDS.items():
        ours = pd.read_csv(root / "plots" / name).set_index(["rate", "method"])[kind]
        theirs = pd.read_csv(baseline / "plots" / name).set_index(["rate", "method"])[kind]
        if set(ours.index) != set(theirs.index):
            failures.append(f"{name}: cells differ from the baseline's")
        joined = pd.concat({"baseline": theirs, "this run": ours}, axis=1).dropna()
        joined["difference"] = joined["this run"] - joined["baseline"]
        joined["tolerance"] = tolerance[kind]
        joined["kind"] = kind
        beyond = joined[joined["difference"].abs() > tolerance[kind]]
        failures += [
            f"{kind} at rate {rate}, {method}: {row['difference']:+.3f} "
            f"(tolerance ±{tolerance[kind]:.3f})"
            for (rate, method), row in beyond.iterrows()
        ]
        rows.append(joined.reset_index())
    return pd.concat(rows, ignore_index=True), failures


def compare(root: Path, baseline: Path) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The run in ``root`` against ``baseline``: the numbers table, the data stages whose
    hashes differ, and the trained numbers beyond the baseline's tolerance."""
    tolerance = json.loads((baseline / "tolerance.json").read_text())["tolerance"]
    ours, theirs = data_hashes(root / "dvc.lock"), data_hashes(baseline / "dvc.lock")
    data_failures = [
        f"{path}: md5 {ours.get(path)} (baseline {md5})"
        for path, md5 in theirs.items()
        if ours.get(path) != md5
    ]
    numbers, number_failures = compare_numbers(root, baseline, tolerance)
    return numbers, data_failures, number_failures


def render_plots(rev: str, out: Path) -> list[str]:
    done = subprocess.run(
        ["dvc", "plots", "diff", rev, "--json"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"dvc plots diff: {done.stderr}")
    plots = json.loads(done.stdout).get("data", {})
    names = []
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for plot_id, renders in plots.items():
        for render in renders:
            if render.get("type") != "vega" or "content" not in render:
                continue
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("_") + ".svg"
            (out / "plots" / name).write_text(vl_convert.vegalite_to_svg(render["content"]))
            names.append(name)
    return names


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    numbers, data_failures, number_failures = compare(ROOT, BASELINE)
    ours, theirs = data_hashes(ROOT / "dvc.lock"), data_hashes(BASELINE / "dvc.lock")
    rev = baseline_commit()
    metrics_diff = subprocess.run(
        ["dvc", "metrics", "diff", rev, "--md"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    plots = render_plots(rev, out)
    lines = ["# The ci profile against the committed baseline", ""]
    lines += ["## Data stages (must match bit for bit)", ""]
    lines += [
        f"- {path}: {'same' if ours.get(path) == md5 else 'DIFFERENT'}"
        for path, md5 in theirs.items()
    ]
    lines += ["", "## Trained numbers (tolerance.json: the resolution CI promises)", ""]
    lines += [numbers.round(4).to_markdown(index=False), ""]
    lines += ["## dvc metrics diff", "", metrics_diff or "(no change)", ""]
    lines += ["## dvc plots diff", ""] + [f"![{name}](plots/{name})" for name in plots]
    failures = data_failures + number_failures
    lines += ["", "## Verdict", ""] + ([f"- {f}" for f in failures] or ["- within tolerance"])
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print(f"CI comparison: {out / 'report.md'} ({len(plots)} plots)")
    for failure in failures:
        print(f"beyond tolerance: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
