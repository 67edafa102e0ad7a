"""The training side of :mod:`labelnoise.clean.data_params`: learned temperatures as a trainer
hook, with the sparse SGD that updates them.

Kept apart from the method so that reading its params and capabilities imports no torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from labelnoise.clean.temperatures import LEARN_CHOICES, SIGMA_MAX, SIGMA_MIN

LOG_SIGMA_MIN, LOG_SIGMA_MAX = math.log(SIGMA_MIN), math.log(SIGMA_MAX)


class SparseSGD:
    """SGD with momentum that touches only the rows seen in the current batch.

    ``torch.optim.SGD`` would decay the momentum of every row at every step and keep moving rows
    that were absent from the batch; a data parameter is seen once per epoch, so it must only move
    (and its momentum only change) on the steps where its example or class is in the batch.

    Parameters
    ----------
    param : Tensor
        ``(k,)`` leaf tensor with ``requires_grad``; updated in place.
    lr : float
        Learning rate.
    momentum : float
        Momentum factor (no dampening, no Nesterov).
    weight_decay : float
        L2 penalty added to the gradient of the rows present in the batch only.
    """

    def __init__(
        self, param: Tensor, *, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        self.param = param
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.momentum_buffer = torch.zeros_like(param, requires_grad=False)

    @torch.no_grad()
    def step(self, rows: Tensor) -> None:
        """Update ``param[rows]`` and its momentum from ``param.grad``; leave other rows alone.

        Parameters
        ----------
        rows : Tensor
            int64 indices of the rows present in the batch (repeats allowed).
        """
        if self.param.grad is None:
            return
        rows = torch.unique(rows.to(self.param.device))
        value = self.param.index_select(0, rows)
        grad = self.param.grad.index_select(0, rows)
        if self.weight_decay:
            grad = grad + self.weight_decay * value
        buf = self.momentum_buffer.index_select(0, rows).mul_(self.momentum).add_(grad)
        self.momentum_buffer.index_copy_(0, rows, buf)
        self.param.index_add_(0, rows, buf, alpha=-self.lr)

    def zero_grad(self) -> None:
        """Drop the accumulated gradient of ``param``."""
        self.param.grad = None

    def to(self, device: torch.device) -> None:
        """Move the momentum buffer to ``device`` (the caller moves ``param``)."""
        self.momentum_buffer = self.momentum_buffer.to(device)


class DataParametersHook:
    """Trainer hook that learns instance and/or class temperatures during training.

    Implements the ``labelnoise.train.TrainHook`` protocol. The data parameters live here, not in
    the model, so the trainer's model optimizer never sees them; they get their gradient through
    the loss returned by :meth:`loss` and are stepped by :meth:`after_step`.

    Parameters
    ----------
    labels : np.ndarray
        ``(n,)`` int training labels, to look up each example's class temperature when the
        trajectory is recorded.
    n_classes : int
        Number of classes ``C``.
    learn : {"both", "instance", "class"}
        Which temperatures to learn. ``σ = exp(class[y]) + exp(inst[i])`` for ``both``.
    init_sigma : float
        Initial value of every learned temperature (each of the two for ``both``).
    lr_inst, lr_class : float
        Learning rates of the instance and class log-temperatures.
    momentum : float
        Momentum of both sparse optimizers.
    wd_inst, wd_class : float
        L2 weight decay on the log-temperatures of the rows present in the batch.
    label_smoothing : float
        Passed to the cross-entropy.
    """

    def __init__(
        self,
        labels: np.ndarray,
        *,
        n_classes: int,
        learn: str,
        init_sigma: float,
        lr_inst: float,
        lr_class: float,
        momentum: float,
        wd_inst: float,
        wd_class: float,
        label_smoothing: float = 0.0,
    ) -> None:
        # No defaults: those of DataParameters.run are the only ones.
        if learn not in LEARN_CHOICES:
            raise ValueError(f"data_params: learn={learn!r} is not one of {LEARN_CHOICES}")
        if not SIGMA_MIN <= init_sigma <= SIGMA_MAX:
            raise ValueError(f"data_params: init_sigma={init_sigma!r} must be in [1/20, 20]")
        rates = {"lr_inst": lr_inst, "lr_class": lr_class, "wd_inst": wd_inst, "wd_class": wd_class}
        for key, value in rates.items():
            if not value >= 0:
                raise ValueError(f"data_params: {key}={value!r} must be >= 0")
        if not 0 <= momentum < 1:
            raise ValueError(f"data_params: momentum={momentum!r} must be in [0, 1)")
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        n = len(self.labels)
        self.learn = learn
        self.label_smoothing = label_smoothing
        log_init = math.log(init_sigma)
        self.inst = torch.full((n,), log_init, requires_grad=True)
        self.cls = torch.full((n_classes,), log_init, requires_grad=True)
        self.opt_inst = SparseSGD(self.inst, lr=lr_inst, momentum=momentum, weight_decay=wd_inst)
        self.opt_cls = SparseSGD(self.cls, lr=lr_class, momentum=momentum, weight_decay=wd_class)
        self.trajectory: dict[int, np.ndarray] = {}
        self._last_index: Tensor | None = None
        self._last_targets: Tensor | None = None

    @property
    def learns_instance(self) -> bool:
        """Whether per-instance temperatures are learned."""
        return self.learn in ("both", "instance")

    @property
    def learns_class(self) -> bool:
        """Whether per-class temperatures are learned."""
        return self.learn in ("both", "class")

    def _ensure_device(self, device: torch.device) -> None:
        # The trainer picks the device; the parameters follow the logits there on first use.
        if self.inst.device == device:
            return
        with torch.no_grad():
            self.inst = self.inst.detach().to(device).requires_grad_(True)
            self.cls = self.cls.detach().to(device).requires_grad_(True)
        self.opt_inst.param = self.inst
        self.opt_cls.param = self.cls
        self.opt_inst.to(device)
        self.opt_cls.to(device)

    def _sigma(self, targets: Tensor, index: Tensor) -> Tensor:
        parts = []
        if self.learns_class:
            parts.append(self.cls.index_select(0, targets).exp())
        if self.learns_instance:
            parts.append(self.inst.index_select(0, index).exp())
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]

    def loss(self, logits: Tensor, targets: Tensor, index: Tensor, epoch: int) -> Tensor:
        """Per-example cross-entropy of the temperature-scaled logits, shape ``(B,)``."""
        self._ensure_device(logits.device)
        index = index.to(logits.device)
        targets = targets.to(logits.device)
        sigma = self._sigma(targets, index)
        self._last_index, self._last_targets = index, targets
        return F.cross_entropy(
            logits.float() / sigma.unsqueeze(1),
            targets,
            reduction="none",
            label_smoothing=self.label_smoothing,
        )

    @torch.no_grad()
    def after_step(self) -> None:
        """Step the data parameters of the last batch, clamp them, and clear their gradients."""
        if self._last_index is None:
            return
        if self.learns_instance:
            self.opt_inst.step(self._last_index)
            self.inst.clamp_(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        if self.learns_class:
            self.opt_cls.step(self._last_targets)
            self.cls.clamp_(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        self.opt_inst.zero_grad()
        self.opt_cls.zero_grad()
        self._last_index = self._last_targets = None

    @torch.no_grad()
    def sigma(self) -> Tensor:
        """Current temperature of every training example, shape ``(n,)``."""
        index = torch.arange(len(self.inst), device=self.inst.device)
        return self._sigma(self.labels.to(self.inst.device), index)

    def end_epoch(self, epoch: int) -> None:
        """Record the temperature of every example after ``epoch``."""
        self.trajectory[int(epoch)] = self.sigma().float().cpu().numpy()

    def trajectory_array(self) -> np.ndarray:
        """Recorded temperatures, shape ``(epochs recorded, n)`` float32, in epoch order."""
        if not self.trajectory:
            raise ValueError("data_params: no epoch was recorded; did training run?")
        return np.stack([self.trajectory[e] for e in sorted(self.trajectory)]).astype(np.float32)

    def state_dict(self) -> dict:
        """Parameters, momentum buffers and trajectory, as CPU tensors / arrays."""
        epochs = sorted(self.trajectory)
        return {
            "inst": self.inst.detach().cpu().clone(),
            "cls": self.cls.detach().cpu().clone(),
            "inst_momentum": self.opt_inst.momentum_buffer.cpu().clone(),
            "cls_momentum": self.opt_cls.momentum_buffer.cpu().clone(),
            "trajectory_epochs": torch.tensor(epochs, dtype=torch.int64),
            "trajectory": torch.from_numpy(
                np.stack([self.trajectory[e] for e in epochs])
                if epochs
                else np.zeros((0, len(self.inst)), np.float32)
            ),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (e.g. when resuming from a checkpoint)."""
        if tuple(state["inst"].shape) != tuple(self.inst.shape):
            raise ValueError(
                f"data_params: checkpoint has {state['inst'].shape[0]} instance parameters, "
                f"expected {self.inst.shape[0]}"
            )
        device = self.inst.device
        self.inst = state["inst"].detach().to(device).clone().requires_grad_(True)
        self.cls = state["cls"].detach().to(device).clone().requires_grad_(True)
        self.opt_inst.param, self.opt_cls.param = self.inst, self.cls
        self.opt_inst.momentum_buffer = state["inst_momentum"].to(device).clone()
        self.opt_cls.momentum_buffer = state["cls_momentum"].to(device).clone()
        traj = state["trajectory"].numpy()
        self.trajectory = {
            int(e): traj[k].copy() for k, e in enumerate(state["trajectory_epochs"].tolist())
        }
