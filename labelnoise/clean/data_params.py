"""Data Parameters: learnable per-instance / per-class temperatures (Saxena, Tuzel & DeCoste, 2019).

Every training example ``i`` (and every class ``c``) gets a log-temperature ``log σ``. The logits
of an example are divided by its temperature before the cross-entropy, and the temperatures are
learned by gradient descent together with the network. An example the network cannot fit (often
a mislabelled one) lowers its loss by raising its temperature, so a high ``σᵢ`` marks a suspect
label. The per-epoch trajectory of ``σᵢ`` also sorts examples into easy / hard / need-review.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    check_labels,
    reject_unknown_params,
)
from labelnoise.clean.temperatures import Learn

CATEGORIES = ("easy", "hard", "need_review")
"""Names of the trajectory categories; ``extras["category"]`` holds indices into this tuple."""

FlagRule = Literal["top", "hard", "not_easy"]
FLAG_RULES: tuple[str, ...] = get_args(FlagRule)


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
    scores: np.ndarray, category: np.ndarray, *, flag: str, frac_value: float
) -> np.ndarray:
    """``(n,)`` bool flags from ``scores`` (σ, higher = more suspect) or the ``(n,)`` categories
    by the rule ``flag`` (``frac_value`` is used by ``"top"`` only)."""
    if flag == "top":
        return top_fraction(scores, frac_value)
    if flag == "hard":
        return category == CATEGORIES.index("hard")
    return category != CATEGORIES.index("easy")


class DataParameters(CleaningMethod):
    """Cleaning method ``data_params``: learned instance temperature σᵢ as suspicion score.

    Trains a network on ``ctx.images`` / ``ctx.labels`` with ``ctx.train_config`` while learning
    data parameters (:class:`~labelnoise.clean.data_params_hook.DataParametersHook`), records
    every example's ``σ`` after every epoch, and scores each example by its ``σ`` at the chosen
    epoch (higher = more likely mislabelled).
    """

    name = "data_params"
    trains_model = True  # the stage builds ctx.train_config (and imports torch) only for these
    uses_noise_estimate = True  # frac="auto" reads cleanlab's estimate; others skip computing it

    def run(
        self,
        ctx: CleanContext,
        *,
        learn: Learn = "instance",
        init_sigma: float = 1.0,
        lr_inst: float = 0.2,
        lr_class: float = 0.1,
        momentum: float = 0.9,
        wd_inst: float = 0.0,
        wd_class: float = 0.0,
        epoch: Literal["best", "last"] | int = "best",
        frac: float | Literal["auto"] = "auto",
        flag: FlagRule = "top",
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

        Returns
        -------
        CleanResult
            ``scores`` ``(n,)`` = σᵢ at the chosen epoch (higher = more likely mislabelled).
            ``extras``: ``trajectory`` ``(epochs, n)`` float32 σ after each epoch, ``category``
            ``(n,)`` int8 codes into :data:`CATEGORIES`, ``best_epoch`` (1-based epoch used),
            ``frac`` (fraction asked for by ``flag="top"``, NaN for the other rules).
        """
        reject_unknown_params(self.name, params)
        labels = self._checked_labels(ctx, epoch=epoch, flag=flag)
        frac_value = resolve_frac(frac, ctx, self.name) if flag == "top" else math.nan

        use_val = ctx.val_images is not None and ctx.val_labels is not None
        temperatures = {
            "learn": learn, "init_sigma": init_sigma, "lr_inst": lr_inst, "lr_class": lr_class,
            "momentum": momentum, "wd_inst": wd_inst, "wd_class": wd_class,
        }  # fmt: skip
        trajectory, history = self._train(ctx, labels, use_val=use_val, temperatures=temperatures)
        chosen = _chosen_epoch(epoch, history, len(trajectory), use_val=use_val)
        scores = trajectory[chosen].astype(np.float64)
        init_total = init_sigma * (2.0 if learn == "both" else 1.0)
        category = categorise(trajectory, init_sigma=init_total)
        flags = _select_flags(scores, category, flag=flag, frac_value=frac_value)
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
        temperatures: dict[str, Any],
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Train on ``ctx`` with a ``DataParametersHook`` of the ``temperatures`` options.

        Returns the ``(epochs, n)`` float32 trajectory of σ (higher = more suspect) and the
        trainer's per-epoch history; validation data is passed only when ``use_val``.
        """
        from labelnoise.clean.data_params_hook import DataParametersHook
        from labelnoise.train import fit

        hook = DataParametersHook(
            labels,
            n_classes=ctx.n_classes,
            label_smoothing=ctx.train_config.label_smoothing,
            **temperatures,
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
