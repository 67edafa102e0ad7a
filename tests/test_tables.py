"""The README's tables from metric tables: means, seed ranges, shares of the gap closed."""

import numpy as np
import pandas as pd

from labelnoise.metrics import Metrics
from labelnoise.tables import (
    accuracy_markdown,
    change_markdown,
    detection_markdown,
    noise_rate_markdown,
    share_markdown,
)


def _metrics() -> Metrics:
    accuracy = {"none": (0.95, 0.80), "oracle": (0.95, 0.94), "cleanlab": (0.95, 0.90)}
    runs = pd.DataFrame(
        [
            (seed, rate, method, acc[i] + 0.01 * seed)
            for seed in (0, 1, 2)
            for i, rate in enumerate((0.0, 0.2))
            for method, acc in accuracy.items()
        ],
        columns=["seed", "rate", "method", "accuracy"],
    )
    runs["n_test"] = 10_000
    runs["n_correct"] = (runs["accuracy"] * 10_000).round().astype(int)
    detect = pd.DataFrame(
        [
            (seed, rate, "cleanlab", f1, 0.9, 0.98, 1.1, fpr, rate, rate + 0.01, rate + 0.05)
            for seed in (0, 1, 2)
            for rate, f1, fpr in ((0.0, np.nan, 0.004), (0.2, 0.85, 0.03))
        ],
        columns=[
            "seed", "rate", "method", "f1", "f1_at_k", "auroc", "flag_ratio",
            "false_positive_rate", "true_noise_rate", "trusted_noise_rate",
            "estimated_noise_rate",
        ],
    )  # fmt: skip
    return Metrics(runs=runs, per_class=pd.DataFrame(), detect=detect)


def test_accuracy_cells_are_seed_means_with_their_range():
    table = accuracy_markdown(_metrics(), ["none", "oracle", "cleanlab"])
    assert "| 0.2 | 0.810 (0.800–0.820) | 0.950 (0.940–0.960) | 0.910 (0.900–0.920) |" in table


def _cell_values(row: str) -> list[float]:
    return [float(x) for x in row.split("|")[2].translate(str.maketrans("[],", "   ")).split()]


def test_shares_of_the_gap_to_the_ceiling_and_to_the_oracle_with_intervals():
    metrics = _metrics()
    runs = metrics.runs
    # cleanlab's seeds scatter around 0.91 at 0.2; the others move with the seed together.
    at = (runs["rate"] == 0.2) & (runs["method"] == "cleanlab")
    runs.loc[at, "accuracy"] = [0.90, 0.93, 0.90]
    ceiling = _cell_values(
        share_markdown(metrics, ["cleanlab"], against="ceiling").splitlines()[-1]
    )
    # The ceiling is the baseline at rate 0 (0.95 + 0.01 seed), as no oracle_relabel ran.
    shares = [(0.90 - 0.80) / 0.15, (0.93 - 0.81) / 0.15, (0.90 - 0.82) / 0.15]
    assert ceiling[0] == np.float64(round(np.mean(shares), 2))
    assert ceiling[1] < ceiling[0] < ceiling[2]
    oracle = _cell_values(share_markdown(metrics, ["cleanlab"], against="oracle").splitlines()[-1])
    assert oracle[0] == round(np.mean([0.10 / 0.14, 0.12 / 0.14, 0.08 / 0.14]), 2)
    change = change_markdown(metrics, ["cleanlab"]).splitlines()[-1]
    assert "+10.0 [" in change  # 0.2: 10, 12 and 8 points above no cleaning


def test_detection_and_noise_rate_tables():
    detection = detection_markdown(_metrics(), ["cleanlab"], rate=0.2)
    # Seeds that agree give a range of one value.
    assert "| cleanlab | 0.85 (0.85–0.85) | 0.980 (0.980–0.980) | 0.90 (0.90–0.90) |" in detection
    assert "| 1.10 (1.10–1.10) | 0.004 (0.004–0.004) |" in detection
    noise = noise_rate_markdown(_metrics())
    assert "| 0.2 | 0.200 (0.200–0.200) | 0.210 (0.210–0.210) | 0.250 (0.250–0.250) |" in noise
