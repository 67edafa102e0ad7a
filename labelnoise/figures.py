"""Static figures of a run: what a reader looks at beside the ``dvc plots`` of the pipeline.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot's global state
(safe in threads and with the Agg backend); save it with :func:`labelnoise.io.save_figure`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

CATEGORY_NAMES = ("easy", "hard", "need review")
"""Display names of the Data Parameters categories, index = code in ``extras["category"]``."""
CATEGORY_COLORS = ("#1a9641", "#d7191c", "#fd8d3c")
"""Border colours of the categories (seed 002): green, red, orange."""
CATEGORY_MEANING = (
    "σ fell below its start and stayed there",
    "σ stayed above its start",
    "σ moved in between",
)
FLIPPED_COLOR, CLEAN_COLOR = "#d7191c", "#2c7bb6"
# Fixed colours per known method, so that one method looks the same in every figure.
METHOD_ORDER = (
    "none",
    "oracle",
    "random",
    "cleanlab",
    "tvnet",
    "data_params",
    "mistakenness",
    "hardness",
    "aum",
    "consensus",
    "oracle_relabel",
    "cleanlab_relabel",
    "consensus_relabel",
    "gce",
)
_MARKERS = "osD^vP*Xh<>p"


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """One colour per method: the known methods keep a fixed colour, others get the rest.

    Parameters
    ----------
    methods
        Method names.

    Returns
    -------
    dict
        Method name -> matplotlib colour string.
    """
    from matplotlib import colormaps

    palette = [colormaps["tab10"](i) for i in range(10)] + [colormaps["Dark2"](i) for i in range(8)]
    known = {name: palette[i] for i, name in enumerate(METHOD_ORDER)}
    spare = iter(palette[len(METHOD_ORDER) :] + palette)
    return {name: known[name] if name in known else next(spare) for name in methods}


def _check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (n, H, W, 3), got {images.dtype} {images.shape}")
    return images


def _check_length(name: str, array: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {array.shape}")
    return array


def _mosaic(images: np.ndarray, colors: np.ndarray, *, cols: int, border: int) -> np.ndarray:
    """Tile ``images`` (k, H, W, 3) into one row of ``cols`` slots, each framed in its colour.

    Empty slots are light grey; a white gap separates the frames.
    """
    k, h, w, _ = images.shape
    side_h, side_w = h + 2 * border, w + 2 * border
    framed = np.full((cols, side_h, side_w, 3), 235, dtype=np.uint8)
    framed[:k] = colors[:, None, None, :]
    framed[:k, border : border + h, border : border + w] = images
    gap = np.full((cols, side_h, border, 3), 255, dtype=np.uint8)
    return np.concatenate([framed, gap], axis=2).transpose(1, 0, 2, 3).reshape(side_h, -1, 3)


def review_rows_figure(
    images: np.ndarray,
    labels: np.ndarray,
    categories: np.ndarray,
    *,
    class_names: Sequence[str],
    per_row: int = 8,
    seed: int,
) -> Figure:
    """Per class, three rows of random examples: easy, hard and need review (seed 002).

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)`` train images.
    labels
        ``(n,)`` given labels; an example is shown under the class it is labelled with.
    categories
        ``(n,)`` Data Parameters category codes (0 easy, 1 hard, 2 need review).
    class_names
        Name of each class, index = label.
    per_row
        Examples drawn per (class, category) row, without replacement.
    seed
        Seed of the draw.

    Returns
    -------
    Figure
        One panel per class; frames are green (easy), red (hard) or orange (need review).
    """
    images = _check_images(images)
    n = len(images)
    labels = _check_length("labels", labels, n).astype(np.int64)
    categories = _check_length("categories", categories, n).astype(np.int64)
    if per_row < 1:
        raise ValueError(f"per_row must be at least 1, got {per_row}")
    n_classes = len(class_names)
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes}), got {labels.min()}..{labels.max()}")
    if n and (categories.min() < 0 or categories.max() >= len(CATEGORY_NAMES)):
        raise ValueError(f"categories must be codes 0..2, got {sorted(set(categories.tolist()))}")
    rng = np.random.default_rng(seed)
    h = images.shape[1]
    border = max(2, h // 10)
    rgb = (np.array([_hex_rgb(c) for c in CATEGORY_COLORS]) * 255).astype(np.uint8)
    fig = Figure(figsize=(1.0 + 0.75 * per_row, 0.3 + n_classes * 2.6), layout="constrained")
    axes = fig.subplots(n_classes, 1, squeeze=False)[:, 0]
    for label, ax in enumerate(axes):
        rows, ticks = [], []
        for code in range(len(CATEGORY_NAMES)):
            pool = np.flatnonzero((labels == label) & (categories == code))
            pick = np.sort(rng.choice(pool, size=min(per_row, pool.size), replace=False))
            rows.append(
                _mosaic(
                    images[pick],
                    np.repeat(rgb[code][None], pick.size, axis=0),
                    cols=per_row,
                    border=border,
                )
            )
            ticks.append(f"{CATEGORY_NAMES[code]}\n({pool.size} in class)")
        ax.imshow(np.concatenate(rows, axis=0), interpolation="nearest")
        side = h + 2 * border
        ax.set_yticks((np.arange(len(CATEGORY_NAMES)) + 0.5) * side - 0.5, ticks)
        for tick, color in zip(ax.get_yticklabels(), CATEGORY_COLORS, strict=True):
            tick.set_color(color)
            tick.set_fontweight("bold")
        ax.set_xticks([])
        ax.set_title(f"given label: {class_names[label]}", loc="left", fontsize=11)
    axes[-1].set_xlabel(f"up to {per_row} randomly drawn examples per row (grey = none left)")
    fig.suptitle("Data Parameters: easy / hard / need-review examples per class", fontsize=13)
    fig.legend(
        handles=[
            Patch(facecolor=c, label=f"{name}: {meaning}")
            for c, name, meaning in zip(
                CATEGORY_COLORS, CATEGORY_NAMES, CATEGORY_MEANING, strict=True
            )
        ],
        loc="outside lower center",
        ncols=1,
        fontsize=9,
        title="frame colour (σ = instance temperature over the second half of training)",
        title_fontsize=9,
    )
    return fig


def _hex_rgb(color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def tsne_figure(
    features: np.ndarray,
    *,
    flipped: np.ndarray,
    flagged: np.ndarray,
    seed: int,
    method: str = "the cleaning method",
    max_points: int = 2000,
) -> Figure:
    """t-SNE map of the penultimate-layer features, coloured by ground truth and by flags.

    Parameters
    ----------
    features
        ``(n, D)`` features of the train examples.
    flipped
        ``(n,)`` bool, True where the given label is false.
    flagged
        ``(n,)`` bool, True where ``method`` flagged the example.
    seed
        Seed of the subsample and of t-SNE.
    method
        Name of the flagging method, for the title.
    max_points
        At most this many examples, drawn at random, are embedded (t-SNE is quadratic).

    Returns
    -------
    Figure
        Two panels of the same embedding.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 5:
        raise ValueError(f"features must be (n >= 5, D), got shape {features.shape}")
    n = len(features)
    flipped = _check_length("flipped", flipped, n).astype(bool)
    flagged = _check_length("flagged", flagged, n).astype(bool)
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or infinite values")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    x = features[pick]
    n_comp = min(50, x.shape[1], len(x))
    if x.shape[1] > n_comp:
        x = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    # One OpenMP thread: with torch's OpenMP runtime loaded in the same process, or other
    # processes busy, the Barnes-Hut gradient's thread barriers made t-SNE up to 100x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        xy = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed
        ).fit_transform(x)
    fig = Figure(figsize=(12, 5.6), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    panels = [
        (flipped[pick], "false label (flipped)", "correct label", "ground truth"),
        (flagged[pick], f"flagged by {method}", "not flagged", f"flags of {method}"),
    ]
    for ax, (mask, yes, no, title) in zip(axes, panels, strict=True):
        ax.scatter(*xy[~mask].T, s=6, c=CLEAN_COLOR, alpha=0.5, linewidths=0, label=no)
        ax.scatter(*xy[mask].T, s=10, c=FLIPPED_COLOR, alpha=0.8, linewidths=0, label=yes)
        ax.set_title(f"{title}: {int(mask.sum())} of {len(mask)}")
        ax.set_xlabel("t-SNE dimension 1 (arbitrary units)")
        ax.legend(loc="best", markerscale=2, fontsize=9)
    axes[0].set_ylabel("t-SNE dimension 2 (arbitrary units)")
    shown = "all" if len(pick) == n else f"a random {len(pick)} of {n}"
    fig.suptitle(f"t-SNE of penultimate-layer features ({shown} train examples)", fontsize=13)
    return fig


def training_value_histograms(
    values: np.ndarray,
    labels: np.ndarray,
    flipped: np.ndarray,
    *,
    class_names: Sequence[str],
    bins: int = 40,
) -> Figure:
    """Per given class, histograms of predicted training values, correct vs false labels (seed 001).

    Parameters
    ----------
    values
        ``(n,)`` predicted training value (Training-ValueNet); negative = training on the
        example is expected to hurt validation loss, so it is flagged.
    labels
        ``(n,)`` given labels.
    flipped
        ``(n,)`` bool, True where the given label is false.
    class_names
        Name of each class, index = label.
    bins
        Histogram bins, shared by all panels.

    Returns
    -------
    Figure
        One panel per class with both groups overlaid and a line at value 0.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    n = len(values)
    labels = _check_length("labels", labels, n).astype(np.int64)
    flipped = _check_length("flipped", flipped, n).astype(bool)
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError("values has no finite entry")
    lo, hi = np.min(values[finite]), np.max(values[finite])
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    n_classes = len(class_names)
    cols = min(4, n_classes)
    rows = -(-n_classes // cols)
    fig = Figure(figsize=(3.6 * cols, 0.8 + 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for label, ax in enumerate(axes.flat):
        if label >= n_classes:
            ax.set_visible(False)
            continue
        mine = (labels == label) & finite
        ax.hist(
            [values[mine & ~flipped], values[mine & flipped]],
            bins=edges,
            color=[CLEAN_COLOR, FLIPPED_COLOR],
            alpha=0.6,
            histtype="stepfilled",
            label=["correct label", "false label"],
        )
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1, label="0: flag below")
        ax.set_title(
            f"{class_names[label]}: {int((mine & flipped).sum())} false of {int(mine.sum())}",
            fontsize=10,
        )
        # A log count axis: the few false labels would be invisible beside the clean bulk.
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        if label % cols == 0:
            ax.set_ylabel("train examples (count, log scale)")
        if label >= n_classes - cols:
            ax.set_xlabel("predicted training value\n(Δ validation loss per SGD step)")
        ax.legend(fontsize=8)
    fig.suptitle("Training-ValueNet: predicted training value per given class", fontsize=13)
    return fig


def trajectory_figure(
    trajectory: np.ndarray,
    flipped: np.ndarray,
    *,
    seed: int,
    per_group: int = 25,
    best_epoch: int | None = None,
) -> Figure:
    """Instance temperature σ over the epochs for sampled false and correct labels (seed 002).

    Parameters
    ----------
    trajectory
        ``(epochs, n)`` σ of each example after each epoch; higher = the model discounts the
        example more, i.e. more likely mislabelled.
    flipped
        ``(n,)`` bool, True where the given label is false.
    seed
        Seed of the sample of drawn trajectories.
    per_group
        Trajectories drawn per group (false, correct).
    best_epoch
        1-based epoch whose σ is the score; marked with a vertical line.

    Returns
    -------
    Figure
        Thin lines per sampled example, thick lines for each group's geometric mean.
    """
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim != 2 or traj.shape[0] < 1:
        raise ValueError(f"trajectory must have shape (epochs, n), got {traj.shape}")
    flipped = _check_length("flipped", flipped, traj.shape[1]).astype(bool)
    if not (np.isfinite(traj).all() and (traj > 0).all()):
        raise ValueError("trajectory must be finite and positive (σ values)")
    rng = np.random.default_rng(seed)
    epochs = np.arange(1, traj.shape[0] + 1)
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    ax = fig.subplots()
    for mask, color, name in (
        (~flipped, CLEAN_COLOR, "correct"),
        (flipped, FLIPPED_COLOR, "false"),
    ):
        pool = np.flatnonzero(mask)
        if pool.size == 0:
            continue
        pick = rng.choice(pool, size=min(per_group, pool.size), replace=False)
        ax.plot(epochs, traj[:, pick], color=color, alpha=0.25, linewidth=0.8)
        ax.plot(
            epochs,
            np.exp(np.log(traj[:, pool]).mean(axis=1)),
            color=color,
            linewidth=3,
            label=f"{name} labels: geometric mean of {pool.size}",
        )
    ax.plot(
        [],
        [],
        color="grey",
        alpha=0.5,
        linewidth=0.8,
        label=f"single examples ({per_group} per group)",
    )
    if best_epoch is not None:
        ax.axvline(best_epoch, color="black", linestyle=":", label=f"epoch scored ({best_epoch})")
    ax.axhline(1.0, color="grey", linewidth=1, linestyle="--", label="σ = 1: starting value")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("instance temperature σ (log scale, 1 = start)")
    ax.set_title("Data Parameters: σ trajectories of false vs correct labels", fontsize=13)
    ax.legend(loc="best", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def relevance_mask(
    images: np.ndarray, labels: np.ndarray, *, percentile: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels whose grey level best separates the classes (seed 003).

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``.
    labels
        ``(n,)`` labels, at least two classes.
    percentile
        Percentage of pixels kept by ``SelectPercentile(f_classif)``.

    Returns
    -------
    mask, scores
        ``(H, W)`` bool (True = among the most class-relevant pixels) and ``(H, W)`` ANOVA F
        scores (higher = more relevant; 0 for constant pixels, infinite F clipped to the largest
        finite one).
    """
    from sklearn.feature_selection import SelectPercentile, f_classif

    images = _check_images(images)
    labels = _check_length("labels", labels, len(images))
    if np.unique(labels).size < 2:
        raise ValueError("labels must contain at least two classes")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    h, w = images.shape[1:3]
    grey = images.reshape(len(images), h * w, 3).mean(axis=2, dtype=np.float32)
    with warnings.catch_warnings():
        # Constant pixels (e.g. a black frame) have an undefined F; they are simply not chosen.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        selector = SelectPercentile(f_classif, percentile=percentile).fit(grey, labels)
    raw = np.asarray(selector.scores_, dtype=np.float64)
    finite = raw[np.isfinite(raw)]
    # A pixel constant within each class but not across classes has F = inf: the most relevant.
    top = float(finite.max()) if finite.size else 1.0
    scores = np.nan_to_num(raw, nan=0.0, posinf=top, neginf=0.0).reshape(h, w)
    return selector.get_support().reshape(h, w), scores


def relevance_mask_figure(
    images: np.ndarray, labels: np.ndarray, *, percentile: float = 10.0
) -> Figure:
    """Mean image, per-pixel ANOVA F score and the selected-pixel mask (seed 003).

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``.
    labels
        ``(n,)`` labels (as given: the mask shows what the labels depend on).
    percentile
        Percentage of pixels kept.

    Returns
    -------
    Figure
        Three panels side by side.
    """
    mask, scores = relevance_mask(images, labels, percentile=percentile)
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    mean = np.asarray(images, dtype=np.float64).mean(axis=0) / 255.0
    axes[0].imshow(mean, interpolation="nearest")
    axes[0].set_title("mean train image")
    shown = axes[1].imshow(scores, cmap="viridis", interpolation="nearest")
    fig.colorbar(shown, ax=axes[1], label="ANOVA F of grey level vs label")
    axes[1].set_title("relevance of each pixel")
    axes[2].imshow(mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[2].set_title(f"top {percentile:g}% pixels (white)")
    for ax in axes:
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    fig.suptitle(
        f"Which pixels separate the classes? SelectPercentile(f_classif) on {len(labels)} "
        "grey-level train images",
        fontsize=13,
    )
    return fig


def _rate_axis(ax, rates: np.ndarray, *, min_gap: float = 0.035) -> None:
    ax.set_xlabel("false-label rate (fraction of train labels flipped)")
    rates = np.unique(rates)
    # Label a tick only when it clears the last labelled one, so 0, 0.01, 0.02 do not overprint.
    gap = min_gap * (rates[-1] - rates[0]) if len(rates) > 1 else 0.0
    labels, last = [], -np.inf
    for rate in rates:
        labels.append(f"{rate:g}" if rate - last >= gap else "")
        last = rate if labels[-1] else last
    ax.set_xticks(rates, labels)
    ax.grid(True, alpha=0.3)


def _method_columns(table: pd.DataFrame, suffix: str = "") -> list[str]:
    names = [c[: len(c) - len(suffix)] for c in table.columns if c != "rate" and c.endswith(suffix)]
    known = [m for m in METHOD_ORDER if m in names]
    return known + sorted(set(names) - set(known))


def _require_rate(table: pd.DataFrame, name: str) -> np.ndarray:
    if "rate" not in table.columns or len(table) == 0:
        raise ValueError(f"{name} needs a 'rate' column and at least one row")
    return table["rate"].to_numpy(dtype=float)


def accuracy_vs_rate_figure(
    accuracy_table: pd.DataFrame,
    fit_table: pd.DataFrame,
    intervals: pd.DataFrame | None = None,
) -> Figure:
    """Test accuracy against the false-label rate, a line per cleaning method.

    Parameters
    ----------
    accuracy_table
        ``plots/accuracy.csv``: ``rate`` and one column of mean test accuracy per method
        (``none`` = trained on the noisy labels as given).
    fit_table
        ``plots/regression/accuracy_fit.csv``: ``rate`` and ``<method>_fit`` (binomial GLM curve).
    intervals
        ``rate, method, low, high`` (:func:`labelnoise.regress.accuracy_interval_table`): each
        marker's 95% interval, drawn as an error bar.

    Returns
    -------
    Figure
        Markers = observed accuracy with their error bars, lines = the fitted curve (dashed
        line joins the markers of methods without a fit).
    """
    rates = _require_rate(accuracy_table, "accuracy table")
    grid = _require_rate(fit_table, "accuracy fit table")
    methods = _method_columns(accuracy_table)
    if not methods:
        raise ValueError("accuracy table has no method column")
    colors = method_colors(methods)
    fig = Figure(figsize=(10, 5.6), layout="constrained")
    ax = fig.subplots()
    for i, name in enumerate(methods):
        acc = accuracy_table[name].to_numpy(dtype=float)
        fit_col = f"{name}_fit"
        has_fit = fit_col in fit_table and np.isfinite(fit_table[fit_col].to_numpy(float)).any()
        ax.plot(
            rates,
            acc,
            marker=_MARKERS[i % len(_MARKERS)],
            linestyle="none" if has_fit else "--",
            color=colors[name],
            label=name if has_fit else f"{name} (no fit)",
        )
        if has_fit:
            ax.plot(grid, fit_table[fit_col].to_numpy(float), color=colors[name], linewidth=1.5)
        if intervals is not None:
            bars = intervals[intervals["method"] == name]
            mid = bars["accuracy"].to_numpy(float)
            spread = np.vstack([mid - bars["low"].to_numpy(float), bars["high"] - mid])
            ax.errorbar(
                bars["rate"].to_numpy(float), mid, yerr=np.clip(spread, 0, None), fmt="none",
                ecolor=colors[name], elinewidth=1, capsize=3,
            )  # fmt: skip
    _rate_axis(ax, rates)
    ax.set_ylabel("test accuracy (fraction correct, clean test labels)")
    ax.set_title("Test accuracy vs false-label rate, per cleaning method", fontsize=13)
    handles = ax.get_legend_handles_labels()[0]
    handles += [
        Line2D(
            [],
            [],
            color="black",
            marker="o",
            linestyle="none",
            label="marker: observed" + (" (bar: 95% interval)" if intervals is not None else ""),
        ),
        Line2D([], [], color="black", linewidth=1.5, label="line: binomial GLM fit"),
    ]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    return fig


def review_effort_figure(
    found: dict[str, np.ndarray], flagged: dict[str, int], *, n_false: int, rate: float
) -> Figure:
    """How many images a person must review, most suspect first, to find the false labels.

    Parameters
    ----------
    found
        Method name -> ``(n + 1,)`` share of the false labels among its ``k`` most suspect
        images, ``k = 0..n`` (:func:`labelnoise.evaluate.review_effort`).
    flagged
        Method name -> how many images it flags (a marker on its curve).
    n_false
        Number of false labels.
    rate
        The false-label rate, for the title.

    Returns
    -------
    Figure
        A curve per method; the dashed lines are a perfect ranking (every false label first)
        and a random order. Higher and further left is better.
    """
    if not found:
        raise ValueError("review_effort_figure: no method's curve")
    colors = method_colors(list(found))
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    ax = fig.subplots()
    n = len(next(iter(found.values()))) - 1
    k = np.arange(n + 1)
    ax.plot(k, np.minimum(k / n_false, 1), linestyle="--", color="0.3", label="perfect ranking")
    ax.plot(k, k / n, linestyle=":", color="0.5", label="random order")
    for i, (name, curve) in enumerate(found.items()):
        at90 = int(np.argmax(curve >= 0.9 - 1e-12))
        ax.plot(k, curve, color=colors[name], label=f"{name} (90% after {at90:,} images)")
        if name in flagged:
            mark = min(int(flagged[name]), n)
            ax.plot(mark, curve[mark], marker=_MARKERS[i % len(_MARKERS)], color=colors[name],
                    linestyle="none")  # fmt: skip
    ax.set_xlim(0, min(n, 3 * n_false))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("images reviewed, most suspect first (marker: the method's flags)")
    ax.set_ylabel("share of the false labels found")
    ax.set_title(f"Review effort at false-label rate {rate:g} ({n_false:,} false labels)")
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def detection_figure(detection_table: pd.DataFrame) -> Figure:
    """Detection F1 and AUROC against the false-label rate, a line per cleaning method.

    Parameters
    ----------
    detection_table
        ``plots/detection.csv``: ``rate``, ``<method>_f1`` and ``<method>_auroc`` (higher =
        better detection of the false labels; AUROC is empty at rate 0).

    Returns
    -------
    Figure
        Two panels sharing the legend.
    """
    rates = _require_rate(detection_table, "detection table")
    methods = _method_columns(detection_table, "_f1")
    if not methods:
        raise ValueError("detection table has no <method>_f1 column")
    colors = method_colors(methods)
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    metrics = (
        ("_f1", "F1 of the flags (0–1)", "flag F1 vs truth"),
        ("_auroc", "AUROC of the scores (0.5 = chance)", "score AUROC vs truth"),
    )
    for ax, (suffix, ylabel, title) in zip(axes, metrics, strict=True):
        for i, name in enumerate(methods):
            column = f"{name}{suffix}"
            if column not in detection_table:
                continue
            ax.plot(
                rates,
                detection_table[column].to_numpy(dtype=float),
                marker=_MARKERS[i % len(_MARKERS)],
                color=colors[name],
                label=name,
            )
        _rate_axis(ax, rates, min_gap=0.07)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title)
    axes[1].axhline(0.5, color="grey", linestyle=":", linewidth=1)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=9)
    fig.suptitle("How well each method finds the false labels", fontsize=13)
    return fig
