import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from labelnoise import layout
from labelnoise.metrics import Grid, baseline_file, collect, detect_file, retrain_file
from labelnoise.params import read_yaml
from labelnoise.regress import (
    accuracy_fit_table,
    accuracy_plot_table,
    accuracy_table,
    detection_plot_table,
    fit_accuracy,
    fit_estimates,
    fit_inverse,
    regression_report,
)

RATES = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4]
CLASSES = ["blobs", "blur", "channels", "hue"]
N_TEST = 2000
# True logit-accuracy lines: (intercept, slope).
TRUTH = {
    "none": (2.5, -6.0),
    "oracle": (2.5, -1.0),
    "random": (2.4, -6.0),
    "cleanlab": (2.5, -3.0),
}
# Detection files written: two with their own estimates, plus the arms the shipped stage scores.
DETECTED = ("cleanlab", "halver", "oracle", "random")
REPO = Path(__file__).resolve().parents[1]
# The grid the library tests read: "perfect" is retrained in every run, "halver" halves the rate.
GRID = Grid(
    rates=tuple(RATES),
    detected=("cleanlab", "halver"),
    retrained=("oracle", "random", "cleanlab", "perfect"),
)


def _classification(rng, rate: float, n_correct: int) -> dict:
    accuracy = n_correct / N_TEST
    jitter = rng.normal(0.0, 0.003, size=(2, len(CLASSES)))
    precision, recall = np.clip(accuracy + jitter, 0, 1)
    f1 = 2 * precision * recall / (precision + recall)
    return {
        "rate": rate,
        "accuracy": accuracy,
        "balanced_accuracy": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "n_test": N_TEST,
        "n_correct": n_correct,
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": N_TEST // len(CLASSES),
            }
            for k, name in enumerate(CLASSES)
        },
    }


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _make_run(root: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for rate in RATES:
        for method, (a, b) in TRUTH.items():
            n_correct = int(rng.binomial(N_TEST, expit(a + b * rate)))
            record = _classification(rng, rate, n_correct)
            if method == "none":
                _write(baseline_file(root, rate), record)
            else:
                record.update(method=method, n_kept=900, n_removed=100, n_flipped_kept=0)
                _write(retrain_file(root, method, rate), record)
        record = _classification(rng, rate, N_TEST)
        record.update(method="perfect", n_kept=1000, n_removed=0, n_flipped_kept=0)
        _write(retrain_file(root, "perfect", rate), record)
        estimates = {
            "cleanlab": rate + rng.normal(0, 0.005),
            "halver": 0.5 * rate,
            "oracle": rate,
            "random": rate,
        }
        for method in DETECTED:
            _write(
                detect_file(root, rate, method),
                {
                    "rate": rate,
                    "method": method,
                    "precision": 0.8,
                    "recall": 0.7,
                    "f1": 0.75 - rate,
                    "auroc": None if rate == 0 else 0.9,
                    "auprc": 0.6,
                    "n_flagged": 10,
                    "n_flipped": 10,
                    "false_positives": 2,
                    "f1_at_k": 0.8,
                    "flag_ratio": 1.0,
                    "false_positive_rate": 0.01,
                    "true_noise_rate": rate,
                    "trusted_noise_rate": rate + 0.01,
                    "estimated_noise_rate": estimates[method],
                },
            )
    return root


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("metrics")
    return [_make_run(base / f"seed{s}", s) for s in range(3)]


@pytest.fixture(scope="module")
def fit(roots) -> dict:
    table = accuracy_table(collect(roots, grid=GRID, seeds=[0, 1, 2]).runs)
    return fit_accuracy(table, n_boot=2000, seed=0)


def test_collect_reads_every_run(roots):
    metrics = collect(roots, grid=GRID, seeds=[10, 11, 12])
    assert set(metrics.runs["seed"]) == {10, 11, 12}
    assert len(metrics.runs) == 3 * len(RATES) * 5  # baseline + four retrained methods
    assert set(metrics.runs["method"]) == {"none", "oracle", "random", "cleanlab", "perfect"}
    assert len(metrics.per_class) == len(metrics.runs) * len(CLASSES)
    assert set(metrics.detect["method"]) == {"cleanlab", "halver"}
    assert len(metrics.detect) == 3 * len(RATES) * 2
    assert metrics.detect["auroc"].isna().sum() == 3 * 2  # rate 0, two methods, three seeds


def test_glm_recovers_logit_slopes_and_tolerance(fit):
    methods = fit["methods"]
    for name, (a, b) in TRUTH.items():
        entry = methods[name]
        low, high = entry["logit_slope_ci"]
        assert low < b < high, (name, entry["logit_slope_ci"])
        assert entry["intercept"] == pytest.approx(expit(a), abs=0.01)
        p0 = expit(a)
        assert entry["slope"] == pytest.approx(b * p0 * (1 - p0), rel=0.15)
        for drop in (1, 5):
            analytic = (logit(p0 - drop / 100) - a) / b
            key = f"tolerance_{drop}pt"
            assert entry[key] == pytest.approx(analytic, rel=0.2, abs=0.01), (name, key)
            lo, hi = entry[f"{key}_ci"]
            assert lo <= entry[key] and (hi is None or entry[key] <= hi)
    assert methods["oracle"]["logit_slope_diff_p"] < 1e-6
    assert fit["glm"]["converged"]
    assert fit["glm"]["pseudo_r2"] > 0.9
    assert fit["ols"]["r2"] > 0.9


def test_perfect_method_is_noted_not_fitted(fit):
    entry = fit["methods"]["perfect"]
    assert entry["logit_slope"] is None and entry["tolerance_5pt"] is None
    assert "perfect separation" in entry["note"]
    assert entry["ols_slope"] == pytest.approx(0.0, abs=1e-9)
    assert "perfect" not in fit["glm"]["methods_fitted"]


def test_single_rate_and_unreached_drop_are_noted():
    rng = np.random.default_rng(1)
    rows = [
        {"seed": 0, "rate": r, "method": m, "n_test": N_TEST}
        for m in ("none", "flat")
        for r in RATES[:4]
    ] + [{"seed": 0, "rate": 0.1, "method": "lonely", "n_test": N_TEST}]
    table = pd.DataFrame(rows)
    slope = np.where(table["method"] == "none", -6.0, 0.0)
    table["n_correct"] = rng.binomial(N_TEST, expit(2.0 + slope * table["rate"]))
    table["accuracy"] = table["n_correct"] / N_TEST
    table["n_wrong"] = N_TEST - table["n_correct"]
    result = fit_accuracy(table, n_boot=500, seed=0)
    assert "one rate only" in result["methods"]["lonely"]["note"]
    flat = result["methods"]["flat"]
    assert flat["tolerance_5pt"] is None and "never drops 5 point" in flat["note"]
    assert result["methods"]["none"]["tolerance_1pt"] is not None


def test_fit_table_and_plot_tables(roots, fit):
    metrics = collect(roots, grid=GRID)
    table = accuracy_table(metrics.runs)
    curve = accuracy_fit_table(table, fit, n_grid=41)
    assert len(curve) == 41  # every observed rate lies on the 0.01 grid
    assert curve["none"].notna().sum() == len(RATES)
    assert curve["perfect_fit"].isna().all()
    assert curve["oracle_fit"].is_monotonic_decreasing
    wide = accuracy_plot_table(table)
    assert list(wide.columns) == ["rate", "none", "cleanlab", "oracle", "perfect", "random"]
    assert len(wide) == len(RATES)
    detection = detection_plot_table(metrics.detect)
    assert {"cleanlab_f1", "cleanlab_auroc", "halver_f1"} <= set(detection.columns)
    assert np.isnan(detection.loc[0, "cleanlab_auroc"])


def test_inverse_reads_rate_back(roots):
    runs = collect(roots, grid=GRID).runs
    result = fit_inverse(runs[runs["method"] == "none"])
    summary = result["summary"]
    # The synthetic per-class scores are accuracy plus jitter: near copies of it.
    assert summary["features"] == ["accuracy"]
    assert set(summary["dropped_features"]) == {"macro_precision", "macro_recall", "macro_f1"}
    assert summary["estimator"] == "ols"
    assert summary["loro_mae"] < 0.05
    assert summary["loro_mae"] < result["null_loro_mae"] / 2
    assert result["accuracy"]["loro_rmse"] < 0.06
    assert result["n_rates"] == len(RATES)


def test_estimates_recover_unbiased_and_halving(roots):
    result = fit_estimates(collect(roots, grid=GRID).detect)
    low, high = result["cleanlab"]["slope_ci"]
    assert low < 1.0 < high and result["cleanlab"]["mae"] < 0.01
    assert result["halver"]["slope"] == pytest.approx(0.5)
    assert result["halver"]["bias"] < 0


def test_report_keys(roots):
    report = regression_report(collect(roots, grid=GRID), n_boot=200)
    assert set(report) == {"accuracy", "inverse", "estimates", "n_runs", "seeds"}
    assert report["n_runs"] == 3 and report["seeds"] == [0, 1, 2]
    json.dumps(report, allow_nan=False, default=float)


def test_missing_inputs_name_the_directory(tmp_path, roots):
    with pytest.raises(ValueError, match="nowhere"):
        collect([tmp_path / "nowhere"], grid=GRID)
    (tmp_path / "run" / "baseline").mkdir(parents=True)
    missing = baseline_file(tmp_path / "run", RATES[0])
    with pytest.raises(ValueError, match=re.escape(f"{missing}: metric file not found")):
        collect([tmp_path / "run"], grid=GRID)
    with pytest.raises(ValueError, match="reference method 'nope'"):
        fit_accuracy(accuracy_table(collect(roots, grid=GRID).runs), reference="nope")
    with pytest.raises(ValueError, match="2 seeds for 3"):
        collect(roots, grid=GRID, seeds=[0, 1])


def test_collect_reads_only_the_grid(tmp_path, roots):
    root = tmp_path / "run"
    shutil.copytree(roots[0], root)
    expected = collect([root], grid=GRID)
    # Files of another grid beside the grid's: unreadable, so opening any of them would fail.
    stale = [
        baseline_file(root, 0.5),
        retrain_file(root, "oracle", 0.5),
        retrain_file(root, "stale", 0.1),
        root / "retrain" / "0.1-oracle.json",  # the old flat layout
        detect_file(root, 0.1, "stale"),
        detect_file(root, 0.5, "cleanlab"),
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not json {")
    metrics = collect([root], grid=GRID)
    pd.testing.assert_frame_equal(metrics.runs, expected.runs)
    pd.testing.assert_frame_equal(metrics.detect, expected.detect)
    assert set(metrics.runs["rate"]) == set(RATES)
    opened = set(metrics.runs["file"]) | set(metrics.detect["file"])
    assert not opened & {str(path) for path in stale}
    # A smaller grid reads a subset: another rate list and fewer methods.
    small = Grid(rates=(0.1, 0.2), detected=("halver",), retrained=("oracle",))
    subset = collect([root], grid=small)
    assert set(subset.runs["rate"]) == {0.1, 0.2}
    assert set(subset.runs["method"]) == {"none", "oracle"}
    assert set(subset.detect["method"]) == {"halver"} and len(subset.detect) == 2


def test_collect_refuses_missing_and_mislabelled_grid_files(tmp_path, roots):
    root = tmp_path / "run"
    shutil.copytree(roots[0], root)
    gone = retrain_file(root, "random", 0.2)
    gone.unlink()
    with pytest.raises(ValueError, match=re.escape(f"{gone}: metric file not found")):
        collect([root], grid=GRID)
    # A file holding another rate than its name says (a copy of 0.3 under 0.2).
    shutil.copy(retrain_file(root, "random", 0.3), gone)
    with pytest.raises(ValueError, match=re.escape(f"{gone}: holds rate 0.3, expected 0.2")):
        collect([root], grid=GRID)
    shutil.copy(retrain_file(roots[0], "random", 0.2), gone)
    collect([root], grid=GRID)  # repaired
    wrong = detect_file(root, 0.1, "halver")
    shutil.copy(detect_file(root, 0.1, "cleanlab"), wrong)
    with pytest.raises(
        ValueError, match=re.escape(f"{wrong}: holds method 'cleanlab', expected 'halver'")
    ):
        collect([root], grid=GRID)
    wrong_rate = baseline_file(root, 0.0)
    shutil.copy(baseline_file(root, 0.4), wrong_rate)
    shutil.copy(detect_file(roots[0], 0.1, "halver"), wrong)
    with pytest.raises(ValueError, match=re.escape(f"{wrong_rate}: holds rate 0.4, expected 0.0")):
        collect([root], grid=GRID)


def _stage_repo(tmp_path: Path) -> Path:
    """params.yaml for the toy metrics: the shipped one with a smaller grid."""
    raw = read_yaml(REPO / "params.yaml")
    raw["noise"]["rates"] = RATES
    raw["clean"]["methods"] = ["none", "oracle", "random", "cleanlab"]
    raw["clean"]["trained"] = ["aum"]
    raw["retrain"].update(
        methods=["oracle", "random", "cleanlab"], relabel=[], second=[], robust=[]
    )
    raw["regress"]["bootstrap"] = 300
    raw["report"]["rate"] = 0.2
    (tmp_path / "params.yaml").write_text(json.dumps(raw))  # JSON is YAML 1.2
    for method in ("oracle", "random", "cleanlab", "aum"):
        _write(
            layout.pr_file(tmp_path / "pr", 0.2, method),
            {"curve": [[0.0, 1.0], [0.5, 0.8], [1.0, 0.3]]},
        )
    for rate in RATES:
        metrics = layout.live_dir(tmp_path / "live", rate) / "plots" / "metrics"
        for sub, name in (("train", "loss"), ("val", "acc")):
            path = metrics / sub / f"{name}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"timestamp\tstep\t{name}\n1\t0\t0.9\n2\t1\t0.5\n")
    return tmp_path


def test_stage_writes_outputs(tmp_path, roots):
    repo = _stage_repo(tmp_path)
    # The params' grid detects with aum too: its files are cleanlab's, renamed.
    metrics = tmp_path / "metrics"
    shutil.copytree(roots[1], metrics)
    for rate in RATES:
        record = json.loads(detect_file(metrics, rate, "cleanlab").read_text())
        _write(detect_file(metrics, rate, "aum"), {**record, "method": "aum"})
    command = [
        sys.executable,
        str(REPO / "stages" / "regress.py"),
        "--out",
        "reg.json",
        "--summary",
        "summary.json",
        "--plots-dir",
        "plots",
        "--pr-dir",
        "pr",
        "--live-dir",
        "live",
    ]
    done = subprocess.run(
        [*command, "--metrics-dir", str(metrics)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((repo / "reg.json").read_text())
    assert report["accuracy"]["methods"]["none"]["tolerance_1pt_ci"][0] is not None
    # "halver" and "perfect" are not in params.yaml's grid: their files stay out of the fits.
    assert set(report["accuracy"]["methods"]) == {"none", "oracle", "random", "cleanlab"}
    assert set(report["estimates"]) == {"oracle", "random", "cleanlab", "aum"}
    summary = json.loads((repo / "summary.json").read_text())
    assert summary["rate"] == 0.2 and summary["best_method"] == "cleanlab"
    assert 0.0 < summary["recovery"] < 1.0
    accuracy = pd.read_csv(repo / "plots" / "accuracy.csv")
    assert list(accuracy.columns) == ["rate", "method", "accuracy"]
    assert len(accuracy) == len(RATES) * 4
    for name in (
        "accuracy_fit.csv",
        "detection_f1.csv",
        "detection_auroc.csv",
        "pr.csv",
        "training_loss.csv",
        "val_accuracy.csv",
    ):
        assert (repo / "plots" / name).is_file(), name
    failed = subprocess.run(
        [*command, "--metrics-dir", "absent"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2 and "absent" in failed.stderr


def test_accuracy_interval_pools_seeds_or_counts_test_sampling():
    from labelnoise.regress import accuracy_interval, accuracy_interval_table

    one = pd.DataFrame(
        {"seed": [0], "rate": [0.2], "method": ["none"], "accuracy": [0.9]}
        | {"n_correct": [900], "n_test": [1000]}
    )
    value, low, high = accuracy_interval(one, rate=0.2, method="none")
    assert value == 0.9 and 0.878 < low < 0.9 < high < 0.92  # Wilson on 1,000 images
    seeds = pd.DataFrame(
        {"seed": [0, 1, 2], "rate": 0.2, "method": "none", "accuracy": [0.90, 0.92, 0.94]}
        | {"n_correct": [900, 920, 940], "n_test": 1000}
    )
    value, low, high = accuracy_interval(seeds, rate=0.2, method="none")
    half = 4.303 * 0.02 / np.sqrt(3)  # t(0.975, 2 df) * sd / sqrt(n)
    assert value == pytest.approx(0.92) and high - value == pytest.approx(half, rel=1e-3)
    assert accuracy_interval(seeds, rate=0.4, method="none") is None
    table = accuracy_interval_table(pd.concat([one.assign(method="cleanlab"), seeds]))
    assert list(table.columns) == ["rate", "method", "accuracy", "low", "high"]
    assert set(table["method"]) == {"none", "cleanlab"} and (table["low"] < table["high"]).all()
