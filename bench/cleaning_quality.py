"""What a finished run's arrays say about its cleaning choices: which consensus members rank
the false labels best, and how often each relabelling view suggests the true class.

Reads the workspace's ``data/`` after ``dvc repro`` (the ground truth is known for generated
data). For every nonzero rate it prints:

- the AUROC of each scoring method and of the mean rank of every subset of the members that
  ``clean.consensus`` could use, best first;
- for the consensus's flagged rows, how many each view would relabel and how many of those it
  gets right, at several confidences: the fold models' out-of-sample suggestion (the relabel
  arm's), the drop arm's model, and their mean (the second generation's).

    python bench/cleaning_quality.py [--top 5]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from labelnoise import layout
from labelnoise.clean import get_method, load_result
from labelnoise.params import load_params

CONFIDENCES = (0.5, 0.7, 0.9, 0.95)


def member_subsets(results: dict, flipped: np.ndarray, top: int) -> list[tuple[float, tuple]]:
    ranks = {name: rankdata(r.scores) / len(flipped) for name, r in results.items()}
    found = [
        (roc_auc_score(flipped, np.mean([ranks[m] for m in subset], axis=0)), subset)
        for k in range(1, len(ranks) + 1)
        for subset in itertools.combinations(ranks, k)
    ]
    return sorted(found, reverse=True)[:top]


def suggestions(flags, given, true, views: dict[str, np.ndarray]) -> list[str]:
    lines = []
    for name, probs in views.items():
        for confidence in CONFIDENCES:
            if name == "fold models":  # the relabel arm's suggestion is never the given label
                others = probs.copy()
                others[np.arange(len(given)), given] = -1
                suggested, sure = others.argmax(1), others.max(1) >= confidence
            else:
                suggested, sure = probs.argmax(1), probs.max(1) >= confidence
            relabel = flags & sure
            right = int((suggested[relabel] == true[relabel]).sum())
            lines.append(
                f"| {name} | {confidence} | {int(relabel.sum())} | {right} "
                f"({right / max(relabel.sum(), 1):.3f}) | {int((flags & ~sure).sum())} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="member subsets shown per rate")
    parser.add_argument("--data", type=Path, default=Path("data"))
    args = parser.parse_args()
    params = load_params()
    scorers = [
        m for m in params.clean.cleaned
        if not get_method(m).reference and not get_method(m).combines and m != "hardness"
    ]  # fmt: skip
    for rate in (r for r in params.rates if r > 0):
        name = layout.rate_name(rate)
        labels = pd.read_csv(layout.noisy_labels(args.data / "noisy", rate))
        given, true = labels["given"].to_numpy(), labels["true"].to_numpy()
        flipped = labels["flipped"].to_numpy(bool)
        results = {
            m: load_result(layout.result_file(args.data / "clean", rate, m)) for m in scorers
        }
        print(f"\n## rate {name}\n\n| scores | AUROC |\n|---|---|")
        for method, result in results.items():
            print(f"| {method} | {roc_auc_score(flipped, result.scores):.4f} |")
        for auroc, subset in member_subsets(results, flipped, args.top):
            print(f"| mean rank of {' + '.join(subset)} | {auroc:.4f} |")
        flags = load_result(layout.result_file(args.data / "clean", rate, "consensus")).flags
        oos = np.load(layout.oos_probs(args.data / "train", rate))
        views = {"fold models": oos}
        first = layout.first_probs(args.data / "first", rate, "consensus")
        if first.is_file():
            views["drop arm's model"] = np.load(first)
            views["mean of the two"] = (views["drop arm's model"] + oos) / 2
        print(
            f"\nconsensus flags {int(flags.sum())} ({int((flags & flipped).sum())} false labels)"
            "\n\n| view | confidence | relabelled | right | dropped |\n|---|---|---|---|---|"
        )
        print("\n".join(suggestions(flags, given, true, views)))


if __name__ == "__main__":
    main()
