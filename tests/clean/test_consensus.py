import numpy as np
import pytest

from labelnoise.clean import CleanContext, CleanResult, get_method
from labelnoise.clean.consensus import combine


def _result(flags, scores):
    flags = np.array(flags, dtype=bool)
    return CleanResult(
        scores=np.array(scores, dtype=float), flags=flags, noise_rate_estimate=flags.mean()
    )


def test_strict_majority_of_flags():
    results = {
        "a": _result([1, 1, 0, 0], [4, 3, 2, 1]),
        "b": _result([1, 0, 1, 0], [4, 1, 3, 2]),
        "c": _result([1, 1, 0, 0], [3, 4, 1, 2]),
        "d": _result([0, 1, 0, 0], [1, 4, 2, 3]),
    }
    combined = combine(results, n=4)
    # 3/4 and 3/4 vote for examples 0 and 1; a 2/4 tie is not a majority.
    np.testing.assert_array_equal(combined.flags, [True, True, False, False])
    np.testing.assert_array_equal(combined.extras["votes"], [3, 3, 1, 0])
    assert combined.noise_rate_estimate == 0.5
    # Mean rank / n: example 0 has ranks 4, 4, 3, 1 -> 12 / 16.
    assert combined.scores[0] == pytest.approx(12 / 16)
    assert combined.scores.argmax() in (0, 1)


def test_ranks_make_scales_irrelevant():
    small = _result([0, 0, 1], [0.1, 0.2, 0.3])
    large = _result([0, 0, 1], [10.0, 20.0, 30.0])
    combined = combine({"small": small, "large": large}, n=3)
    np.testing.assert_allclose(combined.scores, [1 / 3, 2 / 3, 1.0])


def test_bad_member_is_named():
    with pytest.raises(ValueError, match="consensus member 'b'"):
        combine({"a": _result([0, 1], [0, 1]), "b": _result([0, 1, 1], [0, 1, 2])}, n=2)
    with pytest.raises(ValueError, match="at least one member"):
        combine({}, n=2)


def test_registry_entry_votes_over_its_members_in_the_context():
    results = {
        "a": _result([0, 1], [0, 1]),
        "b": _result([0, 1], [1, 2]),
        "c": _result([1, 1], [5, 5]),
    }
    ctx = CleanContext(
        labels=np.zeros(2, dtype=int), n_classes=2, pred_probs=np.full((2, 2), 0.5), results=results
    )
    method = get_method("consensus")
    assert method.combines
    assert method.run(ctx, members=("a", "b")).flags.tolist() == [False, True]
    assert method.run(ctx, members=("c",)).flags.tolist() == [True, True]
    with pytest.raises(ValueError, match="at least one member"):
        method.run(ctx, members=())
    with pytest.raises(ValueError, match=r"no results of members \['cleanlab', 'knn'\]"):
        method.run(ctx)  # the default members, params.yaml's, did not run here
    with pytest.raises(ValueError, match=r"no results of members \['d'\]"):
        method.run(ctx, members=("a", "d"))
