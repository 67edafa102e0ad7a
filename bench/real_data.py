"""Your own images, end to end, on real scanned data: scikit-learn's handwritten digits.

The 1,797 scanned 8 × 8 digits that ship with scikit-learn become an ImageFolder tree as a
practitioner would bring it: ``train/<label>/`` with ``--rate`` of the labels flipped to another
digit (symmetric), and a ``test/<label>/`` folder of correct labels; no ``val/`` folder, so the
trusted split is carved from the noisy train labels. The pipeline runs in a fresh clone of this
repository with nothing set but ``data.source: folder`` and ``data.path``.

Side by side, on the same split and flips: the conventional baseline, cleanlab's
``find_label_issues`` on the out-of-sample probabilities of a logistic regression over the raw
pixels (5-fold), and that regression's test accuracy when trained on every true label ("the
line" a cleaned retrain should pass). Prints the flag F1 of both, the test accuracy of every
arm, and the ratio of the F1s.

    python bench/real_data.py [--rate 0.2] [--seed 0] [--keep DIR]
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def digits_folder(root: Path, *, rate: float, seed: int) -> pd.DataFrame:
    """Write the digits as PNGs under ``root``; return ``path, split, true, given`` per image."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.images * (255 / 16)).round().astype(np.uint8)
    rows = np.arange(len(pixels))
    train, test = train_test_split(rows, test_size=0.3, stratify=digits.target, random_state=seed)
    rng = np.random.default_rng(seed)
    true = digits.target.copy()
    given = true.copy()
    flip = rng.choice(train, size=round(rate * len(train)), replace=False)
    given[flip] = (true[flip] + rng.integers(1, 10, len(flip))) % 10
    records = []
    for split, members in (("train", train), ("test", test)):
        for i in members:
            label = given[i] if split == "train" else true[i]
            path = root / split / str(label) / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[i]).save(path)
            records.append({"path": str(path), "split": split, "true": true[i], "given": label})
    return pd.DataFrame(records)


def reference(table: pd.DataFrame) -> dict:
    """cleanlab on logistic-regression probabilities over raw pixels, and that regression's
    test accuracy on noisy and on true labels."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import cross_val_predict

    pixels = np.stack([np.asarray(Image.open(p), dtype=np.float64).ravel() for p in table.path])
    pixels /= 255.0
    train, test = (table["split"] == s for s in ("train", "test"))
    model = LogisticRegression(max_iter=2000)
    probs = cross_val_predict(
        model, pixels[train], table.given[train], cv=5, method="predict_proba"
    )
    flags = find_label_issues(table.given[train].to_numpy(), probs)
    truth = (table.given != table.true)[train].to_numpy()
    accuracy = {}
    for labels in ("given", "true"):
        fitted = LogisticRegression(max_iter=2000).fit(pixels[train], table[labels][train])
        accuracy[labels] = float((fitted.predict(pixels[test]) == table.true[test]).mean())
    return {
        "f1": float(f1_score(truth, flags)),
        "noisy": accuracy["given"],
        "line": accuracy["true"],
    }


def run_pipeline(folder: Path, clone: Path) -> float:
    """``dvc repro`` of a fresh clone with nothing set but the folder; returns its wall time."""
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(clone)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    from ruamel.yaml import YAML

    yaml = YAML()
    params = yaml.load((clone / "params.yaml").read_text())
    params["data"]["source"], params["data"]["path"] = "folder", str(folder)
    with open(clone / "params.yaml", "w") as handle:
        yaml.dump(params, handle)
    start = time.monotonic()
    subprocess.run(["dvc", "repro", "-q"], cwd=clone, env=env, check=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=0.2, help="share of train labels flipped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this new folder and keep it")
    args = parser.parse_args()
    from sklearn.metrics import f1_score

    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        table = digits_folder(work / "digits", rate=args.rate, seed=args.seed)
        theirs = reference(table)
        seconds = run_pipeline(work / "digits", work / "clone")
        results = work / "clone" / "results"
        issues = pd.read_csv(results / "label_issues.csv")
        truth = table.set_index("path").loc[issues["path"]]
        flipped = (truth["given"] != truth["true"]).to_numpy()
        ours = float(f1_score(flipped, issues["is_label_issue"]))
        metrics = work / "clone" / "metrics"
        arms = {"none": json.loads((metrics / "baseline" / "0.0.json").read_text())["accuracy"]}
        for path in sorted((metrics / "retrain").glob("*/0.0.json")):
            arms[path.parent.name] = json.loads(path.read_text())["accuracy"]
    n_train = int((table["split"] == "train").sum())
    print(
        f"scikit-learn digits: {n_train} train images, {round(args.rate * n_train)} labels "
        f"flipped (seed {args.seed}), {len(table) - n_train} test images; pipeline {seconds:.0f} s"
    )
    print("\n| | flag F1 | test accuracy |\n|---|---|---|")
    lr_f1, lr_noisy = theirs["f1"], theirs["noisy"]
    print(f"| cleanlab on logistic regression (raw pixels) | {lr_f1:.3f} | {lr_noisy:.3f} |")
    print(f"| logistic regression on every true label (the line) | | {theirs['line']:.3f} |")
    print(f"| labelnoise `is_label_issue` (results.method) | {ours:.3f} | |")
    for arm, accuracy in arms.items():
        print(f"| labelnoise arm `{arm}` | | {accuracy:.3f} |")
    best = max((a for m, a in arms.items() if m != "none"), default=float("nan"))
    line = theirs["line"]
    print(f"\nbest arm {best:.3f} vs the line {line:.3f}; flag F1 ratio {ours / lr_f1:.2f}x")


if __name__ == "__main__":
    main()
