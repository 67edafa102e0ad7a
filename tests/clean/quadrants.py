"""Tiny learnable images with known flips, shared by the tests of methods that train."""

import numpy as np

from labelnoise.clean.base import CleanContext
from labelnoise.train import TrainConfig

N, C, SIZE = 240, 4, 16
CONFIG = TrainConfig(
    width=8,
    depth=2,
    epochs=12,
    batch_size=64,
    lr=0.1,
    crop_padding=0,
    hflip=False,  # the class is which quadrant is bright: flips would change it
    device="cpu",
)


def quadrant_data(seed: int, rate: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy images whose class is the bright quadrant, and labels with ``rate`` flipped."""
    rng = np.random.default_rng(seed)
    true = rng.permutation(np.arange(N) % C)
    half = SIZE // 2
    grid = np.arange(SIZE)
    in_rows = (grid[None, :] >= (true // 2)[:, None] * half) & (
        grid[None, :] < (true // 2 + 1)[:, None] * half
    )
    in_cols = (grid[None, :] >= (true % 2)[:, None] * half) & (
        grid[None, :] < (true % 2 + 1)[:, None] * half
    )
    bright = in_rows[:, :, None] & in_cols[:, None, :]
    images = rng.integers(0, 120, size=(N, SIZE, SIZE, 3)) + 80 * bright[..., None]
    flipped = np.zeros(N, dtype=bool)
    flipped[rng.choice(N, round(rate * N), replace=False)] = True
    given = np.where(flipped, (true + rng.integers(1, C, N)) % C, true)
    return images.astype(np.uint8), given, flipped


def context(seed: int = 0, **kwargs) -> tuple[CleanContext, np.ndarray]:
    """A cleaning context over :func:`quadrant_data` (uninformative probabilities), and flips."""
    images, given, flipped = quadrant_data(seed)
    ctx = CleanContext(
        labels=given,
        n_classes=C,
        pred_probs=np.full((N, C), 1.0 / C),
        images=images,
        train_config=CONFIG,
        seed=seed,
        progress=False,
        **kwargs,
    )
    return ctx, flipped
