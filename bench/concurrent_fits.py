"""Independent trainings one after the other against side by side (``labelnoise.train.workers``).

The same trainings (``small_cnn`` at the default ``train`` settings, 3,000 random 32 px images,
one seed each) in one process: first one after the other with torch's threads (what a stage did
before), then ``map_workers`` with ``worker_count``'s automatic choice (one thread per training,
one training per core). Checks that a training's result does not depend on what runs beside it,
and prints the speed-up as its last line.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from labelnoise.train import TrainConfig, fit, predict_proba
from labelnoise.train.workers import map_workers, worker_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=4, help="independent trainings")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n", type=int, default=3000, help="training images")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, args.n)
    config = TrainConfig(epochs=args.epochs)

    def train(seed: int) -> np.ndarray:
        model = fit(images, labels, n_classes=4, config=config, seed=seed, progress=False).model
        return predict_proba(model, images[:256])

    train(0)  # warm-up: the first training pays for torch's lazy initialisation
    seeds = list(range(args.jobs))
    threads = torch.get_num_threads()
    start = time.perf_counter()
    [train(seed) for seed in seeds]
    serial = time.perf_counter() - start

    workers = worker_count(0, jobs=args.jobs, device=torch.device("cpu"))
    start = time.perf_counter()
    side_by_side = map_workers(train, seeds, workers=workers)
    concurrent = time.perf_counter() - start

    torch.set_num_threads(max(1, threads // workers))  # the threads each had side by side
    alone = [train(seed) for seed in seeds[:2]]
    torch.set_num_threads(threads)
    same = all(np.array_equal(a, b) for a, b in zip(alone, side_by_side, strict=False))

    images_trained = args.jobs * args.epochs * args.n
    print(f"{args.jobs} trainings x {args.epochs} epochs x {args.n} images, {threads} threads")
    each = max(1, threads // workers)
    print(f"one after the other, {threads} threads each: {serial:.1f} s "
          f"({images_trained / serial:,.0f} img/s)")  # fmt: skip
    print(f"{workers} side by side, {each} thread(s) each: {concurrent:.1f} s "
          f"({images_trained / concurrent:,.0f} img/s)")  # fmt: skip
    print(f"a training beside others equals it alone at the same threads: {same}")
    print(f"speed-up: {serial / concurrent:.2f}x")


if __name__ == "__main__":
    main()
