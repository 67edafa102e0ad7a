"""Generation speed: the batched generator against a per-image Python loop (PIL crop + resize,
ImageDraw polygon, per-image alteration), both in this process on the same photographs.

Run: python bench/generate.py [--n 20000] [--size 64] [--baseline-n 1000]
The last line is the speed ratio (batched images/s over per-image images/s).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from skimage.color import hsv2rgb, rgb2hsv

from labelnoise.data.alter import FINE_CLASSES
from labelnoise.data.base_images import read_rgb, skimage_photo_paths
from labelnoise.data.generate import generate_dataset

PERMS = {"bgr": (2, 1, 0), "brg": (2, 0, 1), "gbr": (1, 2, 0), "grb": (1, 0, 2), "rbg": (0, 2, 1)}
PRIMARIES = ((255, 0, 0), (0, 255, 0), (0, 0, 255))


def per_image_baseline(n: int, size: int, seed: int) -> np.ndarray:
    """The conventional generator: one image at a time through PIL and skimage."""
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(read_rgb(p)) for p in skimage_photo_paths()]
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.uniform(0.25, 1.0) * min(photo.size))
        x = int(rng.integers(0, photo.size[0] - side + 1))
        y = int(rng.integers(0, photo.size[1] - side + 1))
        img = photo.resize((size, size), Image.BILINEAR, box=(x, y, x + side, y + side))
        k = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = size * rng.uniform(0.25, 0.4)
        cx, cy = rng.uniform(radius, size - radius, 2)
        points = list(zip(cx + radius * np.cos(angles), cy + radius * np.sin(angles), strict=True))
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).polygon(points, fill=255)
        name = FINE_CLASSES[i % len(FINE_CLASSES)]
        arr = np.asarray(img)
        if name.startswith("blobs"):
            altered = img.copy()
            draw = ImageDraw.Draw(altered)
            m = np.asarray(mask) > 0
            ys, xs = np.nonzero(m)
            for _ in range(int(rng.integers(3, 7))):
                j = rng.integers(len(xs))
                r = size * rng.uniform(0.06, 0.12)
                colour = PRIMARIES[rng.integers(3)]
                draw.ellipse((xs[j] - r, ys[j] - r, xs[j] + r, ys[j] + r), fill=colour)
        elif name == "gaussian_blur":
            altered = img.filter(ImageFilter.GaussianBlur(0.08 * size))
        elif name.startswith("channels"):
            altered = Image.fromarray(arr[..., list(PERMS[name[-3:]])])
        else:
            hsv = rgb2hsv(arr)
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(0.25, 0.75)) % 1.0
            hsv[..., 1] = np.maximum(hsv[..., 1], 0.5)
            altered = Image.fromarray((hsv2rgb(hsv) * 255).astype(np.uint8))
        out[i] = np.asarray(Image.composite(altered, img, mask))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--baseline-n", type=int, default=1000)
    args = parser.parse_args()

    n_val = 100
    n_test = args.n // 10
    start = time.perf_counter()
    generate_dataset(
        n_train=args.n - n_test - 4 * n_val,
        n_val_per_class=n_val,
        n_test=n_test,
        image_size=args.size,
        seed=0,
    )
    batched = args.n / (time.perf_counter() - start)
    print(f"batched generator:   {args.n} images at {args.size} px: {batched:,.0f} images/s")

    start = time.perf_counter()
    per_image_baseline(args.baseline_n, args.size, seed=0)
    looped = args.baseline_n / (time.perf_counter() - start)
    print(
        f"per-image baseline:  {args.baseline_n} images at {args.size} px: {looped:,.0f} images/s"
    )
    print(f"speed-up (batched / per-image): {batched / looped:.1f}x")


if __name__ == "__main__":
    main()
