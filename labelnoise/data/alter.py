"""The 4-class / 14-subclass alteration task: random polygonal regions of a base image get
blobs, blur, a channel permutation or a hue change, and nothing outside the region changes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

COARSE_CLASSES = ("blobs", "blur", "channel_order", "hue")
FINE_CLASSES = (
    "blobs_red",
    "blobs_green",
    "blobs_blue",
    "blobs_multi",
    "gaussian_blur",
    "channels_bgr",
    "channels_brg",
    "channels_gbr",
    "channels_grb",
    "channels_rbg",
    "hue_red",
    "hue_green",
    "hue_blue",
    "hue_all",
)
FINE_TO_COARSE = (0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3)

_PRIMARIES = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
_PERMUTATIONS = {
    "channels_bgr": (2, 1, 0),
    "channels_brg": (2, 0, 1),
    "channels_gbr": (1, 2, 0),
    "channels_grb": (1, 0, 2),
    "channels_rbg": (0, 2, 1),
}
_HUE_TARGETS = {"hue_red": 0.0, "hue_green": 1.0 / 3.0, "hue_blue": 2.0 / 3.0}
_CHUNK = 1024
_MAX_ROUNDS = 50


class Polygons(NamedTuple):
    """Rasterised polygons.

    Attributes
    ----------
    masks
        bool ``(n, size, size)``: True where the pixel centre lies inside the polygon.
    vertices
        One float array ``(k, 2)`` of ``(x, y)`` pixel coordinates per polygon.
    """

    masks: np.ndarray
    vertices: list[np.ndarray]


def check_polygon_args(size: int, vertices: tuple[int, int], area: tuple[float, float]) -> None:
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    vmin, vmax = vertices
    if not 3 <= vmin <= vmax:
        raise ValueError(f"vertices must satisfy 3 <= low <= high, got {vertices}")
    amin, amax = area
    if not 0 < amin <= amax < 1:
        raise ValueError(f"area must satisfy 0 < low <= high < 1, got {area}")


def random_polygons(
    n: int,
    *,
    size: int,
    vertices: tuple[int, int] = (5, 9),
    area: tuple[float, float] = (0.15, 0.35),
    seed: int,
) -> Polygons:
    """Random convex polygons whose rasterised area fraction lies in ``area``.

    Vertices lie on a randomly stretched and rotated ellipse at random angles, so every polygon
    is convex and can be filled scanline by scanline for the whole batch at once. Polygons whose
    rasterised area falls outside the range (clipped by the border, or rounding at small sizes)
    are drawn again.

    Parameters
    ----------
    n
        Number of polygons.
    size
        Image side in pixels.
    vertices
        Inclusive range of the vertex count.
    area
        Inclusive range of the fraction of the image's pixels inside the polygon.
    seed
        Random seed.

    Returns
    -------
    Polygons
        ``masks`` bool ``(n, size, size)`` and ``vertices``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    check_polygon_args(size, vertices, area)
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), dtype=bool)
    verts = np.zeros((n, vertices[1], 2))
    counts = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(_MAX_ROUNDS):
        if todo.size == 0:
            break
        v, k = _draw_polygons(rng, todo.size, size, vertices, area)
        m = _fill_convex(v, k, size)
        frac = np.count_nonzero(m, axis=(1, 2)) / (size * size)
        ok = (frac >= area[0]) & (frac <= area[1])
        masks[todo[ok]] = m[ok]
        verts[todo[ok]] = v[ok]
        counts[todo[ok]] = k[ok]
        todo = todo[~ok]
    if todo.size:
        raise ValueError(
            f"could not draw polygons with area fraction in {area} at size {size}; widen the range"
        )
    return Polygons(masks, [verts[i, : counts[i]] for i in range(n)])


def random_polygon_masks(
    n: int,
    *,
    size: int,
    vertices: tuple[int, int] = (5, 9),
    area: tuple[float, float] = (0.15, 0.35),
    seed: int,
) -> np.ndarray:
    """Masks of :func:`random_polygons`: bool ``(n, size, size)``, True inside the polygon."""
    return random_polygons(n, size=size, vertices=vertices, area=area, seed=seed).masks


def _draw_polygons(
    rng: np.random.Generator,
    n: int,
    size: int,
    vertices: tuple[int, int],
    area: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    kmax = vertices[1]
    k = rng.integers(vertices[0], vertices[1] + 1, size=n)
    valid = np.arange(kmax) < k[:, None]
    # Gaps bounded away from zero keep vertices from collapsing onto each other.
    gaps = np.where(valid, rng.uniform(0.5, 1.5, (n, kmax)), 0.0)
    angles = (
        rng.uniform(0, 2 * np.pi, (n, 1)) + 2 * np.pi * np.cumsum(gaps, 1) / gaps.sum(1)[:, None]
    )
    stretch = rng.uniform(1.0, 1.8, n)
    tilt = rng.uniform(0, np.pi, n)
    ex, ey = np.cos(angles) * stretch[:, None], np.sin(angles) / stretch[:, None]
    ct, st = np.cos(tilt)[:, None], np.sin(tilt)[:, None]
    x, y = ex * ct - ey * st, ex * st + ey * ct
    # Padding vertices repeat the last real one: zero-length edges change neither area nor fill.
    last = k - 1
    x = np.where(valid, x, x[np.arange(n), last][:, None])
    y = np.where(valid, y, y[np.arange(n), last][:, None])
    shoelace = 0.5 * np.abs(np.sum(x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y, axis=1))
    target = rng.uniform(area[0], area[1], n) * size * size
    r = np.sqrt(target / shoelace)[:, None]
    x, y = x * r, y * r
    lo_x, hi_x = x.min(1), x.max(1)
    lo_y, hi_y = y.min(1), y.max(1)
    cx = _place(rng, lo_x, hi_x, size)
    cy = _place(rng, lo_y, hi_y, size)
    return np.stack([x + cx[:, None], y + cy[:, None]], axis=-1), k


def _place(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, size: int) -> np.ndarray:
    a, b = -lo, size - hi
    # Too wide to fit: centre it and let the border clip it.
    fits = a <= b
    return np.where(fits, a + rng.random(lo.shape) * (b - a), (a + b) / 2)


def _fill_convex(v: np.ndarray, k: np.ndarray, size: int) -> np.ndarray:
    """Fill convex polygons: each pixel row is the interval between the leftmost and rightmost
    crossing of the row's centre line with the polygon's edges."""
    x1, y1 = v[..., 0], v[..., 1]
    x2, y2 = np.roll(x1, -1, 1), np.roll(y1, -1, 1)
    # The closing edge of a padded polygon runs from its last real vertex back to vertex 0.
    last = k - 1
    rows = np.arange(len(k))
    x2[rows, last], y2[rows, last] = x1[:, 0], y1[:, 0]
    yc = np.arange(size) + 0.5
    lo_y, hi_y = np.minimum(y1, y2)[:, :, None], np.maximum(y1, y2)[:, :, None]
    crosses = (lo_y <= yc) & (yc < hi_y)
    dy = np.where(y2 == y1, 1.0, y2 - y1)[:, :, None]
    xc = x1[:, :, None] + (yc - y1[:, :, None]) * (x2 - x1)[:, :, None] / dy
    left = np.where(crosses, xc, np.inf).min(1)
    right = np.where(crosses, xc, -np.inf).max(1)
    # Pixel j (centre j + 0.5) is inside when left <= j + 0.5 <= right.
    lo = np.clip(np.ceil(left - 0.5), 0, size).astype(np.int16)[:, :, None]
    hi = np.clip(np.floor(right - 0.5), -1, size - 1).astype(np.int16)[:, :, None]
    xs = np.arange(size, dtype=np.int16)
    return (xs >= lo) & (xs <= hi)


def alter(
    images: np.ndarray,
    masks: np.ndarray,
    fine: np.ndarray,
    *,
    seed: int,
    blob_count: tuple[int, int] = (3, 6),
    blob_radius: tuple[float, float] = (0.06, 0.12),
    blur_sigma: float = 0.08,
    hue_strength: float = 1.0,
    hue_rotation: tuple[float, float] = (0.25, 0.75),
    min_saturation: float = 0.5,
    min_value: float = 0.3,
) -> np.ndarray:
    """Apply each image's fine alteration inside its mask.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)`` base images (not modified).
    masks
        bool ``(n, H, W)``: where to alter; pixels outside stay byte-identical.
    fine
        int ``(n,)``: index into ``FINE_CLASSES``.
    seed
        Random seed.
    blob_count
        Inclusive range of the number of blobs per image.
    blob_radius
        Range of the blob radius as a fraction of the image side. Blob centres lie inside the
        mask; blobs are clipped to it.
    blur_sigma
        Gaussian blur sigma as a fraction of the image side.
    hue_strength
        Fraction of the way each hue moves towards red / green / blue (1 = all the way).
    hue_rotation
        Range of the random hue rotation of ``hue_all``, in turns.
    min_saturation
        Saturation floor inside the region for the hue classes, so the new hue shows on grey
        and pale pixels too.
    min_value
        Value (brightness) floor inside the region for the hue classes, so the new hue shows
        on dark pixels too.

    Returns
    -------
    np.ndarray
        uint8 ``(n, H, W, 3)`` altered copy.
    """
    images = np.asarray(images)
    masks = np.asarray(masks)
    fine = np.asarray(fine)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, H, W, 3), got {images.dtype} {images.shape}")
    if masks.shape != images.shape[:3] or masks.dtype != bool:
        raise ValueError(f"masks must be bool {images.shape[:3]}, got {masks.dtype} {masks.shape}")
    if fine.shape != (len(images),) or not np.issubdtype(fine.dtype, np.integer):
        raise ValueError(f"fine must be int ({len(images)},), got {fine.dtype} {fine.shape}")
    if fine.size and (fine.min() < 0 or fine.max() >= len(FINE_CLASSES)):
        raise ValueError(f"fine labels must lie in 0..{len(FINE_CLASSES) - 1}")
    if not 1 <= blob_count[0] <= blob_count[1]:
        raise ValueError(f"blob_count must satisfy 1 <= low <= high, got {blob_count}")
    if not 0 < blob_radius[0] <= blob_radius[1]:
        raise ValueError(f"blob_radius must satisfy 0 < low <= high, got {blob_radius}")
    if blur_sigma <= 0:
        raise ValueError(f"blur_sigma must be > 0, got {blur_sigma}")
    if not 0 < hue_strength <= 1:
        raise ValueError(f"hue_strength must lie in (0, 1], got {hue_strength}")
    if not 0 <= min_saturation <= 1:
        raise ValueError(f"min_saturation must lie in [0, 1], got {min_saturation}")
    if not 0 <= min_value <= 1:
        raise ValueError(f"min_value must lie in [0, 1], got {min_value}")
    rng = np.random.default_rng(seed)
    out = images.copy()
    size = images.shape[1]
    for cls, name in enumerate(FINE_CLASSES):
        rows = np.flatnonzero(fine == cls)
        for start in range(0, rows.size, _CHUNK):
            sel = rows[start : start + _CHUNK]
            img, m = images[sel], masks[sel]
            if name.startswith("blobs"):
                colour = None if name == "blobs_multi" else ("red", "green", "blue").index(name[6:])
                new = _blobs(img, m, rng, colour, blob_count, blob_radius)
            elif name == "gaussian_blur":
                new = _blur(img, blur_sigma * size)
            elif name in _PERMUTATIONS:
                new = img[..., list(_PERMUTATIONS[name])]
            else:
                floors = (min_saturation, min_value)
                new = _hue(img, m, rng, _HUE_TARGETS.get(name), hue_strength, hue_rotation, floors)
            out[sel] = np.where(m[..., None], new, img)
    return out


def _blobs(
    img: np.ndarray,
    m: np.ndarray,
    rng: np.random.Generator,
    colour: int | None,
    count: tuple[int, int],
    radius: tuple[float, float],
) -> np.ndarray:
    n, h, w = m.shape
    b = count[1]
    active = np.arange(b) < rng.integers(count[0], count[1] + 1, n)[:, None]
    # Centres: a uniformly chosen pixel inside each mask, found by rank in the flat cumsum.
    flat = m.reshape(n, -1)
    inside = flat.sum(1)
    rank = np.floor(rng.random((n, b)) * inside[:, None]).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(inside)[:-1]])
    pos = np.searchsorted(np.cumsum(flat.ravel()), (before[:, None] + rank + 1).ravel())
    pos = pos.reshape(n, b) - (np.arange(n) * h * w)[:, None]
    cy, cx = pos // w + 0.5, pos % w + 0.5
    rad = rng.uniform(radius[0], radius[1], (n, b)) * min(h, w)
    cols = rng.integers(0, 3, (n, b)) if colour is None else np.full((n, b), colour)
    dy = ((np.arange(h) + 0.5) - cy[..., None]).astype(np.float32) ** 2
    dx = ((np.arange(w) + 0.5) - cx[..., None]).astype(np.float32) ** 2
    r2 = np.where(active, rad**2, -1.0).astype(np.float32)
    disc = dy[..., :, None] + dx[..., None, :] <= r2[..., None, None]
    # Later blobs paint over earlier ones, as if drawn one after another.
    top = b - 1 - np.argmax(disc[:, ::-1], axis=1)
    paint = _PRIMARIES[np.take_along_axis(cols, top.reshape(n, -1), 1).reshape(n, h, w)]
    return np.where(disc.any(1)[..., None], paint, img)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    h, w = img.shape[1:3]
    x = img.astype(np.float32).transpose(0, 3, 1, 2)
    # A separable Gaussian is two small dense matrix products per image, far faster than
    # sliding a wide kernel at these image sizes.
    x = np.matmul(np.matmul(gaussian_matrix(h, sigma), x), gaussian_matrix(w, sigma).T)
    return np.clip(np.rint(x.transpose(0, 2, 3, 1)), 0, 255).astype(np.uint8)


def gaussian_matrix(n: int, sigma: float, *, truncate: float = 4.0) -> np.ndarray:
    """float32 ``(n, n)`` matrix applying a 1-D Gaussian blur with half-sample symmetric
    borders (``scipy.ndimage`` mode ``"reflect"``) to a length-``n`` signal."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    src = np.arange(n)[:, None] + offsets
    period = 2 * n
    src = np.mod(src, period)
    src = np.where(src >= n, period - 1 - src, src)
    g = np.zeros((n, n))
    np.add.at(g, (np.repeat(np.arange(n), offsets.size), src.ravel()), np.tile(weights, n))
    return g.astype(np.float32)


def _hue(
    img: np.ndarray,
    m: np.ndarray,
    rng: np.random.Generator,
    target: float | None,
    strength: float,
    rotation: tuple[float, float],
    floors: tuple[float, float],
) -> np.ndarray:
    n = len(img)
    turn = rng.uniform(rotation[0], rotation[1], n).astype(np.float32)
    # Only the region's pixels are converted: the others are discarded by the caller anyway.
    which, yy, xx = np.nonzero(m)
    h, s, v = rgb_to_hsv(img[which, yy, xx].astype(np.float32) / 255)
    if target is None:
        h = (h + turn[which]) % 1.0
    else:
        delta = (target - h + 0.5) % 1.0 - 0.5
        h = (h + strength * delta) % 1.0
    s = np.maximum(s, floors[0])
    v = np.maximum(v, floors[1])
    new = img.copy()
    new[which, yy, xx] = np.clip(np.rint(hsv_to_rgb(h, s, v) * 255), 0, 255).astype(np.uint8)
    return new


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (turns, [0, 1)), saturation and value of float RGB in [0, 1], shape ``(..., 3)``."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    c = v - rgb.min(-1)
    safe = np.where(c > 0, c, 1)
    h = np.where(
        v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )
    h = np.where(c > 0, h / 6, 0)
    s = np.where(v > 0, c / np.where(v > 0, v, 1), 0)
    return h, s, v


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1], shape ``(..., 3)``, from hue (turns), saturation and value."""
    k = (np.array([5.0, 3.0, 1.0], dtype=h.dtype) + h[..., None] * 6) % 6
    f = np.clip(np.minimum(k, 4 - k), 0, 1)
    return v[..., None] - (v * s)[..., None] * f
