"""Base images that need no download: crops of the photographs shipped with scikit-image,
procedural colour fields, or crops of the images in a user's folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from labelnoise.data import config
from labelnoise.data.config import DEFAULTS

# Colour photographs only: channel-order and hue alterations are invisible on grey pixels, so
# grey photos (camera, moon, ...) would make a share of the generated labels unlearnable.
# Left out as well: synthetic charts and drawings (color, chessboard, logo, phantom, page, text,
# horse), the motion-blurred clock (it would look like the blur class) and the Hubble field
# (almost all black).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "rocket.jpg",
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm")

_CHUNK = 256


class BaseImages(NamedTuple):
    """Base images and where each came from.

    Attributes
    ----------
    images
        uint8 array ``(n, size, size, 3)``.
    sources
        One string per image, ``"<origin>@x,y,w,h"`` for crops (pixel box in the source
        photo) or ``"procedural:<seed>/<i>"``.
    """

    images: np.ndarray
    sources: list[str]


def skimage_photo_paths() -> list[Path]:
    """Paths of the scikit-image photographs used as the ``"skimage"`` source, sorted by name."""
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    paths = [folder / name for name in SKIMAGE_PHOTOS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"scikit-image photographs not found: {', '.join(missing)}")
    return paths


def folder_image_paths(path: str | os.PathLike) -> list[Path]:
    """Every image file (by suffix) directly inside ``path``, sorted by name."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(
            f"image folder {folder} contains no image files ({', '.join(IMAGE_SUFFIXES)})"
        )
    return paths


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file to uint8 RGB ``(H, W, 3)``; grey and alpha images are converted
    (alpha composited onto white)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, rgba)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from None


class CropDraws(NamedTuple):
    """Random crops of photographs before any pixel work: a few numbers per image.

    Attributes
    ----------
    which
        int ``(n,)`` index of the photo.
    frac
        float ``(n,)`` crop side as a fraction of the photo's shorter side.
    pos
        float ``(n, 2)`` in [0, 1): the crop's ``(x, y)`` position within the photo's free range.
    """

    which: np.ndarray
    frac: np.ndarray
    pos: np.ndarray


class ProceduralDraws(NamedTuple):
    """Parameters of procedural images (see :func:`_draw_procedural`), float32 per image.

    Attributes
    ----------
    freq, phase, amp
        ``(n, 3, waves, 2, 1)``, ``(n, 3, waves, 1)``, ``(n, 3, waves, 1)``: plane waves per
        channel (cycles per image along y and x, phase, amplitude).
    base, grad
        ``(n, 3, 1, 1)``, ``(n, 3, 2, 1, 1)``: mean level and linear gradient per channel.
    centre, radius, colour
        ``(n, shapes, 2)``, ``(n, shapes, 2)``, ``(n, shapes, 3)``: the painted ellipses.
    seed, number
        int ``(n,)``: the seed the image was drawn with and its position in that draw, which
        name it in ``BaseImages.sources``.
    """

    freq: np.ndarray
    phase: np.ndarray
    amp: np.ndarray
    base: np.ndarray
    grad: np.ndarray
    centre: np.ndarray
    radius: np.ndarray
    colour: np.ndarray
    seed: np.ndarray
    number: np.ndarray


class BaseSource:
    """Square base images of one source, drawn and rendered in separate steps.

    :meth:`draw` makes every random choice (a few numbers per image); :meth:`render` turns any
    slice of the draws into pixels. Rendering a large set slice by slice therefore gives the
    same bytes as rendering it at once while holding only one slice of images. Decoded
    photographs (with their mipmaps) are kept between calls up to ``CACHE_BYTES``, so slices
    do not decode the same photo again.

    Parameters
    ----------
    source
        ``"skimage"`` (photographs shipped with scikit-image, see ``SKIMAGE_PHOTOS``),
        ``"procedural"`` (smooth random colour fields with shapes) or ``"folder"`` (every image
        file in ``path``).
    path
        Folder of images, for ``source="folder"`` only.
    size
        Side of the output images in pixels.
    scale
        Range of the crop side as a fraction of the photo's shorter side; each crop draws its
        fraction uniformly from it and its position uniformly inside the photo.

    ``source`` and ``scale`` are the knobs ``data.base`` and ``data.crop_scale``: checked as
    :class:`labelnoise.data.config.DataConfig` declares them, ``params.yaml``'s by default.
    """

    CACHE_BYTES = 256 * 2**20

    def __init__(
        self,
        source: str = DEFAULTS.base,
        *,
        path: str | os.PathLike | None = DEFAULTS.base_path,
        size: int,
        scale: tuple[float, float] = DEFAULTS.crop_scale,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        config.check({"base": source, "crop_scale": scale})
        if source != "folder" and path is not None:
            raise ValueError(f"path {path} is only used with source='folder', not {source!r}")
        lo, hi = scale
        self.source, self.size, self.scale = source, size, (lo, hi)
        self._files: list[Path] = []
        self._labels: list[str] = []
        if source == "folder":
            if path is None:
                raise ValueError("source='folder' needs a path")
            self._files = folder_image_paths(path)
            self._labels = [str(p) for p in self._files]
        elif source == "skimage":
            self._files = skimage_photo_paths()
            self._labels = [f"skimage:{p.name}" for p in self._files]
        self._levels: dict[int, list[np.ndarray]] = {}

    def draw(self, n: int, *, seed: int) -> CropDraws | ProceduralDraws:
        """Random choices of ``n`` images (``CropDraws`` for photographs, else
        ``ProceduralDraws``)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if self.source == "procedural":
            return _draw_procedural(n, seed=seed)
        rng = np.random.default_rng(seed)
        which = rng.integers(0, len(self._files), size=n)
        frac = rng.uniform(self.scale[0], self.scale[1], size=n)
        pos = rng.random((n, 2))
        return CropDraws(which, frac, pos)

    def render(self, draws: CropDraws | ProceduralDraws) -> BaseImages:
        """Pixels of drawn images: ``images`` uint8 ``(n, size, size, 3)`` and ``sources``."""
        if isinstance(draws, ProceduralDraws):
            names = [f"procedural:{s}/{i}" for s, i in zip(draws.seed, draws.number, strict=True)]
            return BaseImages(_render_procedural(draws, size=self.size), names)
        n = len(draws.which)
        out = np.empty((n, self.size, self.size, 3), dtype=np.uint8)
        sources = [""] * n
        # One pass per photo: all crops of that photo are resampled together.
        for f in np.unique(draws.which):
            rows = np.flatnonzero(draws.which == f)
            levels = self._mipmaps(int(f))
            h, w = levels[0].shape[:2]
            side = np.clip(np.rint(draws.frac[rows] * min(h, w)), 1, min(h, w)).astype(np.int64)
            x0 = np.floor(draws.pos[rows, 0] * (w - side + 1)).astype(np.int64)
            y0 = np.floor(draws.pos[rows, 1] * (h - side + 1)).astype(np.int64)
            out[rows] = _resample(levels, x0, y0, side, size=self.size)
            label = self._labels[f]
            for r, x, y, s in zip(
                rows.tolist(), x0.tolist(), y0.tolist(), side.tolist(), strict=True
            ):
                sources[r] = f"{label}@{x},{y},{s},{s}"
        return BaseImages(out, sources)

    def _mipmaps(self, f: int) -> list[np.ndarray]:
        if f not in self._levels:
            levels = _mipmaps(read_rgb(self._files[f]), self.size)
            need = sum(a.nbytes for a in levels)
            # Oldest first out: with a folder larger than the budget, recent photos stay.
            while self._levels and need + self._cached_bytes() > self.CACHE_BYTES:
                del self._levels[next(iter(self._levels))]
            self._levels[f] = levels
        return self._levels[f]

    def _cached_bytes(self) -> int:
        return sum(a.nbytes for levels in self._levels.values() for a in levels)


def base_crops(
    n: int,
    *,
    size: int,
    source: str = DEFAULTS.base,
    path: str | os.PathLike | None = DEFAULTS.base_path,
    scale: tuple[float, float] = DEFAULTS.crop_scale,
    seed: int,
) -> BaseImages:
    """Draw ``n`` square base images.

    Parameters
    ----------
    n
        Number of images.
    size, source, path, scale
        As in :class:`BaseSource`.
    seed
        Random seed.

    Returns
    -------
    BaseImages
        ``images`` uint8 ``(n, size, size, 3)`` and one ``sources`` string per image.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    base = BaseSource(source, path=path, size=size, scale=scale)
    return base.render(base.draw(n, seed=seed))


def _mipmaps(photo: np.ndarray, smallest: int) -> list[np.ndarray]:
    levels = [photo.astype(np.float32)]
    while min(levels[-1].shape[:2]) >= 2 * max(smallest, 1):
        a = levels[-1]
        h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
        a = a[:h, :w]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return levels


def _resample(
    levels: list[np.ndarray], x0: np.ndarray, y0: np.ndarray, side: np.ndarray, *, size: int
) -> np.ndarray:
    """Resample square boxes of one photo, given as its ``levels`` (:func:`_mipmaps`), to
    ``size`` x ``size`` pixels: uint8 ``(m, size, size, 3)``.

    Each box (top-left corner ``x0``, ``y0`` and ``side``, int ``(m,)`` in photo pixels) is read
    from the mipmap level that leaves a residual shrink factor in [1, 2) and then sampled
    bilinearly, so strong downscaling averages instead of aliasing.
    """
    factor = side / size
    level = np.clip(np.floor(np.log2(np.maximum(factor, 1.0))), 0, len(levels) - 1).astype(int)
    out = np.empty((len(side), size, size, 3), dtype=np.uint8)
    grid = np.arange(size, dtype=np.float64) + 0.5
    for lv in np.unique(level):
        img = levels[lv]
        hh, ww = img.shape[:2]
        flat = img.reshape(-1, 3)
        for start in range(0, len(side), _CHUNK):
            sel = np.flatnonzero(level[start : start + _CHUNK] == lv) + start
            if sel.size == 0:
                continue
            k = 2.0**lv
            f = factor[sel, None] / k
            u0, du = _taps(x0[sel, None] / k + grid * f - 0.5, ww)
            v0, dv = _taps(y0[sel, None] / k + grid * f - 0.5, hh)
            u1 = np.minimum(u0 + 1, ww - 1)
            r0 = (v0 * ww)[:, :, None]
            r1 = (np.minimum(v0 + 1, hh - 1) * ww)[:, :, None]
            du = du[:, None, :, None]
            dv = dv[:, :, None, None]
            c0, c1 = u0[:, None, :], u1[:, None, :]
            top = np.take(flat, r0 + c0, axis=0)
            top += (np.take(flat, r0 + c1, axis=0) - top) * du
            bottom = np.take(flat, r1 + c0, axis=0)
            bottom += (np.take(flat, r1 + c1, axis=0) - bottom) * du
            top += (bottom - top) * dv
            out[sel] = np.clip(np.rint(top), 0, 255).astype(np.uint8)
    return out


def _taps(coord: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Left neighbour index and float32 weight of the right neighbour for bilinear sampling."""
    coord = np.clip(coord, 0, length - 1)
    left = np.minimum(np.floor(coord), max(length - 2, 0)).astype(np.intp)
    return left, (coord - left).astype(np.float32)


def _draw_procedural(n: int, *, seed: int, waves: int = 4, shapes: int = 4) -> ProceduralDraws:
    """The random parameters of ``n`` procedural images: smooth random colour fields with a
    gradient and a few soft-edged ellipses (:func:`_render_procedural` paints them).

    Parameters
    ----------
    n
        Number of images.
    seed
        Random seed.
    waves
        Random plane waves per channel (low spatial frequencies: up to 3 cycles per image).
    shapes
        Ellipses of random colour painted over the field; their edges give the blur class
        something to blur.
    """
    rng = np.random.default_rng(seed)
    d = ProceduralDraws(
        freq=np.empty((n, 3, waves, 2, 1), np.float32),
        phase=np.empty((n, 3, waves, 1), np.float32),
        amp=np.empty((n, 3, waves, 1), np.float32),
        base=np.empty((n, 3, 1, 1), np.float32),
        grad=np.empty((n, 3, 2, 1, 1), np.float32),
        centre=np.empty((n, shapes, 2), np.float32),
        radius=np.empty((n, shapes, 2), np.float32),
        colour=np.empty((n, shapes, 3), np.float32),
        seed=np.full(n, seed, dtype=np.int64),
        number=np.arange(n, dtype=np.int64),
    )
    # Drawn chunk by chunk, field by field: the order fixes the random stream of a seed.
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        m = sl.stop - start
        d.freq[sl] = rng.uniform(-3.0, 3.0, (m, 3, waves, 2, 1))
        d.phase[sl] = rng.uniform(0, 2 * np.pi, (m, 3, waves, 1))
        d.amp[sl] = rng.uniform(0.1, 0.35, (m, 3, waves, 1))
        d.base[sl] = rng.uniform(0.2, 0.8, (m, 3, 1, 1))
        d.grad[sl] = rng.uniform(-0.4, 0.4, (m, 3, 2, 1, 1))
        d.centre[sl] = rng.random((m, shapes, 2))
        d.radius[sl] = rng.uniform(0.08, 0.3, (m, shapes, 2))
        d.colour[sl] = rng.random((m, shapes, 3))
    return d


def _render_procedural(draws: ProceduralDraws, *, size: int) -> np.ndarray:
    """The pixels of drawn procedural images (:func:`_draw_procedural`), ``size`` px square:
    uint8 ``(n, size, size, 3)``."""
    n = len(draws.seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    shapes = draws.centre.shape[1]
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        freq, phase, amp = draws.freq[sl], draws.phase[sl], draws.amp[sl]
        base, grad = draws.base[sl], draws.grad[sl]
        centre, radius, colour = draws.centre[sl], draws.radius[sl], draws.colour[sl]
        # sin(a y + b x + p) = sin(a y + p) cos(b x) + cos(a y + p) sin(b x): a batched matrix
        # product of per-row and per-column factors instead of a sine per pixel.
        ay = 2 * np.pi * freq[:, :, :, 0] * t + phase
        bx = 2 * np.pi * freq[:, :, :, 1] * t
        rows = np.concatenate([np.sin(ay), np.cos(ay)], axis=2) * np.concatenate([amp, amp], 2)
        cols = np.concatenate([np.cos(bx), np.sin(bx)], axis=2)
        img = np.matmul(rows.transpose(0, 1, 3, 2), cols)
        img += base + grad[:, :, 0] * (t[None, :] - 0.5) + grad[:, :, 1] * (t[:, None] - 0.5)
        img = np.ascontiguousarray(img.transpose(0, 2, 3, 1))
        for s in range(shapes):
            dx = ((t - centre[:, s, 0, None]) / radius[:, s, 0, None]) ** 2
            dy = ((t - centre[:, s, 1, None]) / radius[:, s, 1, None]) ** 2
            alpha = np.clip((1.0 - dy[:, :, None] - dx[:, None, :]) * 4.0, 0.0, 1.0)[..., None]
            img += (colour[:, s, None, None, :] - img) * alpha
        out[start : start + len(img)] = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return out
