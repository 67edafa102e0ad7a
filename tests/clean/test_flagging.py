"""Score, then flag: the one flagging step, its count rules and the wrong-label posterior."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import beta
from test_cleanlab_method import _synthetic

from labelnoise.clean import METHODS, CleanResult, get_method
from labelnoise.clean.flagging import (
    calibrate_scores,
    flag,
    flag_per_class,
    wrong_label_posterior,
)
from labelnoise.noise import NoiseEstimate


def _beta_probs(n_train=4000, n_val=400, eta=(0.1, 0.4), seed=0):
    """Two classes whose out-of-sample probability of the given label is Beta(6, 2) for a
    correct label and Beta(2, 6) for a false one; the trusted images are all correct."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_train)
    wrong = rng.random(n_train) < np.asarray(eta)[labels]
    own = np.where(wrong, rng.beta(2, 6, n_train), rng.beta(6, 2, n_train))
    probs = np.empty((n_train, 2))
    probs[np.arange(n_train), labels] = own
    probs[np.arange(n_train), 1 - labels] = 1 - own
    val_labels = rng.integers(0, 2, n_val)
    val_own = rng.beta(6, 2, n_val)
    val_probs = np.empty((n_val, 2))
    val_probs[np.arange(n_val), val_labels] = val_own
    val_probs[np.arange(n_val), 1 - val_labels] = 1 - val_own
    per_class = np.bincount(labels[wrong], minlength=2)
    return probs, labels, wrong, val_probs, val_labels, per_class, own


def test_posterior_follows_bayes_with_each_class_its_own_noise():
    probs, labels, _, val_probs, val_labels, per_class, own = _beta_probs()
    posterior = wrong_label_posterior(
        probs, labels, val_probs=val_probs, val_labels=val_labels, per_class_false=per_class
    )
    eta = per_class / np.bincount(labels)
    f_wrong, f_right = beta(2, 6).pdf(own), beta(6, 2).pdf(own)
    bayes = eta[labels] * f_wrong / (eta[labels] * f_wrong + (1 - eta[labels]) * f_right)
    assert np.abs(posterior - bayes).mean() < 0.06
    for c in (0, 1):  # the expected number of false labels is the estimate's
        rows = labels == c
        assert posterior[rows].sum() == pytest.approx(per_class[c], rel=0.15)
    # Without a trusted set the model's own view ranks, and the noise estimate sets the level.
    np.testing.assert_allclose(wrong_label_posterior(probs, labels), 1 - own)
    anchored = wrong_label_posterior(probs, labels, per_class_false=per_class)
    for c in (0, 1):
        rows = labels == c
        assert anchored[rows].sum() == pytest.approx(per_class[c], rel=1e-3)
        order = np.argsort(own[rows])
        assert np.all(np.diff(anchored[rows][order]) <= 1e-12)  # falls as p(label) rises


def test_posterior_takes_each_fold_models_view_of_the_trusted_set():
    probs, labels, _, val_probs, val_labels, per_class, _ = _beta_probs()
    one = wrong_label_posterior(
        probs, labels, val_probs=val_probs, val_labels=val_labels, per_class_false=per_class
    )
    stacked = wrong_label_posterior(
        probs, labels, val_probs=np.stack([val_probs, val_probs]), val_labels=val_labels,
        per_class_false=per_class,
    )  # fmt: skip
    np.testing.assert_allclose(one, stacked)


def test_calibration_keeps_the_ranking():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=500)
    posterior = np.clip(0.5 + 0.2 * scores + rng.normal(0, 0.1, 500), 0, 1)
    calibrated = calibrate_scores(scores, posterior)
    order = np.argsort(scores)
    assert np.all(np.diff(calibrated[order]) >= 0)
    assert calibrated.min() >= 0 and calibrated.max() <= 1


def _flag_context(rate=0.2):
    ctx, flipped = _synthetic(n=800, rate=rate)
    per_class = np.bincount(ctx.labels[flipped], minlength=ctx.n_classes)
    estimate = NoiseEstimate(
        joint=np.eye(ctx.n_classes) / ctx.n_classes, rate=rate, per_class=per_class,
        thresholds=np.full(ctx.n_classes, 0.5),
    )  # fmt: skip
    return replace(ctx, trusted_noise=estimate), flipped, per_class


@pytest.mark.parametrize("name", ["cleanlab", "mistakenness"])
def test_trusted_rule_flags_the_estimated_number_per_class(name):
    ctx, flipped, per_class = _flag_context()
    method = get_method(name)
    result = flag(method, method.run(ctx), ctx, rule="trusted", cost_ratio=1.0)
    flagged = np.bincount(ctx.labels[result.flags], minlength=ctx.n_classes)
    assert flagged.tolist() == per_class.tolist()
    assert (result.flags & flipped).sum() / result.flags.sum() > 0.8


def test_flag_per_class_takes_the_highest_scores_of_each_given_class():
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.7, 0.2])
    labels = np.array([0, 0, 0, 1, 1, 1])
    flags = flag_per_class(scores, labels, np.array([2, 1]))
    assert flags.tolist() == [True, False, True, True, False, False]
    assert not flag_per_class(scores, labels, np.array([0, 0])).any()
    assert flag_per_class(scores, labels, np.array([9, 9])).all()  # capped at the class size


def test_a_counted_rule_beats_an_over_flagging_threshold():
    ctx, flipped, _ = _flag_context(rate=0.1)
    method = get_method("mistakenness")
    loose = method.run(ctx, threshold=0.2)  # flags far more than the flips
    counted = flag(method, loose, ctx, rule="trusted", cost_ratio=1.0)
    assert loose.flags.sum() > 1.5 * flipped.sum()
    assert counted.flags.sum() == flipped.sum()
    f1 = lambda flags: 2 * (flags & flipped).sum() / (flags.sum() + flipped.sum())  # noqa: E731
    assert f1(counted.flags) > f1(loose.flags)


def test_no_method_takes_a_count_of_its_own():
    # Flagging happens in one place: a method's params block never carries the rule.
    for name in METHODS:
        assert "count" not in METHODS[name].run.__code__.co_varnames, name


def test_cost_rule_flags_more_as_a_kept_false_label_costs_more():
    ctx, flipped, _ = _flag_context()
    method = get_method("mistakenness")
    result = method.run(ctx)
    posterior = wrong_label_posterior(ctx.pred_probs, ctx.labels)
    counts = [
        flag(method, result, ctx, rule="cost", cost_ratio=r, posterior=posterior).flags.sum()
        for r in (0.5, 1.0, 3.0, 10.0)
    ]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    # At cost ratio 1 the rule is the Bayes decision: flag where a false label is likelier.
    at_one = flag(method, result, ctx, rule="cost", cost_ratio=1.0, posterior=posterior)
    calibrated = calibrate_scores(result.scores, posterior)
    np.testing.assert_array_equal(at_one.flags, calibrated > 0.5)
    found = (at_one.flags & flipped).sum()
    assert found / flipped.sum() > 0.9 and found / at_one.flags.sum() > 0.6


def test_a_score_that_ranks_nothing_is_warned_about_under_the_cost_rule():
    ctx, _, _ = _flag_context(rate=0.2)
    method = get_method("mistakenness")
    noise = np.random.default_rng(3).random(ctx.n)  # a score that knows nothing
    result = CleanResult(scores=noise, flags=np.zeros(ctx.n, bool), noise_rate_estimate=0.2)
    posterior = wrong_label_posterior(
        ctx.pred_probs, ctx.labels, per_class_false=ctx.trusted_noise.per_class
    )
    # It calibrates to the noise rate (0.2) everywhere, above 1 / (1 + 9): flag them all, but
    # for the images each class must keep.
    with pytest.warns(UserWarning, match="more than twice the"):
        flagged = flag(method, result, ctx, rule="cost", cost_ratio=9.0, posterior=posterior)
    assert flagged.flags.sum() > 2 * ctx.trusted_noise.per_class.sum()
    # Each class still keeps half of the images the estimate says are correct.
    for c in range(ctx.n_classes):
        rows = ctx.labels == c
        correct = rows.sum() - ctx.trusted_noise.per_class[c]
        assert (rows & ~flagged.flags).sum() >= np.ceil(correct / 2)


@pytest.mark.parametrize("rule", ["cost", "trusted", "own"])
def test_a_label_a_person_reviewed_is_never_flagged(rule):
    ctx, _, _ = _flag_context()
    method = get_method("mistakenness")
    result = method.run(ctx)
    posterior = wrong_label_posterior(ctx.pred_probs, ctx.labels)
    free = flag(method, result, ctx, rule=rule, cost_ratio=1.0, posterior=posterior)
    verified = free.flags & (np.arange(ctx.n) % 2 == 0)  # half of what it flags was checked
    assert verified.any()
    checked = flag(
        method, result, ctx, rule=rule, cost_ratio=1.0, posterior=posterior, verified=verified
    )
    np.testing.assert_array_equal(checked.flags, free.flags & ~verified)
    with pytest.raises(ValueError, match="verified rows"):
        flag(method, result, ctx, rule=rule, cost_ratio=1.0, posterior=posterior,
             verified=verified[:-1])  # fmt: skip


def test_own_rule_and_reference_arms_keep_their_flags():
    ctx, flipped, _ = _flag_context()
    method = get_method("mistakenness")
    result = method.run(ctx, threshold=0.9)
    assert flag(method, result, ctx, rule="own", cost_ratio=1.0) is result
    oracle = get_method("oracle")
    truth = oracle.run(replace(ctx, flipped=flipped))
    kept = flag(oracle, truth, ctx, rule="trusted", cost_ratio=1.0)
    np.testing.assert_array_equal(kept.flags, flipped)


@pytest.mark.parametrize(
    "rule, cost_ratio, match",
    [("all", 1.0, "unknown count"), ("cost", 0.0, "cost_ratio"), ("cost", True, "cost_ratio")],
)
def test_bad_rules_are_named(rule, cost_ratio, match):
    ctx, _, _ = _flag_context()
    method = get_method("mistakenness")
    with pytest.raises(ValueError, match=match):
        flag(method, method.run(ctx), ctx, rule=rule, cost_ratio=cost_ratio)


def test_counted_rules_need_the_trusted_estimate():
    ctx, _, _ = _flag_context()
    ctx = replace(ctx, trusted_noise=None)
    method = get_method("mistakenness")
    result = CleanResult(scores=np.zeros(ctx.n), flags=np.zeros(ctx.n, bool), noise_rate_estimate=0)
    with pytest.raises(ValueError, match="trusted set's noise estimate"):
        flag(method, result, ctx, rule="trusted", cost_ratio=1.0)
