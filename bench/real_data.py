"""Your own images, end to end, on real scanned data: scikit-learn's handwritten digits.

The 1,797 scanned 8 × 8 digits that ship with scikit-learn become an ImageFolder tree as a
practitioner would bring it: ``train/<label>/`` with ``--rate`` of the labels flipped to another
digit (symmetric) and a ``test/<label>/`` folder of correct labels (40% of the digits); under
each condition either no ``val/`` folder (the trusted split is then carved from the noisy train
labels) or a small ``val/`` of correct labels. The pipeline runs in a fresh clone of this
repository with nothing set but ``data.source: folder`` and ``data.path``, once per seed (the
split and the flips follow the seed).

Side by side, on the same split and flips: cleanlab's ``find_label_issues`` on the out-of-sample
probabilities of a logistic regression over the raw pixels (5-fold), and that regression's test
accuracy when trained on every true label ("the line"). Prints, per condition, the flag F1 of
both and every arm's test accuracy per seed, then each arm's accuracy change against no
cleaning with its 95% interval over the seeds.

    python bench/real_data.py [--rate 0.2] [--seeds 0 1 2] [--val-per-class 0 10] [--keep DIR]
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


def digits_folder(root: Path, *, rate: float, seed: int, val_per_class: int = 0) -> pd.DataFrame:
    """Write the digits as PNGs under ``root``; return ``path, split, true, given`` per image.

    40% of the digits (stratified) are ``test/``; ``val_per_class`` correctly labelled digits
    per class of the rest form a trusted ``val/`` folder (none when 0); the others are
    ``train/``, with ``rate`` of their labels flipped to another digit."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.images * (255 / 16)).round().astype(np.uint8)
    rows = np.arange(len(pixels))
    train, test = train_test_split(rows, test_size=0.4, stratify=digits.target, random_state=seed)
    rng = np.random.default_rng(seed)
    val = np.concatenate(
        [rng.permutation(train[digits.target[train] == c])[:val_per_class] for c in range(10)]
    ).astype(np.int64)
    train = np.setdiff1d(train, val)
    true = digits.target.copy()
    given = true.copy()
    flip = rng.choice(train, size=round(rate * len(train)), replace=False)
    given[flip] = (true[flip] + rng.integers(1, 10, len(flip))) % 10
    records = []
    for split, members in (("train", train), ("val", val), ("test", test)):
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


def one_run(work: Path, *, rate: float, seed: int, val_per_class: int) -> dict:
    """One seed of one condition: the folder, the reference and the pipeline; returns the
    figures of both and every arm's test record."""
    from sklearn.metrics import f1_score

    folder = work / f"digits-{seed}-{val_per_class}"
    table = digits_folder(folder, rate=rate, seed=seed, val_per_class=val_per_class)
    theirs = reference(table)
    clone = work / f"clone-{seed}-{val_per_class}"
    seconds = run_pipeline(folder, clone)
    issues = pd.read_csv(clone / "results" / "label_issues.csv")
    truth = table.set_index("path").loc[issues["path"]]
    flipped = (truth["given"] != truth["true"]).to_numpy()
    metrics = clone / "metrics"
    arms = {"none": json.loads((metrics / "baseline" / "0.0.json").read_text())}
    for path in sorted((metrics / "retrain").glob("*/0.0.json")):
        arms[path.parent.name] = json.loads(path.read_text())
    return {
        "seed": seed,
        "seconds": seconds,
        "n_train": int((table["split"] == "train").sum()),
        "n_test": int((table["split"] == "test").sum()),
        "ours_f1": float(f1_score(flipped, issues["is_label_issue"])),
        "theirs": theirs,
        "arms": arms,
    }


def report(runs: list[dict], *, rate: float, val_per_class: int) -> None:
    """Markdown tables of one condition over its seeds: flags and accuracy per seed, then each
    arm's accuracy change against no cleaning with its 95% interval over the seeds."""
    from labelnoise.metrics import is_reference
    from labelnoise.regress import accuracy_change

    val = f"a val/ folder of {val_per_class} per class" if val_per_class else "no val/ folder"
    first = runs[0]
    print(
        f"\n### {val}: {first['n_train']} train images ({rate:.0%} flipped), "
        f"{first['n_test']} test images, seeds {[r['seed'] for r in runs]}\n"
    )
    arms = [a for a in first["arms"] if not is_reference(a) or a == "none"]
    head = ["seed", "flag F1: cleanlab on LR", "flag F1: labelnoise", "LR on true labels"]
    print("| " + " | ".join(head + [f"`{a}`" for a in arms]) + " |")
    print("|---" * (len(head) + len(arms)) + "|")
    for r in runs:
        cells = [str(r["seed"]), f"{r['theirs']['f1']:.3f}", f"{r['ours_f1']:.3f}"]
        cells += [f"{r['theirs']['line']:.3f}"] + [f"{r['arms'][a]['accuracy']:.3f}" for a in arms]
        print("| " + " | ".join(cells) + " |")
    table = pd.DataFrame(
        [
            {"seed": r["seed"], "rate": 0.0, "method": a, "accuracy": rec["accuracy"],
             "n_test": rec["n_test"], "n_correct": rec["n_correct"]}
            for r in runs
            for a, rec in r["arms"].items()
        ]
    )  # fmt: skip
    print("\n| arm | accuracy change vs `none`, points [95% interval over seeds] |\n|---|---|")
    for arm in arms[1:]:
        value, low, high = (100 * x for x in accuracy_change(table, rate=0.0, method=arm))
        above = " (above by more than its interval)" if low > 0 else ""
        print(f"| `{arm}` | {value:+.2f} [{low:+.2f}, {high:+.2f}]{above} |")
    mean = np.mean([r["seconds"] for r in runs])
    print(f"\nPipeline {mean:.0f} s per run on average.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=0.2, help="share of train labels flipped")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--val-per-class", type=int, nargs="+", default=[0, 10],
        help="trusted val/ images per class of each condition; 0 = no val/ folder",
    )  # fmt: skip
    parser.add_argument("--keep", type=Path, help="work in this new folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        for val_per_class in args.val_per_class:
            runs = [
                one_run(work, rate=args.rate, seed=seed, val_per_class=val_per_class)
                for seed in args.seeds
            ]
            report(runs, rate=args.rate, val_per_class=val_per_class)


if __name__ == "__main__":
    main()
