"""What test_distributed trains, once in this process and once per torchrun worker.

Run by torchrun (``python -m torch.distributed.run ... ddp_worker.py OUT.npz``) each worker joins
a gloo process group and trains data-parallel; the first one saves what was learnt to OUT.npz.
"""

import sys

import numpy as np

from labelnoise.train import TrainConfig, fit, out_of_sample_folds, predict_proba
from labelnoise.train.distributed import process_group

# 210 images in batches of 32: 7 batches of 30, split 15/15 over two processes; class weights
# make each process's share of the loss depend on the labels the other one holds.
CONFIG = TrainConfig(
    width=8, depth=2, epochs=4, batch_size=32, lr=0.05, class_weights=True, device="cpu", threads=1
)


def brightest_channel(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is the channel lifted above the others, hidden in noise."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    images = rng.integers(0, 200, (n, 16, 16, 3))
    images[np.arange(n), :, :, labels] += 12
    return images.astype(np.uint8), labels


def run() -> dict[str, np.ndarray]:
    """Train the full model and the stacked fold models; what they predict and their losses."""
    images, labels = brightest_channel(210, seed=0)
    val_images, _ = brightest_channel(120, seed=1)
    result = fit(images, labels, n_classes=3, config=CONFIG, seed=0, progress=False)
    oos, folds, _ = out_of_sample_folds(
        images, labels, n_classes=3, folds=3, config=CONFIG, seed=0, stack=True, progress=False
    )
    return {
        "val_proba": predict_proba(result.model, val_images),
        "train_loss": np.array([h["train_loss"] for h in result.history]),
        "oos": oos,
        "folds": folds,
    }


if __name__ == "__main__":
    with process_group(cuda=False) as (rank, _):
        learnt = run()
        if rank == 0:
            np.savez(sys.argv[1], **learnt)
