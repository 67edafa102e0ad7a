"""Every issue type besides false labels: planted cases are found by Datalab and cleanvision,
copies across splits are reported as leaks, the summary counts what the table holds, and bad
input is refused by name."""

import os

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image, ImageFilter

from labelnoise.data.store import Dataset
from labelnoise.issues import (
    DATALAB_TYPES,
    IMAGE_CHECKS,
    IMAGE_PROPERTIES,
    ISSUE_TYPES,
    LABEL_COLUMNS,
    LEAK_COLUMNS,
    cross_split_leaks,
    datalab_issues,
    dataset_issues,
    hash_duplicate_sets,
    image_properties,
    issue_summary,
    pixel_duplicate_sets,
    within_split_duplicates,
)


def _photos(n: int, size: int, seed: int) -> np.ndarray:
    """``n`` sharp colour crops of scikit-image's bundled photographs."""
    rng = np.random.default_rng(seed)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    out = []
    for k in range(n):
        photo = photos[k % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - 256), rng.integers(0, photo.shape[1] - 256)
        crop = Image.fromarray(photo[y : y + 256, x : x + 256]).resize((size, size))
        out.append(np.asarray(crop))
    return np.stack(out)


@pytest.fixture(scope="module")
def planted_images():
    """30 photo crops of 128 px: row 1 heavily blurred, row 2 dark, row 3 one constant grey."""
    images = _photos(30, 128, seed=0)
    images[1] = np.asarray(Image.fromarray(images[1]).filter(ImageFilter.GaussianBlur(8)))
    images[2] = images[2] // 10
    images[3] = 128
    return images


def test_image_properties_find_the_dark_the_blurry_and_the_constant_image(planted_images):
    found = image_properties(images=planted_images)
    assert list(found.columns) == [
        c for t in IMAGE_PROPERTIES for c in (f"is_{t}_issue", f"{t}_score")
    ]
    flagged = {t: set(np.flatnonzero(found[f"is_{t}_issue"])) for t in IMAGE_PROPERTIES}
    assert 2 in flagged["dark"] and 1 in flagged["blurry"] and 3 in flagged["low_information"]
    # The constant grey image has three equal channels: cleanvision sees it as greyscale.
    assert flagged["grayscale"] == {3}
    sharp = set(range(4, 30))
    for check in ("dark", "light", "blurry", "low_information"):
        assert not flagged[check] & sharp, check
    # Datalab's direction: the planted image scores lowest on its own check.
    assert found["dark_score"].idxmin() == 2 and found["low_information_score"].idxmin() == 3
    only = image_properties(images=planted_images, checks=["dark", "near_duplicates"])
    assert list(only.columns) == ["is_dark_issue", "dark_score"]


def test_image_properties_read_original_files_at_their_size_and_leave_them(tmp_path):
    images = _photos(24, 64, seed=1)
    paths = []
    for k, image in enumerate(images):
        path = tmp_path / f"{k}.png"
        picture = Image.fromarray(image)
        if k == 0:
            picture = picture.resize((640, 640))  # far larger than the others
        elif k == 1:
            picture = picture.resize((256, 24))  # a strip
        elif k == 2:
            picture = picture.convert("L")  # a greyscale file
        picture.save(path)
        paths.append(path)
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths}
    found = image_properties(paths=[str(p) for p in paths], workers=2)
    assert set(np.flatnonzero(found["is_odd_size_issue"])) == {0, 1}
    assert set(np.flatnonzero(found["is_odd_aspect_ratio_issue"])) == {1}
    assert set(np.flatnonzero(found["is_grayscale_issue"])) == {2}
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths} == before


def _split_images():
    """40 train, 10 val, 10 test images of smooth random colours (distinct perceptual hashes):
    test 55 is an exact copy of train 3, val 42 is train 7 brightened by 4 (a near copy),
    train 20 an exact copy of train 21 (a duplicate within train, no leak)."""
    rng = np.random.default_rng(2)
    small = rng.integers(0, 256, (60, 4, 4, 3)).astype(np.uint8)
    images = np.stack(
        [np.asarray(Image.fromarray(s).resize((32, 32), Image.BILINEAR)) for s in small]
    )
    images[55] = images[3]
    images[42] = np.clip(images[7].astype(int) + 4, 0, 255).astype(np.uint8)
    images[20] = images[21]
    split = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    index = pd.DataFrame(
        {"id": np.arange(60), "split": split, "source": [f"img{k}" for k in range(60)]}
    )
    return images, index


def test_copies_across_splits_are_leaks_and_copies_within_train_are_not():
    images, index = _split_images()
    exact = pixel_duplicate_sets(images)
    assert [s.tolist() for s in exact] == [[3, 55], [20, 21]]
    near = hash_duplicate_sets(images=images)
    assert [s.tolist() for s in near["near_duplicates"]] == [[7, 42]]
    leaks = cross_split_leaks(index, images, exact_sets=exact, near_sets=near["near_duplicates"])
    assert list(leaks.columns) == list(LEAK_COLUMNS)
    rows = leaks[["split_a", "id_a", "split_b", "id_b", "kind"]].to_numpy().tolist()
    assert rows == [["train", 7, "val", 42, "near"], ["train", 3, "test", 55, "exact"]]
    assert leaks["pixel_distance"].tolist() == pytest.approx([leaks["pixel_distance"][0], 0.0])
    assert 0 < leaks["pixel_distance"][0] <= 4
    assert leaks["path_b"].tolist() == ["img42", "img55"]
    # A pair in both kinds of set is exact; the same pair never appears twice.
    both = cross_split_leaks(index, images, exact_sets=exact, near_sets=[np.array([3, 55])])
    assert both["kind"].tolist() == ["exact"]
    within = within_split_duplicates(near | {"exact_duplicates": exact}, np.arange(40))
    assert set(np.flatnonzero(within["is_exact_duplicates_issue"])) == {20, 21}
    assert not within["is_near_duplicates_issue"].any()  # 42 is in val


def _clusters():
    """300 images in 3 tight feature clusters with their labels and confident probabilities;
    rows 10, 120, 250 and 299 planted far from every cluster; rows 180 and 181 nearly equal."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 100)
    centres = rng.normal(0, 1, (3, 32)) * 10
    features = centres[labels] + rng.normal(0, 1, (300, 32))
    outliers = np.array([10, 120, 250, 299])
    features[outliers] = rng.normal(0, 1, (4, 32)) * 40
    features[181] = features[180] + 1e-4
    probs = np.full((300, 3), 0.05)
    probs[np.arange(300), labels] = 0.9
    return features, probs, labels, outliers


def test_datalab_finds_planted_outliers_and_near_duplicates():
    features, probs, labels, outliers = _clusters()
    before = np.random.get_state()  # noqa: NPY002 (the global generator Datalab reseeds)
    issues, summary = datalab_issues(features, probs, labels, n_neighbors=10)
    after = np.random.get_state()  # noqa: NPY002
    assert (after[1] == before[1]).all() and after[2] == before[2]  # left as it was
    assert list(summary["issue_type"]) == list(DATALAB_TYPES)
    assert set(outliers) <= set(np.flatnonzero(issues["is_outlier_issue"]))
    assert issues["is_outlier_issue"].sum() <= 2 * len(outliers)
    assert set(np.argsort(issues["outlier_score"].to_numpy())[:4]) == set(outliers)
    assert {180, 181} <= set(np.flatnonzero(issues["is_near_duplicate_issue"]))
    for kind in DATALAB_TYPES:
        count = summary.set_index("issue_type").loc[kind, "num_issues"]
        assert count == issues[f"is_{kind}_issue"].sum(), kind
    rare = np.concatenate([labels[:2], labels[100:]])  # class 0: 2 images of 202
    keep = np.r_[0:2, 100:300]
    issues, _ = datalab_issues(features[keep], probs[keep], rare)
    assert set(np.flatnonzero(issues["is_class_imbalance_issue"])) == {0, 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": np.zeros(5)}, r"features must be \(n, D\)"),
        ({"pred_probs": np.zeros((4, 3))}, r"pred_probs must be \(300, C\)"),
        ({"labels": np.zeros(3, int)}, r"labels must be \(300,\) integers"),
        ({"labels": np.full(300, 7)}, "labels must cover the 3 classes"),
        ({"labels": np.repeat([0, 1], 150)}, r"absent: \[2\]"),
        ({"near_duplicate": 1.5}, r"near_duplicate must be in \(0, 1\), got 1.5"),
        ({"n_neighbors": 0}, "n_neighbors must be an int >= 1, got 0"),
    ],
)
def test_datalab_refuses_bad_input_by_name(change, message):
    features, probs, labels, _ = _clusters()
    given = {"features": features, "pred_probs": probs, "labels": labels} | change
    with pytest.raises(ValueError, match=message):
        datalab_issues(**given)


def test_image_checks_refuse_bad_input_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"images must be uint8 \(n, H, W, 3\), got float64"):
        image_properties(images=np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="1 image files not found: .*gone.png"):
        image_properties(paths=[str(tmp_path / "gone.png")])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg: not a readable image"):
        hash_duplicate_sets(paths=[str(bad)])
    with pytest.raises(ValueError, match="exactly one of images and paths"):
        hash_duplicate_sets()
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        hash_duplicate_sets(images=np.zeros((2, 8, 8, 3), np.uint8), workers=0)
    images, index = _split_images()
    with pytest.raises(ValueError, match="59 index rows for 60 images"):
        cross_split_leaks(index[:59], images, exact_sets=[])
    with pytest.raises(ValueError, match=r"unknown splits \['holdout'\]"):
        cross_split_leaks(index.assign(split="holdout"), images, exact_sets=[])


def _dataset(task: str = "coarse", sources=None) -> Dataset:
    """The 60 images of :func:`_split_images` as a dataset of 3 classes."""
    images, index = _split_images()
    index = index.assign(label=np.arange(60) % 3, label_name="", coarse=-1, fine=-1)
    if sources is not None:
        index["source"] = sources
    return Dataset(images, index, {"task": task, "classes": ["a", "b", "c"]})


def _labels(dataset: Dataset) -> pd.DataFrame:
    train = dataset.index[dataset.index["split"] == "train"]
    flags = np.zeros(len(train), bool)
    flags[:5] = True
    return pd.DataFrame(
        {
            "id": train["id"].to_numpy(),
            "path": train["source"].to_numpy(),
            "is_label_issue": flags,
            "label_score": np.linspace(0, 1, len(train), endpoint=False),
            "given_label": "a",
            "predicted_label": "b",
        }
    )


def _model_outputs(n: int):
    rng = np.random.default_rng(3)
    given = np.arange(n) % 3
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), given] = 0.8
    return given, rng.normal(0, 1, (n, 16)) + given[:, None] * 3, probs


def test_dataset_issues_lay_out_every_type_and_the_summary_counts_the_file():
    dataset = _dataset()
    given, features, probs = _model_outputs(40)
    issues, summary, leaks = dataset_issues(dataset, _labels(dataset), given, features, probs)
    expected = list(LABEL_COLUMNS) + [
        c for t in ISSUE_TYPES[1:] for c in (f"is_{t}_issue", f"{t}_score")
    ]
    assert list(issues.columns) == expected and len(issues) == 40
    assert list(summary["issue_type"]) == list(ISSUE_TYPES)
    counts = summary.set_index("issue_type")["num_issues"]
    for kind in ISSUE_TYPES[:-1]:
        assert counts[kind] == issues[f"is_{kind}_issue"].sum(), kind
    assert counts["leak"] == len(leaks) == 2
    assert counts["label"] == 5 and counts["exact_duplicates"] == 2
    assert set(issues.loc[issues["is_leak_issue"], "id"]) == {3, 7}
    scores = summary.set_index("issue_type")["score"]
    assert scores["label"] == pytest.approx(1 - 5 / 40)
    assert scores["leak"] == pytest.approx(1 - 4 / 60)
    assert ((summary["score"] >= 0) & (summary["score"] <= 1)).all()
    fewer = dataset_issues(
        dataset, _labels(dataset), given, features, probs, checks=["dark", "exact_duplicates"]
    )
    assert "is_near_duplicates_issue" not in fewer[0].columns and "dark_score" in fewer[0]
    assert fewer[2]["kind"].tolist() == ["exact"]  # the near leak needs the perceptual hash


def test_dataset_issues_check_your_original_files(tmp_path):
    images, _ = _split_images()
    sources = []
    for k, image in enumerate(images):
        picture = Image.fromarray(image)
        if k == 11:  # the imported array cannot tell: it was resized to 32 px
            picture = picture.resize((32, 400))
        picture.save(tmp_path / f"{k}.png")
        sources.append(str(tmp_path / f"{k}.png"))
    dataset = _dataset("custom", sources)
    given, features, probs = _model_outputs(40)
    issues, _, leaks = dataset_issues(dataset, _labels(dataset), given, features, probs)
    assert issues.loc[issues["is_odd_aspect_ratio_issue"], "id"].tolist() == [11]
    assert leaks["path_a"].tolist() == [sources[7], sources[3]]


def test_dataset_issues_refuse_bad_input_by_name():
    dataset = _dataset()
    given, features, probs = _model_outputs(40)
    labels = _labels(dataset)
    with pytest.raises(ValueError, match=r"labels lacks the columns \['label_score'\]"):
        dataset_issues(dataset, labels.drop(columns="label_score"), given, features, probs)
    with pytest.raises(ValueError, match="the 40 train images in train order"):
        dataset_issues(dataset, labels[::-1], given, features, probs)
    with pytest.raises(ValueError, match=r"unknown image checks \['sharp'\]"):
        dataset_issues(dataset, labels, given, features, probs, checks=["sharp"])
    with pytest.raises(ValueError, match=r"pred_probs must be \(40, C\)"):
        dataset_issues(dataset, labels, given, features, probs[:39])


def test_summary_of_a_table_without_issues():
    issues = pd.DataFrame({"is_label_issue": [False, True], "label_score": [0.9, 0.1]})
    leaks = pd.DataFrame(columns=list(LEAK_COLUMNS))
    summary = issue_summary(
        issues, pd.DataFrame(columns=["issue_type", "score"]), leaks, n_images=4
    )
    assert summary.to_dict("list") == {
        "issue_type": ["label", "leak"],
        "num_issues": [1, 0],
        "score": [0.5, 1.0],
    }


def test_params_offer_exactly_cleanvisions_checks():
    from labelnoise.params import ImageCheck

    assert ImageCheck.__args__ == IMAGE_CHECKS
