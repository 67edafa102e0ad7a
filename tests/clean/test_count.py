"""Flag counts from the trusted set: every light method flags, per given class, as many
examples as the trusted set's noise estimate says are false."""

import numpy as np
import pytest

from labelnoise.clean import CleanContext, get_method
from labelnoise.clean.base import flag_per_class
from labelnoise.noise import NoiseEstimate


def _context(n=800, n_classes=4, rate=0.2, seed=0, trusted=True):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes, n)
    logits = rng.normal(0.0, 1.0, (n, n_classes))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, round(rate * n), replace=False)] = True
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, n_classes, flipped.sum())) % n_classes
    per_class = np.bincount(given[flipped], minlength=n_classes)
    estimate = NoiseEstimate(
        joint=np.eye(n_classes) / n_classes, rate=rate, per_class=per_class,
        thresholds=np.full(n_classes, 0.5),
    )  # fmt: skip
    ctx = CleanContext(
        labels=given, n_classes=n_classes, pred_probs=probs,
        trusted_noise=estimate if trusted else None,
    )  # fmt: skip
    return ctx, flipped, per_class


def test_flag_per_class_takes_the_highest_scores_of_each_given_class():
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.7, 0.2])
    labels = np.array([0, 0, 0, 1, 1, 1])
    flags = flag_per_class(scores, labels, np.array([2, 1]))
    assert flags.tolist() == [True, False, True, True, False, False]
    assert not flag_per_class(scores, labels, np.array([0, 0])).any()
    assert flag_per_class(scores, labels, np.array([9, 9])).all()  # capped at the class size


@pytest.mark.parametrize("name", ["cleanlab", "mistakenness", "hardness"])
def test_trusted_count_flags_the_estimated_number_per_class(name):
    ctx, flipped, per_class = _context()
    result = get_method(name).run(ctx, count="trusted")
    flagged = np.bincount(ctx.labels[result.flags], minlength=ctx.n_classes)
    assert flagged.tolist() == per_class.tolist()
    if name != "hardness":  # hardness ranks ambiguity, not false labels
        precision = (result.flags & flipped).sum() / result.flags.sum()
        assert precision > 0.8


def test_trusted_count_beats_an_over_flagging_threshold():
    ctx, flipped, _ = _context(rate=0.1)
    method = get_method("mistakenness")
    loose = method.run(ctx, threshold=0.2)  # flags far more than the flips
    counted = method.run(ctx, threshold=0.2, count="trusted")
    assert loose.flags.sum() > 1.5 * flipped.sum()
    assert counted.flags.sum() == flipped.sum()
    f1 = lambda flags: 2 * (flags & flipped).sum() / (flags.sum() + flipped.sum())  # noqa: E731
    assert f1(counted.flags) > f1(loose.flags)


@pytest.mark.parametrize(
    "name", ["cleanlab", "mistakenness", "hardness", "tvnet", "data_params", "aum"]
)
def test_count_rules_are_checked(name):
    ctx, _, _ = _context(trusted=False)
    with pytest.raises(ValueError, match=f"{name}: count='trusted' needs the trusted set"):
        get_method(name).run(ctx, count="trusted")
    with pytest.raises(ValueError, match=f"{name}: unknown count 'many'; valid: own, trusted"):
        get_method(name).run(ctx, count="many")
