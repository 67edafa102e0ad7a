"""Relabel arms: only flagged rows change, to a confident suggestion, or go."""

import numpy as np
import pandas as pd
import pytest

from labelnoise.arms import arm_labels, arm_record
from labelnoise.clean.relabel import relabel_flagged


@pytest.fixture()
def flipped_task():
    """600 examples of 4 classes, 120 labels flipped; probabilities that favour the truth on
    most rows (as out-of-sample probabilities do), and flags that catch most flips plus a few
    clean rows."""
    rng = np.random.default_rng(0)
    n, classes = 600, 4
    true = rng.integers(0, classes, n)
    flipped = np.zeros(n, bool)
    flipped[rng.choice(n, 120, replace=False)] = True
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    logits = rng.normal(0, 1, (n, classes))
    logits[np.arange(n), true] += rng.uniform(0, 4, n)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    flags = flipped & (rng.random(n) < 0.9) | ~flipped & (rng.random(n) < 0.03)
    return true, given, flipped, flags, probs


def test_only_flagged_rows_change_or_go(flipped_task):
    true, given, _, flags, probs = flipped_task
    plan = relabel_flagged(given, flags, probs, confidence=0.5)
    assert np.array_equal(plan.labels[~flags], given[~flags])
    assert plan.keep[~flags].all()
    assert not (plan.relabeled & ~flags).any()
    assert np.array_equal(plan.keep, ~flags | plan.relabeled)
    assert (plan.labels[plan.relabeled] != given[plan.relabeled]).all()
    # A confident suggestion is taken, an unsure one drops the row.
    chosen = probs[np.arange(len(given)), plan.labels]
    assert (chosen[plan.relabeled] >= 0.5).all()
    dropped = flags & ~plan.keep
    others = probs.copy()
    others[np.arange(len(given)), given] = 0
    assert (others[dropped].max(1) < 0.5).all()
    # With these probabilities most fixed labels are the true ones.
    assert (plan.labels[plan.relabeled] == true[plan.relabeled]).mean() > 0.8
    assert plan.relabeled.sum() > 0 and dropped.sum() > 0


def test_a_stricter_confidence_relabels_fewer(flipped_task):
    _, given, _, flags, probs = flipped_task
    loose = relabel_flagged(given, flags, probs, confidence=0.3)
    strict = relabel_flagged(given, flags, probs, confidence=0.9)
    assert strict.relabeled.sum() < loose.relabeled.sum()
    assert not (strict.relabeled & ~loose.relabeled).any()


def test_the_truth_as_suggestion_gives_every_flip_its_true_label(flipped_task):
    true, given, flipped, _, _ = flipped_task
    plan = relabel_flagged(given, flipped, np.eye(4)[true], confidence=0.5)
    assert np.array_equal(plan.labels, true)
    assert plan.keep.all() and np.array_equal(plan.relabeled, flipped)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"confidence": 0.0}, r"confidence must be in \(0, 1\], got 0.0"),
        ({"flags": np.zeros(5, bool)}, r"flags have shape \(5,\), expected \(600,\)"),
        ({"flags": np.zeros(600, int)}, "flags have dtype int64, expected bool"),
        ({"suggestion_probs": np.ones(600)}, r"probabilities must be \(n, C\)"),
        ({"suggestion_probs": np.full((600, 4), 0.5)}, "rows that do not sum to 1"),
        ({"given": np.full(600, 7)}, r"given labels must lie in 0..3"),
    ],
)
def test_bad_input_is_refused(flipped_task, change, pattern):
    _, given, _, flags, probs = flipped_task
    kwargs = {"given": given, "flags": flags, "suggestion_probs": probs, "confidence": 0.5}
    kwargs.update(change)
    confidence = kwargs.pop("confidence")
    with pytest.raises(ValueError, match=pattern):
        relabel_flagged(**kwargs, confidence=confidence)


def test_each_arm_trains_on_what_it_says(flipped_task):
    true, given, flipped, flags, probs = flipped_task
    labels = pd.DataFrame({"id": np.arange(len(true)), "true": true, "given": given})
    labels["flipped"] = flipped
    drop_labels, drop_keep = arm_labels(labels, arm="drop", flags=flags)
    assert np.array_equal(drop_labels, given) and np.array_equal(drop_keep, ~flags)
    robust_labels, robust_keep = arm_labels(labels, arm="robust")
    assert np.array_equal(robust_labels, given) and robust_keep.all()
    fixed, keep = arm_labels(labels, arm="relabel", flags=flags, suggestion_probs=probs)
    record = arm_record(labels, fixed, keep, {"accuracy": 0.9}, rate=0.2, method="x_relabel")
    assert record["n_kept"] + record["n_removed"] == len(true)
    assert record["n_relabeled"] == int((fixed != given).sum()) > 0
    assert record["n_wrong_kept"] == int((keep & (fixed != true)).sum())
    assert record["n_wrong_kept"] < int(flipped.sum())
    with pytest.raises(
        ValueError, match="unknown arm 'swap'; valid: drop, relabel, second, robust"
    ):
        arm_labels(labels, arm="swap")
    with pytest.raises(ValueError, match="the relabel arm needs suggestion probabilities"):
        arm_labels(labels, arm="relabel", flags=flags)


def _noisy_view(true, n_classes, strength, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(true), n_classes))
    logits[np.arange(len(true)), true] += rng.uniform(0, strength, len(true))
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def test_second_generation_changes_labels_only_through_its_rule(flipped_task):
    from labelnoise.clean.relabel import second_generation

    true, given, _, flags, oos = flipped_task
    first = _noisy_view(true, 4, 6, seed=1)  # a cleaner model than the fold models
    plan = second_generation(given, flags, first, oos, confidence=0.7)
    mean = (first + oos) / 2
    # Unflagged rows keep their given label and stay.
    assert np.array_equal(plan.labels[~flags], given[~flags]) and plan.keep[~flags].all()
    # A flagged row stays exactly when the mean view is sure of a class, under that class.
    sure = mean.max(1) >= 0.7
    assert np.array_equal(plan.keep[flags], sure[flags])
    assert np.array_equal(plan.labels[flags & sure], mean.argmax(1)[flags & sure])
    assert np.array_equal(plan.relabeled, plan.labels != given)
    # Two views agree on the truth more often than the fold models alone do.
    alone = relabel_flagged(given, flags, oos, confidence=0.7)
    right = lambda p: (p.labels[p.keep & flags] == true[p.keep & flags]).mean()  # noqa: E731
    assert right(plan) > right(alone)


def test_second_generation_arm_trains_on_its_plan(flipped_task, tmp_path):
    from labelnoise.arms import arm_inputs
    from labelnoise.clean import CleanResult, save_result
    from labelnoise.io import save_npy

    true, given, flipped, flags, oos = flipped_task
    labels = pd.DataFrame({"id": np.arange(len(true)), "true": true, "given": given,
                           "flipped": flipped})  # fmt: skip
    save_result(CleanResult(scores=flags.astype(float), flags=flags, noise_rate_estimate=0.2),
                tmp_path / "flags.npz")  # fmt: skip
    first = _noisy_view(true, 4, 6, seed=1)
    save_npy(tmp_path / "first.npy", first.astype(np.float32))
    save_npy(tmp_path / "oos.npy", oos.astype(np.float32))
    trained, keep = arm_inputs(
        labels, arm="second", method="consensus", flags=tmp_path / "flags.npz",
        oos_probs=tmp_path / "oos.npy", confidence=0.7, n_classes=4,
        first_probs=tmp_path / "first.npy",
    )  # fmt: skip
    from labelnoise.clean.relabel import second_generation

    plan = second_generation(given, flags, first, oos, confidence=0.7)
    np.testing.assert_array_equal(keep, plan.keep)
    np.testing.assert_array_equal(trained, plan.labels)
