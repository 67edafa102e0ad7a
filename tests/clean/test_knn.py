"""The k-NN label vote finds labels that disagree with their neighbourhood."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from labelnoise.clean import CleanContext, get_method
from labelnoise.clean.knn import neighbour_votes


def _clusters(n=600, n_classes=3, rate=0.2, seed=0):
    """Tight feature clusters, one per class, with ``rate`` of the labels moved elsewhere."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes, n)
    centres = rng.normal(0.0, 1.0, (n_classes, 16)) * 4
    features = centres[true] + rng.normal(0.0, 1.0, (n, 16))
    flipped = rng.random(n) < rate
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, n_classes, flipped.sum())) % n_classes
    return features, true, given, flipped


def test_planted_flips_rank_first_and_the_vote_suggests_the_truth():
    features, true, given, flipped = _clusters()
    ctx = CleanContext(labels=given, n_classes=3, pred_probs=np.full((len(given), 3), 1 / 3),
                       features=features)  # fmt: skip
    result = get_method("knn").run(ctx, n_neighbors=15)
    assert roc_auc_score(flipped, result.scores) > 0.97
    precision = (result.flags & flipped).sum() / result.flags.sum()
    recall = (result.flags & flipped).sum() / flipped.sum()
    assert precision > 0.9 and recall > 0.9
    assert (result.extras["suggested_label"][flipped] == true[flipped]).mean() > 0.95
    assert result.noise_rate_estimate == pytest.approx(result.flags.mean())


def test_votes_exclude_the_example_itself_even_beside_an_exact_duplicate():
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    labels = np.array([0, 1, 1, 1])
    votes = neighbour_votes(features, labels, n_classes=2, n_neighbors=1)
    # Rows 0 and 1 are each other's nearest neighbour, never their own.
    np.testing.assert_array_equal(votes[:2], [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(votes.sum(1), 1.0)


def test_more_neighbours_than_examples_use_all_the_others():
    features = np.eye(3)
    votes = neighbour_votes(features, np.array([0, 1, 1]), n_classes=2, n_neighbors=10)
    np.testing.assert_allclose(votes[0], [0.0, 1.0])


@pytest.mark.parametrize(
    "features, n_neighbors, match",
    [
        (np.zeros((4, 2, 1)), 3, "shape"),
        (np.array([[np.nan, 0.0]] * 4), 3, "NaN"),
        (np.eye(4), 0, "n_neighbors"),
    ],
)
def test_bad_inputs_are_named(features, n_neighbors, match):
    with pytest.raises(ValueError, match=match):
        neighbour_votes(features, np.array([0, 1, 0, 1]), n_classes=2, n_neighbors=n_neighbors)


def test_needs_features():
    ctx = CleanContext(labels=np.array([0, 1]), n_classes=2, pred_probs=np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="features"):
        get_method("knn").run(ctx)
