"""labelnoise.layout: the one spelling of every data file below the folders dvc.yaml passes."""

from pathlib import Path

import numpy as np
import pytest

from labelnoise import layout
from labelnoise.metrics import baseline_file, detect_file, retrain_file


def test_rate_name_is_the_float_spelling():
    assert layout.rate_name(0) == "0.0"
    assert layout.rate_name(0.0) == "0.0"
    assert layout.rate_name(0.2) == "0.2"
    assert layout.rate_name(0.01) == "0.01"
    assert layout.rate_name(np.float64(0.05)) == "0.05"


def test_every_file_of_a_stage_folder():
    noisy, train, live = Path("data/noisy"), Path("data/train"), Path("data/live")
    assert layout.noisy_labels(noisy, 0.2) == noisy / "0.2" / "labels.csv"
    assert layout.noise_matrix(noisy, 0) == noisy / "0.0" / "noise_matrix.json"
    assert layout.baseline_weights(train, 0.2) == train / "0.2" / "model.pt"
    assert layout.oos_probs(train, 0.2) == train / "0.2" / "oos_probs.npy"
    assert layout.val_probs(train, 0.2) == train / "0.2" / "val_probs.npy"
    assert layout.baseline_test_probs(train, 0.2) == train / "0.2" / "test_probs.npy"
    assert layout.folds_file(train, 0.2) == train / "0.2" / "folds.npy"
    assert layout.features(train, 0.2, "val") == train / "0.2" / "val_features.npy"
    assert layout.live_dir(live, 0.1) == live / "0.1"
    assert layout.skipped_file("data/dataset") == Path("data/dataset/skipped.csv")
    assert layout.pr_file("data/pr", 0.2, "knn") == Path("data/pr/0.2-knn.json")


def test_a_methods_files_from_its_own_folder_or_the_folder_of_all():
    whole, one = Path("data/clean"), Path("data/clean/knn")
    assert layout.result_file(whole, 0.2, "knn") == layout.result_file(one, 0.2) == one / "0.2.npz"
    first = Path("data/first")
    assert layout.first_probs(first, 0.4, "oracle") == first / "oracle" / "0.4.npy"
    assert layout.first_weights(first / "oracle", 0.4) == first / "oracle" / "0.4.pt"


def test_metric_files_below_the_stage_folders_are_those_of_the_metrics_root():
    root = Path("metrics")
    assert layout.rate_record(root / "baseline", 0.2) == baseline_file(root, 0.2)
    assert layout.rate_record(root / "retrain" / "knn", 0.2) == retrain_file(root, "knn", 0.2)
    assert layout.detect_record(root / "detect", 0.2, "knn") == detect_file(root, 0.2, "knn")


def test_features_of_an_unknown_split_are_refused():
    with pytest.raises(ValueError, match="no 'test' split"):
        layout.features("data/train", 0.2, "test")
