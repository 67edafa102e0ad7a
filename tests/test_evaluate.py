import numpy as np
import pytest

from labelnoise.evaluate import classification_metrics, detection_metrics, pr_curve


def test_classification_metrics_counts_and_per_class():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    m = classification_metrics(y_true, y_pred, class_names=["a", "b", "c"])
    assert m["n_correct"] == 4 and m["n_test"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["b"]["recall"] == 1.0
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert "hter" not in m


def test_hter_is_mean_of_class_error_rates_for_binary_tasks():
    # 90 negatives with 9 errors, 10 positives with 5 errors.
    y_true = np.array([0] * 90 + [1] * 10)
    y_pred = y_true.copy()
    y_pred[:9] = 1
    y_pred[90:95] = 0
    m = classification_metrics(y_true, y_pred, class_names=["neg", "pos"])
    assert m["hter"] == pytest.approx((9 / 90 + 5 / 10) / 2)
    assert m["balanced_accuracy"] == pytest.approx(1 - m["hter"])


def test_classification_metrics_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.zeros(3), np.zeros(4), class_names=["a"])


def test_detection_metrics_against_known_flips():
    flipped = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.3, 0.8, 0.1, 0.2, 0.0])
    flags = scores > 0.5
    m = detection_metrics(flipped, scores, flags)
    assert m["n_flagged"] == 2 and m["n_flipped"] == 2 and m["false_positives"] == 1
    assert m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["auroc"] == pytest.approx(7 / 8)


def test_detection_metrics_without_flips_has_no_ranking_quality():
    m = detection_metrics(np.zeros(4, bool), np.arange(4.0), np.array([0, 0, 0, 1], bool))
    assert m["auroc"] is None and m["auprc"] is None and m["f1"] is None
    assert m["false_positives"] == 1


def test_detection_metrics_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        detection_metrics(np.array([0, 1], bool), np.array([np.nan, 1.0]), np.zeros(2, bool))


def test_pr_curve_is_thinned_and_empty_without_flips():
    rng = np.random.default_rng(0)
    flipped = rng.random(1000) < 0.2
    curve = pr_curve(flipped, rng.random(1000), max_points=50)
    assert 2 <= len(curve) <= 50 and set(curve[0]) == {"recall", "precision"}
    assert curve[0]["recall"] == 1.0 and curve[-1]["recall"] == 0.0
    assert pr_curve(np.zeros(5, bool), np.arange(5.0)) == []


def test_ranking_and_count_are_scored_apart():
    flipped = np.array([1, 1, 0, 0, 0, 0, 0, 0], bool)
    scores = np.array([0.9, 0.5, 0.8, 0.1, 0.2, 0.3, 0.0, 0.4])
    flags = scores > 0.25  # 5 flags for 2 flips: the rule over-flags
    m = detection_metrics(flipped, scores, flags)
    assert m["f1_at_k"] == 0.5  # top 2 = rows 0 and 2: one flip
    assert m["flag_ratio"] == 2.5
    assert m["false_positive_rate"] == 3 / 6
    clean = detection_metrics(np.zeros(4, bool), np.arange(4.0), np.array([0, 0, 1, 1], bool))
    assert clean["false_positive_rate"] == 0.5
    assert clean["f1_at_k"] is None and clean["flag_ratio"] is None


def test_expected_calibration_error():
    from labelnoise.evaluate import expected_calibration_error

    rng = np.random.default_rng(0)
    n = 20000
    confidence = rng.uniform(0.5, 1.0, n)
    correct = rng.random(n) < confidence  # calibrated: right as often as confident
    proba = np.stack([confidence, 1 - confidence], 1)
    y_true = np.where(correct, 0, 1)
    assert expected_calibration_error(y_true, proba) < 0.02
    # Always 90 % sure, right half the time: off by 0.4.
    sure = np.tile([0.9, 0.1], (n, 1))
    assert expected_calibration_error(np.arange(n) % 2, sure) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="need proba"):
        expected_calibration_error(np.zeros(3, int), sure[:2])


def test_review_effort_counts_the_images_a_person_must_look_at():
    from labelnoise.evaluate import review_effort

    flipped = np.zeros(100, bool)
    flipped[[3, 50, 97, 98]] = True
    perfect = flipped * 1.0
    found, needed = review_effort(flipped, perfect)
    assert needed == {0.5: 2, 0.9: 4, 1.0: 4} and found[4] == 1.0 and found[0] == 0.0
    reversed_ = -perfect  # every false label ranked last
    _, needed = review_effort(flipped, reversed_, shares=(0.25,))
    assert needed == {0.25: 97}
    found, _ = review_effort(flipped, np.random.default_rng(0).random(100))
    assert np.all(np.diff(found) >= 0) and found[-1] == 1.0
    with pytest.raises(ValueError, match="no false label"):
        review_effort(np.zeros(5, bool), np.zeros(5))
    with pytest.raises(ValueError, match="must be equal"):
        review_effort(flipped, perfect[:-1])
    with pytest.raises(ValueError, match="shares must lie"):
        review_effort(flipped, perfect, shares=(0.0,))
