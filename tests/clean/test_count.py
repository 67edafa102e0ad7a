"""Flag counts from the trusted set: every light method flags, per given class, as many
examples as the trusted set's noise estimate says are false."""

from dataclasses import replace

import numpy as np
import pytest
from test_cleanlab_method import _synthetic

from labelnoise.clean import get_method
from labelnoise.clean.base import flag_per_class
from labelnoise.noise import NoiseEstimate


def _context(n=800, rate=0.2, trusted=True):
    """cleanlab's synthetic probabilities, with a trusted estimate that knows the true counts."""
    ctx, flipped = _synthetic(n=n, rate=rate)
    per_class = np.bincount(ctx.labels[flipped], minlength=ctx.n_classes)
    estimate = NoiseEstimate(
        joint=np.eye(ctx.n_classes) / ctx.n_classes, rate=rate, per_class=per_class,
        thresholds=np.full(ctx.n_classes, 0.5),
    )  # fmt: skip
    return replace(ctx, trusted_noise=estimate if trusted else None), flipped, per_class


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
