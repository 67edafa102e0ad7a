"""Training-ValueNet (Smyth, Kangin & Pugeault, 2019) on penultimate-layer features.

The training value of an example is the expected immediate drop in validation loss when a
classifier takes one SGD step on it. Mislabelled examples push the classifier the wrong way, so
their value is negative.

1. Monte-Carlo phase: ``M`` episodes, each training a freshly initialised softmax classifier on a
   random order of a per-class subset of the train set with batch-size-1 vanilla SGD, recording
   the trusted validation loss before minus after every step. All episodes run at once: the
   weights carry an episode axis ``(M, D, C)`` and the only Python loop is over steps.
2. The value of an example is the mean of its recorded improvements.
3. Per class, an MLP regressor (MAE loss, dropout, early stopping) learns value from features and
   predicts it for every train example with that label; those with a negative value are flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from labelnoise.clean.base import (
    CleanContext,
    CleaningMethod,
    CleanResult,
    check_labels,
    check_scores,
    reject_unknown_params,
)
from labelnoise.progress import track


def _mc_setup(
    n: int, d: int, c: int, *, episodes: int, epochs: int, init_std: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random orders ``(M, epochs * n)``, initial weights ``(M, D, C)`` and biases ``(M, C)``."""
    rng = np.random.default_rng(seed)
    orders = np.concatenate(
        [np.argsort(rng.random((episodes, n)), axis=1) for _ in range(epochs)], axis=1
    )
    w0 = rng.normal(0.0, init_std, size=(episodes, d, c))
    b0 = np.zeros((episodes, c))
    return orders, w0, b0


def _mean_by_example(improvements: np.ndarray, orders: np.ndarray, n: int) -> np.ndarray:
    """Mean improvement per example; NaN for examples no step used."""
    sums = np.bincount(orders.ravel(), weights=improvements.ravel(), minlength=n)
    counts = np.bincount(orders.ravel(), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _checked_mc_inputs(
    features: np.ndarray,
    labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    n_classes: int,
    episodes: int,
    epochs: int,
    lr: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Monte-Carlo inputs as arrays (features float64), or ``ValueError``."""
    features = np.asarray(features, dtype=np.float64)
    val_features = np.asarray(val_features, dtype=np.float64)
    labels, val_labels = np.asarray(labels), np.asarray(val_labels)
    if features.ndim != 2 or val_features.ndim != 2 or features.shape[1] != val_features.shape[1]:
        raise ValueError(
            f"tvnet: features {features.shape} and val_features {val_features.shape} must be "
            "2-D with the same number of columns"
        )
    if labels.shape != (len(features),) or val_labels.shape != (len(val_features),):
        raise ValueError(
            f"tvnet: labels {labels.shape} / val_labels {val_labels.shape} do not match "
            f"features {features.shape} / val_features {val_features.shape}"
        )
    if len(features) == 0 or len(val_features) == 0:
        raise ValueError("tvnet: needs at least one train and one validation example")
    if n_classes < 2:
        raise ValueError(f"tvnet: needs at least 2 classes, got {n_classes}")
    if episodes < 1 or epochs < 1:
        raise ValueError(f"tvnet: episodes ({episodes}) and mc_epochs ({epochs}) must be >= 1")
    if not lr > 0:
        raise ValueError(f"tvnet: lr must be positive, got {lr!r}")
    return features, labels, val_features, val_labels


def tvnet_mc_values(
    features: np.ndarray,
    labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    n_classes: int,
    episodes: int = 100,
    epochs: int = 1,
    lr: float = 0.01,
    init_std: float = 0.01,
    seed: int,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo training values, all episodes batched.

    Every episode trains its own softmax classifier ``logits = x @ W + b`` from its own random
    initialisation, visiting the examples in its own random order (``epochs`` permutations)
    with batch-size-1 SGD at learning rate ``lr``. A step changes the validation logits by a
    rank-one term, so they are updated through the precomputed kernel
    ``features @ val_features.T`` instead of being recomputed from the weights.

    Parameters
    ----------
    features : np.ndarray
        ``(n, D)`` features of the train subset (already standardised).
    labels : np.ndarray
        ``(n,)`` int given labels of the subset.
    val_features : np.ndarray
        ``(m, D)`` trusted validation features, standardised like ``features``.
    val_labels : np.ndarray
        ``(m,)`` int trusted validation labels.
    n_classes : int
        Number of classes ``C``.
    episodes : int
        Number of episodes ``M``.
    epochs : int
        Passes over the subset per episode; ``T = epochs * n`` steps.
    lr : float
        SGD learning rate (no momentum, no weight decay).
    init_std : float
        Standard deviation of the normal initial weights (biases start at 0).
    seed : int
        Seeds the orders and initial weights (same draws as :func:`tvnet_values_reference`).
    device : str
        ``cpu`` runs on numpy; ``cuda`` / ``cuda:<i>`` on torch tensors on that device.
    progress : bool
        Report the steps (:func:`labelnoise.progress.progress`).

    Returns
    -------
    values : np.ndarray
        ``(n,)`` mean validation-loss improvement per example (higher = more useful; negative
        = harmful, likely mislabelled); NaN for an example no step used.
    improvements : np.ndarray
        ``(M, T)`` validation loss before minus after step ``t`` of episode ``m``.
    """
    features, labels, val_features, val_labels = _checked_mc_inputs(
        features, labels, val_features, val_labels,
        n_classes=n_classes, episodes=episodes, epochs=epochs, lr=lr,
    )  # fmt: skip
    n, d = features.shape
    m = len(val_labels)
    orders, w0, b0 = _mc_setup(
        n, d, n_classes, episodes=episodes, epochs=epochs, init_std=init_std, seed=seed
    )
    # The bias acts as a constant feature 1, hence the +1 in the kernel.
    kernel = features @ val_features.T + 1.0  # (n, m)
    # Mean change of the true-class validation logit per unit gradient on class c: (n, C).
    true_kernel = kernel @ np.eye(n_classes)[val_labels] / m
    # Class-major layout (C, M, m) so that sums over classes are plain adds of slices.
    val_logits = np.einsum("vd,mdc->cmv", val_features, w0) + b0.T[:, :, None]
    true_mean = val_logits[val_labels, :, np.arange(m)].mean(axis=0)  # (M,)
    arrays = {
        "x": features,
        "y": labels.astype(np.int64),
        "kernel": kernel,
        "true_kernel": true_kernel,
        "orders": orders,
        "weights": w0,
        "bias": b0,
        "val_logits": val_logits,
        "true_mean": true_mean,
        "rows": np.arange(episodes),
    }
    if device == "cpu":
        # Overflow in exp is caught and redone with shifted logits inside the loop.
        with np.errstate(over="ignore", under="ignore"):
            improvements = _mc_loop(np, arrays, lr=lr, progress=progress)
    else:
        import torch

        tensors = {k: torch.as_tensor(v, device=torch.device(device)) for k, v in arrays.items()}
        with torch.no_grad():
            improvements = _mc_loop(torch, tensors, lr=lr, progress=progress).cpu().numpy()
    return _mean_by_example(improvements, orders, n), improvements


def _mc_loop(xp: Any, a: dict[str, Any], *, lr: float, progress: bool) -> Any:
    """Run all episodes step by step on numpy or torch arrays ``a``; return ``(M, T)`` gains.

    Only calls shared by numpy and torch are used. The big ``(C, M, m)`` temporaries are
    preallocated: allocating them anew every step costs more than the arithmetic.
    """
    x_all, y_all, kernel, weights, bias = a["x"], a["y"], a["kernel"], a["weights"], a["bias"]
    val_logits, true_mean, orders = a["val_logits"], a["true_mean"], a["orders"]
    n_classes = val_logits.shape[0]
    rows = a["rows"]
    if xp is np:

        def take_rows(src, idx, out):
            np.take(src, idx, axis=0, out=out)
    else:

        def take_rows(src, idx, out):
            xp.index_select(src, 0, idx, out=out)

    k_rows = xp.empty_like(val_logits[0])  # (M, m)
    buf = xp.empty_like(val_logits)  # (C, M, m)
    lse = xp.empty_like(val_logits[0])
    w_step = xp.empty_like(weights)

    def val_loss() -> Any:
        xp.exp(val_logits, out=buf)
        xp.add(buf[0], buf[1], out=lse)
        for c in range(2, n_classes):
            xp.add(lse, buf[c], out=lse)
        xp.log(lse, out=lse)
        loss = lse.mean(1)
        if not bool(xp.isfinite(loss).all()):
            # exp over- or underflowed: redo with the logits shifted by their max.
            top = xp.amax(val_logits, 0)
            xp.subtract(val_logits, top[None], out=buf)
            loss = (xp.log(xp.exp(buf).sum(0)) + top).mean(1)
        return loss - true_mean

    improvements = xp.empty_like(orders, dtype=val_logits.dtype)
    before = val_loss()
    for t in track(range(orders.shape[1]), desc="tvnet MC", unit="step", enabled=progress):
        idx = orders[:, t]
        x = x_all[idx]  # (M, D): each episode's own example at this step
        logits = xp.matmul(x[:, None, :], weights)[:, 0, :] + bias
        logits -= xp.amax(logits, 1)[:, None]
        grad = xp.exp(logits)
        grad /= grad.sum(1)[:, None]
        grad[rows, y_all[idx]] -= 1.0
        grad *= lr
        xp.matmul(x[:, :, None], grad[:, None, :], out=w_step)
        weights -= w_step
        bias -= grad
        take_rows(kernel, idx, k_rows)
        xp.multiply(grad.T[:, :, None], k_rows[None], out=buf)
        val_logits -= buf
        true_mean -= (grad * a["true_kernel"][idx]).sum(1)
        after = val_loss()
        improvements[:, t] = before - after
        before = after
    return improvements


def tvnet_values_reference(
    features: np.ndarray,
    labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    n_classes: int,
    episodes: int = 100,
    epochs: int = 1,
    lr: float = 0.01,
    init_std: float = 0.01,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain per-episode, per-step version of :func:`tvnet_mc_values` (numpy).

    Same parameters, random draws and returns; it recomputes the validation logits from the
    weights after every step. Used to check the batched version and as the timing baseline.
    """
    features, labels, val_features, val_labels = _checked_mc_inputs(
        features, labels, val_features, val_labels,
        n_classes=n_classes, episodes=episodes, epochs=epochs, lr=lr,
    )  # fmt: skip
    n, d = features.shape
    orders, w0, b0 = _mc_setup(
        n, d, n_classes, episodes=episodes, epochs=epochs, init_std=init_std, seed=seed
    )
    val_rows = np.arange(len(val_labels))

    def val_loss(weights: np.ndarray, bias: np.ndarray) -> float:
        z = val_features @ weights + bias
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[val_rows, val_labels]))

    improvements = np.empty(orders.shape)
    for m in range(episodes):
        weights, bias = w0[m].copy(), b0[m].copy()
        before = val_loss(weights, bias)
        for t in range(orders.shape[1]):
            i = orders[m, t]
            z = features[i] @ weights + bias
            grad = np.exp(z - z.max())
            grad /= grad.sum()
            grad[labels[i]] -= 1.0
            weights -= lr * np.outer(features[i], grad)
            bias -= lr * grad
            after = val_loss(weights, bias)
            improvements[m, t] = before - after
            before = after
    return _mean_by_example(improvements, orders, n), improvements


@dataclass(frozen=True)
class RegressorConfig:
    """Settings of the per-class training-value regressor (an MLP with one hidden layer).

    Their defaults are those of :meth:`TrainingValueNet.run`, whose signature declares the
    ``clean.tvnet`` params block (``hidden``, ``dropout``, ``reg_lr``, ``reg_batch_size``,
    ``reg_max_epochs``, ``patience``, ``holdout``).

    Raises
    ------
    ValueError
        Unless ``0 <= dropout < 1`` and ``0 < holdout < 1``.
    """

    hidden: int
    dropout: float
    lr: float
    batch_size: int
    max_epochs: int
    patience: int
    holdout: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0 or not 0.0 < self.holdout < 1.0:
            raise ValueError(
                f"tvnet: dropout must be in [0, 1) and holdout in (0, 1), got {self.dropout!r}, "
                f"{self.holdout!r}"
            )


def fit_value_regressor(
    features: np.ndarray,
    values: np.ndarray,
    predict_features: np.ndarray,
    *,
    config: RegressorConfig,
    seed: int,
) -> np.ndarray:
    """Train an MLP regressor from features to training values and predict new ones.

    MAE loss, Adam, ReLU hidden layer with dropout; training stops once the loss on a held-out
    ``config.holdout`` fraction has not improved for ``config.patience`` epochs, and the best
    weights are kept. Targets are standardised for training and mapped back.

    Parameters
    ----------
    features : np.ndarray
        ``(k, D)`` features of the examples with Monte-Carlo values.
    values : np.ndarray
        ``(k,)`` Monte-Carlo training values.
    predict_features : np.ndarray
        ``(q, D)`` features to predict.
    config : RegressorConfig
        Network and training settings.
    seed : int
        Seeds the split, initialisation, shuffling and dropout.

    Returns
    -------
    np.ndarray
        ``(q,)`` predicted training values, in the units of ``values``.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(features, dtype=torch.float32)
    k, d = x.shape
    perm = torch.randperm(k, generator=gen)
    n_hold = min(max(1, round(config.holdout * k)), k - 1)
    hold, train = perm[:n_hold], perm[n_hold:]
    target = torch.as_tensor(values, dtype=torch.float32)
    center = target[train].mean()
    scale = target[train].std() if len(train) > 1 else torch.tensor(1.0)
    scale = scale if scale > 0 else torch.tensor(1.0)
    y = (target - center) / scale

    def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
        bound = 1.0 / fan_in**0.5
        return ((torch.rand(shape, generator=gen) * 2 - 1) * bound).requires_grad_()

    params = [
        uniform((d, config.hidden), d),
        uniform((config.hidden,), d),
        uniform((config.hidden, 1), config.hidden),
        uniform((1,), config.hidden),
    ]

    def forward(inputs: torch.Tensor, train_mode: bool) -> torch.Tensor:
        h = torch.relu(inputs @ params[0] + params[1])
        if train_mode and config.dropout > 0:
            keep = torch.rand(h.shape, generator=gen) >= config.dropout
            h = h * keep / (1.0 - config.dropout)
        return (h @ params[2] + params[3]).squeeze(1)

    optimizer = torch.optim.Adam(params, lr=config.lr)
    best_loss, best_params, stale = float("inf"), [p.detach().clone() for p in params], 0
    for _ in range(config.max_epochs):
        shuffled = train[torch.randperm(len(train), generator=gen)]
        for start in range(0, len(shuffled), config.batch_size):
            batch = shuffled[start : start + config.batch_size]
            loss = (forward(x[batch], True) - y[batch]).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            hold_loss = float((forward(x[hold], False) - y[hold]).abs().mean())
        if hold_loss < best_loss:
            best_loss, best_params, stale = hold_loss, [p.detach().clone() for p in params], 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    with torch.no_grad():
        for p, best in zip(params, best_params, strict=True):
            p.copy_(best)
        pred = forward(torch.as_tensor(predict_features, dtype=torch.float32), False)
    return (pred * scale + center).double().numpy()


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"tvnet: device must be auto, cpu or cuda, got {device!r}")
    return device


def _per_class_subset(
    labels: np.ndarray, n_classes: int, per_class: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted indices of up to ``per_class`` random examples of each class."""
    chosen = [
        rng.choice(members, size=min(per_class, len(members)), replace=False)
        for members in (np.flatnonzero(labels == c) for c in range(n_classes))
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _regressor_config(
    *,
    hidden: int,
    dropout: float,
    reg_lr: float,
    reg_batch_size: int,
    reg_max_epochs: int,
    patience: int,
    holdout: float,
) -> RegressorConfig:
    """The :class:`RegressorConfig` of :meth:`TrainingValueNet.run`'s regressor arguments
    (``ValueError`` on a ``dropout`` or ``holdout`` out of range)."""
    return RegressorConfig(
        hidden=int(hidden),
        dropout=float(dropout),
        lr=float(reg_lr),
        batch_size=int(reg_batch_size),
        max_epochs=int(reg_max_epochs),
        patience=int(patience),
        holdout=float(holdout),
    )


def _standardise(features: np.ndarray, val_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n, D)`` and ``(m, D)`` features z-scored per column with the train mean and std.

    Constant columns keep a divisor of 1, so they become 0 instead of NaN.
    """
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (features - mean) / std, (val_features - mean) / std


def _mc_subsets(
    labels: np.ndarray,
    val_labels: np.ndarray,
    n_classes: int,
    *,
    train_per_class: int,
    val_per_class: int,
    min_class_examples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices entering the Monte-Carlo phase, drawn from ``rng``.

    The train subset is drawn first and checked before the validation subset is drawn. A
    class with some but fewer than ``min_class_examples`` train examples raises
    ``ValueError``: its regressor would learn from too few values.
    """
    subset = _per_class_subset(labels, n_classes, int(train_per_class), rng)
    counts = np.bincount(labels[subset], minlength=n_classes)
    small = [c for c in range(n_classes) if 0 < counts[c] < min_class_examples]
    if small:
        raise ValueError(
            f"tvnet: class(es) {small} have {counts[small].tolist()} Monte-Carlo examples, "
            f"fewer than min_class_examples={min_class_examples}"
        )
    val_subset = _per_class_subset(val_labels, n_classes, int(val_per_class), rng)
    return subset, val_subset


def _predict_values(
    features: np.ndarray,
    labels: np.ndarray,
    subset: np.ndarray,
    mc_values: np.ndarray,
    *,
    n_classes: int,
    config: RegressorConfig,
    seeds: np.ndarray,
) -> np.ndarray:
    """``(n,)`` predicted training value of every train example (higher = more useful).

    Class ``c``'s regressor, seeded by ``seeds[c]``, learns from the ``mc_values`` of the
    ``subset`` members with label ``c`` and predicts every example with that label.
    """
    predicted = np.zeros(len(labels))
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        if members.size == 0:
            continue
        mc_members = subset[labels[subset] == c]
        predicted[members] = fit_value_regressor(
            features[mc_members],
            mc_values[mc_members],
            features[members],
            config=config,
            seed=int(seeds[c]),
        )
    return predicted


class TrainingValueNet(CleaningMethod):
    """Training-ValueNet: flag train examples whose predicted training value is negative."""

    name = "tvnet"
    trains_model = True  # Monte-Carlo value estimates and a value network: a stage of its own

    def run(
        self,
        ctx: CleanContext,
        *,
        episodes: int = 100,
        mc_epochs: int = 1,
        lr: float = 0.01,
        init_std: float = 0.01,
        train_per_class: int = 1000,
        val_per_class: int = 100,
        min_class_examples: int = 10,
        hidden: int = 100,
        dropout: float = 0.5,
        reg_lr: float = 1e-3,
        reg_batch_size: int = 32,
        reg_max_epochs: int = 200,
        patience: int = 20,
        holdout: float = 0.15,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        **params: Any,
    ) -> CleanResult:
        """Estimate training values and flag negative ones.

        Parameters
        ----------
        ctx : CleanContext
            Uses ``labels``, ``features`` ``(n, D)``, ``val_features`` ``(m, D)``,
            ``val_labels`` ``(m,)`` (trusted), ``seed`` and ``progress``.
        episodes : int
            Monte-Carlo episodes ``M``.
        mc_epochs : int
            Passes over the subset per episode.
        lr : float
            SGD learning rate of the episode classifiers.
        init_std : float
            Standard deviation of their initial weights.
        train_per_class : int
            At most this many train examples per given label enter the Monte-Carlo phase.
        val_per_class : int
            At most this many validation examples per class define the validation loss.
        min_class_examples : int
            A class with fewer Monte-Carlo examples than this raises ``ValueError``.
        hidden, dropout, reg_lr, reg_batch_size, reg_max_epochs, patience, holdout
            Regressor settings, see :class:`RegressorConfig`.
        device : str
            ``auto`` (CUDA when available), ``cpu`` or ``cuda`` for the Monte-Carlo phase.

        Returns
        -------
        CleanResult
            ``scores`` = -predicted training value (higher = more likely mislabelled);
            ``flags`` = predicted value < 0; extras ``predicted_value`` ``(n,)`` and
            ``mc_values`` ``(n,)`` (Monte-Carlo estimate, NaN outside the subset).
        """
        reject_unknown_params(self.name, params)
        labels, val_labels, features, val_features = self._checked_inputs(
            ctx, train_per_class=train_per_class, val_per_class=val_per_class
        )
        config = _regressor_config(
            hidden=hidden,
            dropout=dropout,
            reg_lr=reg_lr,
            reg_batch_size=reg_batch_size,
            reg_max_epochs=reg_max_epochs,
            patience=patience,
            holdout=holdout,
        )
        features, val_features = _standardise(features, val_features)

        rng = np.random.default_rng(ctx.seed)
        subset, val_subset = _mc_subsets(
            labels,
            val_labels,
            ctx.n_classes,
            train_per_class=train_per_class,
            val_per_class=val_per_class,
            min_class_examples=min_class_examples,
            rng=rng,
        )
        # One seed per class regressor, and the last one for the Monte-Carlo phase.
        seeds = rng.integers(0, 2**31 - 1, size=ctx.n_classes + 1)

        sub_values, _ = tvnet_mc_values(
            features[subset],
            labels[subset],
            val_features[val_subset],
            val_labels[val_subset],
            n_classes=ctx.n_classes,
            episodes=int(episodes),
            epochs=int(mc_epochs),
            lr=float(lr),
            init_std=float(init_std),
            seed=int(seeds[-1]),
            device=_resolve_device(device),
            progress=ctx.progress,
        )
        mc_values = np.full(len(labels), np.nan)
        mc_values[subset] = sub_values

        predicted = _predict_values(
            features, labels, subset, mc_values, n_classes=ctx.n_classes, config=config, seeds=seeds
        )
        scores = check_scores(self.name, -predicted, len(labels))
        flags = predicted < 0
        return CleanResult(
            scores=scores,
            flags=flags,
            noise_rate_estimate=float(flags.mean()) if len(labels) else 0.0,
            extras={"predicted_value": predicted, "mc_values": mc_values},
        )

    def _checked_inputs(
        self, ctx: CleanContext, *, train_per_class: int, val_per_class: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``ctx``'s checked ``labels``, ``val_labels``, ``features`` and ``val_features``.

        Labels come back as ``(n,)`` / ``(m,)`` int64, features as ``(n, D)`` / ``(m, D)``
        float64.

        Raises ``ValueError`` when the trusted set or train features are missing, the rows do
        not match, a feature is not finite, or a per-class cap is below 1.
        """
        if ctx.val_features is None or ctx.val_labels is None:
            raise ValueError(
                "tvnet: needs a trusted validation set (ctx.val_features and ctx.val_labels)"
            )
        if ctx.features is None:
            raise ValueError("tvnet: needs train features (ctx.features is None)")
        labels = check_labels(ctx.labels, n_classes=ctx.n_classes, name=self.name)
        val_labels = check_labels(
            ctx.val_labels, n_classes=ctx.n_classes, what="val_labels", name=self.name
        )
        features = np.asarray(ctx.features, dtype=np.float64)
        val_features = np.asarray(ctx.val_features, dtype=np.float64)
        if features.shape[0] != len(labels):
            raise ValueError(f"tvnet: features have {features.shape[0]} rows, labels {len(labels)}")
        for what, arr in (("features", features), ("val_features", val_features)):
            if not np.isfinite(arr).all():
                raise ValueError(f"tvnet: {what} contain NaN or infinite values")
        if min(train_per_class, val_per_class) < 1:
            raise ValueError(
                f"tvnet: train_per_class ({train_per_class}) and val_per_class "
                f"({val_per_class}) must be >= 1"
            )
        return labels, val_labels, features, val_features
