"""Data Parameters: learnable per-instance / per-class temperatures (Saxena, Tuzel & DeCoste, 2019).

Every training example ``i`` (and every class ``c``) gets a log-temperature ``log σ``. The logits
of an example are divided by its temperature before the cross-entropy, and the temperatures are
learned by gradient descent together with the network. An example the network cannot fit (often
a mislabelled one) lowers its loss by raising its temperature, so a high ``σᵢ`` marks a suspect
label. The per-epoch trajectory of ``σᵢ`` also sorts examples into easy / hard / need-review.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from labelnoise.clean.base import (
    CleanContext,
    CleanResult,
    check_count,
    check_labels,
    flag_per_class,
    reject_unknown_params,
)

CATEGORIES = ("easy", "hard", "need_review")
"""Names of the trajectory categories; ``extras["category"]`` holds indices into this tuple."""

LEARN_CHOICES = ("both", "instance", "class")
FLAG_RULES = ("top", "hard", "not_easy")
SIGMA_MIN, SIGMA_MAX = 1.0 / 20.0, 20.0
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
        learn: str = "instance",
        init_sigma: float = 1.0,
        lr_inst: float = 0.2,
        lr_class: float = 0.1,
        momentum: float = 0.9,
        wd_inst: float = 0.0,
        wd_class: float = 0.0,
        label_smoothing: float = 0.0,
    ) -> None:
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


def categorise(trajectory: np.ndarray, *, init_sigma: float = 1.0) -> np.ndarray:
    """Sort examples into easy / hard / need-review from their temperature trajectories.

    The rule looks at the last half of training (epochs ``E // 2 .. E-1``; all epochs when
    ``E == 1``) and compares ``σ`` with its initial value, because a temperature falls below its
    start while the network fits the example under its given label and rises above it while the
    network keeps disagreeing with that label:

    - ``easy`` (0): ``σ`` stays below its initial value over the whole last half and does not
      end higher than it was at the start of the last half (no rising trend);
    - ``hard`` (1): ``σ`` stays above its initial value over the whole last half (the network
      consistently gives up on the label: mislabelled or an outlier);
    - ``need_review`` (2): everything else: ``σ`` crosses its initial value during the last half,
      or is low but rising.

    Parameters
    ----------
    trajectory : np.ndarray
        ``(E, n)`` temperature of each example after each epoch.
    init_sigma : float
        Temperature every example started from (``exp(class) + exp(inst)`` at initialisation).

    Returns
    -------
    np.ndarray
        ``(n,)`` int8 codes indexing :data:`CATEGORIES`.
    """
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim != 2 or traj.shape[0] == 0:
        raise ValueError(f"data_params: trajectory must have shape (epochs, n), got {traj.shape}")
    late = np.log(traj[traj.shape[0] // 2 :])
    ref = math.log(init_sigma)
    easy = (late.max(axis=0) < ref) & (late[-1] <= late[0])
    hard = late.min(axis=0) > ref
    codes = np.full(traj.shape[1], CATEGORIES.index("need_review"), dtype=np.int8)
    codes[easy] = CATEGORIES.index("easy")
    codes[hard] = CATEGORIES.index("hard")
    return codes


def resolve_frac(frac: float | str, ctx: CleanContext, name: str) -> float:
    """Fraction of the train set to flag: ``frac`` itself, or cleanlab's estimate for ``"auto"``."""
    if isinstance(frac, str):
        if frac != "auto":
            raise ValueError(f"{name}: frac={frac!r} must be a number in [0, 1] or 'auto'")
        if ctx.noise_rate_estimate is None:
            raise ValueError(
                f"{name}: frac='auto' needs ctx.noise_rate_estimate, which is None; "
                "give frac as a number"
            )
        frac = ctx.noise_rate_estimate
    if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0.0 <= frac <= 1.0:
        raise ValueError(f"{name}: frac={frac!r} must be a number in [0, 1] or 'auto'")
    return float(frac)


def top_fraction(scores: np.ndarray, frac: float) -> np.ndarray:
    """``(n,)`` bool mask of the ``round(frac * n)`` highest scores (ties broken by index)."""
    flags = np.zeros(len(scores), dtype=bool)
    k = round(frac * len(scores))
    if k:
        flags[np.argsort(-scores, kind="stable")[:k]] = True
    return flags


def _chosen_epoch(
    epoch: str | int, history: list[dict[str, Any]], n_recorded: int, *, use_val: bool
) -> int:
    """0-based trajectory row whose temperatures become the scores.

    ``history`` is the trainer's per-epoch record; ``n_recorded`` the number of trajectory rows.
    """
    if epoch == "best" and use_val:
        # history[k]["epoch"] counts from 0, as do the rows of the trajectory
        best = max(history, key=lambda record: record["val_acc"])
        return int(best["epoch"])
    if epoch in ("best", "last"):
        return n_recorded - 1
    return epoch - 1


def _select_flags(
    scores: np.ndarray,
    labels: np.ndarray,
    category: np.ndarray,
    ctx: CleanContext,
    *,
    count: str,
    flag: str,
    frac_value: float,
) -> np.ndarray:
    """``(n,)`` bool flags from ``scores`` (σ, higher = more suspect) or the ``(n,)`` categories.

    ``count="trusted"`` takes the per-class counts of ``ctx.trusted_noise``; otherwise ``flag``
    picks the rule (``frac_value`` is used by ``"top"`` only).
    """
    if count == "trusted":
        return flag_per_class(scores, labels, ctx.trusted_noise.per_class)
    if flag == "top":
        return top_fraction(scores, frac_value)
    if flag == "hard":
        return category == CATEGORIES.index("hard")
    return category != CATEGORIES.index("easy")


class DataParameters:
    """Cleaning method ``data_params``: learned instance temperature σᵢ as suspicion score.

    Trains a network on ``ctx.images`` / ``ctx.labels`` with ``ctx.train_config`` while learning
    data parameters (:class:`DataParametersHook`), records every example's ``σ`` after every
    epoch, and scores each example by its ``σ`` at the chosen epoch (higher = more likely
    mislabelled).
    """

    name = "data_params"
    trains_model = True  # the stage builds ctx.train_config (and imports torch) only for these
    uses_noise_estimate = True  # frac="auto" reads cleanlab's estimate; others skip computing it

    def run(
        self,
        ctx: CleanContext,
        *,
        learn: str = "instance",
        init_sigma: float = 1.0,
        lr_inst: float = 0.2,
        lr_class: float = 0.1,
        momentum: float = 0.9,
        wd_inst: float = 0.0,
        wd_class: float = 0.0,
        epoch: str | int = "best",
        frac: float | str = "auto",
        flag: str = "top",
        count: str = "own",
        **params: Any,
    ) -> CleanResult:
        """Train with data parameters and score every training example.

        Parameters
        ----------
        ctx : CleanContext
            Needs ``images``, ``labels``, ``n_classes`` and ``train_config``; ``val_images`` +
            ``val_labels`` (optional) choose the ``best`` epoch.
        learn : {"instance", "class", "both"}
            Which temperatures to learn; ``σᵢ = exp(class[yᵢ]) + exp(inst[i])`` for ``both``
            (each log-parameter is clamped to ``[log 1/20, log 20]``, so that sum lies in
            ``[1/10, 40]``). With ``class`` alone all examples of a class share a score.
        init_sigma : float
            Initial value of each learned temperature.
        lr_inst, lr_class : float
            Learning rates of the instance / class log-temperatures (sparse SGD).
        momentum : float
            Momentum of the sparse SGD.
        wd_inst, wd_class : float
            Weight decay on the log-temperatures present in each batch.
        epoch : "best", "last" or int
            Epoch whose temperatures are the scores: ``k`` in ``1..epochs`` = after ``k`` epochs;
            ``best`` = highest validation accuracy when validation data is given, else last.
        frac : float or "auto"
            Fraction to flag with ``flag="top"``; ``auto`` = ``ctx.noise_rate_estimate``.
        flag : {"top", "hard", "not_easy"}
            Flag rule: the ``frac`` highest scores, the ``hard`` category, or every example that
            is not ``easy`` (see :func:`categorise`).
        count : str
            ``"own"`` flags by ``flag`` (and ``frac``); ``"trusted"`` flags the highest σ, as
            many per given class as the trusted set's estimate says are false (``flag`` and
            ``frac`` then unused).

        Returns
        -------
        CleanResult
            ``scores`` ``(n,)`` = σᵢ at the chosen epoch (higher = more likely mislabelled).
            ``extras``: ``trajectory`` ``(epochs, n)`` float32 σ after each epoch, ``category``
            ``(n,)`` int8 codes into :data:`CATEGORIES`, ``best_epoch`` (1-based epoch used),
            ``frac`` (fraction asked for by ``flag="top"``, NaN for the other rules).
        """
        reject_unknown_params(self.name, params)
        check_count(self.name, count, ctx)
        labels = self._checked_labels(ctx, epoch=epoch, flag=flag)
        own_top = flag == "top" and count == "own"
        frac_value = resolve_frac(frac, ctx, self.name) if own_top else math.nan

        use_val = ctx.val_images is not None and ctx.val_labels is not None
        trajectory, history = self._train(
            ctx,
            labels,
            use_val=use_val,
            learn=learn,
            init_sigma=init_sigma,
            lr_inst=lr_inst,
            lr_class=lr_class,
            momentum=momentum,
            wd_inst=wd_inst,
            wd_class=wd_class,
        )
        chosen = _chosen_epoch(epoch, history, len(trajectory), use_val=use_val)
        scores = trajectory[chosen].astype(np.float64)
        init_total = init_sigma * (2.0 if learn == "both" else 1.0)
        category = categorise(trajectory, init_sigma=init_total)
        flags = _select_flags(
            scores, labels, category, ctx, count=count, flag=flag, frac_value=frac_value
        )
        return CleanResult(
            scores=scores,
            flags=flags,
            noise_rate_estimate=float(flags.mean()) if len(flags) else 0.0,
            extras={
                "trajectory": trajectory,
                "category": category,
                "best_epoch": np.asarray(chosen + 1, dtype=np.int64),
                "frac": np.asarray(frac_value, dtype=np.float64),
            },
        )

    def _checked_labels(self, ctx: CleanContext, *, epoch: str | int, flag: str) -> np.ndarray:
        """``(n,)`` int64 ``ctx.labels``, once ``flag``, ``epoch`` and the training inputs check.

        Raises ``ValueError`` for an unknown ``flag`` or ``epoch``, missing images or train
        config, images and labels of different lengths, or an int ``epoch`` outside
        ``1..epochs``.
        """
        if flag not in FLAG_RULES:
            raise ValueError(f"{self.name}: flag={flag!r} is not one of {FLAG_RULES}")
        if not (
            epoch in ("best", "last") or (isinstance(epoch, int) and not isinstance(epoch, bool))
        ):
            raise ValueError(f"{self.name}: epoch={epoch!r} must be 'best', 'last' or an int")
        if ctx.images is None or ctx.train_config is None:
            raise ValueError(f"{self.name}: needs ctx.images and ctx.train_config to train")
        labels = check_labels(ctx.labels, n_classes=ctx.n_classes, name=self.name)
        if len(ctx.images) != len(labels):
            raise ValueError(
                f"{self.name}: ctx.images has {len(ctx.images)} rows but ctx.labels has "
                f"{len(labels)}"
            )
        n_epochs = ctx.train_config.epochs
        if isinstance(epoch, int) and not 1 <= epoch <= n_epochs:
            raise ValueError(f"{self.name}: epoch={epoch} is not in 1..{n_epochs}")
        return labels

    def _train(
        self,
        ctx: CleanContext,
        labels: np.ndarray,
        *,
        use_val: bool,
        learn: str,
        init_sigma: float,
        lr_inst: float,
        lr_class: float,
        momentum: float,
        wd_inst: float,
        wd_class: float,
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Train on ``ctx`` with a :class:`DataParametersHook` made of the remaining arguments.

        Returns the ``(epochs, n)`` float32 trajectory of σ (higher = more suspect) and the
        trainer's per-epoch history; validation data is passed only when ``use_val``.
        """
        from labelnoise.train import fit

        hook = DataParametersHook(
            labels,
            n_classes=ctx.n_classes,
            learn=learn,
            init_sigma=init_sigma,
            lr_inst=lr_inst,
            lr_class=lr_class,
            momentum=momentum,
            wd_inst=wd_inst,
            wd_class=wd_class,
            label_smoothing=ctx.train_config.label_smoothing,
        )
        result = fit(
            ctx.images,
            labels,
            n_classes=ctx.n_classes,
            config=ctx.train_config,
            seed=ctx.seed,
            val_images=ctx.val_images if use_val else None,
            val_labels=ctx.val_labels if use_val else None,
            hook=hook,
            progress=ctx.progress,
            desc=self.name,
        )
        return hook.trajectory_array(), result.history
