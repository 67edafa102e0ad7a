"""Data at scale: peak memory and throughput of building, loading and training on a large set.

Phases run in one process, in this order; each reports its wall time, images/s and memory:

1. ``build, in memory`` and ``build, streamed`` at ``--baseline-n`` images, side by side. The
   conventional build holds the whole set in memory (``--source generate``: ``base_crops``,
   ``random_polygon_masks`` and ``alter`` over all images, then ``np.save``; ``--source
   import``: a sequential PIL loop into a list, ``np.stack``, ``np.save``). The streamed build
   is ``generate_dataset`` / ``import_dataset`` writing ``images.npy`` chunk by chunk. With the
   default ``--baseline-n`` (one seed block) both generators give the same bytes, checked.
2. ``build`` at ``--n`` images, streamed (``--source import`` first writes a folder of JPEGs).
3. ``load``: ``load_dataset`` (memory map), the split views, then one pass over every image
   (per-channel means) so the whole array is resident.
4. ``train``: ``labelnoise.train.fit`` with the project's ``small_cnn`` defaults on the CPU for
   ``--epochs`` over the train split (or its first ``--train-n`` images, said so in the output).

Memory per phase: the peak resident set (the kernel's high-water mark ``VmHWM``, reset before
each phase through ``/proc/self/clear_refs``), and the peaks of its two parts sampled every
10 ms: anonymous memory (arrays, tensors) and file-backed pages (mapped files: libraries and
``images.npy``; the kernel can drop those under memory pressure). Before each phase the heap
glibc keeps after frees is handed back (``malloc_trim``). Linux with glibc only.

Run: python bench/scale.py [--n 200000] [--size 64] [--source generate|import] [--epochs 1]
The last line says whether the whole run stayed within ``--budget-gib`` of peak RSS.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from importer import conventional  # bench/importer.py: this script's folder is on sys.path
from PIL import Image

from labelnoise.data import generate_dataset, import_dataset, load_dataset, save_dataset
from labelnoise.data.alter import alter, random_polygon_masks
from labelnoise.data.base_images import base_crops
from labelnoise.data.generate import CHUNK_SIZE, SEED_BLOCK, split_fine_labels
from labelnoise.io import save_npy

GIB = 2**30
N_VAL_PER_CLASS = 100


def _status() -> dict[str, int]:
    """Memory lines of ``/proc/self/status`` in bytes."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0]) * 1024
    return out


class Sampler:
    """Background thread keeping the peaks of anonymous and file-backed resident memory."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak_anon = self.peak_file = self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.peak_anon = self.peak_file = self.peak_rss = 0
        self._sample()

    def _sample(self) -> None:
        s = _status()
        self.peak_anon = max(self.peak_anon, s["RssAnon"])
        self.peak_file = max(self.peak_file, s["RssFile"] + s.get("RssShmem", 0))
        self.peak_rss = max(self.peak_rss, s["VmRSS"])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


@dataclass
class Phase:
    name: str
    images: int
    seconds: float = 0.0
    rss_before: int = 0
    peak_rss: int = 0
    peak_anon: int = 0
    peak_file: int = 0

    def line(self) -> str:
        rate = self.images / self.seconds if self.seconds else float("nan")
        return (
            f"{self.name:<26} {self.images:>8,} img {self.seconds:8.1f} s {rate:9,.0f} img/s   "
            f"peak RSS {self.peak_rss / GIB:6.2f} GiB (anon {self.peak_anon / GIB:5.2f}, "
            f"file {self.peak_file / GIB:5.2f}; {self.rss_before / GIB:5.2f} before)"
        )


class Meter:
    """Measures phases one after another in this process."""

    def __init__(self) -> None:
        self.sampler = Sampler()
        self.phases: list[Phase] = []
        self.exact_peaks = _reset_high_water_mark()
        self._libc = ctypes.CDLL("libc.so.6")

    @contextmanager
    def phase(self, name: str, images: int) -> Iterator[Phase]:
        # Freed heap that glibc keeps would count against the next phase: hand it back first.
        self._libc.malloc_trim(0)
        result = Phase(name, images, rss_before=_status()["VmRSS"])
        _reset_high_water_mark()
        self.sampler.reset()
        start = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - start
        self.sampler._sample()
        # Without a resettable high-water mark the sampled peak stands in (may miss spikes).
        result.peak_rss = _status()["VmHWM"] if self.exact_peaks else self.sampler.peak_rss
        result.peak_anon, result.peak_file = self.sampler.peak_anon, self.sampler.peak_file
        self.phases.append(result)
        print(result.line(), flush=True)


def _counts(n: int) -> dict[str, int]:
    """Split sizes of an ``n``-image generated coarse set: 10% test, 100 val per class."""
    n_test = max(n // 10, 4)
    return {"n_train": n - n_test - 4 * N_VAL_PER_CLASS, "n_test": n_test}


def conventional_generate(n: int, size: int, seed: int, path: Path) -> np.ndarray:
    """The whole set in memory at once, as the generator's one-call building blocks make it;
    for up to one seed block the same bytes as ``generate_dataset``."""
    counts = _counts(n)
    roles = np.random.SeedSequence(seed).spawn(4)
    s_shuffle, s_base, s_poly, s_alter = (int(r.generate_state(1)[0]) for r in roles)
    rng = np.random.default_rng(s_shuffle)
    blocks = [
        split_fine_labels(counts["n_train"], task="coarse"),
        split_fine_labels(N_VAL_PER_CLASS, task="coarse", per_class=True),
        split_fine_labels(counts["n_test"], task="coarse"),
    ]
    fine = np.concatenate([b[rng.permutation(b.size)] for b in blocks])
    images = base_crops(n, size=size, seed=s_base).images
    masks = random_polygon_masks(n, size=size, seed=s_poly)
    images = alter(images, masks, fine, seed=s_alter)
    save_npy(path, images)
    return images


def write_jpeg_folder(root: Path, n: int, seed: int) -> None:
    """``n`` JPEGs of 96 x 80 px in 4 class folders, smooth colour fields (small files)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:80, 0:96] / 96.0
    tiles = []
    for _ in range(64):
        a, b, c = rng.uniform(0, 255, (3, 3))
        tiles.append(np.stack([a[i] * x + b[i] * y + c[i] * x * y for i in range(3)], -1))
    tiles = [np.clip(t, 0, 255).astype(np.uint8) for t in tiles]
    for c in range(4):
        (root / f"class_{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(tiles[i % len(tiles)]).save(root / f"class_{i % 4}" / f"{i:07d}.jpg")


def conventional_import(root: Path, size: int, path: Path) -> np.ndarray:
    """Sequential PIL decode into a list, then ``np.stack`` and ``np.save``."""
    stacked = conventional(sorted(root.rglob("*.jpg")), size)
    save_npy(path, stacked)
    return stacked


def build(args: argparse.Namespace, n: int, out: Path, folder: Path | None) -> None:
    """The streamed build of ``n`` images into ``out`` (``images.npy``, index and classes)."""
    if args.source == "generate":
        dataset = generate_dataset(
            **_counts(n),
            n_val_per_class=N_VAL_PER_CLASS,
            image_size=args.size,
            seed=args.seed,
            chunk_size=args.chunk_size,
            images_path=out / "images.npy",
        )
    else:
        dataset, _ = import_dataset(
            folder,
            kind="folder",
            image_size=args.size,
            seed=args.seed,
            progress=False,
            chunk_size=args.chunk_size,
            images_path=out / "images.npy",
        )
    save_dataset(dataset, out, write_images=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="images in the large set")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--source", choices=("generate", "import"), default="generate")
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)
    parser.add_argument("--baseline-n", type=int, default=SEED_BLOCK)
    parser.add_argument("--epochs", type=int, default=1, help="0 = no training phase")
    parser.add_argument("--train-n", type=int, default=0, help="train on this many (0 = all)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--budget-gib", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labelnoise-scale-", dir=args.workdir))
    meter = Meter()
    load_start = os.getloadavg()
    print(
        f"{args.n:,} images of {args.size} px ({args.n * args.size**2 * 3 / GIB:.2f} GiB uint8), "
        f"source {args.source}, chunk {args.chunk_size}, {os.cpu_count()} CPUs, load average "
        f"{load_start[0]:.1f}; peaks {'exact (VmHWM)' if meter.exact_peaks else 'sampled'}; "
        f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset')}"
    )
    try:
        _run(args, work, meter)
    finally:
        meter.sampler.stop()
        shutil.rmtree(work, ignore_errors=True)
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    phases = {p.name: p for p in meter.phases}
    conv, streamed = phases["build, in memory"], phases["build, streamed"]
    print(
        f"at {conv.images:,} images: in-memory build {conv.peak_rss / GIB:.2f} GiB peak RSS, "
        f"streamed {streamed.peak_rss / GIB:.2f} GiB: "
        f"{conv.peak_rss / streamed.peak_rss:.1f}x less memory, "
        f"{(streamed.images / streamed.seconds) / (conv.images / conv.seconds):.2f}x the speed"
    )
    print(f"load average at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    budget = args.budget_gib * GIB
    data = max(phases["build"].peak_rss, phases["load + read every image"].peak_rss)
    print(
        f"peak RSS at {args.n:,} images: build and load {data / GIB:.2f} GiB "
        f"({'within' if data <= budget else 'OVER'} {args.budget_gib:g} GiB)"
        + (
            f", training {phases['train'].peak_rss / GIB:.2f} GiB "
            f"({'within' if phases['train'].peak_rss <= budget else 'OVER'})"
            if "train" in phases
            else ""
        )
        + f"; whole process (ru_maxrss) {lifetime / GIB:.2f} GiB"
    )


def _run(args: argparse.Namespace, work: Path, meter: Meter) -> None:
    small_folder = big_folder = None
    if args.source == "import":
        small_folder, big_folder = work / "small", work / "big"
        start = time.perf_counter()
        write_jpeg_folder(small_folder, args.baseline_n, seed=args.seed)
        write_jpeg_folder(big_folder, args.n, seed=args.seed)
        print(f"wrote {args.baseline_n + args.n:,} JPEGs in {time.perf_counter() - start:.0f} s")

    (work / "streamed").mkdir()
    with meter.phase("build, streamed", args.baseline_n):
        build(args, args.baseline_n, work / "streamed", small_folder)
    with meter.phase("build, in memory", args.baseline_n):
        if args.source == "generate":
            images = conventional_generate(
                args.baseline_n, args.size, args.seed, work / "conventional.npy"
            )
        else:
            images = conventional_import(small_folder, args.size, work / "conventional.npy")
    if args.source == "generate" and args.baseline_n <= SEED_BLOCK:
        streamed = np.load(work / "streamed" / "images.npy", mmap_mode="r")
        if not np.array_equal(images, streamed):
            raise RuntimeError("the streamed and the in-memory generator disagree")
        del streamed
    del images
    shutil.rmtree(work / "streamed")
    (work / "conventional.npy").unlink()

    (work / "dataset").mkdir()
    with meter.phase("build", args.n):
        build(args, args.n, work / "dataset", big_folder)
    if big_folder is not None:
        shutil.rmtree(big_folder)

    with meter.phase("load + read every image", args.n):
        dataset = load_dataset(work / "dataset")
        splits = {name: dataset.split(name) for name in ("train", "val", "test")}
        total = np.zeros(3)
        for a in range(0, len(dataset.images), args.chunk_size):
            total += dataset.images[a : a + args.chunk_size].sum((0, 1, 2), dtype=np.int64)
    print(f"  channel means {np.round(total / (len(dataset.images) * args.size**2), 1)}")

    if not args.epochs:
        return
    from labelnoise.train import TrainConfig, fit

    images, labels, _ = splits["train"]
    subset = args.train_n and args.train_n < len(images)
    if subset:
        images, labels = images[: args.train_n], labels[: args.train_n]
        print(f"  TRAINING ON A SUBSET: the first {len(images):,} of {len(splits['train'][0]):,}")
    config = TrainConfig(epochs=args.epochs, device="cpu", threads=args.threads)
    with meter.phase("train", len(images) * args.epochs):
        result = fit(
            images, labels, n_classes=dataset.n_classes, config=config, seed=0, progress=False
        )
    print(f"  train loss after {args.epochs} epoch(s): {result.history[-1]['train_loss']:.3f}")


if __name__ == "__main__":
    main()
