"""Properties that must hold for any input: label-noise injection and the score contract of the
cleaning methods.

The cleaning methods that train a model (``tvnet``, ``data_params``, ``aum``) are left out of the
generated examples on purpose: one call fits networks or regressors for seconds, far too slow for
dozens of examples, and their scores depend on seeded draws made by row position (minibatch
order, Monte-Carlo subsets, threshold samples), so reordering the rows changes the draws and
permutation-equivariance does not hold for them by design. Their contract — ``(n,)`` finite
scores, boolean flags, flips ranked above clean labels — is checked on learnable images in
``tests/clean/test_tvnet.py``, ``test_data_params.py`` and ``test_aum.py``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from labelnoise.clean import METHODS, CleanContext, CleanResult, get_method
from labelnoise.clean.cleanlab_method import SCORE_METHODS
from labelnoise.clean.consensus import combine
from labelnoise.noise import KINDS, corrupt_labels, noise_matrix

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Methods that score from the given labels and out-of-sample probabilities alone, with the
# parameters each is exercised with.
PROBABILITY_METHODS = [
    ("none", {}),
    ("oracle", {}),
    ("random", {}),
    *[("cleanlab", {"score_method": s}) for s in SCORE_METHODS],
    ("mistakenness", {}),
    ("hardness", {}),
]
# Rows permuted -> scores and flags permuted. random is left out: its scores are seeded draws
# by position, so they stay where they are when the rows move.
EQUIVARIANT = [entry for entry in PROBABILITY_METHODS if entry[0] != "random"]
# Methods whose score rises when the given label moves from the most to the least probable class.
LABEL_SENSITIVE = [
    entry for entry in PROBABILITY_METHODS if entry[0] in ("cleanlab", "mistakenness")
]
TRAINED = ("tvnet", "data_params", "aum")
FEATURE_METHODS = ("knn",)  # score by the train features alone


# ---------------------------------------------------------------------------------------------
# Noise injection


@st.composite
def noise_cases(draw, kind: str):
    """Labels of any shape and class count, a rate, a seed and what ``kind`` needs."""
    c = draw(st.integers(2, 20))
    shape = draw(
        st.one_of(
            st.tuples(st.integers(0, 400)),
            st.tuples(st.integers(1, 20), st.integers(1, 20)),
        )
    )
    rate = draw(st.floats(0.0, 1.0, exclude_max=True))
    seed = draw(st.integers(0, 2**63 - 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels = rng.integers(0, c, shape)
    extra = {}
    if kind == "within_coarse":
        extra["fine_to_coarse"] = rng.integers(0, draw(st.integers(1, c)), c)
    elif kind == "matrix":
        t = rng.random((c, c)) * (rng.random((c, c)) < draw(st.floats(0.0, 1.0)))
        # Every row keeps some off-diagonal mass on one random other class.
        t[np.arange(c), (np.arange(c) + rng.integers(1, c, c)) % c] += rng.random(c) + 0.01
        extra["transition"] = t / t.sum(axis=1, keepdims=True)
    return labels, c, rate, seed, extra


def _eligible(labels: np.ndarray, extra: dict) -> int:
    """Labels that ``within_coarse`` may flip: those of a class with a sibling."""
    parents = np.asarray(extra["fine_to_coarse"])
    siblings = (parents[:, None] == parents[None, :]).sum(axis=1) - 1
    return int((siblings[labels] > 0).sum())


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_noise_flips_exactly_the_count_and_never_to_the_same_class(kind, data):
    labels, c, rate, seed, extra = data.draw(noise_cases(kind))
    n_flip = round(rate * labels.size)
    if kind == "within_coarse" and n_flip > _eligible(labels, extra):
        with pytest.raises(ValueError, match=f"needs {n_flip} flips but only"):
            corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
        return
    noisy = corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
    assert noisy.shape == labels.shape and noisy.dtype == np.int64
    assert noisy.min(initial=0) >= 0 and noisy.max(initial=0) < c
    changed = noisy != labels
    # Exactly n_flip positions are drawn; one that kept its class would make this count smaller.
    assert changed.sum() == n_flip
    old, new = labels[changed], noisy[changed]
    if kind == "pairflip":
        np.testing.assert_array_equal(new, (old + 1) % c)
    elif kind == "within_coarse":
        np.testing.assert_array_equal(extra["fine_to_coarse"][new], extra["fine_to_coarse"][old])
    elif kind == "matrix":
        assert (extra["transition"][old, new] > 0).all()


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64]))
def test_noise_is_a_function_of_labels_rate_and_seed(kind, data, dtype):
    labels, c, rate, seed, extra = data.draw(noise_cases(kind))
    if kind == "within_coarse" and round(rate * labels.size) > _eligible(labels, extra):
        return
    if np.iinfo(dtype).max < c:
        dtype = np.int64
    first = corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
    again = corrupt_labels(
        labels.astype(dtype), rate=rate, n_classes=c, kind=kind, seed=seed, **extra
    )
    assert first.tobytes() == again.tobytes()
    np.testing.assert_array_equal(labels, labels.astype(dtype))  # the input is left alone


@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["symmetric", "pairflip", "matrix"]))
def test_realised_noise_matrix_accounts_for_every_flip(data, kind):
    labels, c, rate, seed, extra = data.draw(noise_cases(kind))
    true = labels.ravel()
    noisy = corrupt_labels(true, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
    m = noise_matrix(true, noisy, n_classes=c)
    counts = np.bincount(true, minlength=c)
    np.testing.assert_allclose(m.sum(axis=1), (counts > 0).astype(float), atol=1e-12)
    flips_per_class = counts * (1.0 - np.diag(m))
    assert flips_per_class.sum() == pytest.approx(round(rate * true.size), abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Cleaning methods on out-of-sample probabilities


@st.composite
def probability_tables(draw):
    """Given labels (every class present) and softmax probabilities, from flat to one-hot."""
    c = draw(st.integers(2, 6))
    m = draw(st.integers(2 * c, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Scale 0 gives uniform rows, 40 rows that are one-hot to float precision.
    logits = rng.normal(0.0, draw(st.sampled_from([0.0, 0.3, 1.0, 3.0, 10.0, 40.0])), (m, c))
    probs = softmax(logits, axis=1)
    if draw(st.booleans()):
        probs = probs.astype(np.float32)  # as the train stage stores them
    labels = rng.permutation(np.arange(m) % c)
    flipped = rng.random(m) < draw(st.floats(0.0, 1.0))
    return labels, probs, flipped, int(rng.integers(2**31))


def _run(name: str, params: dict, labels, probs, flipped, seed) -> CleanResult:
    ctx = CleanContext(
        labels=labels,
        n_classes=probs.shape[1],
        pred_probs=probs,
        flipped=flipped,
        seed=seed,
        progress=False,
    )
    return get_method(name).run(ctx, **params)


def _ids(entries):
    return [f"{name}-{params.get('score_method', '')}".rstrip("-") for name, params in entries]


def test_every_registered_method_is_covered():
    covered = {name for name, _ in PROBABILITY_METHODS} | set(TRAINED) | {"consensus"}
    assert covered | set(FEATURE_METHODS) == set(METHODS)


@SETTINGS
@given(
    n=st.integers(2, 40),
    dim=st.integers(1, 6),
    c=st.integers(2, 5),
    k=st.integers(1, 25),
    seed=st.integers(0, 2**16),
)
def test_knn_scores_are_shares_one_per_example_and_permute_with_the_rows(n, dim, c, k, seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, dim)) + 1e-3  # no all-zero row: cosine needs a direction
    labels = rng.integers(0, c, n)
    ctx = CleanContext(labels=labels, n_classes=c, pred_probs=np.full((n, c), 1 / c),
                       features=features)  # fmt: skip
    result = get_method("knn").run(ctx, n_neighbors=k)
    assert result.scores.shape == (n,) and np.isfinite(result.scores).all()
    assert ((0 <= result.scores) & (result.scores <= 1)).all()
    assert result.flags.dtype == np.bool_
    order = rng.permutation(n)
    moved = CleanContext(labels=labels[order], n_classes=c, pred_probs=ctx.pred_probs,
                         features=features[order])  # fmt: skip
    # Ties among equally near neighbours can pick others; the distinct-distance case is exact.
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    distances = 1 - unit @ unit.T  # the cosine distances the search uses
    upper = distances[np.triu_indices(n, 1)]
    if len(np.unique(np.round(upper, 9))) == len(upper):
        again = get_method("knn").run(moved, n_neighbors=k)
        np.testing.assert_allclose(again.scores, result.scores[order])


@pytest.mark.parametrize(("name", "params"), PROBABILITY_METHODS, ids=_ids(PROBABILITY_METHODS))
@SETTINGS
@given(table=probability_tables())
def test_scores_are_finite_one_per_example_and_flags_boolean(name, params, table):
    labels, probs, flipped, seed = table
    result = _run(name, params, labels, probs, flipped, seed)
    n = len(labels)
    assert result.scores.shape == (n,) and np.isfinite(result.scores).all()
    assert result.flags.shape == (n,) and result.flags.dtype == np.bool_
    assert 0.0 <= result.noise_rate_estimate <= 1.0


@pytest.mark.parametrize(("name", "params"), EQUIVARIANT, ids=_ids(EQUIVARIANT))
@SETTINGS
@given(table=probability_tables(), order_seed=st.integers(0, 2**32 - 1))
def test_permuting_the_rows_permutes_scores_and_flags(name, params, table, order_seed):
    labels, probs, flipped, seed = table
    perm = np.random.default_rng(order_seed).permutation(len(labels))
    base = _run(name, params, labels, probs, flipped, seed)
    moved = _run(name, params, labels[perm], probs[perm], flipped[perm], seed)
    np.testing.assert_allclose(moved.scores, base.scores[perm], rtol=1e-12, atol=1e-12)
    # Rows whose given label is equally (im)probable to 1e-9 are ties that a method may break by
    # position (cleanlab's pruning sorts margins stably): equivariance holds per tie group.
    given = np.round(probs[perm][np.arange(len(labels)), labels[perm]], 9)
    for value in np.unique(given):
        group = given == value
        assert moved.flags[group].sum() == base.flags[perm][group].sum(), value
    assert moved.noise_rate_estimate == pytest.approx(base.noise_rate_estimate, abs=1e-9)


# Rows one-hot to float precision: cleanlab's confidence_weighted_entropy used to rank them
# backwards (see Cleanlab.run).
ONE_HOT = np.array([[1.0, 1e-9], [1.0, 0.0], [1e-12, 1.0], [0.3, 0.7]])


@pytest.mark.parametrize(("name", "params"), LABEL_SENSITIVE, ids=_ids(LABEL_SENSITIVE))
@SETTINGS
@given(table=probability_tables())
@example(table=(np.array([0, 0, 1, 1]), ONE_HOT, np.zeros(4, dtype=bool), 0))
def test_a_less_probable_given_label_scores_at_least_as_high(name, params, table):
    labels, probs, flipped, seed = table
    # Every row three times: under its drawn label (every class present), then labelled with
    # its most probable class and with its least probable one.
    stacked = np.concatenate([probs, probs, probs])
    likely, unlikely = probs.argmax(axis=1), probs.argmin(axis=1)
    result = _run(
        name, params, np.concatenate([labels, likely, unlikely]), stacked, np.tile(flipped, 3), seed
    )
    m = len(labels)
    agree, disagree = result.scores[m : 2 * m], result.scores[2 * m :]
    assert (disagree >= agree - 1e-12).all()
    # Strictly higher wherever the model prefers one class to another at all.
    spread = probs.max(axis=1) - probs.min(axis=1) > 1e-3
    assert (disagree[spread] > agree[spread]).all()


@SETTINGS
@given(table=probability_tables(), mix=st.floats(0.0, 1.0))
def test_hardness_rises_towards_the_uniform_distribution(table, mix):
    labels, probs, _, seed = table
    probs = probs.astype(np.float64)
    flatter = (1.0 - mix) * probs + mix / probs.shape[1]
    result = _run("hardness", {}, np.tile(labels, 2), np.concatenate([probs, flatter]), None, seed)
    m = len(labels)
    assert (result.scores[m:] >= result.scores[:m] - 1e-9).all()
    np.testing.assert_array_equal(result.flags, result.scores > 0.5)


@SETTINGS
@given(table=probability_tables())
def test_oracle_scores_flips_above_everything_else(table):
    labels, probs, flipped, seed = table
    result = _run("oracle", {}, labels, probs, flipped, seed)
    assert (result.scores[flipped] > result.scores[~flipped].max(initial=-np.inf)).all()
    np.testing.assert_array_equal(result.flags, flipped)


# ---------------------------------------------------------------------------------------------
# Consensus of member results


@st.composite
def member_results(draw):
    """2..5 members over the same n examples; integer scores so that ties occur."""
    n = draw(st.integers(1, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    members = {}
    for k in range(draw(st.integers(1, 5))):
        flags = rng.random(n) < 0.3
        scores = rng.integers(0, draw(st.integers(1, 10)), n).astype(float) * 10.0**k
        members[f"m{k}"] = CleanResult(scores=scores, flags=flags, noise_rate_estimate=0.0)
    return n, members, rng.permutation(n)


@SETTINGS
@given(case=member_results())
def test_consensus_permutes_with_its_members_and_follows_them(case):
    n, members, perm = case
    base = combine(members, n=n)
    moved = combine(
        {
            k: CleanResult(r.scores[perm], r.flags[perm], r.noise_rate_estimate)
            for k, r in members.items()
        },
        n=n,
    )
    np.testing.assert_allclose(moved.scores, base.scores[perm], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(moved.flags, base.flags[perm])
    assert base.scores.shape == (n,) and np.isfinite(base.scores).all()
    # An example that every member puts on top is on top of the consensus.
    for r in members.values():
        r.scores[0] = r.scores.max() + 1.0
    top = combine(members, n=n).scores
    assert top[0] == top.max()
