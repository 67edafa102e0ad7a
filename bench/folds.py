"""Seconds to train the K fold models of the cross-validation: stacked against one by one.

Same data, same folds, same models, seeds and optimizer steps, one process, one device. The
baseline is the conventional loop: ``labelnoise.train.fit`` once per fold. Ours:
``labelnoise.train.fit_stacked``, the K models stacked with torch.func and trained in one
vmapped step. Needs torch and numpy only. The last line printed is the speed-up.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from labelnoise.train import TrainConfig, fit, fit_stacked, predict_proba, resolve_device


def synthetic(n: int, size: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable images ``(n, size, size, 3)``: the class is which colour channel is lifted
    (``classes`` <= 3) and noise hides it partly."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 200, (n, size, size, 3))
    images[np.arange(n), :, :, labels] += 8
    return images.astype(np.uint8), labels


def fold_rows(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Training rows of each of ``folds`` stratified folds (each class dealt round-robin)."""
    rng = np.random.default_rng(seed)
    held = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        held[members] = np.arange(len(members)) % folds
    return [np.flatnonzero(held != k) for k in range(folds)]


def sequential(images, labels, rows, config, seed) -> tuple[float, float, list]:
    """Train fold by fold; return wall seconds, CPU seconds of this process and the models."""
    start, cpu = time.perf_counter(), time.process_time()
    models = [
        fit(
            images[r],
            labels[r],
            n_classes=int(labels.max()) + 1,
            config=config,
            seed=seed + k,
            progress=False,
        ).model
        for k, r in enumerate(rows)
    ]
    _synchronize(config)
    return time.perf_counter() - start, time.process_time() - cpu, models


def stacked(images, labels, rows, config, seed) -> tuple[float, float, list]:
    """Train all folds at once; return wall seconds, CPU seconds and the models."""
    start, cpu = time.perf_counter(), time.process_time()
    results = fit_stacked(
        images,
        labels,
        rows,
        n_classes=int(labels.max()) + 1,
        config=config,
        seeds=[seed + k for k in range(len(rows))],
        progress=False,
    )
    _synchronize(config)
    return time.perf_counter() - start, time.process_time() - cpu, [r.model for r in results]


def _synchronize(config: TrainConfig) -> None:
    if resolve_device(config.device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="training images")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    images, labels = synthetic(args.n, args.size, 3, args.seed)
    test_images, test_labels = synthetic(1000, args.size, 3, args.seed + 1)
    rows = fold_rows(labels, args.folds, args.seed)
    config = TrainConfig(
        width=args.width,
        depth=args.depth,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
    )
    device = resolve_device(config.device)
    print(
        f"device {device}, threads {torch.get_num_threads()}, {args.folds} folds of "
        f"{len(rows[0])} images x {args.epochs} epochs at {args.size} px, {config.model} "
        f"width {config.width} depth {config.depth}, batch {config.batch_size}"
    )
    # Warm-up on a slice, so neither side pays one-off start-up costs in its measurement.
    warm = TrainConfig(**{**config.__dict__, "epochs": 1})
    small = fold_rows(labels[:512], args.folds, args.seed)
    sequential(images, labels, small, warm, args.seed)
    stacked(images, labels, small, warm, args.seed)
    t_seq, cpu_seq, seq_models = sequential(images, labels, rows, config, args.seed)
    t_stk, cpu_stk, stk_models = stacked(images, labels, rows, config, args.seed)
    for name, models in (("sequential", seq_models), ("stacked", stk_models)):
        acc = [(predict_proba(m, test_images).argmax(1) == test_labels).mean() for m in models]
        print(f"{name:10s} test accuracy per fold: {', '.join(f'{a:.3f}' for a in acc)}")
    # CPU seconds tell less about a GPU but more than wall time on a CPU shared with others.
    print(f"sequential fit per fold: {t_seq:8.2f} s ({cpu_seq:.2f} s CPU)")
    print(f"fit_stacked:             {t_stk:8.2f} s ({cpu_stk:.2f} s CPU)")
    print(f"speed-up of fit_stacked: {t_seq / t_stk:.2f}x")


if __name__ == "__main__":
    main()
