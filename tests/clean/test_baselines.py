import numpy as np
import pytest

from labelnoise.clean import CleanContext, get_method


def _ctx(flipped=None, n=50):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), n)
    return CleanContext(
        labels=rng.integers(0, 3, n), n_classes=3, pred_probs=probs, flipped=flipped, seed=7
    )


def test_none_flags_nothing():
    result = get_method("none").run(_ctx())
    assert not result.flags.any()
    assert (result.scores == 0).all()
    assert result.noise_rate_estimate == 0.0


def test_oracle_flags_exactly_the_flips():
    flipped = np.zeros(50, dtype=bool)
    flipped[[1, 5, 9]] = True
    result = get_method("oracle").run(_ctx(flipped))
    np.testing.assert_array_equal(result.flags, flipped)
    assert result.noise_rate_estimate == pytest.approx(3 / 50)


def test_oracle_needs_ground_truth():
    with pytest.raises(ValueError, match="oracle: needs ground truth"):
        get_method("oracle").run(_ctx())


def test_random_flags_as_many_as_flips_and_is_seeded():
    flipped = np.zeros(50, dtype=bool)
    flipped[:10] = True
    a = get_method("random").run(_ctx(flipped))
    b = get_method("random").run(_ctx(flipped))
    assert a.flags.sum() == 10
    np.testing.assert_array_equal(a.flags, b.flags)
    # Flags are the top-scored examples, so scores and flags agree.
    assert a.scores[a.flags].min() > a.scores[~a.flags].max()


def test_random_uses_n_flag_without_ground_truth():
    assert get_method("random").run(_ctx(), n_flag=4).flags.sum() == 4
    with pytest.raises(ValueError, match="random: needs n_flag"):
        get_method("random").run(_ctx())
    with pytest.raises(ValueError, match="n_flag must be an integer"):
        get_method("random").run(_ctx(), n_flag=99)
