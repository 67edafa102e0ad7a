"""Shared types and input checks for the cleaning methods.

Every method turns a :class:`CleanContext` into a :class:`CleanResult`: a per-example suspicion
score (higher = more likely mislabelled) and a boolean flag mask chosen by the method's own rule;
:mod:`labelnoise.clean.flagging` then decides, for every method alike, what is flagged.
The checks of labels and predicted probabilities (:func:`check_labels`,
:func:`validate_pred_probs`) live in :mod:`labelnoise.checks`, where the noise estimates read
them too; the methods import them from here. This module imports numpy alone (pydantic only to
build a params model), so that ``import labelnoise.clean`` stays light and the methods run on a
machine without pydantic.
"""

from __future__ import annotations

import inspect
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

import numpy as np

from labelnoise.checks import check_labels, validate_pred_probs

if TYPE_CHECKING:
    from pydantic import BaseModel

    from labelnoise.noise import NoiseEstimate
    from labelnoise.train import TrainConfig


@dataclass
class CleanContext:
    """Everything a cleaning method may read.

    Attributes
    ----------
    labels : np.ndarray
        ``(n,)`` int, given (noisy) train labels in ``0..n_classes-1``.
    n_classes : int
        Number of classes ``C``.
    pred_probs : np.ndarray
        ``(n, C)`` out-of-sample predicted probabilities of the train examples.
    features : np.ndarray or None
        ``(n, D)`` penultimate-layer features of the train examples.
    val_features, val_labels : np.ndarray or None
        ``(m, D)`` features and ``(m,)`` labels of the trusted (clean) validation set.
    images, val_images : np.ndarray or None
        ``(n, H, W, 3)`` / ``(m, H, W, 3)`` uint8 images.
    train_config : TrainConfig or None
        Trainer settings for methods that retrain a network.
    flipped : np.ndarray or None
        ``(n,)`` bool ground truth (True = label was corrupted). Only the oracle baseline reads it.
    noise_rate_estimate : float or None
        Cleanlab's estimate of the noise rate, for rules that flag an "auto" fraction.
    trusted_noise : NoiseEstimate or None
        The noise as the fold models see the trusted validation set
        (:func:`labelnoise.noise.trusted_noise_estimate`): its ``per_class`` counts decide how
        many examples the flagging step flags under ``clean.count: trusted``.
    seed : int
        Seed for every random choice the method makes.
    progress : bool
        Whether to show progress bars.
    pred_probs_source : str or None
        Where ``pred_probs`` came from (e.g. the ``.npy`` file), named when they are rejected.
    results : Mapping[str, CleanResult] or None
        The results of the methods that ran before at this rate, by name: only methods that
        ``combines`` read them.
    """

    labels: np.ndarray
    n_classes: int
    pred_probs: np.ndarray
    features: np.ndarray | None = None
    val_features: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    images: np.ndarray | None = None
    val_images: np.ndarray | None = None
    train_config: TrainConfig | None = None
    flipped: np.ndarray | None = None
    noise_rate_estimate: float | None = None
    trusted_noise: NoiseEstimate | None = None
    seed: int = 0
    progress: bool = True
    pred_probs_source: str | None = None
    results: Mapping[str, CleanResult] | None = None

    @property
    def n(self) -> int:
        """Number of train examples."""
        return len(self.labels)


@dataclass
class CleanResult:
    """Output of one cleaning method.

    Attributes
    ----------
    scores : np.ndarray
        ``(n,)`` float, finite; higher = more likely mislabelled.
    flags : np.ndarray
        ``(n,)`` bool; True = flagged as mislabelled (dropped when retraining).
    noise_rate_estimate : float
        Fraction of the train set the method believes mislabelled.
    extras : dict[str, np.ndarray]
        Method-specific arrays (values, trajectories, suggested labels, ...).
    """

    scores: np.ndarray
    flags: np.ndarray
    noise_rate_estimate: float
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class CleaningMethod:
    """A cleaning method: ``name`` as in the registry, the capabilities the pipeline reads, and
    ``run(ctx, **params)``.

    The keyword-only parameters of ``run`` are the method's params block in ``params.yaml``
    (``clean.<name>``): their annotations are its types and their defaults its defaults
    (:func:`params_model`), so a method declares its settings once.

    Attributes
    ----------
    trains_model : bool
        Trains networks of its own: it runs in a ``fit`` stage of its own (``clean.trained``)
        and its context carries the trainer settings.
    needs_truth : bool
        Reads the true flips (only the reference arms may).
    reference : bool
        A reference point (keep everything, the ceiling, the floor), not a way to clean: results
        are summed up over the other methods, and it cannot vote in a combination.
    suggests_truth : bool
        Its relabel arm gives a flagged example its true label (the oracle).
    uses_noise_estimate : bool
        Reads cleanlab's noise-rate estimate, which the pipeline computes only for these.
    combines : bool
        Combines the results of its ``members`` (a parameter of its ``run``) at the same rate
        (``ctx.results``), so it runs last; the members must be cleaning methods that run.
    """

    name: str = ""
    trains_model: bool = False
    needs_truth: bool = False
    reference: bool = False
    suggests_truth: bool = False
    uses_noise_estimate: bool = False
    combines: bool = False

    def run(self, ctx: CleanContext, **params: Any) -> CleanResult:
        """Score the train examples of ``ctx`` and flag them by the method's own rule."""
        raise NotImplementedError

    def flag_counts(self, ctx: CleanContext, result: CleanResult, counts: np.ndarray) -> np.ndarray:
        """``(n,)`` bool flags of ``counts[j]`` examples given each label ``j``, the ones the
        method finds most suspect (by default its highest scores; see
        :mod:`labelnoise.clean.flagging`, the one step that flags)."""
        return flag_per_class(result.scores, ctx.labels, counts)


def params_model(method: type[CleaningMethod]) -> type[BaseModel]:
    """The typed model of a method's params block: one field per keyword-only parameter of
    its ``run``, with that parameter's annotation and default; unknown keys are refused.

    Parameters
    ----------
    method : type[CleaningMethod]
        The method's class.

    Returns
    -------
    type[pydantic.BaseModel]
        Validates ``clean.<name>`` of ``params.yaml``; ``model_dump()`` gives ``run``'s keyword
        arguments.
    """
    from pydantic import ConfigDict, create_model

    hints = get_type_hints(method.run)
    fields: dict[str, Any] = {
        parameter.name: (
            hints[parameter.name],
            ... if parameter.default is parameter.empty else parameter.default,
        )
        for parameter in inspect.signature(method.run).parameters.values()
        if parameter.kind is parameter.KEYWORD_ONLY
    }
    return create_model(
        f"{method.__name__}Params",
        __config__=ConfigDict(extra="forbid", frozen=True),
        **fields,
    )


def reject_unknown_params(name: str, params: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming every parameter that method ``name`` does not accept.

    Parameters
    ----------
    name : str
        Method name, used in the message.
    params : Mapping[str, Any]
        The leftover keyword arguments of a ``run`` call.
    """
    if params:
        raise ValueError(f"{name}: unknown parameter(s) {sorted(params)}")


def flag_per_class(scores: np.ndarray, labels: np.ndarray, per_class: np.ndarray) -> np.ndarray:
    """Flag the ``per_class[j]`` highest scores among the examples given label ``j``.

    Parameters
    ----------
    scores
        ``(n,)`` suspicion scores, higher = more likely mislabelled.
    labels
        ``(n,)`` given labels in ``0..C-1``.
    per_class
        ``(C,)`` non-negative counts (capped at each class's size; ties broken by position).

    Returns
    -------
    np.ndarray
        ``(n,)`` bool, True = flagged.
    """
    flags = np.zeros(len(scores), dtype=bool)
    for label, k in enumerate(np.asarray(per_class, dtype=np.int64)):
        rows = np.flatnonzero(labels == label)
        if k > 0 and rows.size:
            flags[rows[np.argsort(-scores[rows], kind="stable")[:k]]] = True
    return flags


def check_scores(name: str, scores: np.ndarray, n: int) -> np.ndarray:
    """Check that method ``name`` produced ``n`` finite scores.

    Parameters
    ----------
    name : str
        Method name, used in the message.
    scores : np.ndarray
        ``(n,)`` suspicion scores, higher = more likely mislabelled.
    n : int
        Expected number of train examples.

    Returns
    -------
    np.ndarray
        ``(n,)`` float64 copy of ``scores``.
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: scores have shape {arr.shape}, expected ({n},)")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name}: {int(bad.sum())} score(s) are NaN or infinite "
            f"(first at index {int(np.flatnonzero(bad)[0])})"
        )
    return arr.copy()


def check_flags(name: str, flags: np.ndarray, n: int) -> np.ndarray:
    """Check that method ``name`` produced an ``(n,)`` boolean flag mask; return it as bool."""
    arr = np.asarray(flags)
    if arr.shape != (n,):
        raise ValueError(f"{name}: flags have shape {arr.shape}, expected ({n},)")
    if arr.dtype != np.bool_:
        raise ValueError(f"{name}: flags have dtype {arr.dtype}, expected bool")
    return arr.copy()


def check_result(name: str, result: CleanResult, n: int) -> CleanResult:
    """Validate a :class:`CleanResult` of method ``name`` over ``n`` examples.

    Returns a result whose ``scores`` are float64, ``flags`` bool and ``noise_rate_estimate`` a
    float in ``[0, 1]``; raises ``ValueError`` naming the method otherwise.
    """
    scores = check_scores(name, result.scores, n)
    flags = check_flags(name, result.flags, n)
    rate = float(result.noise_rate_estimate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name}: noise_rate_estimate {rate!r} is not in [0, 1]")
    return CleanResult(scores=scores, flags=flags, noise_rate_estimate=rate, extras=result.extras)


def context_labels_probs(ctx: CleanContext, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``labels`` ``(n,)`` int64 and ``pred_probs`` ``(n, C)`` float64 of ``ctx``."""
    labels = check_labels(ctx.labels, n_classes=ctx.n_classes, name=name)
    probs = validate_pred_probs(
        ctx.pred_probs,
        n=len(labels),
        n_classes=ctx.n_classes,
        name=name,
        source=ctx.pred_probs_source,
    )
    return labels, probs


def save_result(result: CleanResult, path: str | Path) -> None:
    """Write a :class:`CleanResult` as one ``.npz`` (extras prefixed ``extra_``), atomically."""
    from labelnoise.io import atomic_path

    arrays = {
        "scores": result.scores,
        "flags": result.flags,
        "noise_rate_estimate": np.float64(result.noise_rate_estimate),
        **{f"extra_{key}": np.asarray(value) for key, value in result.extras.items()},
    }
    with atomic_path(path) as tmp:
        # np.savez stamps each member with the current time; a fixed stamp keeps the file
        # byte-identical across runs, so DVC sees an unchanged output and skips what follows.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                member.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(member, "w") as fh:
                    np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)


def load_result(path: str | Path) -> CleanResult:
    """Read a :class:`CleanResult` written by :func:`save_result`, naming the file on errors."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a .npy array, not an .npz archive")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"{path}: not a readable cleaning result ({reason})") from None
    missing = {"scores", "flags", "noise_rate_estimate"} - set(arrays)
    if missing:
        raise ValueError(f"{path}: not a cleaning result (missing {sorted(missing)})")
    return CleanResult(
        scores=arrays["scores"],
        flags=arrays["flags"].astype(bool),
        noise_rate_estimate=float(arrays["noise_rate_estimate"]),
        extras={k.removeprefix("extra_"): v for k, v in arrays.items() if k.startswith("extra_")},
    )
