"""Images/s of labelnoise.train.fit against the conventional PyTorch recipe, side by side.

Same model, same number of optimizer steps and images, one process, one device. The baseline is
a DataLoader over a Dataset of PIL images with torchvision transforms (RandomCrop with padding,
RandomHorizontalFlip, ToTensor, Normalize), loader processes optional (``--loader-workers``);
both train under bf16 autocast on CUDA. The last line printed is the speed-up.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from labelnoise.train import TrainConfig, build_model, fit, resolve_device
from labelnoise.train.losses import per_example_loss


class PILDataset(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images = [Image.fromarray(im) for im in images]
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def conventional(
    images: np.ndarray, labels: np.ndarray, config: TrainConfig, seed: int, *, workers: int = 0
) -> list[float]:
    """Train the conventional way, ``workers`` loader processes (kept across epochs, pinned
    memory on CUDA); return each epoch's seconds."""
    device = resolve_device(config.device)
    mean = images.reshape(-1, 3).mean(0) / 255
    std = images.reshape(-1, 3).std(0) / 255
    transform = transforms.Compose(
        [
            transforms.RandomCrop(images.shape[1], padding=config.crop_padding),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean.tolist(), std.tolist()),
        ]
    )
    n_classes = int(labels.max()) + 1
    model = build_model(
        config.model, n_classes=n_classes, width=config.width, depth=config.depth, seed=seed
    )
    # The model normalises internally; the transforms already did, so make that a no-op.
    model.set_normalisation(torch.zeros(3), torch.ones(3))
    model.to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    steps = math.ceil(len(images) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=steps * config.epochs, anneal_strategy="linear"
    )
    loader = DataLoader(
        PILDataset(images, labels, transform),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
    )
    model.train()
    clock = EpochClock(config, device)
    for epoch in range(config.epochs):
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            # Mixed precision as fit uses it, so the two differ in how data reaches the model.
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        clock.end_epoch(epoch)
    return clock.seconds


class EpochClock:
    """A :class:`labelnoise.train.TrainHook` that keeps ``config.loss`` and times each epoch
    (the device synchronised at its end), so start-up and compilation show as the first
    epoch's excess rather than hiding in an average."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config, self.device = config, device
        self.seconds: list[float] = []
        self._last = time.perf_counter()

    def loss(self, logits, targets, index, epoch):
        config = self.config
        return per_example_loss(
            logits,
            targets,
            loss=config.loss,
            label_smoothing=config.label_smoothing,
            gce_q=config.gce_q,
        )

    def after_step(self) -> None:
        pass

    def end_epoch(self, epoch: int) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def ours(images: np.ndarray, labels: np.ndarray, config: TrainConfig, seed: int) -> list[float]:
    """Train with ``labelnoise.train.fit``; return each epoch's seconds."""
    clock = EpochClock(config, resolve_device(config.device))
    n_classes = int(labels.max()) + 1
    fit(images, labels, n_classes=n_classes, config=config, seed=seed, hook=clock, progress=False)
    return clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="training images")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--width", type=int, default=16, help="small_cnn first-block channels")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--loader-workers", type=int, default=0, help="DataLoader processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    images = rng.integers(0, 256, (args.n, args.size, args.size, 3), dtype=np.uint8)
    labels = rng.integers(0, args.classes, args.n)
    config = TrainConfig(
        epochs=args.epochs,
        width=args.width,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
    )
    device = resolve_device(config.device)
    print(
        f"device {device}, threads {torch.get_num_threads()}, {args.n} images x {args.epochs} "
        f"epochs at {args.size} px, {config.model} width {config.width} depth {config.depth}"
    )
    # Warm-up on a slice, so neither side pays one-off start-up costs in its measurement.
    warm = TrainConfig(**{**config.__dict__, "epochs": 1})
    conventional(images[:512], labels[:512], warm, args.seed)
    ours(images[:512], labels[:512], warm, args.seed)
    total = args.n * args.epochs
    t_conv = sum(conventional(images, labels, config, args.seed, workers=args.loader_workers))
    print(f"conventional DataLoader + PIL transforms: {total / t_conv:9.0f} images/s")
    t_ours = sum(ours(images, labels, config, args.seed))
    print(f"labelnoise.train.fit:                     {total / t_ours:9.0f} images/s")
    print(f"speed-up of labelnoise.train.fit: {t_conv / t_ours:.2f}x")


if __name__ == "__main__":
    main()
