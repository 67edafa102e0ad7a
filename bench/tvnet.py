"""Time Training-ValueNet's batched Monte-Carlo phase against the per-episode reference loop.

Both compute the same per-step validation-loss improvements (checked here on the common
episodes). The reference runs fewer episodes because its cost is exactly linear in them (one
independent loop per episode); the batched version runs the full count. The last line printed is
the speed-up per episode, reference / batched.

    python bench/tvnet.py [--classes 4 --per-class 250 --dim 64 --val-per-class 100
                           --episodes 100 --ref-episodes 20 --device auto --threads 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from labelnoise.clean.tvnet import tvnet_mc_values, tvnet_values_reference


def clusters(
    *, classes: int, per_class: int, dim: int, val_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian class clusters ``(classes * per_class, dim)`` with 20% of the train labels
    flipped, and a clean validation set; returns train features, labels, val features, labels."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.0, (classes, dim))
    y = np.repeat(np.arange(classes), per_class)
    x = means[y] + rng.normal(0.0, 1.0, (len(y), dim))
    flipped = rng.random(len(y)) < 0.2
    y[flipped] = (y[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    yv = np.repeat(np.arange(classes), val_per_class)
    xv = means[yv] + rng.normal(0.0, 1.0, (len(yv), dim))
    return x, y, xv, yv


def measure(
    x,
    y,
    xv,
    yv,
    *,
    classes: int,
    episodes: int,
    ref_episodes: int,
    lr: float,
    device: str,
    seed: int,
) -> dict:
    """Seconds of ``episodes`` batched episodes on ``device`` and of ``ref_episodes`` reference
    ones, and the largest difference between the two on ``ref_episodes`` episodes."""
    common = {"n_classes": classes, "lr": lr, "seed": seed}
    # Warm-up so one-off costs (thread pools, CUDA context) are not timed.
    tvnet_mc_values(x[:50], y[:50], xv, yv, episodes=2, device=device, **common)

    start = time.perf_counter()
    tvnet_mc_values(x, y, xv, yv, episodes=episodes, device=device, **common)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t_batched = time.perf_counter() - start

    start = time.perf_counter()
    _, reference = tvnet_values_reference(x, y, xv, yv, episodes=ref_episodes, **common)
    t_reference = time.perf_counter() - start

    # The random draws depend on the episode count, so check against a batched run of equal size.
    _, check = tvnet_mc_values(x, y, xv, yv, episodes=ref_episodes, device=device, **common)
    per_batched, per_reference = t_batched / episodes, t_reference / ref_episodes
    return {
        "episodes": episodes,
        "ref_episodes": ref_episodes,
        "steps_per_episode": len(y),
        "batched_s": t_batched,
        "reference_s": t_reference,
        "batched_ms_per_episode": per_batched * 1e3,
        "reference_ms_per_episode": per_reference * 1e3,
        "max_abs_difference": float(np.abs(check - reference).max()),
        "speedup": per_reference / per_batched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=250)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--ref-episodes", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    x, y, xv, yv = clusters(
        classes=args.classes,
        per_class=args.per_class,
        dim=args.dim,
        val_per_class=args.val_per_class,
        seed=args.seed,
    )
    print(
        f"train {len(y)} x {args.dim}, val {len(yv)}, {args.classes} classes, "
        f"{len(y)} steps per episode, torch threads {torch.get_num_threads()}, device {device}"
    )
    r = measure(
        x, y, xv, yv, classes=args.classes, episodes=args.episodes,
        ref_episodes=args.ref_episodes, lr=args.lr, device=device, seed=args.seed,
    )  # fmt: skip
    print(
        f"batched:   {r['episodes']} episodes in {r['batched_s']:.2f} s "
        f"({r['batched_ms_per_episode']:.2f} ms/ep)"
    )
    print(
        f"reference: {r['ref_episodes']} episodes in {r['reference_s']:.2f} s "
        f"({r['reference_ms_per_episode']:.2f} ms/ep)"
    )
    print(
        f"max |batched - reference| on {r['ref_episodes']} episodes: {r['max_abs_difference']:.2e}"
    )
    print(f"speed-up per episode: {r['speedup']:.1f}x")


if __name__ == "__main__":
    main()
