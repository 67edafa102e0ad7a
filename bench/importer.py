"""Images/s of the folder import against a plain sequential PIL loop, side by side.

10,000 small JPEGs (an ImageFolder of 4 classes, 96 × 80 px) are written to a temporary folder,
then decoded to 64 px (a) one by one with PIL into a Python list, then stacked, the
conventional way, and (b) with ``labelnoise.data.import_dataset`` (threads, JPEG draft mode,
written straight into a memory-mapped array). The last line printed is the speed-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from labelnoise.data import import_dataset


def write_folder(root: Path, n: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(16, 80, 96, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        folder = root / f"class_{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:06d}.jpg"
        Image.fromarray(base[i % 16]).save(path, quality=85)
        paths.append(path)
    return paths


def conventional(paths: list[Path], size: int) -> np.ndarray:
    images = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((size, size))
            images.append(np.asarray(image))
    return np.stack(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        paths = write_folder(root, args.n, seed=0)
        start = time.perf_counter()
        conventional(paths, args.size)
        t_conv = time.perf_counter() - start
        start = time.perf_counter()
        import_dataset(
            root,
            kind="folder",
            image_size=args.size,
            seed=0,
            progress=False,
            images_path=Path(tmp) / "images.npy",
        )
        t_ours = time.perf_counter() - start
    print(f"sequential PIL loop:        {args.n / t_conv:8.0f} images/s ({t_conv:.1f} s)")
    print(f"labelnoise import_dataset:  {args.n / t_ours:8.0f} images/s ({t_ours:.1f} s)")
    print(f"speed-up of import_dataset: {t_conv / t_ours:.2f}x")


if __name__ == "__main__":
    main()
