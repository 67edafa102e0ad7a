"""The README's tables from metric tables: means, seed ranges, recovery intervals."""

import numpy as np
import pandas as pd

from labelnoise.metrics import Metrics
from labelnoise.tables import (
    accuracy_markdown,
    detection_markdown,
    noise_rate_markdown,
    recovery_markdown,
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


def test_recovery_is_the_share_of_the_oracle_gain_with_an_interval():
    row = recovery_markdown(_metrics(), ["cleanlab"]).splitlines()[-1]
    value, low, high = (
        float(x)
        for x in row.split("|")[2].replace("[", "").replace("]", "").replace(",", "").split()
    )
    assert abs(value - (0.91 - 0.81) / (0.95 - 0.81)) < 0.01
    assert low < value < high and high - low < 0.2


def test_detection_and_noise_rate_tables():
    detection = detection_markdown(_metrics(), ["cleanlab"], rate=0.2)
    # Seeds that agree give a range of one value.
    assert "| cleanlab | 0.85 (0.85–0.85) | 0.980 (0.980–0.980) | 0.90 (0.90–0.90) |" in detection
    assert "| 1.10 (1.10–1.10) | 0.004 (0.004–0.004) |" in detection
    noise = noise_rate_markdown(_metrics())
    assert "| 0.2 | 0.200 (0.200–0.200) | 0.210 (0.210–0.210) | 0.250 (0.250–0.250) |" in noise
