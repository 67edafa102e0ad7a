import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from labelnoise.data.alter import (
    COARSE_CLASSES,
    FINE_CLASSES,
    FINE_TO_COARSE,
    alter,
    gaussian_matrix,
    hsv_to_rgb,
    random_polygon_masks,
    random_polygons,
    rgb_to_hsv,
)
from labelnoise.data.base_images import base_crops


def test_class_tables_agree():
    assert len(COARSE_CLASSES) == 4 and len(FINE_CLASSES) == 14
    assert len(FINE_TO_COARSE) == 14
    assert np.bincount(FINE_TO_COARSE).tolist() == [4, 1, 5, 4]
    assert FINE_CLASSES[4] == "gaussian_blur" and FINE_TO_COARSE[4] == 1


@pytest.mark.parametrize("size", [16, 32, 64])
def test_masks_area_and_vertices_in_range(size):
    polys = random_polygons(200, size=size, vertices=(5, 9), area=(0.15, 0.35), seed=3)
    frac = polys.masks.mean(axis=(1, 2))
    assert polys.masks.shape == (200, size, size) and polys.masks.dtype == bool
    assert frac.min() >= 0.15 and frac.max() <= 0.35
    counts = [len(v) for v in polys.vertices]
    assert min(counts) >= 5 and max(counts) <= 9 and len(set(counts)) > 1


def test_masks_deterministic():
    a = random_polygon_masks(50, size=32, seed=1)
    assert np.array_equal(a, random_polygon_masks(50, size=32, seed=1))
    assert not np.array_equal(a, random_polygon_masks(50, size=32, seed=2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vertices": (2, 5)}, "data.vertices: each count must be >= 3, got"),
        ({"vertices": (6, 5)}, r"data.vertices must be \(low, high\) with low <= high"),
        ({"area": (0.0, 0.3)}, r"data.area: each fraction must lie in \(0, 1\)"),
        # A convex polygon never covers the whole image: an area of 1 is outside data.area.
        ({"area": (0.2, 1.0)}, r"data.area: each fraction must lie in \(0, 1\), got \[0.2, 1.0\]"),
        ({"area": (0.4, 0.3)}, r"data.area must be \(low, high\) with low <= high"),
        ({"size": 0}, "size must be >= 1, got 0"),
    ],
)
def test_mask_bad_args(kwargs, match):
    args = {"size": 32, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        random_polygon_masks(3, **args)


def test_impossible_area_raises():
    with pytest.raises(ValueError, match="data.area: could not draw polygons"):
        random_polygon_masks(3, size=16, vertices=(3, 3), area=(0.9, 0.95), seed=0)


@pytest.fixture(scope="module")
def batch():
    n = 6 * len(FINE_CLASSES)
    images = base_crops(n, size=32, seed=5).images
    masks = random_polygon_masks(n, size=32, seed=6)
    fine = np.repeat(np.arange(len(FINE_CLASSES)), 6)
    return images, masks, fine, alter(images, masks, fine, seed=7)


@pytest.mark.parametrize("cls", range(len(FINE_CLASSES)))
def test_alteration_only_inside_mask(batch, cls):
    images, masks, fine, out = batch
    rows = fine == cls
    changed = (out[rows] != images[rows]).any(-1)
    assert not (changed & ~masks[rows]).any(), "pixels outside the polygon changed"
    assert changed.sum(axis=(1, 2)).min() > 0, "an image was not altered"


def test_alter_keeps_input_and_is_deterministic(batch):
    images, masks, fine, out = batch
    before = images.copy()
    again = alter(images, masks, fine, seed=7)
    assert np.array_equal(images, before) and np.array_equal(out, again)
    assert not np.array_equal(out, alter(images, masks, fine, seed=8))


def test_channel_permutations_and_colours(batch):
    images, masks, fine, out = batch
    i = np.flatnonzero(fine == FINE_CLASSES.index("channels_bgr"))[0]
    m = masks[i]
    assert np.array_equal(out[i][m], images[i][m][:, ::-1])
    i = np.flatnonzero(fine == FINE_CLASSES.index("blobs_green"))[0]
    painted = (out[i] != images[i]).any(-1)
    assert np.all(out[i][painted] == [0, 255, 0])
    i = np.flatnonzero(fine == FINE_CLASSES.index("hue_blue"))[0]
    h, s, _ = rgb_to_hsv(out[i][masks[i]].astype(np.float32) / 255)
    assert np.median(np.abs(h - 2 / 3)) < 0.03 and s.min() >= 0.45


def test_hsv_round_trip():
    rgb = np.random.default_rng(0).random((1000, 3)).astype(np.float32)
    assert np.allclose(hsv_to_rgb(*rgb_to_hsv(rgb)), rgb, atol=1e-5)


def test_alter_bad_input():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    masks = np.ones((2, 8, 8), bool)
    with pytest.raises(ValueError, match="fine labels"):
        alter(images, masks, np.array([0, 14]), seed=0)
    with pytest.raises(ValueError, match="masks"):
        alter(images, masks[:, :4], np.array([0, 1]), seed=0)
    with pytest.raises(ValueError, match="images"):
        alter(images.astype(float), masks, np.array([0, 1]), seed=0)
    with pytest.raises(ValueError, match="blur_sigma"):
        alter(images, masks, np.array([0, 1]), seed=0, blur_sigma=0)


@pytest.mark.parametrize(("size", "sigma"), [(8, 5.0), (32, 1.9)])
def test_gaussian_matrix_matches_scipy(size, sigma):
    from scipy import ndimage

    signal = np.random.default_rng(0).random(size)
    expected = ndimage.gaussian_filter1d(signal, sigma, mode="reflect")
    assert np.allclose(gaussian_matrix(size, sigma) @ signal, expected, atol=1e-5)


PERMUTATION_CLASSES = [name for name in FINE_CLASSES if name.startswith("channels_")]
ALL_PERMUTATIONS = [(0, 1, 2), (2, 1, 0), (2, 0, 1), (1, 2, 0), (1, 0, 2), (0, 2, 1)]


def _region_is_a_permutation(new: np.ndarray, old: np.ndarray, *, tolerance: int) -> bool:
    """Whether some channel permutation of the region's old pixels gives its new pixels."""
    return any(
        np.abs(new.astype(int) - old[:, list(p)].astype(int)).max() <= tolerance
        for p in ALL_PERMUTATIONS
    )


@settings(max_examples=300, deadline=None)
@given(
    colour=st.tuples(*[st.integers(0, 255)] * 3),
    second=st.one_of(st.none(), st.tuples(*[st.integers(0, 255)] * 3)),
    seed=st.integers(0, 2**16),
)
@example(colour=(255, 128, 0), second=None, seed=0)  # orange: a half turn = the R-B swap
@example(colour=(255, 0, 0), second=(0, 0, 255), seed=1)
def test_hue_all_never_paints_a_channel_permutation(colour, second, seed):
    """Over many draws of turn and base colours (a region of one colour, the hardest case, or
    of two), hue_all's region is never a channel permutation of the original region."""
    size = 16
    image = np.zeros((1, size, size, 3), np.uint8)
    image[0] = colour
    if second is not None:
        image[0, size // 2 :] = second
    mask = np.zeros((1, size, size), bool)
    mask[0, 2:-2, 2:-2] = True  # 12 px wide: the sweep turns the hue by 0.35 across it
    fine = np.array([FINE_CLASSES.index("hue_all")])
    out = alter(image, mask, fine, seed=seed)
    new, old = out[0][mask[0]], image[0][mask[0]]
    assert not _region_is_a_permutation(new, old, tolerance=12)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**16), cls=st.sampled_from(PERMUTATION_CLASSES))
def test_permuted_photo_regions_are_not_hue_alterations(seed, cls):
    """A channel permutation of a photo region keeps saturation and value and its spread of
    hues; the hue classes' regions differ from every permutation of the original."""
    images = base_crops(4, size=16, seed=seed).images
    masks = random_polygon_masks(4, size=16, seed=seed + 1)
    for hue_cls in ("hue_red", "hue_green", "hue_blue", "hue_all"):
        fine = np.full(4, FINE_CLASSES.index(hue_cls))
        out = alter(images, masks, fine, seed=seed)
        for i in range(4):
            new, old = out[i][masks[i]], images[i][masks[i]]
            spread = np.ptp(rgb_to_hsv(old.astype(np.float32) / 255)[0])
            if spread > 0.2:  # a region of several hues (one-hue regions: the test above)
                assert not _region_is_a_permutation(new, old, tolerance=12), (hue_cls, i)
    permuted = alter(images, masks, np.full(4, FINE_CLASSES.index(cls)), seed=seed)
    for i in range(4):
        assert _region_is_a_permutation(permuted[i][masks[i]], images[i][masks[i]], tolerance=0)
