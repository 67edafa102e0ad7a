"""Image classifiers for small inputs, with access to their penultimate features.

Every model takes a float tensor ``(B, 3, H, W)`` holding raw pixel values in ``[0, 255]`` and
normalises it itself with the per-channel ``mean``/``std`` buffers, so the normalisation
travels with the weights and prediction needs nothing but the model.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from labelnoise.train.config import MODELS, smallest_image


class _Normalised(nn.Module):
    """Base class: per-channel normalisation buffers, ``features`` then ``head``."""

    head: nn.Linear

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 64.0))

    def set_normalisation(self, mean: Tensor, std: Tensor) -> None:
        """Set the per-channel mean and std (pixel units, shape ``(3,)``)."""
        self.mean.copy_(mean.reshape(1, 3, 1, 1))
        self.std.copy_(std.reshape(1, 3, 1, 1))

    def normalise(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(B, D)`` of raw-pixel images ``(B, 3, H, W)``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, n_classes)``."""
        return self.head(self.features(x))


class SmallCNN(_Normalised):
    """Airbench-style network: conv3x3-BN-GELU blocks, each doubling the width and halving the
    resolution with 2x2 max-pooling, then global max and average pooling and a linear head."""

    def __init__(self, *, n_classes: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(depth):
            c_out = width * 2**i
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.MaxPool2d(2),
                nn.BatchNorm2d(c_out),
                nn.GELU(approximate="tanh"),
            ]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.n_features = 2 * c_in
        self.head = nn.Linear(self.n_features, n_classes)

    def features(self, x: Tensor) -> Tensor:
        h = self.body(self.normalise(x))
        return torch.cat([h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)


class ResNet18(_Normalised):
    """torchvision's ResNet-18 with a stem for small inputs: 3x3 stride-1 conv, no max-pool."""

    def __init__(self, *, n_classes: int) -> None:
        super().__init__()
        net = torchvision.models.resnet18(weights=None, num_classes=n_classes)
        net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.head = net.fc
        net.fc = nn.Identity()
        self.body = net
        self.n_features = self.head.in_features

    def features(self, x: Tensor) -> Tensor:
        return self.body(self.normalise(x))


def init_weights(model: nn.Module, *, seed: int) -> nn.Module:
    """Re-initialise every conv, linear and batch-norm layer from a generator seeded by ``seed``.

    Module constructors draw from torch's global RNG; redrawing here makes a model a pure
    function of ``seed`` without touching global state.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(
                    m.weight, mode="fan_out", nonlinearity="relu", generator=gen
                )
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                m.weight.uniform_(-bound, bound, generator=gen)
                if m.bias is not None:
                    m.bias.uniform_(-bound, bound, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
    return model


def build_model(
    name: str,
    *,
    n_classes: int,
    width: int = 32,
    depth: int = 3,
    image_size: int = 32,
    seed: int = 0,
) -> nn.Module:
    """Build an untrained classifier.

    Parameters
    ----------
    name
        ``"small_cnn"`` or ``"resnet18"``.
    n_classes
        Number of output logits.
    width, depth
        Channels of the first block and number of blocks of ``small_cnn`` (ignored by
        ``resnet18``).
    image_size
        Side of the (square) input images; ``small_cnn`` needs ``image_size >= 2**depth``.
    seed
        Seed of the weight initialisation.

    Returns
    -------
    nn.Module
        ``model(x)`` maps raw-pixel images ``(B, 3, H, W)`` in ``[0, 255]`` to logits
        ``(B, n_classes)``; ``model.features(x)`` gives the penultimate features ``(B, D)``
        and ``model.head`` the final linear layer.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    if name == "small_cnn":
        if width < 1 or depth < 1:
            raise ValueError(f"small_cnn needs width >= 1 and depth >= 1, got {width}, {depth}")
        if image_size < smallest_image(name, depth):
            raise ValueError(
                f"image_size {image_size} is too small for small_cnn of depth {depth} "
                f"(needs >= {smallest_image(name, depth)})"
            )
        model: nn.Module = SmallCNN(n_classes=n_classes, width=width, depth=depth)
    else:
        model = ResNet18(n_classes=n_classes)
    return init_weights(model, seed=seed)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a local ``state_dict`` file into ``model`` (in place; nothing is downloaded).

    Raises ``ValueError`` naming the file and the first mismatching keys or shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable state_dict ({err})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(state).__name__}")
    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [
        f"{k}: shape {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(getattr(state[k], "shape", ())) != tuple(v.shape)
    ]
    if problems:
        shown = "; ".join(problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError(f"{path}: weights do not match the model: {shown}{more}")
    model.load_state_dict(state)
    return model
