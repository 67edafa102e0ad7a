import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import headless
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.special import expit

from labelnoise import layout
from labelnoise.clean import CleanResult, save_result
from labelnoise.data.store import Dataset, save_dataset
from labelnoise.io import save_npy, write_csv, write_json
from labelnoise.issues import LABEL_COLUMNS, dataset_issues
from labelnoise.metrics import Grid, baseline_file, collect, detect_file, retrain_file
from labelnoise.report import (
    OtherIssues,
    build_report,
    issue_summary_table,
    top_suspects,
    trust_notice,
)

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["blobs", "blur", "channels", "hue"]
RATES = [0.0, 0.1, 0.2]
RATE = 0.2
N_TRAIN, SIZE, TOP_K = 80, 8, 3
GALLERY = ["cleanlab", "tvnet", "data_params", "consensus", "oracle"]
# The grid of the params.yaml written below: clean.methods + clean.trained without "none".
DETECTED = ("oracle", "cleanlab", "consensus", "tvnet", "data_params")
RETRAINED = ("oracle", "cleanlab", "tvnet")
FIGURES = (
    "review_rows",
    "tsne",
    "training_values",
    "dp_trajectories",
    "relevance_mask",
    "accuracy_vs_rate",
    "detection_vs_rate",
    "review_effort",
)


def _classification(rate: float, accuracy: float, n_test: int = 400) -> dict:
    n_correct = round(accuracy * n_test)
    scores = {"precision": accuracy, "recall": accuracy, "f1": accuracy, "support": n_test // 4}
    return {
        "rate": rate,
        "accuracy": n_correct / n_test,
        "balanced_accuracy": accuracy,
        "macro_f1": accuracy,
        "n_test": n_test,
        "n_correct": n_correct,
        "per_class": {name: scores for name in CLASSES},
    }


def _metrics(root: Path) -> None:
    from labelnoise.regress import regression_report

    slopes = {"none": -3.0, "oracle": -0.5, "cleanlab": -1.0, "tvnet": -1.5}
    metrics_dir = root / "metrics"
    for rate in RATES:
        for method, slope in slopes.items():
            record = _classification(rate, float(expit(2.0 + slope * rate)))
            if method == "none":
                write_json(baseline_file(metrics_dir, rate), record)
            else:
                record["method"] = method
                write_json(retrain_file(metrics_dir, method, rate), record)
        for k, method in enumerate(DETECTED):
            write_json(
                detect_file(metrics_dir, rate, method),
                {
                    "rate": rate,
                    "method": method,
                    "precision": 0.8,
                    "recall": 0.7,
                    "f1": 0.9 - 0.1 * k - rate,
                    "auroc": None if rate == 0 else 0.95 - 0.05 * k,
                    "auprc": 0.6,
                    "n_flagged": 10,
                    "n_flipped": int(rate * N_TRAIN),
                    "false_positives": 2,
                    "f1_at_k": 0.9 - 0.1 * k,
                    "flag_ratio": 1.0,
                    "false_positive_rate": 0.01,
                    "true_noise_rate": rate,
                    "trusted_noise_rate": rate,
                    "estimated_noise_rate": rate * (1 + 0.2 * k),
                },
            )
    # A file of an earlier layout and one of a method no longer run: the stage must not open
    # them (they are not even JSON).
    (metrics_dir / "retrain" / f"{layout.rate_name(RATE)}-oracle.json").write_text("stale {")
    (metrics_dir / "detect" / f"{layout.rate_name(RATE)}-mistakenness.json").write_text("stale {")
    grid = Grid(rates=tuple(RATES), detected=DETECTED, retrained=RETRAINED)
    metrics = collect([metrics_dir], grid=grid, seeds=[0])
    write_json(metrics_dir / "regression.json", regression_report(metrics, n_boot=100, seed=0))


def _tree(root: Path) -> dict:
    """A tiny pipeline output tree: dataset, labels, training outputs, cleaning results, metrics."""
    rng = np.random.default_rng(0)
    n = N_TRAIN + 16
    split = np.array(["train"] * N_TRAIN + ["val"] * 8 + ["test"] * 8)
    label = np.arange(n) % 4
    images = rng.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    images[:, :2, :2] = (label * 60)[:, None, None, None].astype(np.uint8)
    images[n - 1] = images[0]  # the last test image is a copy of the first train image: a leak
    index = pd.DataFrame(
        {
            "id": np.arange(n),
            "split": split,
            "label": label,
            "label_name": [CLASSES[k] for k in label],
            "coarse": label,
            "fine": -1,
            "source": "synthetic",
        }
    )
    meta = {
        "task": "coarse",
        "classes": CLASSES,
        "coarse": CLASSES,
        "fine": [],
        "fine_to_coarse": [],
        "image_size": SIZE,
        "hflip_safe": True,
    }
    save_dataset(Dataset(images, index, meta), root / "data" / "dataset")
    true = label[:N_TRAIN]
    for rate in RATES:
        flipped = np.zeros(N_TRAIN, bool)
        flipped[rng.choice(N_TRAIN, size=round(rate * N_TRAIN), replace=False)] = True
        given = np.where(flipped, (true + 1 + rng.integers(0, 3, N_TRAIN)) % 4, true)
        write_csv(
            pd.DataFrame(
                {"id": np.arange(N_TRAIN), "true": true, "given": given, "flipped": flipped}
            ),
            layout.noisy_labels(root / "data" / "noisy", rate),
        )
        logits = rng.normal(0, 1, (N_TRAIN, 4)) + 3 * np.eye(4)[true]
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        train = root / "data" / "train"
        save_npy(layout.oos_probs(train, rate), probs.astype(np.float32))
        features = rng.normal(0, 1, (N_TRAIN, 12)) + true[:, None]
        save_npy(layout.features(train, rate, "train"), features)
    # Cleaning results only at the report rate (the stage must not need others); `given`,
    # `flipped` and `probs` are those of the last rate, 0.2.
    clean = root / "data" / "clean"
    quality = 1 - probs[np.arange(N_TRAIN), given]
    values = np.where(flipped, -0.5, 0.5) + rng.normal(0, 0.2, N_TRAIN)
    trajectory = np.exp(np.cumsum(np.where(flipped, 0.2, -0.2) * np.ones((5, 1)), axis=0))
    results = {
        "none": CleanResult(np.zeros(N_TRAIN), np.zeros(N_TRAIN, bool), 0.0, {}),
        "oracle": CleanResult(flipped * 1.0, flipped, flipped.mean(), {}),
        "cleanlab": CleanResult(
            quality, quality > 0.5, 0.2, {"suggested_label": probs.argmax(axis=1)}
        ),
        "tvnet": CleanResult(-values, values < 0, (values < 0).mean(), {"predicted_value": values}),
        "data_params": CleanResult(
            trajectory[-1],
            flipped,
            0.2,
            {
                "trajectory": trajectory,
                "category": np.where(flipped, 1, 0).astype(np.int8),
                "best_epoch": np.int64(4),
            },
        ),
        "consensus": CleanResult(quality + values.clip(max=0), quality > 0.5, 0.2, {}),
    }
    for name, result in results.items():
        save_result(result, layout.result_file(clean, RATE, name))
    _metrics(root)
    params = {
        "seed": 0,
        "noise": {"rates": RATES},
        "clean": {
            "methods": ["none", "oracle", "cleanlab", "consensus"],
            "trained": ["tvnet", "data_params"],
            "consensus": {"members": ["cleanlab", "tvnet", "data_params"]},
        },
        "retrain": {"methods": list(RETRAINED)},
        "results": {"method": "cleanlab"},  # one of the drop arms
        "report": {"top_k": TOP_K},
    }
    (root / "params.yaml").write_text(json.dumps(params))
    (root / "plots" / "images").mkdir(parents=True, exist_ok=True)
    Image.fromarray(images[0]).save(root / "plots" / "images" / "alterations.png")
    dataset = Dataset(images, index, meta)
    labels = pd.DataFrame({"id": np.arange(N_TRAIN), "path": "synthetic"}).assign(
        is_label_issue=quality > 0.5,
        label_score=1 - quality,
        given_label=[CLASSES[k] for k in given],
        predicted_label=[CLASSES[k] for k in probs.argmax(axis=1)],
    )
    features = rng.normal(0, 1, (N_TRAIN, 12)) + true[:, None]
    found = dataset_issues(dataset, labels[list(LABEL_COLUMNS)], given, features, probs)
    for frame, name in zip(found, ("issues", "issue_summary", "leaks"), strict=True):
        write_csv(frame, root / "results" / f"{name}.csv")
    return {"flipped": flipped, "given": given, "probs": probs}


def _run_stage(root: Path, out: str = "out/report/index.html", figures: str = "out/images"):
    command = [sys.executable, str(REPO / "stages" / "report.py")]
    command += ["--dataset", "data/dataset", "--noisy", "data/noisy", "--train", "data/train"]
    command += ["--clean", "data/clean", "--metrics-dir", "metrics"]
    command += ["--regression", "metrics/regression.json"]
    command += ["--issue-table", "results/issues.csv", "--issue-summary"]
    command += ["results/issue_summary.csv", "--leaks", "results/leaks.csv"]
    command += ["--alterations", "plots/images/alterations.png"]
    command += ["--figures-dir", figures, "--out", out]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    truth = _tree(root)
    done = _run_stage(root)
    assert done.returncode == 0, done.stderr
    return root, truth, done


def test_top_suspects_per_class_in_score_order():
    labels = np.array([0, 0, 0, 1, 1, 2])
    scores = np.array([0.1, 0.9, 0.5, 0.3, 0.3, 0.0])
    out = top_suspects({"m": scores, "k": -scores}, labels, top_k=2)
    m = out[out["method"] == "m"]
    assert m["row"].tolist() == [1, 2, 3, 4, 5]  # ties broken by the lower row
    assert m["rank"].tolist() == [0, 1, 0, 1, 0]
    assert out[out["method"] == "k"]["row"].tolist() == [0, 2, 3, 4, 5]


def test_top_suspects_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        top_suspects({"m": np.zeros(3)}, np.zeros(4, int), top_k=1)
    with pytest.raises(ValueError, match="NaN"):
        top_suspects({"m": np.array([np.nan])}, np.zeros(1, int), top_k=1)
    with pytest.raises(ValueError, match="top_k"):
        top_suspects({"m": np.zeros(1)}, np.zeros(1, int), top_k=0)


def test_stage_writes_figures_and_offline_page(project):
    root, truth, _ = project
    for name in FIGURES:
        assert (root / "out" / "images" / f"{name}.png").stat().st_size > 1000, name
    # Writes only where it is told.
    assert [p.name for p in (root / "plots" / "images").iterdir()] == ["alterations.png"]
    assert 'id="other-issues"' in (root / "out" / "report" / "index.html").read_text()
    page = (root / "out" / "report" / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    for table in (
        "baseline-table",
        "retrain-table",
        "detection-f1-table",
        "detection-auroc-table",
        "regression-table",
        "noise-estimate-table",
        "estimate-fit-table",
    ):
        assert f'id="{table}"' in page, table
    for name in FIGURES:
        assert f'id="fig-{name}"' in page, name
    # The first screen: the headline, the issue summary (the file's counts) and the settings,
    # before any figure or other table.
    order = [page.index(f'id="{sid}"') for sid in ("glance", "figures", "summary", "review")]
    assert order == sorted(order)
    glance = page[order[0] : order[1]]
    assert "wins back" in glance and 'id="headline-table"' in glance
    assert "One seed: the 95% intervals count test sampling only" in glance
    assert 'id="issue-summary-table"' in glance and 'id="settings-table"' in glance
    assert "<th>commit</th>" in glance and "<th>flag criterion</th>" in glance
    summary = pd.read_csv(root / "results" / "issue_summary.csv")
    shown = dict(re.findall(r'<td class="text" data-value="(\w+)">.*?</td>.*?'
                            r'<td data-value="(\d+)\.0">', glance))  # fmt: skip
    assert {k: int(v) for k, v in shown.items()} == dict(
        zip(summary["issue_type"], summary["num_issues"], strict=True)
    )
    cards = re.findall(r'<div class="card[^"]*" data-method="(\w+)" data-class="(\w+)"', page)
    assert len(cards) == len(GALLERY) * len(CLASSES) * TOP_K
    assert [m for m in dict.fromkeys(c[0] for c in cards)] == GALLERY  # "none" left out
    assert "image-rendering: pixelated" in page
    # The oracle's suspects are exactly the flips, and the page says so.
    oracle = re.findall(r'data-method="oracle" data-class="(\w+)"[^>]*data-flipped="(\w+)"', page)
    flips = np.bincount(truth["given"][truth["flipped"]], minlength=len(CLASSES))
    for k, name in enumerate(CLASSES):
        shown = [flag for klass, flag in oracle if klass == name]
        assert shown.count("true") == min(flips[k], TOP_K), name


def test_stage_names_missing_input(project, tmp_path):
    root, _, _ = project
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("out"))
    layout.result_file(copy / "data" / "clean", RATE, "tvnet").unlink()
    done = _run_stage(copy)
    assert done.returncode == 2
    assert f"tvnet/{layout.rate_name(RATE)}.npz: file not found" in done.stderr
    assert not (copy / "out" / "report").exists()


def test_build_report_rejects_out_of_range_rows():
    runs = pd.DataFrame(
        {"rate": [0.0], "method": ["none"], "accuracy": [0.9]}
        | {"balanced_accuracy": [0.9], "macro_f1": [0.9]}
    )
    detect = pd.DataFrame(
        columns=["rate", "method", "f1", "auroc", "true_noise_rate", "estimated_noise_rate"]
    )
    suspects = pd.DataFrame({"method": ["m"], "row": [5], "label": [0], "score": [1.0]})
    suspects["rank"] = 0
    with pytest.raises(ValueError, match="out of range"):
        build_report(
            runs,
            detect,
            {},
            {},
            suspects,
            np.zeros((2, 4, 4, 3), np.uint8),
            class_names=["a"],
            rate=0.1,
        )


def _cards(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#gallery .card",
        """cards => cards.map(c => ({method: c.dataset.method, klass: c.dataset.class,
            score: Number(c.dataset.score), visible: !c.hidden && c.offsetParent !== null}))""",
    )


def test_page_in_headless_chromium(project, tmp_path):
    sync_playwright = headless.sync_playwright()
    root, _, _ = project
    url = (root / "out" / "report" / "index.html").resolve().as_uri()
    shots = Path(os.environ.get("LABELNOISE_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(headless.CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            external, errors = headless.offline(page)
            page.goto(url)
            # The first screen opens on the headline, the issue summary right after it.
            headline = page.locator(".headline").bounding_box()
            assert headline is not None and headline["y"] + headline["height"] < 900
            assert "wins back" in page.locator(".headline").inner_text()
            summary = page.locator("#issue-summary-table").bounding_box()
            assert summary["y"] < page.locator("#figures").bounding_box()["y"]
            page.screenshot(path=str(shots / "first_screen.png"))
            assert page.locator("#baseline-table tbody tr").count() == len(RATES)
            assert page.locator("#regression-table tbody tr").count() >= 4
            assert page.locator("#gallery .card").count() == len(GALLERY) * len(CLASSES) * TOP_K
            broken = page.eval_on_selector_all("img", "ims => ims.filter(i => !i.naturalWidth)")
            assert broken == []

            # The gallery opens on the first method only.
            visible = [c for c in _cards(page) if c["visible"]]
            assert {c["method"] for c in visible} == {GALLERY[0]}

            page.select_option("#method-filter", "cleanlab")
            page.select_option("#class-filter", "blur")
            visible = [c for c in _cards(page) if c["visible"]]
            assert len(visible) == TOP_K
            assert all(c["method"] == "cleanlab" and c["klass"] == "blur" for c in visible)
            assert page.locator("#visible-count").inner_text().startswith(f"{TOP_K} of ")

            page.select_option("#class-filter", "all")
            page.click("#sort-score")
            scores = [c["score"] for c in _cards(page) if c["visible"]]
            assert len(scores) == TOP_K * len(CLASSES)
            assert scores == sorted(scores, reverse=True)
            page.click("#sort-score")
            scores = [c["score"] for c in _cards(page) if c["visible"]]
            assert scores == sorted(scores)

            # Clicking a header sorts the table by that column, descending first.
            page.click("#baseline-table thead th:nth-child(2)")
            column = page.eval_on_selector_all(
                "#baseline-table tbody tr td:nth-child(2)",
                "tds => tds.map(t => Number(t.dataset.value))",
            )
            assert column == sorted(column, reverse=True)

            page.select_option("#method-filter", "oracle")
            page.screenshot(path=str(shots / "report.png"), full_page=True)
        finally:
            browser.close()
    assert external == [] and errors == []
    assert (shots / "report.png").stat().st_size > 10_000
    assert (shots / "first_screen.png").stat().st_size > 10_000


def _given_runs() -> pd.DataFrame:
    rows = [(0, 0.0, m, a) for m, a in (("none", 0.80), ("cleanlab", 0.83), ("oracle", 0.80))]
    rows += [(0, 0.0, "random", 0.80), (0, 0.0, "oracle_relabel", 0.80)]
    runs = pd.DataFrame(rows, columns=["seed", "rate", "method", "accuracy"])
    runs["balanced_accuracy"] = runs["macro_f1"] = runs["accuracy"]
    runs["n_test"] = 2_000
    runs["n_correct"] = (runs["accuracy"] * 2_000).round().astype(int)
    return runs


def test_with_your_labels_as_given_the_page_shows_only_what_can_vary():
    from labelnoise.glance import Glance, cleaned_model_html

    runs = _given_runs()
    detect = pd.DataFrame(
        {"seed": 0, "rate": 0.0, "method": ["cleanlab", "oracle"], "f1": np.nan}
        | {"auroc": np.nan, "true_noise_rate": 0.0, "estimated_noise_rate": [0.1, 0.0]}
    )
    suspects = pd.DataFrame({"method": ["cleanlab"], "row": [0], "label": [0], "score": [1.0]})
    suspects["rank"] = 0
    head = cleaned_model_html(runs, method="cleanlab", flagged=12, n_train=100)
    page = build_report(
        runs, detect, {"accuracy": {"methods": {}}}, {"tsne": b"png"}, suspects,
        np.zeros((2, 4, 4, 3), np.uint8), class_names=["a", "b"], rate=0.0, given_labels=True,
        glance=Glance(head, {"seed": "0"}),
    )  # fmt: skip
    for absent in ("detection-f1-table", "detection-auroc-table", "regression-table",
                   "retrain-table", "noise-estimate-table", ">oracle<", ">random<",
                   ">oracle_relabel<", "rate 0<"):  # fmt: skip
        assert absent not in page, absent
    assert 'id="given-table"' in page and ">+3.0 [" in page
    order = [page.index(f'id="{sid}"') for sid in ("glance", "review", "figures", "summary")]
    assert order == sorted(order)  # the suspects come first
    assert "scores <b>83.0%</b> on your test split, against 80.0%" in page
    assert "12 of 100 train images (12.0%)" in page


def test_rows_that_cannot_vary_or_repeat_another_are_left_out():
    from labelnoise.report import _distinct_estimates, _regression_table

    detect = pd.DataFrame(
        {
            "seed": 0,
            "rate": [0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2],
            "method": ["cleanlab", "aum", "knn", "oracle"] * 2,
            "estimated_noise_rate": [0.11, 0.12, 0.12, 0.1, 0.21, 0.19, 0.19, 0.2],
        }
    )
    merged = _distinct_estimates(detect)
    assert sorted(set(merged["method"])) == ["aum, knn", "cleanlab"]  # no oracle: it knows
    entry = {"intercept": 0.9, "slope": -1.0, "slope_ci": [-1.2, -0.8], "rates": [0.0, 0.2]}
    methods = {
        "none": entry | {"observed_mean_accuracy": {"0": 0.9, "0.2": 0.7}},
        "oracle_relabel": entry | {"observed_mean_accuracy": {"0": 0.98, "0.2": 0.98}},
        "once": entry | {"observed_mean_accuracy": {"0.2": 0.8}, "note": "observed at one rate"},
    }
    table = _regression_table({"accuracy": {"methods": methods}})
    assert ">none<" in table and "oracle_relabel" not in table and ">once<" not in table


def test_baseline_table_shows_hter_for_two_class_tasks():
    import pandas as pd

    from labelnoise.report import _baseline_table

    runs = pd.DataFrame(
        {
            "rate": [0.0, 0.1],
            "method": ["none", "none"],
            "accuracy": [0.9, 0.8],
            "balanced_accuracy": [0.85, 0.75],
            "macro_f1": [0.8, 0.7],
            "hter": [0.15, 0.25],
            "n_test": [100, 100],
        }
    )
    html = _baseline_table(runs)
    assert "HTER" in html and "0.25" in html
    assert "HTER" not in _baseline_table(runs.assign(hter=float("nan")))


def test_trust_notice_names_what_rests_on_carved_splits():
    assert trust_notice({"val": "given", "test": "given"}) is None
    assert trust_notice({}) is None  # a generated dataset
    both = trust_notice({"val": "carved", "test": "carved"})
    assert both.startswith("No val/ or test/ folder of checked labels was given")
    assert "noise-rate estimate" in both and "every test accuracy" in both
    only_test = trust_notice({"val": "given", "test": "carved"})
    assert "No test/ folder" in only_test and "noise-rate estimate" not in only_test


def test_trust_notice_says_what_was_reviewed():
    from labelnoise.review import review_summary

    reviewed = pd.DataFrame(
        {
            "original_label": ["cat"] * 5,
            "label": ["dog", "dog", "cat", "cat", "cat"],
            "sample": ["suspect", "suspect", "suspect", "random", "random"],
            "flagged": pd.array([True] * 3 + [False] * 2, dtype="boolean"),
        }
    )
    review = review_summary(reviewed)
    notice = trust_notice({"val": "reviewed", "test": "carved"}, review)
    assert notice.startswith("You reviewed 5 images (data.reviewed): 2 labels corrected")
    assert "the 2 drawn at random are the trusted validation set" in notice
    assert "No test/ folder" in notice and "noise-rate estimate" not in notice
    given = trust_notice({"val": "given", "test": "given"}, review)
    assert "trusted validation set" not in given and "never flagged" in given
    assert trust_notice({"val": "given", "test": "given"}, review_summary(reviewed[:0])) is None


def _other_issues() -> OtherIssues:
    """Three train images (ids 10–12), two test images (13, 14): 12 an outlier, 10 and 11 dark,
    13 a copy of 10; the summary counts what the table holds."""
    issues = pd.DataFrame(
        {
            "id": [10, 11, 12],
            "path": ["/x/a.png", "/x/b.png", "/x/far.png"],
            "given_label": ["a", "a", "b"],
            "is_outlier_issue": [False, False, True],
            "outlier_score": [0.9, 0.8, 0.01],
            "is_dark_issue": [True, True, False],
            "dark_score": [0.2, 0.1, 0.9],
        }
    )
    summary = pd.DataFrame(
        {
            "issue_type": ["outlier", "dark", "leak"],
            "num_issues": [1, 2, 1],
            "score": [0.5, 0.4, 0.8],
        }
    )
    leaks = pd.DataFrame(
        {
            "split_a": ["train"],
            "id_a": [10],
            "path_a": ["/x/a.png"],
            "split_b": ["test"],
            "id_b": [13],
            "path_b": ["/x/copy.png"],
            "kind": ["exact"],
            "pixel_distance": [0.0],
        }
    )
    images = np.zeros((15, 4, 4, 3), np.uint8)
    return OtherIssues(summary, issues, leaks, images, limit=1)


def test_issue_summary_table_shows_the_files_counts():
    html = issue_summary_table(_other_issues().summary)
    assert 'id="issue-summary-table"' in html
    cells = re.findall(r'<td data-value="[^"]*">([^<]*)</td>', html)
    assert cells == ["1", "0.500", "2", "0.400", "1", "0.800"]  # as in the file
    assert "Datalab" in html and "cleanvision" in html and "two splits" in html
    with pytest.raises(ValueError, match="num_issues"):
        issue_summary_table(pd.DataFrame({"issue_type": ["dark"], "score": [0.4]}))


def test_every_issue_type_is_described_in_the_summary_order():
    from labelnoise.issues import ISSUE_TYPES
    from labelnoise.report import ISSUE_DESCRIPTIONS

    assert list(ISSUE_DESCRIPTIONS) == list(ISSUE_TYPES)


def test_other_issues_show_n_of_m_images_per_type_and_the_leaks_with_file_names():
    runs = pd.DataFrame(
        {"rate": [0.0], "method": ["none"], "accuracy": [0.9]}
        | {"balanced_accuracy": [0.9], "macro_f1": [0.9]}
    )
    detect = pd.DataFrame(
        columns=["rate", "method", "f1", "auroc", "true_noise_rate", "estimated_noise_rate"]
    )
    suspects = pd.DataFrame({"method": ["m"], "row": [0], "label": [0], "score": [1.0]})
    suspects["rank"], suspects["path"] = 0, "/x/a.png"
    page = build_report(
        runs,
        detect,
        {"accuracy": {"methods": {"none": {}}}},
        {},
        suspects,
        np.zeros((3, 4, 4, 3), np.uint8),
        class_names=["a", "b"],
        rate=0.0,
        other_issues=_other_issues(),
        notice="check your labels",
    )
    section = page[page.index('id="other-issues"') : page.index('id="review"')]
    # A display limit of one image per type: the page says how many of how many it shows.
    assert "outlier: 1 of 1 shown" in section and "dark: 1 of 2 shown" in section
    assert section.count('data-kind="dark"><img') == 1 and "b.png" in section  # the darkest
    assert "far.png" in section and "Leaks: 1 of 1 pairs shown (1 train↔test)" in section
    assert "copy.png" in section and "exact leak" in section
    assert '<p class="notice" role="alert">check your labels</p>' in page
    assert "a.png" in page[page.index('id="gallery"') :]  # the suspects are named by file
    with pytest.raises(ValueError, match="issue id 12 is outside the 12 images"):
        OtherIssues(
            _other_issues().summary,
            _other_issues().issues,
            _other_issues().leaks,
            np.zeros((12, 4, 4, 3), np.uint8),
        )


def test_gap_table_measures_each_arm_against_the_ceiling_and_the_oracle():
    from labelnoise.report import _gap_table

    rows = [(0, 0.0, "none", 0.98), (0, 0.2, "none", 0.90), (0, 0.2, "oracle", 0.96)]
    rows += [(0, 0.2, "cleanlab", 0.94), (0, 0.2, "random", 0.89)]
    runs = pd.DataFrame(rows, columns=["seed", "rate", "method", "accuracy"])
    runs["n_test"] = 10_000
    runs["n_correct"] = (runs["accuracy"] * 10_000).round().astype(int)
    table = _gap_table(runs)
    # cleanlab closes half the gap to the ceiling (0.98 at rate 0) and 2/3 of the oracle's.
    assert ">0.50 [" in table and ">0.67 [" in table
    assert ">random<" not in table and ">oracle<" not in table  # reference arms are not arms


def test_without_a_nonzero_rate_the_arms_show_their_accuracy_change():
    from labelnoise.report import _gap_table

    rows = [(0, 0.0, "none", 0.80), (0, 0.0, "cleanlab", 0.83), (0, 0.0, "oracle", 0.80)]
    runs = pd.DataFrame(rows, columns=["seed", "rate", "method", "accuracy"])
    runs["n_test"] = 2_000
    runs["n_correct"] = (runs["accuracy"] * 2_000).round().astype(int)
    table = _gap_table(runs)
    assert 'id="change-table"' in table and ">+3.0 [" in table
