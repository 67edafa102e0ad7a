"""The report's first screen: headline, what was reviewed, the run's settings."""

import subprocess

import numpy as np
import pandas as pd

from labelnoise.data.store import Dataset
from labelnoise.glance import (
    cleaned_model_html,
    git_commit,
    headline_html,
    pooled_note,
    review_html,
    run_settings,
)
from labelnoise.params import load_params


def test_headline_names_the_best_arm_and_its_share_of_the_gap():
    head = {
        "rate": 0.2, "best_method": "consensus", "ceiling": 0.98,
        "accuracy": {"consensus": 0.96, "none": 0.92},
        "gap_closed": 0.667, "gap_closed_low": 0.5, "gap_closed_high": 0.8,
        "recovery": 0.8, "recovery_low": None, "recovery_high": None,
        "change": 0.04, "change_low": 0.03, "change_high": 0.05,
        "detection": {"best_f1": 0.93, "best_f1_method": "knn", "best_auroc": 0.99,
                      "best_auroc_method": "consensus"},
    }  # fmt: skip
    page = headline_html(head, n_seeds=3)
    assert "<b>consensus</b> wins back <b>67%</b>" in page
    assert "0.67 [0.50, 0.80] of the way to the ceiling" in page
    assert "0.80 of the way to dropping" in page  # no interval: none is shown
    assert "+4.0 [+3.0, +5.0] points" in page and "3 seeds pooled" in page
    assert "No cleaning arm" in headline_html({**head, "best_method": None}, n_seeds=1)
    assert "One seed" in pooled_note(1)


def test_cleaned_model_headline_gives_its_accuracy_and_change_with_intervals():
    runs = pd.DataFrame(
        {"seed": 0, "rate": 0.0, "method": ["none", "cleanlab"], "accuracy": [0.80, 0.85]}
        | {"n_correct": [800, 850], "n_test": 1000}
    )
    page = cleaned_model_html(runs, method="cleanlab", flagged=30, n_train=300)
    assert "scores <b>85.0%</b> on your test split, against 80.0%" in page
    assert "0.8500 [0.8" in page and "+5.0 [" in page and "30 of 300 train images" in page
    assert "No model was retrained" in cleaned_model_html(runs, method="knn", flagged=0, n_train=1)


def test_review_block_shows_precision_and_noise_rate_only_when_reviewed():
    assert review_html(None) == "" and review_html({"n_reviewed": 0}) == ""
    review = {
        "n_reviewed": 10, "n_corrected": 4,
        "flag_precision": {"n": 8, "wrong": 4, "share": 0.5, "low": 0.2, "high": 0.8},
        "noise_rate": None,
    }  # fmt: skip
    page = review_html(review)
    assert "4 of the 8 flagged images reviewed had a wrong label: 50% [20%, 80%]" in page
    assert "noise rate" not in page


def test_settings_name_the_commit_and_the_knobs_that_made_the_run(tmp_path):
    assert git_commit(tmp_path) == "unknown (not a git checkout)"
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a").write_text("1")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "a"], cwd=tmp_path, check=True)
    commit = git_commit(tmp_path)
    assert len(commit) >= 7 and "uncommitted" not in commit
    (tmp_path / "a").write_text("2")
    assert git_commit(tmp_path).endswith("with uncommitted changes")

    params = load_params()
    index = pd.DataFrame({"split": ["train"] * 3 + ["val", "test"]})
    dataset = Dataset(np.zeros((5, 2, 2, 3), np.uint8), index, {})
    settings = run_settings(params, dataset=dataset, commit="abc1234")
    assert settings["commit"] == "abc1234" and settings["seed"] == str(params.seed)
    assert settings["images"] == "3 train, 1 val, 1 test"
    assert f"cost ratio {params.clean.cost_ratio:g}" in settings["flag criterion"]
    assert f"{params.train.epochs} epochs" in settings["training"]
