"""labelnoise.metrics (where the metric files live, reading exactly one grid), the long plot
tables of labelnoise.plots and the headline figures of labelnoise.regress."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelnoise import layout
from labelnoise.metrics import (
    BASELINE,
    Grid,
    Metrics,
    baseline_file,
    collect,
    detect_file,
    retrain_file,
)
from labelnoise.params import read_yaml, validate
from labelnoise.plots import (
    accuracy_fit_long,
    accuracy_long,
    detection_long,
    pr_long,
    training_long,
)
from labelnoise.regress import accuracy_table, fit_accuracy, headline

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["a", "b"]


def test_file_layout(tmp_path):
    assert baseline_file(tmp_path, 0.1) == tmp_path / "baseline" / "0.1.json"
    assert retrain_file(tmp_path, "cleanlab", 0.0) == tmp_path / "retrain" / "cleanlab" / "0.0.json"
    assert detect_file(tmp_path, 0.2, "aum") == tmp_path / "detect" / "0.2-aum.json"


def test_grid_from_params():
    raw = read_yaml(ROOT / "params.yaml")
    raw["noise"]["rates"] = [0.0, 0.1, 0.3]
    raw["clean"]["methods"] = ["none", "oracle", "random", "cleanlab", "consensus"]
    raw["clean"]["trained"] = ["aum", "tvnet"]
    raw["clean"]["consensus"]["members"] = ["cleanlab", "aum", "tvnet"]
    raw["retrain"]["methods"] = ["oracle", "cleanlab", "tvnet"]
    raw["retrain"]["relabel"] = ["consensus"]
    raw["retrain"]["second"] = ["cleanlab"]
    raw["results"]["method"] = "cleanlab"
    raw["report"]["rate"] = 0.1
    grid = Grid.from_params(validate(raw))
    assert grid.rates == (0.0, 0.1, 0.3)
    assert all(isinstance(rate, float) for rate in grid.rates)
    # Everything cleaned is scored against the flips except "none", which flags nothing.
    assert grid.detected == ("oracle", "random", "cleanlab", "consensus", "aum", "tvnet")
    # The dropping arms, then the relabelling ones, the second generations, the robust losses.
    assert grid.retrained == (
        "oracle", "cleanlab", "tvnet", "consensus_relabel", "cleanlab_second", "gce"
    )  # fmt: skip


def _classification(rate: float, n_correct: int, n_test: int = 100) -> dict:
    scores = {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": n_test // 2}
    return {
        "rate": rate,
        "accuracy": n_correct / n_test,
        "balanced_accuracy": n_correct / n_test,
        "macro_f1": n_correct / n_test,
        "n_test": n_test,
        "n_correct": n_correct,
        "per_class": {name: scores for name in CLASSES},
    }


def _detection(rate: float, method: str) -> dict:
    return {
        "rate": rate,
        "method": method,
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "auroc": None if rate == 0 else 0.8,
        "auprc": 0.4,
        "n_flagged": 4,
        "n_flipped": 4,
        "false_positives": 2,
        "f1_at_k": 0.5,
        "flag_ratio": 1.0,
        "false_positive_rate": 0.01,
        "true_noise_rate": rate,
        "trusted_noise_rate": rate,
        "estimated_noise_rate": rate,
    }


def _write(path: Path, record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))


def _run(root: Path, grid: Grid) -> Path:
    for rate in grid.rates:
        _write(baseline_file(root, rate), _classification(rate, 90 - int(100 * rate)))
        for k, method in enumerate(grid.retrained):
            record = _classification(rate, 90 - int(50 * rate) - k)
            _write(retrain_file(root, method, rate), {**record, "method": method})
        for method in grid.detected:
            _write(detect_file(root, rate, method), _detection(rate, method))
    return root


GRID = Grid(rates=(0.0, 0.1, 0.2), detected=("cleanlab", "aum"), retrained=("oracle", "cleanlab"))


def test_collect_reads_exactly_the_grid_beside_stale_files(tmp_path):
    root = _run(tmp_path / "run", GRID)
    # An earlier run of another grid left its files: other rates, other methods, the old
    # flat retrain layout. None is valid JSON, so opening any would fail.
    stale = [
        baseline_file(root, 0.4),
        retrain_file(root, "oracle", 0.4),
        retrain_file(root, "tvnet", 0.1),
        root / "retrain" / "0.1-oracle.json",
        detect_file(root, 0.1, "tvnet"),
        detect_file(root, 0.4, "cleanlab"),
        detect_file(root, 0.1, BASELINE),
    ]
    for path in stale:
        _write(path, "left over {")
    metrics = collect([root], grid=GRID, seeds=[7])
    assert isinstance(metrics, Metrics)
    expected = {(rate, m) for rate in GRID.rates for m in (BASELINE, *GRID.retrained)}
    assert set(zip(metrics.runs["rate"], metrics.runs["method"], strict=True)) == expected
    assert len(metrics.runs) == len(expected)
    assert set(metrics.runs["seed"]) == {7}
    assert len(metrics.per_class) == len(expected) * len(CLASSES)
    detected = {(rate, m) for rate in GRID.rates for m in GRID.detected}
    assert set(zip(metrics.detect["rate"], metrics.detect["method"], strict=True)) == detected
    assert len(metrics.detect) == len(detected)
    assert metrics.detect["auroc"].isna().sum() == len(GRID.detected)  # rate 0
    opened = {*metrics.runs["file"], *metrics.detect["file"]}
    expected = [
        *(baseline_file(root, rate) for rate in GRID.rates),
        *(retrain_file(root, m, rate) for m in GRID.retrained for rate in GRID.rates),
        *(detect_file(root, rate, m) for rate in GRID.rates for m in GRID.detected),
    ]
    assert opened == {str(path) for path in expected}
    cleanlab = metrics.runs[(metrics.runs["method"] == "cleanlab") & (metrics.runs["rate"] == 0.1)]
    assert cleanlab["n_correct"].tolist() == [90 - 5 - 1]


def test_collect_refuses_missing_or_mislabelled_files(tmp_path):
    root = _run(tmp_path / "run", GRID)
    missing = retrain_file(root, "cleanlab", 0.1)
    kept = missing.read_text()
    missing.unlink()
    with pytest.raises(ValueError, match=re.escape(f"{missing}: metric file not found")):
        collect([root], grid=GRID)
    _write(missing, {**json.loads(kept), "rate": 0.2})
    with pytest.raises(ValueError, match=re.escape(f"{missing}: holds rate 0.2, expected 0.1")):
        collect([root], grid=GRID)
    _write(missing, kept)
    wrong = detect_file(root, 0.2, "aum")
    _write(wrong, _detection(0.2, "cleanlab"))
    with pytest.raises(ValueError, match=re.escape(f"{wrong}: holds method 'cleanlab'")):
        collect([root], grid=GRID)
    _write(wrong, _detection(0.2, "aum"))
    collect([root], grid=GRID)
    with pytest.raises(ValueError, match="duplicate the baseline"):
        collect([root], grid=Grid(GRID.rates, GRID.detected, (BASELINE,)))
    with pytest.raises(ValueError, match="seeds must be distinct"):
        collect([root, root], grid=GRID, seeds=[1, 1])


# ----------------------------------------------------------------------------- plots


def _runs(rows) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["seed", "rate", "method", "accuracy"])
    table["n_test"] = 1000
    table["n_correct"] = (table["accuracy"] * 1000).round().astype(int)
    return table


def test_accuracy_long_averages_seeds():
    table = accuracy_table(
        _runs(
            [
                (0, 0.0, "none", 0.9),
                (1, 0.0, "none", 0.8),
                (0, 0.2, "none", 0.6),
                (1, 0.2, "none", 0.7),
                (0, 0.2, "oracle", 0.85),
            ]
        )
    )
    long = accuracy_long(table)
    assert list(long.columns) == ["rate", "method", "accuracy"]
    assert len(long) == 3
    lookup = long.set_index(["rate", "method"])["accuracy"]
    assert lookup[(0.0, "none")] == pytest.approx(0.85)
    assert lookup[(0.2, "none")] == pytest.approx(0.65)
    assert lookup[(0.2, "oracle")] == pytest.approx(0.85)


def test_accuracy_fit_long_is_the_glm_curve_per_method():
    rng = np.random.default_rng(0)
    rows = [
        (0, rate, method, rng.binomial(1000, 0.9 - slope * rate) / 1000)
        for rate in (0.0, 0.1, 0.2, 0.3)
        for method, slope in (("none", 1.0), ("oracle", 0.1))
    ]
    table = accuracy_table(_runs(rows))
    fit = fit_accuracy(table, n_boot=100, seed=0)
    long = accuracy_fit_long(table, fit, n_grid=7)
    assert list(long.columns) == ["rate", "method", "accuracy_fit"]
    assert set(long["method"]) == {"none", "oracle"}
    assert long["accuracy_fit"].notna().all()
    none = long[long["method"] == "none"].sort_values("rate")
    assert none["rate"].min() == 0.0 and none["rate"].max() == pytest.approx(0.3)
    assert none["accuracy_fit"].is_monotonic_decreasing
    assert none["accuracy_fit"].iloc[0] == pytest.approx(0.9, abs=0.03)


def test_detection_long_averages_seeds():
    detect = pd.DataFrame(
        {
            "seed": [0, 1, 0, 0],
            "rate": [0.1, 0.1, 0.0, 0.1],
            "method": ["aum", "aum", "aum", "cleanlab"],
            "f1": [0.4, 0.6, 0.0, 0.3],
            "auroc": [0.7, 0.9, np.nan, 0.6],
        }
    )
    long = detection_long(detect)
    assert list(long.columns) == ["rate", "method", "f1", "auroc"]
    row = long[(long["rate"] == 0.1) & (long["method"] == "aum")].iloc[0]
    assert row["f1"] == pytest.approx(0.5) and row["auroc"] == pytest.approx(0.8)
    assert np.isnan(long[long["rate"] == 0.0]["auroc"]).all()


def test_pr_long_reads_each_detecting_method_at_the_rate(tmp_path):
    for method, curve in (("cleanlab", [[0.0, 1.0], [1.0, 0.5]]), ("aum", [[0.5, 0.7]])):
        _write(tmp_path / f"0.2-{method}.json", {"curve": curve})
    _write(tmp_path / "0.1-cleanlab.json", "other rate {")
    table = pr_long(tmp_path, rate=0.2, grid=GRID)
    assert list(table.columns) == ["method", "point", "recall", "precision"]
    assert table["method"].tolist() == ["cleanlab", "cleanlab", "aum"]
    assert table["point"].tolist() == [0, 1, 0]
    assert table["precision"].tolist() == [1.0, 0.5, 0.7]
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / '0.0-cleanlab.json'}")):
        pr_long(tmp_path, rate=0.0, grid=GRID)


def test_training_long_reads_the_dvclive_folders(tmp_path):
    for rate, offset in ((0.0, 0.0), (0.2, 1.0)):
        metrics = layout.live_dir(tmp_path, rate) / "plots" / "metrics"
        _write(metrics / "train" / "loss.tsv", f"timestamp\tstep\tloss\n1\t0\t{2 + offset}\n")
        _write(metrics / "val" / "acc.tsv", "timestamp\tstep\tacc\n1\t0\t0.5\n")
        with (metrics / "train" / "loss.tsv").open("a") as f:
            f.write(f"2\t1\t{1 + offset}\n")
        with (metrics / "val" / "acc.tsv").open("a") as f:
            f.write("2\t1\t0.7\n")
    table = training_long(tmp_path, rates=[0.0, 0.2])
    assert list(table.columns) == ["rate", "epoch", "loss", "val_acc"]
    assert table["rate"].tolist() == [0.0, 0.0, 0.2, 0.2]
    assert table["epoch"].tolist() == [0, 1, 0, 1]
    assert table["loss"].tolist() == [2.0, 1.0, 3.0, 2.0]
    assert table["val_acc"].tolist() == [0.5, 0.7, 0.5, 0.7]
    with pytest.raises(ValueError, match=r"0\.1.*loss\.tsv: training curve not found"):
        training_long(tmp_path, rates=[0.1])


# ----------------------------------------------------------------------------- headline


def _headline_metrics(*, oracle: bool = True) -> Metrics:
    accuracy = {"none": 0.70, "random": 0.69, "cleanlab": 0.80, "aum": 0.76}
    if oracle:
        accuracy["oracle"] = 0.90
    rows = []
    for seed, shift in ((0, -0.01), (1, 0.01)):  # seed means are the values above
        for method, value in accuracy.items():
            rows.append((seed, 0.2, method, value + shift))
            rows.append((seed, 0.0, method, 0.99))  # another rate: must not count
    runs = _runs(rows)
    detect = pd.DataFrame(
        [
            (seed, rate, method, f1 + (0.3 if rate == 0.0 else 0.0), f1k, auroc, rate,
             rate + 0.01, rate + error)
            for seed in (0, 1)
            for rate in (0.0, 0.2)
            for method, f1, f1k, auroc, error in (
                ("oracle", 1.0, 1.0, 1.0, 0.0),
                ("random", 0.2, 0.2, 0.5, 0.0),
                ("cleanlab", 0.6, 0.8, 0.7, 0.05),
                ("aum", 0.5, 0.85, 0.9, 0.2),
            )
        ],
        columns=[
            "seed", "rate", "method", "f1", "f1_at_k", "auroc", "true_noise_rate",
            "trusted_noise_rate", "estimated_noise_rate",
        ],
    )  # fmt: skip
    return Metrics(runs=runs, per_class=pd.DataFrame(), detect=detect)


REGRESSION = {"accuracy": {"methods": {"none": {"slope": -1.5}}}, "n_runs": 2}


def test_headline_recovery_is_the_share_of_the_oracle_gain():
    summary = headline(_headline_metrics(), REGRESSION, rate=0.2)
    assert summary["rate"] == 0.2
    assert summary["accuracy"] == pytest.approx(
        {"none": 0.70, "random": 0.69, "cleanlab": 0.80, "aum": 0.76, "oracle": 0.90}
    )
    # The best cleaning method, never a reference arm (oracle, random, none).
    assert summary["best_method"] == "cleanlab"
    assert summary["recovery"] == pytest.approx((0.80 - 0.70) / (0.90 - 0.70))
    detection = summary["detection"]
    assert detection["best_f1_method"] == "cleanlab" and detection["best_f1"] == pytest.approx(0.6)
    assert detection["best_auroc_method"] == "aum"
    assert detection["best_auroc"] == pytest.approx(0.9)
    assert detection["best_f1_at_k_method"] == "aum"
    # The trusted set's estimate is off by 0.01 everywhere, cleanlab's by 0.05: the oracle and
    # random arms (which know the truth) are not estimators.
    assert summary["noise_rate"]["best_estimator"] == "trusted"
    assert summary["noise_rate"]["max_error"] == pytest.approx(0.01)
    # Both seeds close half the gap to the oracle: an interval over seeds of width 0.
    assert summary["recovery_low"] == pytest.approx(0.5) == summary["recovery_high"]
    # The clean-label ceiling is the baseline at rate 0 (0.99): no oracle_relabel arm here.
    assert summary["ceiling"] == pytest.approx(0.99)
    # The mean of each seed's share: 0.10 / 0.30 and 0.10 / 0.28.
    assert summary["gap_closed"] == pytest.approx((0.10 / 0.30 + 0.10 / 0.28) / 2)
    assert summary["noisy_slope"] == -1.5 and summary["n_seeds"] == 2
    json.dumps(summary, allow_nan=False)


def test_headline_without_oracle_has_no_recovery():
    summary = headline(_headline_metrics(oracle=False), REGRESSION, rate=0.2)
    assert summary["best_method"] == "cleanlab"
    assert summary["recovery"] is None and summary["recovery_low"] is None


def test_gap_closed_is_measured_against_the_clean_label_ceiling():
    from labelnoise.regress import ceiling_arm, gap_closed

    rows = [(0, 0.2, "none", 0.80), (0, 0.2, "cleanlab", 0.86), (0, 0.2, "oracle", 0.88)]
    rows += [(0, 0.0, "none", 0.92)]
    runs = _runs(rows)
    # No arm trained on every true label at 0.2: the baseline at rate 0 is the ceiling.
    assert ceiling_arm(runs, 0.2) == (0.0, "none")
    value, low, high = gap_closed(runs, rate=0.2, method="cleanlab", target=(0.0, "none"))
    assert value == pytest.approx(0.5)
    assert low < 0.5 < high  # one seed: the test-sampling bootstrap
    recovery = gap_closed(runs, rate=0.2, method="cleanlab", target=(0.2, "oracle"))
    assert recovery[0] == pytest.approx(0.75)
    with_relabel = _runs([*rows, (0, 0.2, "oracle_relabel", 0.90)])
    assert ceiling_arm(with_relabel, 0.2) == (0.2, "oracle_relabel")
    assert ceiling_arm(_runs(rows[:2]), 0.2) is None
    # A target no better than the noisy arm leaves the share undefined.
    assert gap_closed(runs, rate=0.2, method="oracle", target=(0.2, "none")) is None


def test_gap_closed_over_seeds_has_a_t_interval():
    from labelnoise.regress import gap_closed

    rows = []
    for seed, share in enumerate((0.4, 0.5, 0.6)):
        rows += [(seed, 0.2, "none", 0.80), (seed, 0.0, "none", 0.90)]
        rows += [(seed, 0.2, "second", 0.80 + share * 0.10)]
    value, low, high = gap_closed(_runs(rows), rate=0.2, method="second", target=(0.0, "none"))
    assert value == pytest.approx(0.5)
    # t(2) 97.5% = 4.303, sd 0.1, three seeds.
    assert high - value == pytest.approx(4.303 * 0.1 / np.sqrt(3), rel=1e-3)
    assert low == pytest.approx(2 * value - high)


def test_recovery_interval_narrows_with_test_images_and_needs_a_gap():
    from labelnoise.regress import recovery_interval

    small = recovery_interval((700, 1000), (800, 1000), (900, 1000))
    large = recovery_interval((7000, 10000), (8000, 10000), (9000, 10000))
    assert small[0] < 0.5 < small[1] and large[0] < 0.5 < large[1]
    assert large[1] - large[0] < 0.5 * (small[1] - small[0])
    assert recovery_interval((900, 1000), (800, 1000), (899, 1000)) is None
