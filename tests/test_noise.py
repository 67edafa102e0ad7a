import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnoise.data.alter import FINE_TO_COARSE
from labelnoise.noise import KINDS, corrupt_labels, noise_matrix, trusted_noise_estimate

RATES = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.999]


def _labels(n, c, seed=0):
    return np.random.default_rng(seed).integers(0, c, n)


def _kwargs(kind, c):
    if kind == "within_coarse":
        return {"fine_to_coarse": FINE_TO_COARSE}
    if kind == "matrix":
        t = np.random.default_rng(1).random((c, c))
        return {"transition": t / t.sum(1, keepdims=True)}
    return {}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 7, 333, 1000])
def test_exact_count_never_identity(kind, n):
    c = 14
    labels = _labels(n, c)
    if kind == "within_coarse":
        # gaussian_blur has no sibling; see test_within_coarse_leaves_lone_subclass.
        labels[labels == 4] = 5
    for rate in RATES:
        noisy = corrupt_labels(
            labels, rate=rate, n_classes=c, kind=kind, seed=2, **_kwargs(kind, c)
        )
        assert noisy.dtype == np.int64 and noisy.shape == labels.shape
        assert (noisy != labels).sum() == round(rate * n)
        assert noisy.min() >= 0 and noisy.max() < c


def test_pairflip_targets():
    labels = _labels(500, 4)
    noisy = corrupt_labels(labels, rate=0.3, n_classes=4, kind="pairflip", seed=0)
    flipped = noisy != labels
    assert np.array_equal(noisy[flipped], (labels[flipped] + 1) % 4)


def test_within_coarse_stays_in_parent_and_reaches_all_siblings():
    labels = np.repeat(np.arange(14), 200)
    noisy = corrupt_labels(
        labels, rate=0.5, n_classes=14, kind="within_coarse", seed=0, fine_to_coarse=FINE_TO_COARSE
    )
    f2c = np.asarray(FINE_TO_COARSE)
    flipped = noisy != labels
    assert np.array_equal(f2c[noisy], f2c[labels])
    pairs = set(zip(labels[flipped].tolist(), noisy[flipped].tolist(), strict=True))
    expected = {(a, b) for a in range(14) for b in range(14) if a != b and f2c[a] == f2c[b]}
    assert pairs == expected


def test_within_coarse_leaves_lone_subclass():
    labels = np.repeat(np.arange(14), 10)
    noisy = corrupt_labels(
        labels, rate=0.9, n_classes=14, kind="within_coarse", seed=0, fine_to_coarse=FINE_TO_COARSE
    )
    assert np.array_equal(noisy[labels == 4], labels[labels == 4])
    assert (noisy != labels).sum() == 126
    with pytest.raises(ValueError, match="needs 133 flips but only 130 of 140"):
        corrupt_labels(
            labels,
            rate=0.95,
            n_classes=14,
            kind="within_coarse",
            seed=0,
            fine_to_coarse=FINE_TO_COARSE,
        )


def test_symmetric_roughly_uniform():
    labels = np.zeros(30000, dtype=int)
    noisy = corrupt_labels(labels, rate=0.9, n_classes=4, seed=0)
    counts = np.bincount(noisy, minlength=4)[1:]
    assert counts.min() > 0.95 * counts.mean()


def test_matrix_follows_off_diagonal():
    t = np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.3, 0.1, 0.6]])
    labels = np.repeat(np.arange(3), 5000)
    noisy = corrupt_labels(labels, rate=0.5, n_classes=3, kind="matrix", seed=0, transition=t)
    flipped = noisy != labels
    assert np.all(noisy[labels == 0][flipped[labels == 0]] == 1)
    assert np.all(noisy[labels == 1][flipped[labels == 1]] == 2)
    share = np.mean(noisy[(labels == 2) & flipped] == 0)
    assert abs(share - 0.75) < 0.03


def test_deterministic():
    labels = _labels(1000, 14)
    for kind in KINDS:
        kw = _kwargs(kind, 14)
        a = corrupt_labels(labels, rate=0.2, n_classes=14, kind=kind, seed=5, **kw)
        b = corrupt_labels(labels, rate=0.2, n_classes=14, kind=kind, seed=5, **kw)
        c = corrupt_labels(labels, rate=0.2, n_classes=14, kind=kind, seed=6, **kw)
        assert a.tobytes() == b.tobytes() and not np.array_equal(a, c)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 300),
    c=st.integers(2, 20),
    rate=st.floats(0.0, 0.99),
    kind=st.sampled_from(["symmetric", "pairflip"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_exact_count(n, c, rate, kind, seed):
    labels = _labels(n, c, seed % 1000)
    noisy = corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed)
    assert (noisy != labels).sum() == round(rate * n)
    again = corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed)
    assert np.array_equal(noisy, again)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 1.0}, r"rate must lie in \[0, 1\), got 1.0"),
        ({"rate": -0.1}, "rate must lie"),
        ({"kind": "uniform"}, "noise.kind: unknown 'uniform'; valid: symmetric, pairflip"),
        ({"n_classes": 1}, "n_classes must be"),
        ({"n_classes": 3}, r"labels must lie in 0\.\.2"),
        ({"kind": "within_coarse"}, "needs fine_to_coarse"),
        ({"kind": "within_coarse", "fine_to_coarse": [0, 0, 1]}, "must be 4 ints"),
        (
            {"kind": "within_coarse", "fine_to_coarse": [0, 1, 2, 3]},
            "needs 1 flips but only 0 of 8 labels",
        ),
        (
            {"kind": "within_coarse", "fine_to_coarse": [0, 0, 1, 2], "rate": 0.6},
            "needs 5 flips but only 4 of 8",
        ),
        ({"kind": "matrix"}, "needs a transition"),
        ({"kind": "matrix", "transition": np.eye(3)}, "must be 4x4"),
        ({"kind": "matrix", "transition": np.full((4, 4), 0.3)}, "row 0 sums to 1.2"),
        ({"kind": "matrix", "transition": np.eye(4)}, r"rows \[0, 1, 2, 3\] have no off-diag"),
        ({"kind": "matrix", "transition": np.full((4, 4), 0.25) * [[1, -1, 3, 1]]}, "non-neg"),
        ({"fine_to_coarse": [0, 0, 1, 1]}, "only used with kind='within_coarse'"),
        ({"transition": np.full((4, 4), 0.25)}, "only used with kind='matrix'"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"rate": 0.1, "n_classes": 4, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        corrupt_labels(np.arange(8) % 4, **args)


def test_float_labels_rejected():
    with pytest.raises(ValueError, match="labels must be integers"):
        corrupt_labels(np.array([0.0, 1.0]), rate=0.5, n_classes=2, seed=0)


def test_noise_matrix():
    true = np.array([0, 0, 0, 0, 1, 1, 2])
    given = np.array([0, 0, 0, 1, 1, 0, 2])
    m = noise_matrix(true, given, n_classes=4)
    expected = np.array(
        [[0.75, 0.25, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=float
    )
    assert np.allclose(m, expected)
    with pytest.raises(ValueError, match="differ in length"):
        noise_matrix(true, given[:-1], n_classes=4)
    with pytest.raises(ValueError, match="given labels must lie"):
        noise_matrix(true, given + 3, n_classes=4)


def _model_probs(rng, true, matrix, n_classes, *, error):
    """Probabilities of a model trained on labels noised by ``matrix``: it learned
    P(given | image) up to per-image wobble, and mistakes a share ``error`` of the images for
    another class altogether."""
    believed = true.copy()
    wrong = rng.random(true.size) < error
    believed[wrong] = (true[wrong] + rng.integers(1, n_classes, wrong.sum())) % n_classes
    return np.array([rng.dirichlet(50 * matrix[b] + 0.05) for b in believed])


# Pair flips at 0.4 are left out: a class then keeps 0.6 of its labels and gives 0.4 to one other
# class, close to the 0.5 at which the two cannot be told apart.
@pytest.mark.parametrize(
    ("kind", "rate"),
    [("symmetric", r) for r in (0.0, 0.1, 0.2, 0.4)] + [("pairflip", r) for r in (0.1, 0.3)],
)
def test_trusted_estimate_recovers_a_known_rate(kind, rate):
    rng = np.random.default_rng(3)
    c, n = 4, 3000
    if kind == "symmetric":
        matrix = np.full((c, c), rate / (c - 1)) + np.eye(c) * (1 - rate - rate / (c - 1))
    else:
        matrix = (1 - rate) * np.eye(c) + rate * np.roll(np.eye(c), 1, axis=1)
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    true = rng.choice(c, size=n, p=prior)
    noisy = np.array([rng.choice(c, p=matrix[t]) for t in true])
    pred_probs = _model_probs(rng, true, matrix, c, error=0.03)
    val_labels = np.repeat(np.arange(c), 60)
    # The K = 4 fold models each predict the trusted set.
    val_probs = np.stack([_model_probs(rng, val_labels, matrix, c, error=0.03) for _ in range(4)])
    estimate = trusted_noise_estimate(pred_probs, noisy, val_probs, val_labels, n_classes=c)
    realised = float((true != noisy).mean())
    assert abs(estimate.rate - realised) <= 0.02
    assert estimate.joint.sum() == pytest.approx(1.0)
    # Per given class: how many of the examples given that label are false.
    actual = np.bincount(noisy[true != noisy], minlength=c)
    assert np.abs(estimate.per_class - actual).max() <= 0.025 * n


def test_trusted_estimate_refuses_a_trusted_set_missing_a_class():
    probs = np.full((4, 3), 1 / 3)
    given = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"the trusted set has no example of class\(es\) \[2\]"):
        trusted_noise_estimate(probs, given, probs, np.array([0, 1, 0, 1]), n_classes=3)
    with pytest.raises(
        ValueError, match=r"from the trusted set has shape \(4, 2\), expected \(4, 3\)"
    ):
        trusted_noise_estimate(probs, given, probs[:, :2], np.array([0, 1, 2, 0]), n_classes=3)


def test_cross_validated_estimate_stands_in_when_val_is_carved():
    """Without a trusted set, cleanlab's estimate from the train set alone is used: close to the
    truth on probabilities that favour the true class, high rather than low."""
    from labelnoise.noise import cross_validated_noise_estimate

    rng = np.random.default_rng(0)
    n, classes = 4000, 4
    true = rng.integers(0, classes, n)
    flipped = rng.random(n) < 0.2
    given = np.where(flipped, (true + rng.integers(1, classes, n)) % classes, true)
    logits = rng.normal(0, 1, (n, classes)) + 3.5 * np.eye(classes)[true]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    estimate = cross_validated_noise_estimate(probs, given, n_classes=classes)
    assert flipped.mean() - 0.02 <= estimate.rate <= flipped.mean() + 0.06
    assert estimate.per_class.sum() == pytest.approx(estimate.rate * n, abs=classes)
    with pytest.raises(ValueError, match=r"no example of class\(es\) \[3\]"):
        cross_validated_noise_estimate(probs, np.minimum(given, 2), n_classes=classes)
