"""The 4-class / 14-subclass alteration task: random polygonal regions of a base image get
blobs, blur, a channel permutation or a hue change, and nothing outside the region changes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from labelnoise.data import config
from labelnoise.data.config import COARSE_CLASSES as COARSE_CLASSES
from labelnoise.data.config import DEFAULTS, FINE_CLASSES
from labelnoise.data.config import FINE_TO_COARSE as FINE_TO_COARSE

_PRIMARIES = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
_PERMUTATIONS = {
    "channels_bgr": (2, 1, 0),
    "channels_brg": (2, 0, 1),
    "channels_gbr": (1, 2, 0),
    "channels_grb": (1, 0, 2),
    "channels_rbg": (0, 2, 1),
}
_HUE_TARGETS = {"hue_red": 0.0, "hue_green": 1.0 / 3.0, "hue_blue": 2.0 / 3.0}
# Identifiability of hue_all against the channel permutations. A cyclic permutation (brg, gbr)
# is a hue rotation by exactly ±1/3 turn, so hue_all's rotation stays near a half turn. A swap
# (bgr, grb, rbg) reflects hues, h -> c - h, and equals any fixed rotation on a region of one
# hue (a half turn and the R-B swap both make orange azure): the rotation therefore sweeps
# across the image, so a region of one hue becomes a gradient, which no permutation makes.
HUE_ROTATION = (0.42, 0.58)  # turns, at the image's centre column
HUE_SWEEP = 0.5  # turns of extra rotation from the left edge to the right edge
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
    """Raise ``ValueError`` unless ``size`` is a positive side in pixels and ``vertices`` and
    ``area`` hold as the knobs ``data.vertices`` and ``data.area`` declare
    (:class:`labelnoise.data.config.DataConfig`)."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    config.check({"vertices": vertices, "area": area})


class PolygonDraws(NamedTuple):
    """Random polygons before rasterisation: a few numbers per image.

    Attributes
    ----------
    points
        float ``(n, k_max, 2)`` vertex ``(x, y)`` pixel coordinates; a polygon with fewer than
        ``k_max`` vertices repeats its last one.
    counts
        int ``(n,)`` number of real vertices.
    """

    points: np.ndarray
    counts: np.ndarray


def random_polygons(
    n: int,
    *,
    size: int,
    vertices: tuple[int, int] = DEFAULTS.vertices,
    area: tuple[float, float] = DEFAULTS.area,
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
        Inclusive range of the vertex count, as ``data.vertices`` (low >= 3); defaults to
        ``params.yaml``'s.
    area
        Inclusive range of the fraction of the image's pixels inside the polygon, as
        ``data.area`` (inside (0, 1): a convex polygon never covers the whole image); defaults
        to ``params.yaml``'s.
    seed
        Random seed.

    Returns
    -------
    Polygons
        ``masks`` bool ``(n, size, size)`` and ``vertices``.
    """
    drawn = draw_polygons(n, size=size, vertices=vertices, area=area, seed=seed)
    masks = polygon_masks(drawn, size=size)
    return Polygons(masks, [drawn.points[i, : drawn.counts[i]] for i in range(n)])


def draw_polygons(
    n: int,
    *,
    size: int,
    vertices: tuple[int, int] = DEFAULTS.vertices,
    area: tuple[float, float] = DEFAULTS.area,
    seed: int,
) -> PolygonDraws:
    """The polygons of :func:`random_polygons` as vertices, without keeping their masks.

    Each round measures its candidates' rasterised area from their row spans, without making
    masks, so memory grows with ``n`` by the vertices alone; :func:`polygon_masks` fills any
    slice later.

    Parameters
    ----------
    n, size, vertices, area, seed
        As in :func:`random_polygons`.

    Returns
    -------
    PolygonDraws
        ``points`` ``(n, vertices[1], 2)`` and ``counts`` ``(n,)``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    check_polygon_args(size, vertices, area)
    rng = np.random.default_rng(seed)
    points = np.zeros((n, vertices[1], 2))
    counts = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(_MAX_ROUNDS):
        if todo.size == 0:
            break
        v, k = _draw_polygons(rng, todo.size, size, vertices, area)
        inside = np.empty(todo.size, dtype=np.int64)
        for a in range(0, todo.size, _CHUNK):
            lo, hi = _row_spans(v[a : a + _CHUNK], k[a : a + _CHUNK], size)
            inside[a : a + _CHUNK] = np.maximum(hi.astype(np.int64) - lo + 1, 0).sum(1)
        frac = inside / (size * size)
        ok = (frac >= area[0]) & (frac <= area[1])
        points[todo[ok]] = v[ok]
        counts[todo[ok]] = k[ok]
        todo = todo[~ok]
    if todo.size:
        raise ValueError(
            f"data.area: could not draw polygons with area fraction in {area} at size {size}; "
            "widen the range"
        )
    return PolygonDraws(points, counts)


def polygon_masks(polygons: PolygonDraws, *, size: int) -> np.ndarray:
    """Rasterise drawn polygons: bool ``(n, size, size)``, True where the pixel centre lies
    inside."""
    points, counts = polygons
    masks = np.empty((len(counts), size, size), dtype=bool)
    # The scanline temporaries are several times the masks' size: fill in bounded chunks.
    for a in range(0, len(counts), _CHUNK):
        masks[a : a + _CHUNK] = _fill_convex(points[a : a + _CHUNK], counts[a : a + _CHUNK], size)
    return masks


def random_polygon_masks(
    n: int,
    *,
    size: int,
    vertices: tuple[int, int] = DEFAULTS.vertices,
    area: tuple[float, float] = DEFAULTS.area,
    seed: int,
) -> np.ndarray:
    """Masks of :func:`random_polygons`: bool ``(n, size, size)``, True inside the polygon."""
    drawn = draw_polygons(n, size=size, vertices=vertices, area=area, seed=seed)
    return polygon_masks(drawn, size=size)


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
    """Fill convex polygons: bool ``(n, size, size)`` from the spans of :func:`_row_spans`."""
    lo, hi = _row_spans(v, k, size)
    xs = np.arange(size, dtype=np.int16)
    return (xs >= lo[:, :, None]) & (xs <= hi[:, :, None])


def _row_spans(v: np.ndarray, k: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel inside each row of convex polygons, int16 ``(n, size)`` each (empty
    rows have last < first): the interval between the leftmost and rightmost crossing of the
    row's centre line with the polygon's edges."""
    x1, y1 = v[..., 0], v[..., 1]
    x2, y2 = np.roll(x1, -1, 1), np.roll(y1, -1, 1)
    # The closing edge of a padded polygon runs from its last real vertex back to vertex 0.
    last = k - 1
    rows = np.arange(len(k))
    x2[rows, last], y2[rows, last] = x1[:, 0], y1[:, 0]
    yc = np.arange(size) + 0.5
    left = np.full((len(k), size), np.inf)
    right = np.full((len(k), size), -np.inf)
    # Edge by edge, so the temporaries are one (polygons, rows) array rather than one per edge.
    for e in range(v.shape[1]):
        ya, yb, xa, xb = y1[:, e, None], y2[:, e, None], x1[:, e, None], x2[:, e, None]
        crosses = (np.minimum(ya, yb) <= yc) & (yc < np.maximum(ya, yb))
        xc = xa + (yc - ya) * (xb - xa) / np.where(yb == ya, 1.0, yb - ya)
        np.minimum(left, np.where(crosses, xc, np.inf), out=left)
        np.maximum(right, np.where(crosses, xc, -np.inf), out=right)
    # Pixel j (centre j + 0.5) is inside when left <= j + 0.5 <= right.
    lo = np.clip(np.ceil(left - 0.5), 0, size).astype(np.int16)
    hi = np.clip(np.floor(right - 0.5), -1, size - 1).astype(np.int16)
    return lo, hi


class AlterDraws(NamedTuple):
    """The random part of :func:`alter`: a few numbers per image, drawn before any pixel work.

    Fields an image's subclass does not use hold zeros.

    Attributes
    ----------
    blobs
        int ``(n,)`` number of blobs painted.
    blob_pick
        float ``(n, b)`` in [0, 1): which pixel of the mask each blob is centred on.
    blob_radius
        float ``(n, b)`` blob radius as a fraction of the image side.
    blob_colour
        int ``(n, b)`` index of the blob's primary colour (red, green, blue).
    turn
        float32 ``(n,)`` hue rotation of ``hue_all`` in turns.
    """

    blobs: np.ndarray
    blob_pick: np.ndarray
    blob_radius: np.ndarray
    blob_colour: np.ndarray
    turn: np.ndarray


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
    hue_rotation: tuple[float, float] = HUE_ROTATION,
    hue_sweep: float = HUE_SWEEP,
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
        Range of the random hue rotation of ``hue_all`` at the image's centre column, in turns.
    hue_sweep
        Turns the ``hue_all`` rotation grows by from the left to the right edge, so that no
        channel permutation can paint the same picture (0 = one rotation for the whole region).
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
    draws = draw_alterations(
        fine, seed=seed, blob_count=blob_count, blob_radius=blob_radius, hue_rotation=hue_rotation
    )
    return apply_alterations(
        images,
        masks,
        fine,
        draws,
        blur_sigma=blur_sigma,
        hue_strength=hue_strength,
        hue_sweep=hue_sweep,
        min_saturation=min_saturation,
        min_value=min_value,
    )


def draw_alterations(
    fine: np.ndarray,
    *,
    seed: int,
    blob_count: tuple[int, int] = (3, 6),
    blob_radius: tuple[float, float] = (0.06, 0.12),
    hue_rotation: tuple[float, float] = HUE_ROTATION,
) -> AlterDraws:
    """Draw the random part of :func:`alter` for images of the given subclasses.

    :func:`apply_alterations` then paints any slice of the images with the same slice of the
    draws, so a large set can be altered chunk by chunk with the result of one call to
    :func:`alter`.

    Parameters
    ----------
    fine
        int ``(n,)``: index into ``FINE_CLASSES``.
    seed, blob_count, blob_radius, hue_rotation
        As in :func:`alter`.

    Returns
    -------
    AlterDraws
        One row per image.
    """
    fine = _check_fine(fine)
    if not 1 <= blob_count[0] <= blob_count[1]:
        raise ValueError(f"blob_count must satisfy 1 <= low <= high, got {blob_count}")
    if not 0 < blob_radius[0] <= blob_radius[1]:
        raise ValueError(f"blob_radius must satisfy 0 < low <= high, got {blob_radius}")
    rng = np.random.default_rng(seed)
    n, b = fine.size, blob_count[1]
    draws = AlterDraws(
        blobs=np.zeros(n, dtype=np.int64),
        blob_pick=np.zeros((n, b)),
        blob_radius=np.zeros((n, b)),
        blob_colour=np.zeros((n, b), dtype=np.int64),
        turn=np.zeros(n, dtype=np.float32),
    )
    # The draws follow the order of the pixel work they feed (subclass by subclass, in chunks),
    # which fixes the random stream of a seed.
    for cls, name in enumerate(FINE_CLASSES):
        rows = np.flatnonzero(fine == cls)
        for start in range(0, rows.size, _CHUNK):
            sel = rows[start : start + _CHUNK]
            m = sel.size
            if name.startswith("blobs"):
                draws.blobs[sel] = rng.integers(blob_count[0], blob_count[1] + 1, m)
                draws.blob_pick[sel] = rng.random((m, b))
                draws.blob_radius[sel] = rng.uniform(blob_radius[0], blob_radius[1], (m, b))
                if name == "blobs_multi":
                    draws.blob_colour[sel] = rng.integers(0, 3, (m, b))
                else:
                    draws.blob_colour[sel] = ("red", "green", "blue").index(name[6:])
            elif name.startswith("hue"):
                draws.turn[sel] = rng.uniform(hue_rotation[0], hue_rotation[1], m)
    return draws


def apply_alterations(
    images: np.ndarray,
    masks: np.ndarray,
    fine: np.ndarray,
    draws: AlterDraws,
    *,
    blur_sigma: float = 0.08,
    hue_strength: float = 1.0,
    hue_sweep: float = HUE_SWEEP,
    min_saturation: float = 0.5,
    min_value: float = 0.3,
) -> np.ndarray:
    """Paint the alterations drawn by :func:`draw_alterations`; no randomness.

    Parameters
    ----------
    images, masks, fine
        As in :func:`alter`.
    draws
        Rows matching ``images``.
    blur_sigma, hue_strength, hue_sweep, min_saturation, min_value
        As in :func:`alter`.

    Returns
    -------
    np.ndarray
        uint8 ``(n, H, W, 3)`` altered copy.
    """
    images = np.asarray(images)
    masks = np.asarray(masks)
    fine = _check_fine(fine)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, H, W, 3), got {images.dtype} {images.shape}")
    if masks.shape != images.shape[:3] or masks.dtype != bool:
        raise ValueError(f"masks must be bool {images.shape[:3]}, got {masks.dtype} {masks.shape}")
    if fine.shape != (len(images),):
        raise ValueError(f"fine must be int ({len(images)},), got {fine.dtype} {fine.shape}")
    if any(len(field) != len(images) for field in draws):
        raise ValueError(f"draws must have {len(images)} rows, got {len(draws.blobs)}")
    if blur_sigma <= 0:
        raise ValueError(f"blur_sigma must be > 0, got {blur_sigma}")
    if not 0 < hue_strength <= 1:
        raise ValueError(f"hue_strength must lie in (0, 1], got {hue_strength}")
    if not 0 <= hue_sweep < 1:
        raise ValueError(f"hue_sweep must lie in [0, 1), got {hue_sweep}")
    if not 0 <= min_saturation <= 1:
        raise ValueError(f"min_saturation must lie in [0, 1], got {min_saturation}")
    if not 0 <= min_value <= 1:
        raise ValueError(f"min_value must lie in [0, 1], got {min_value}")
    out = images.copy()
    size = images.shape[1]
    for cls, name in enumerate(FINE_CLASSES):
        rows = np.flatnonzero(fine == cls)
        for start in range(0, rows.size, _CHUNK):
            sel = rows[start : start + _CHUNK]
            img, m = images[sel], masks[sel]
            if name.startswith("blobs"):
                new = _blobs(
                    img,
                    m,
                    draws.blobs[sel],
                    draws.blob_pick[sel],
                    draws.blob_radius[sel],
                    draws.blob_colour[sel],
                )
            elif name == "gaussian_blur":
                new = _blur(img, blur_sigma * size)
            elif name in _PERMUTATIONS:
                new = img[..., list(_PERMUTATIONS[name])]
            else:
                floors = (min_saturation, min_value)
                target = _HUE_TARGETS.get(name)
                new = _hue(img, m, draws.turn[sel], target, hue_strength, hue_sweep, floors)
            out[sel] = np.where(m[..., None], new, img)
    return out


def _check_fine(fine: np.ndarray) -> np.ndarray:
    fine = np.asarray(fine)
    if fine.ndim != 1 or not np.issubdtype(fine.dtype, np.integer):
        raise ValueError(f"fine must be a 1-D int array, got {fine.dtype} {fine.shape}")
    if fine.size and (fine.min() < 0 or fine.max() >= len(FINE_CLASSES)):
        raise ValueError(f"fine labels must lie in 0..{len(FINE_CLASSES) - 1}")
    return fine


def _blobs(
    img: np.ndarray,
    m: np.ndarray,
    count: np.ndarray,
    pick: np.ndarray,
    radius: np.ndarray,
    colour: np.ndarray,
) -> np.ndarray:
    n, h, w = m.shape
    b = pick.shape[1]
    active = np.arange(b) < count[:, None]
    # Centres: a uniformly chosen pixel inside each mask, found by rank in the flat cumsum.
    flat = m.reshape(n, -1)
    inside = flat.sum(1)
    rank = np.floor(pick * inside[:, None]).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(inside)[:-1]])
    pos = np.searchsorted(np.cumsum(flat.ravel()), (before[:, None] + rank + 1).ravel())
    pos = pos.reshape(n, b) - (np.arange(n) * h * w)[:, None]
    cy, cx = pos // w + 0.5, pos % w + 0.5
    rad = radius * min(h, w)
    dy = ((np.arange(h) + 0.5) - cy[..., None]).astype(np.float32) ** 2
    dx = ((np.arange(w) + 0.5) - cx[..., None]).astype(np.float32) ** 2
    r2 = np.where(active, rad**2, -1.0).astype(np.float32)
    disc = dy[..., :, None] + dx[..., None, :] <= r2[..., None, None]
    # Later blobs paint over earlier ones, as if drawn one after another.
    top = b - 1 - np.argmax(disc[:, ::-1], axis=1)
    paint = _PRIMARIES[np.take_along_axis(colour, top.reshape(n, -1), 1).reshape(n, h, w)]
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
    turn: np.ndarray,
    target: float | None,
    strength: float,
    sweep: float,
    floors: tuple[float, float],
) -> np.ndarray:
    # Only the region's pixels are converted: the others are discarded by the caller anyway.
    which, yy, xx = np.nonzero(m)
    h, s, v = rgb_to_hsv(img[which, yy, xx].astype(np.float32) / 255)
    if target is None:
        across = xx.astype(np.float32) / max(m.shape[2] - 1, 1) - 0.5
        h = (h + turn[which] + np.float32(sweep) * across) % 1.0
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
