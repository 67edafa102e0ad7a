"""Outliers and duplicates from features: planted ones are found, clean clusters are left
alone."""

import numpy as np
import pandas as pd
import pytest

from labelnoise.neighbours import duplicates_table, neighbour_issues, outliers_table


@pytest.fixture(scope="module")
def planted():
    """300 images in 3 tight feature clusters, with 4 planted outliers far from every cluster,
    2 exact duplicates (same pixels, same features) and 2 near duplicates (other pixels,
    features a hair apart)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 32))
    labels = np.repeat(np.arange(3), 100)
    features = centres[labels] + rng.normal(0, 0.25, (300, 32))
    images = rng.integers(0, 256, (300, 8, 8, 3), dtype=np.uint8)
    outliers = np.array([10, 120, 250, 299])
    features[outliers] = rng.normal(0, 1, (4, 32))  # directions far from every cluster's
    images[41], features[41] = images[40], features[40]  # exact pair
    features[181] = features[180] + 1e-4 * rng.normal(size=32)  # near pair
    return features, images, outliers


def test_planted_outliers_rank_first_and_are_flagged(planted):
    features, images, outliers = planted
    found = neighbour_issues(features, images=images)
    top = np.argsort(-found.outlier_score)[: len(outliers)]
    assert set(top) == set(outliers)
    assert found.is_outlier[outliers].all()
    assert found.is_outlier.sum() <= 2 * len(outliers)


def test_exact_and_near_duplicates_are_told_apart(planted):
    features, images, _ = planted
    found = neighbour_issues(features, images=images)
    assert set(np.flatnonzero(found.exact_duplicate)) == {40, 41}
    assert set(np.flatnonzero(found.near_duplicate)) == {180, 181}
    assert found.group[40] == found.group[41] >= 0
    assert found.group[180] == found.group[181] >= 0 and found.group[180] != found.group[40]
    assert (found.group >= 0).sum() == 4
    assert found.nearest[180] == 181 and found.nearest[41] == 40


def test_without_images_no_duplicate_is_exact(planted):
    features, _, _ = planted
    found = neighbour_issues(features)
    assert not found.exact_duplicate.any()
    assert {40, 41, 180, 181} <= set(np.flatnonzero(found.near_duplicate))


def test_tables_rank_outliers_and_list_groups(planted):
    features, images, outliers = planted
    found = neighbour_issues(features, images=images)
    train = pd.DataFrame(
        {"id": np.arange(1000, 1300), "path": [f"img{i}.png" for i in range(300)]}
    ).assign(given_label="a")
    table = outliers_table(found, train)
    assert list(table.columns) == [
        "rank",
        "id",
        "path",
        "given_label",
        "outlier_score",
        "is_outlier",
    ]
    assert set(table["id"][:4]) == set(outliers + 1000)
    assert table["outlier_score"].is_monotonic_decreasing
    dupes = duplicates_table(found, train)
    assert list(dupes["id"]) == [1040, 1041, 1180, 1181]
    assert list(dupes["kind"]) == ["exact", "exact", "near", "near"]
    assert list(dupes["nearest_id"]) == [1041, 1040, 1181, 1180]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_neighbors": 1}, "n_neighbors must be an int >= 2, got 1"),
        ({"n_neighbors": 400}, "needs more than n_neighbors=400 images, got 300"),
        ({"near_duplicate": 1.5}, r"near_duplicate must be in \(0, 1\), got 1.5"),
        ({"images": np.zeros((3, 8, 8, 3), np.uint8)}, "3 images for 300 feature rows"),
    ],
)
def test_bad_input_is_refused(planted, kwargs, pattern):
    features, _, _ = planted
    with pytest.raises(ValueError, match=pattern):
        neighbour_issues(features, **kwargs)


def test_non_finite_features_are_refused(planted):
    features = planted[0].copy()
    features[3, 2] = np.nan
    with pytest.raises(ValueError, match="features hold NaN or infinite values"):
        neighbour_issues(features)
