import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from labelnoise.regress import (
    accuracy_fit_table,
    accuracy_plot_table,
    accuracy_table,
    collect,
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
TRUTH = {"none": (2.5, -6.0), "oracle": (2.5, -1.0), "random": (2.4, -6.0)}
REPO = Path(__file__).resolve().parents[1]


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


def _make_run(root: Path, seed: int, *, perfect: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    for rate in RATES:
        for method, (a, b) in TRUTH.items():
            n_correct = int(rng.binomial(N_TEST, expit(a + b * rate)))
            record = _classification(rng, rate, n_correct)
            if method == "none":
                _write(root / "baseline" / f"{rate}.json", record)
            else:
                record.update(method=method, n_kept=900, n_removed=100, n_flipped_kept=0)
                _write(root / "retrain" / f"{rate}-{method}.json", record)
        if perfect:
            record = _classification(rng, rate, N_TEST)
            record.update(method="perfect", n_kept=1000, n_removed=0, n_flipped_kept=0)
            _write(root / "retrain" / f"{rate}-perfect.json", record)
        estimates = {"cleanlab": rate + rng.normal(0, 0.005), "halver": 0.5 * rate}
        for method, estimate in estimates.items():
            _write(
                root / "detect" / f"{rate}-{method}.json",
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
                    "true_noise_rate": rate,
                    "estimated_noise_rate": estimate,
                },
            )
    return root


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("metrics")
    return [_make_run(base / f"seed{s}", s, perfect=s == 0) for s in range(3)]


@pytest.fixture(scope="module")
def fit(roots) -> dict:
    table = accuracy_table(collect(roots, seeds=[0, 1, 2]).runs)
    return fit_accuracy(table, n_boot=2000, seed=0)


def test_collect_reads_every_run(roots):
    metrics = collect(roots, seeds=[10, 11, 12])
    assert set(metrics.runs["seed"]) == {10, 11, 12}
    assert len(metrics.runs) == 3 * len(RATES) * 3 + len(RATES)  # + "perfect" in seed 0
    assert set(metrics.runs["method"]) == {"none", "oracle", "random", "perfect"}
    assert len(metrics.per_class) == len(metrics.runs) * len(CLASSES)
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
    metrics = collect(roots)
    table = accuracy_table(metrics.runs)
    curve = accuracy_fit_table(table, fit, n_grid=41)
    assert len(curve) == 41  # every observed rate lies on the 0.01 grid
    assert curve["none"].notna().sum() == len(RATES)
    assert curve["perfect_fit"].isna().all()
    assert curve["oracle_fit"].is_monotonic_decreasing
    wide = accuracy_plot_table(table)
    assert list(wide.columns) == ["rate", "none", "oracle", "perfect", "random"]
    assert len(wide) == len(RATES)
    detection = detection_plot_table(metrics.detect)
    assert {"cleanlab_f1", "cleanlab_auroc", "halver_f1"} <= set(detection.columns)
    assert np.isnan(detection.loc[0, "cleanlab_auroc"])


def test_inverse_reads_rate_back(roots):
    runs = collect(roots).runs
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
    result = fit_estimates(collect(roots).detect)
    low, high = result["cleanlab"]["slope_ci"]
    assert low < 1.0 < high and result["cleanlab"]["mae"] < 0.01
    assert result["halver"]["slope"] == pytest.approx(0.5)
    assert result["halver"]["bias"] < 0


def test_report_keys(roots):
    report = regression_report(collect(roots), n_boot=200)
    assert set(report) == {"accuracy", "inverse", "estimates", "n_runs", "seeds"}
    assert report["n_runs"] == 3 and report["seeds"] == [0, 1, 2]
    json.dumps(report, allow_nan=False, default=float)


def test_missing_inputs_name_the_directory(tmp_path, roots):
    with pytest.raises(ValueError, match="nowhere"):
        collect([tmp_path / "nowhere"])
    (tmp_path / "run" / "baseline").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"baseline: no metric files"):
        collect([tmp_path / "run"])
    with pytest.raises(ValueError, match="reference method 'nope'"):
        fit_accuracy(accuracy_table(collect(roots).runs), reference="nope")
    with pytest.raises(ValueError, match="2 seeds for 3"):
        collect(roots, seeds=[0, 1])


def test_stage_writes_outputs(tmp_path, roots):
    shipped = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(shipped.replace("bootstrap: 2000", "bootstrap: 300"))
    command = [sys.executable, str(REPO / "stages" / "regress.py"), "--out", "reg.json"]
    done = subprocess.run(
        [*command, "--metrics-dir", str(roots[1]), "--plots-dir", "plots"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "reg.json").read_text())
    assert report["accuracy"]["methods"]["none"]["tolerance_1pt_ci"][0] is not None
    # "halver" and "perfect" are not in params.yaml's grid: their files stay out of the fits.
    assert "perfect" not in report["accuracy"]["methods"] and "halver" not in report["estimates"]
    for name in ("accuracy.csv", "detection.csv", "regression/accuracy_fit.csv"):
        assert (tmp_path / "plots" / name).is_file()
    failed = subprocess.run(
        [*command, "--metrics-dir", "absent", "--plots-dir", "plots"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2 and "absent" in failed.stderr
