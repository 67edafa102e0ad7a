import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from labelnoise import figures as F
from labelnoise.io import save_figure

CLASSES = ["blobs", "blur", "channels", "hue"]


def _images(n: int, seed: int = 0, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _check(fig: Figure, tmp_path, name: str) -> None:
    """A titled figure whose visible axes are labelled, and that saves to a non-empty PNG."""
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() or any(ax.get_title() or ax.get_title("left") for ax in fig.axes)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert visible
    assert any(ax.get_xlabel() for ax in visible)
    assert any(ax.get_ylabel() or ax.get_yticklabels() for ax in visible)
    path = tmp_path / f"{name}.png"
    save_figure(fig, path)
    assert path.stat().st_size > 1000


def test_review_rows(tmp_path):
    n = 120
    labels = np.arange(n) % 4
    categories = (np.arange(n) // 4) % 3
    categories[labels == 3] = 0  # a class with no hard / need-review example still draws
    fig = F.review_rows_figure(
        _images(n), labels, categories, class_names=CLASSES, per_row=5, seed=0
    )
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title(loc="left") == "given label: blobs"
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [t.split("\n")[0] for t in ticks] == ["easy", "hard", "need review"]
    assert "0 in class" in fig.axes[3].get_yticklabels()[1].get_text()
    _check(fig, tmp_path, "rows")


def test_review_rows_frames_have_category_colours():
    images = np.zeros((3, 6, 6, 3), dtype=np.uint8)
    fig = F.review_rows_figure(
        images, np.zeros(3, int), np.array([0, 1, 2]), class_names=["a"], per_row=1, seed=0
    )
    mosaic = fig.axes[0].get_images()[0].get_array()
    side = 6 + 2 * 2
    corners = [tuple(mosaic[k * side, 0]) for k in range(3)]
    expected = [tuple(round(c * 255) for c in F._hex_rgb(h)) for h in F.CATEGORY_COLORS]
    assert corners == expected


def test_review_rows_rejects_bad_categories():
    with pytest.raises(ValueError, match="categories"):
        F.review_rows_figure(
            _images(4), np.zeros(4, int), np.array([0, 1, 2, 7]), class_names=["a"], seed=0
        )


def test_tsne(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    flipped = np.arange(n) < 10
    features = rng.normal(size=(n, 60)) + flipped[:, None] * 3
    fig = F.tsne_figure(features, flipped=flipped, flagged=flipped, seed=0, max_points=60)
    assert len(fig.axes) == 2
    assert "60 of 80" in fig.get_suptitle()
    _check(fig, tmp_path, "tsne")


def test_tsne_rejects_mismatched_flags():
    with pytest.raises(ValueError, match="flagged"):
        F.tsne_figure(np.zeros((10, 3)), flipped=np.zeros(10), flagged=np.zeros(9), seed=0)


def test_training_value_histograms(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4
    flipped = rng.random(200) < 0.2
    values = np.where(flipped, -1.0, 1.0) + rng.normal(0, 0.3, 200)
    fig = F.training_value_histograms(values, labels, flipped, class_names=CLASSES)
    zero_lines = [
        line for ax in fig.axes for line in ax.get_lines() if list(line.get_xdata()) == [0, 0]
    ]
    assert len(zero_lines) == 4
    _check(fig, tmp_path, "values")


def test_trajectory(tmp_path):
    rng = np.random.default_rng(0)
    flipped = np.arange(50) < 10
    trend = np.where(flipped, 0.2, -0.2)
    traj = np.exp(np.cumsum(trend + rng.normal(0, 0.05, (6, 50)), axis=0))
    fig = F.trajectory_figure(traj, flipped, seed=0, per_group=5, best_epoch=4)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert any("false labels" in t for t in labels) and any("epoch scored" in t for t in labels)
    _check(fig, tmp_path, "traj")


def test_trajectory_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        F.trajectory_figure(np.zeros((3, 4)), np.zeros(4, bool), seed=0)


def test_relevance_mask_finds_informative_region(tmp_path):
    rng = np.random.default_rng(0)
    n, size = 200, 12
    labels = np.arange(n) % 2
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    # Only the top-left 3x3 block depends on the class.
    block = rng.integers(0, 40, size=(n, 3, 3, 3), dtype=np.uint8)
    images[:, :3, :3] = block + np.where(labels == 1, 200, 10)[:, None, None, None].astype(np.uint8)
    mask, scores = F.relevance_mask(images, labels, percentile=100 * 9 / size**2)
    assert mask.shape == (size, size)
    assert mask[:3, :3].all() and mask.sum() == 9
    assert scores[:3, :3].min() > scores[3:, 3:].max()
    _check(F.relevance_mask_figure(images, labels), tmp_path, "mask")


def test_relevance_mask_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        F.relevance_mask(_images(5), np.zeros(5, int))


def test_accuracy_and_detection(tmp_path):
    rates = [0.0, 0.1, 0.2]
    accuracy = pd.DataFrame(
        {"rate": rates, "none": [0.9, 0.8, 0.7], "oracle": [0.9, 0.89, 0.88], "extra": [0.9] * 3}
    )
    grid = np.linspace(0, 0.2, 5)
    fit = pd.DataFrame(
        {"rate": grid, "none_fit": 0.9 - grid, "oracle_fit": 0.9 - 0.1 * grid, "extra_fit": np.nan}
    )
    fig = F.accuracy_vs_rate_figure(accuracy, fit)
    labels = fig.axes[0].get_legend().get_texts()
    assert {"none", "oracle", "extra (no fit)"} <= {t.get_text() for t in labels}
    _check(fig, tmp_path, "acc")
    detection = pd.DataFrame(
        {
            "rate": rates,
            "cleanlab_f1": [0.0, 0.7, 0.8],
            "cleanlab_auroc": [np.nan, 0.9, 0.95],
            "aum_f1": [0.0, 0.6, 0.7],
            "aum_auroc": [np.nan, 0.8, 0.85],
        }
    )
    fig = F.detection_figure(detection)
    assert len(fig.axes) == 2
    _check(fig, tmp_path, "det")


def test_accuracy_needs_rate():
    with pytest.raises(ValueError, match="rate"):
        F.accuracy_vs_rate_figure(pd.DataFrame({"none": [0.9]}), pd.DataFrame({"rate": [0.0]}))


def test_method_colors_are_stable():
    a = F.method_colors(["cleanlab", "aum"])
    b = F.method_colors(["aum", "new", "cleanlab"])
    assert a["cleanlab"] == b["cleanlab"] and a["aum"] == b["aum"]
    assert b["new"] not in (b["aum"], b["cleanlab"])


def test_relevance_mask_with_pixels_constant_within_class(tmp_path):
    labels = np.arange(40) % 2
    images = _images(40, size=6)
    images[:, 0, 0] = np.where(labels == 1, 200, 10)[:, None]  # infinite F
    images[:, 5, 5] = 7  # constant everywhere: undefined F
    mask, scores = F.relevance_mask(images, labels, percentile=5)
    assert np.isfinite(scores).all()
    assert mask[0, 0] and not mask[5, 5] and scores[5, 5] == 0
    _check(F.relevance_mask_figure(images, labels), tmp_path, "mask_inf")
