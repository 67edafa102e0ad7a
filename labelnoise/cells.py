"""One cell of the grid (a rate, and a cleaning method or an arm), as the stages share it: the
rate's noisy labels, what an arm trains on, train-then-test and its record, the trusted noise
estimate and a cleaning method's context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.evaluate import classification_metrics
from labelnoise.io import save_npy
from labelnoise.params import TrainParams


def train_config(params: TrainParams):
    """The trainer's config from the ``train`` params section (how the folds are trained and how
    many trainings and processes run at once are not part of it)."""
    from labelnoise.params import LAUNCH_KNOBS
    from labelnoise.train import TrainConfig

    return TrainConfig(**params.model_dump(exclude=LAUNCH_KNOBS))


def fold_config(params: TrainParams):
    """The config of the K fold models behind every score: the baseline's, with the loss
    ``train.fold_loss`` (one that resists the false labels)."""
    from dataclasses import replace

    return replace(train_config(params), loss=params.fold_loss)


def train_probabilities(model, dataset, *, params: TrainParams) -> np.ndarray:
    """``(n_train, C)`` float32: ``model``'s probabilities of every train image."""
    from labelnoise.train import predict_proba

    train_images, _, _ = dataset.split("train")
    return predict_proba(model, train_images, batch_size=params.eval_batch_size)


def load_trained_model(path: Path, dataset, *, params: TrainParams):
    """A model of the ``train`` params' architecture for ``dataset`` with the weights of the
    ``state_dict`` file ``path`` (the baseline's ``model.pt``)."""
    from labelnoise.train import build_model, load_weights

    height, width = dataset.images.shape[1:3]
    model = build_model(
        params.model, n_classes=dataset.n_classes, width=params.width, depth=params.depth,
        image_size=min(height, width),
    )  # fmt: skip
    return load_weights(model, path).eval()


def save_weights(path: Path, model) -> None:
    """Write ``model``'s ``state_dict``, every tensor moved to the CPU, atomically to ``path``
    (what :func:`load_trained_model` reads back)."""
    import torch

    from labelnoise.io import atomic_path

    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_noisy_labels(path: Path, dataset) -> pd.DataFrame:
    """``labels.csv`` of the corrupt stage, checked row by row against the dataset's train split.

    Every later stage pairs these rows with the train images by position, so a file from another
    dataset or reordered rows must stop the run rather than mislabel it.
    """
    if not Path(path).is_file():
        raise ValueError(f"{path}: file not found")
    try:
        labels = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from None
    missing = {"id", "true", "given", "flipped"} - set(labels.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    for column in ("id", "true", "given"):
        if not pd.api.types.is_integer_dtype(labels[column]):
            raise ValueError(
                f"{path}: column {column!r} must hold integers, got {labels[column].dtype}"
            )
    if not pd.api.types.is_bool_dtype(labels["flipped"]):
        raise ValueError(f"{path}: column 'flipped' must hold True/False values")
    _, _, train_ids = dataset.split("train")
    if len(labels) != len(train_ids) or not np.array_equal(labels["id"].to_numpy(), train_ids):
        raise ValueError(f"{path}: rows do not match the train split of the dataset (ids or order)")
    for column in ("true", "given"):
        values = labels[column].to_numpy()
        if values.size and (values.min() < 0 or values.max() >= dataset.n_classes):
            raise ValueError(f"{path}: {column} labels outside [0, {dataset.n_classes})")
    wrong = np.flatnonzero(labels["flipped"].to_numpy() != (labels["given"] != labels["true"]))
    if wrong.size:
        raise ValueError(
            f"{path}: 'flipped' disagrees with given != true in {wrong.size} row(s) "
            f"(first id {int(labels['id'].iloc[wrong[0]])})"
        )
    return labels


ARMS = ("drop", "relabel", "second", "robust")
"""How a retrained arm treats a cleaning method's flags: drop the flagged examples, relabel
those with a confident suggestion (dropping the rest), let the drop arm's model relabel
(second generation), or none of them (a robust loss trains on every noisy label)."""


def arm_name(method: str, arm: str) -> str:
    """The arm's name in metric files: the method (or robust loss), ``<method>_relabel``,
    ``<method>_second``."""
    from labelnoise.clean.relabel import SECOND_SUFFIX, SUFFIX

    return method + {"relabel": SUFFIX, "second": SECOND_SUFFIX}.get(arm, "")


def arm_cells(
    dataset,
    rates: list[float],
    *,
    arm: str,
    method: str,
    noisy: Path,
    flags: Path | None,
    train: Path | None,
    first: Path | None,
    confidence: float,
) -> list[tuple]:
    """What one arm trains on at each of ``rates``, from the stages' folders of rates
    (``noisy``: corrupt's; ``flags``: the method's clean results; ``train``: the train stage's;
    ``first``: the drop arm's train probabilities): one ``(rate, name, labels, given, keep,
    same)`` per rate, ``same`` when it would train exactly the baseline."""
    from labelnoise.metrics import rate_name

    cells = []
    for rate in rates:
        name = rate_name(rate)
        labels = read_noisy_labels(noisy / name / "labels.csv", dataset)
        given, keep = arm_inputs(
            labels, arm=arm, method=method, flags=flags and flags / f"{name}.npz",
            oos_probs=train and train / name / "oos_probs.npy", confidence=confidence,
            n_classes=dataset.n_classes, first_probs=first and first / f"{name}.npy",
        )  # fmt: skip
        same = keep.all() and np.array_equal(given, labels["given"]) and arm != "robust"
        cells.append((rate, name, labels, given, keep, same))
    return cells


def arm_inputs(
    labels: pd.DataFrame,
    *,
    arm: str,
    method: str,
    flags: Path | None,
    oos_probs: Path | None,
    confidence: float,
    n_classes: int,
    first_probs: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`arm_labels` of one rate from the files the retrain stage reads: the method's
    result ``flags`` (``<rate>.npz``; drop, relabel, second), the baseline's ``oos_probs.npy``
    (relabel by a method that does not suggest the truth) and the drop arm's probabilities of
    the train images (``first_probs``, ``<rate>.npy``; second)."""
    from labelnoise.clean import get_method, load_result
    from labelnoise.io import load_npy

    if arm == "robust":
        return arm_labels(labels, arm="robust")
    flagged = load_result(flags).flags
    if len(flagged) != len(labels):
        raise ValueError(f"{flags.parent}: {len(flagged)} flags for {len(labels)} train examples")
    probs = None
    if arm == "second":
        probs = (load_npy(first_probs), load_npy(oos_probs))
    elif arm == "relabel":
        if get_method(method).suggests_truth:
            probs = np.eye(n_classes)[labels["true"].to_numpy()]
        else:
            probs = load_npy(oos_probs)
    return arm_labels(
        labels, arm=arm, flags=flagged, suggestion_probs=probs,
        confidence=confidence, name=f"{method} ({arm})",
    )  # fmt: skip


def arm_labels(
    labels: pd.DataFrame,
    *,
    arm: str,
    flags: np.ndarray | None = None,
    suggestion_probs: np.ndarray | None = None,
    confidence: float = 0.5,
    name: str = "retrain",
) -> tuple[np.ndarray, np.ndarray]:
    """What one retrained arm trains on at one rate.

    Parameters
    ----------
    labels
        The rate's ``labels.csv`` (:func:`read_noisy_labels`), ``n`` rows.
    arm
        One of :data:`ARMS`.
    flags
        ``(n,)`` bool, the cleaning method's flags (``drop`` and ``relabel``).
    suggestion_probs
        ``(n, C)`` probabilities the suggested labels are read from (``relabel``, see
        :func:`labelnoise.clean.relabel.relabel_flagged`); for ``second`` the pair of the drop
        arm's model's and the fold models' (:func:`labelnoise.clean.relabel.second_generation`).
    confidence
        Of a suggestion, for ``relabel``.
    name
        Who asks, named in errors.

    Returns
    -------
    tuple of np.ndarray
        ``(n,)`` labels to train with and ``(n,)`` bool rows to train on.
    """
    given = labels["given"].to_numpy()
    if arm not in ARMS:
        raise ValueError(f"{name}: unknown arm {arm!r}; valid: {', '.join(ARMS)}")
    if arm == "robust":
        return given, np.ones(len(given), dtype=bool)
    if flags is None:
        raise ValueError(f"{name}: the {arm} arm needs the method's flags")
    if arm == "drop":
        return given, ~np.asarray(flags, dtype=bool)
    if suggestion_probs is None:
        raise ValueError(f"{name}: the {arm} arm needs suggestion probabilities")
    from labelnoise.clean.relabel import relabel_flagged, second_generation

    if arm == "second":
        first, oos = suggestion_probs
        plan = second_generation(given, flags, first, oos, confidence=confidence, name=name)
    else:
        plan = relabel_flagged(given, flags, suggestion_probs, confidence=confidence, name=name)
    return plan.labels, plan.keep


def arm_record(
    labels: pd.DataFrame,
    trained: np.ndarray,
    keep: np.ndarray,
    metrics: dict,
    *,
    rate: float,
    method: str,
) -> dict:
    """One arm's metric file at one rate: its test ``metrics`` and what it trained on.

    ``trained`` ``(n,)`` are the labels it trained with, ``keep`` ``(n,)`` the rows; the counts
    say how many examples it dropped, relabelled, and kept under a false label.
    """
    given, true = labels["given"].to_numpy(), labels["true"].to_numpy()
    return {
        "rate": rate,
        "method": method,
        "n_kept": int(keep.sum()),
        "n_removed": int((~keep).sum()),
        "n_relabeled": int((keep & (trained != given)).sum()),
        "n_flipped_kept": int(labels["flipped"].to_numpy()[keep].sum()),
        "n_wrong_kept": int((keep & (trained != true)).sum()),
        **metrics,
    }


@dataclass
class TestedModel:
    model: object
    test_proba: np.ndarray  # (n_test, C)
    metrics: dict
    confusion: pd.DataFrame  # one row per test example: actual, predicted (class names)


def train_and_test(
    dataset,
    train_labels: np.ndarray,
    *,
    params: TrainParams,
    seed: int,
    keep: np.ndarray | None = None,
    log_dir: Path | None = None,
    checkpoint_path: Path | None = None,
    desc: str = "train",
) -> TestedModel:
    """Train on the (kept) train split with the given labels, test on the clean test split.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    train_labels
        Given labels of the train split, shape ``(n_train,)``, in index order.
    keep
        Boolean mask ``(n_train,)`` of the examples to train on; all when ``None``. The kept
        examples get the optimizer steps of the whole split (equal compute for every arm).
    """
    from labelnoise.train import fit, predict_proba

    train_images, _, _ = dataset.split("train")
    val_images, val_labels, _ = dataset.split("val")
    test_images, test_labels, _ = dataset.split("test")
    if keep is not None:
        if keep.shape != train_labels.shape:
            raise ValueError(f"keep mask has shape {keep.shape}, expected {train_labels.shape}")
        if not keep.any():
            raise ValueError(
                "the cleaning method flagged every training example: nothing to train on"
            )
    result = fit(
        train_images,
        train_labels,
        n_classes=dataset.n_classes,
        config=train_config(params),
        seed=seed,
        rows=None if keep is None else np.flatnonzero(keep),
        epoch_size=len(train_labels),
        val_images=val_images,
        val_labels=val_labels,
        class_names=dataset.classes,
        log_dir=log_dir,
        checkpoint_path=checkpoint_path,
        desc=desc,
    )
    proba = predict_proba(
        result.model, test_images, device=result.device, batch_size=params.eval_batch_size
    )
    predicted = proba.argmax(axis=1)
    metrics = classification_metrics(test_labels, predicted, class_names=dataset.classes)
    names = np.asarray(dataset.classes)
    confusion = pd.DataFrame({"actual": names[test_labels], "predicted": names[predicted]})
    return TestedModel(result.model, proba, metrics, confusion)


def write_baseline(
    folder: Path, tested: TestedModel, folds, val_probs: np.ndarray, dataset, *, batch_size: int
) -> None:
    """One rate's baseline outputs in a new ``folder``: its weights, the out-of-sample, trusted
    and test probabilities, the fold of each train example, and the train and trusted features.

    ``folds`` is :func:`~labelnoise.train.out_of_sample_folds`'s result, ``val_probs``
    ``(K, n_val, C)`` each fold model's probabilities of the trusted images.
    """
    import torch

    from labelnoise.train import extract_features

    train_images, _, _ = dataset.split("train")
    val_images, _, _ = dataset.split("val")
    folder.mkdir()
    torch.save(tested.model.state_dict(), folder / "model.pt")
    save_npy(folder / "oos_probs.npy", folds.proba.astype(np.float32))
    save_npy(folder / "folds.npy", folds.fold)
    save_npy(folder / "val_probs.npy", val_probs.astype(np.float32))
    for split, images in (("train", train_images), ("val", val_images)):
        features = extract_features(tested.model, images, batch_size=batch_size)
        save_npy(folder / f"{split}_features.npy", features)
    save_npy(folder / "test_probs.npy", tested.test_proba.astype(np.float32))


def fold_model_metrics(
    dataset,
    given: np.ndarray,
    pred_probs: np.ndarray,
    test_probs: np.ndarray,
    val_probs: np.ndarray,
) -> dict:
    """How good the K fold models behind the out-of-sample probabilities are, and the noise
    they see on the trusted set.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    given
        ``(n_train,)`` given train labels.
    pred_probs
        ``(n_train, C)`` out-of-sample probabilities of the train examples.
    test_probs
        ``(K, n_test, C)`` each fold model's probabilities of the test images.
    val_probs
        ``(K, n_val, C)`` each fold model's probabilities of the trusted images.

    Returns
    -------
    dict
        ``fold_accuracy`` and ``fold_ece`` (mean over the fold models of test accuracy and
        expected calibration error; ECE lower = better calibrated), ``trusted_noise_rate``
        (:func:`noise_estimate`) and ``noise_estimate``, what that rests on
        (:data:`NOISE_ESTIMATES`).
    """
    from labelnoise.evaluate import expected_calibration_error

    _, test_labels, _ = dataset.split("test")
    accuracy = [float((p.argmax(1) == test_labels).mean()) for p in test_probs]
    ece = [expected_calibration_error(test_labels, p) for p in test_probs]
    return {
        "fold_accuracy": float(np.mean(accuracy)),
        "fold_ece": float(np.mean(ece)),
        "trusted_noise_rate": noise_estimate(dataset, given, pred_probs, val_probs).rate,
        "noise_estimate": NOISE_ESTIMATES[dataset.trusted_val],
    }


NOISE_ESTIMATES = {
    True: "trusted set",
    False: "cross-validated: the val split was carved from the given labels",
}
"""What the noise estimate behind ``count: trusted`` rests on, by whether the val split is
trusted (:attr:`labelnoise.data.Dataset.trusted_val`)."""


def noise_estimate(dataset, given: np.ndarray, pred_probs: np.ndarray, val_probs: np.ndarray):
    """The noise estimate that ``count: trusted`` flags by: calibrated on the trusted val set
    (:func:`labelnoise.noise.trusted_noise_estimate`), or, when that split was carved out of
    the given labels, cleanlab's cross-validated estimate from the train set alone
    (:func:`labelnoise.noise.cross_validated_noise_estimate`).

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    given
        ``(n_train,)`` given train labels.
    pred_probs
        ``(n_train, C)`` out-of-sample probabilities of the train examples.
    val_probs
        ``(K, n_val, C)`` each fold model's probabilities of the val images.
    """
    from labelnoise.noise import cross_validated_noise_estimate, trusted_noise_estimate

    if not dataset.trusted_val:
        return cross_validated_noise_estimate(pred_probs, given, n_classes=dataset.n_classes)
    _, val_labels, _ = dataset.split("val")
    return trusted_noise_estimate(
        pred_probs, given, val_probs, val_labels, n_classes=dataset.n_classes
    )


def trusted_estimate(
    dataset, given: np.ndarray, pred_probs: np.ndarray, train_dir: Path, *, name: str
):
    """The noise estimate of one rate (:func:`noise_estimate`), from the ``train`` stage's
    out-of-sample and trusted-set probabilities; a bad array is a ``ValueError`` naming its
    file.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    given
        ``(n_train,)`` given train labels.
    pred_probs
        ``(n_train, C)`` the rate's ``oos_probs.npy``.
    train_dir
        That rate's output folder of the ``train`` stage.
    name
        Who asks (a cleaning method's name), named in errors.
    """
    from labelnoise.clean.base import validate_pred_probs
    from labelnoise.io import load_npy

    probs_path = Path(train_dir) / "oos_probs.npy"
    validate_pred_probs(
        pred_probs, n=len(given), n_classes=dataset.n_classes, name=name, source=str(probs_path)
    )
    val_path = Path(train_dir) / "val_probs.npy"
    val_probs = load_npy(val_path)
    try:
        return noise_estimate(dataset, given, pred_probs, val_probs)
    except ValueError as err:
        raise ValueError(f"{name}: trusted-set estimate from {val_path}: {err}") from None


def flag_inputs(dataset, given: np.ndarray, train_dir: Path, trusted) -> tuple:
    """What the flagging step reads at one rate: a context (the given labels, the
    out-of-sample probabilities and the trusted estimate ``trusted``) and the ``(n,)``
    probability that each label is wrong (:func:`labelnoise.clean.flagging.wrong_label_posterior`:
    calibrated on the trusted set when the val split is trusted, else the fold models' own view
    at the level of the cross-validated noise estimate)."""
    from labelnoise.clean import CleanContext
    from labelnoise.clean.flagging import wrong_label_posterior
    from labelnoise.io import load_npy

    pred_probs = load_npy(Path(train_dir) / "oos_probs.npy")
    trusted_set = {"per_class_false": trusted.per_class}
    if dataset.trusted_val:
        _, val_labels, _ = dataset.split("val")
        trusted_set.update(
            val_probs=load_npy(Path(train_dir) / "val_probs.npy"), val_labels=val_labels
        )
    context = CleanContext(
        labels=given, n_classes=dataset.n_classes, pred_probs=pred_probs, trusted_noise=trusted
    )
    return context, wrong_label_posterior(pred_probs, given, **trusted_set)


def clean_context(
    dataset,
    labels: pd.DataFrame,
    train_dir: Path,
    *,
    method,
    params,
    trusted=None,
):
    """The :class:`labelnoise.clean.CleanContext` of one rate for ``method``.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    labels
        That rate's ``labels.csv`` (:func:`read_noisy_labels`).
    train_dir
        That rate's output folder of the ``train`` stage (out-of-sample probabilities, features).
    method
        The cleaning method; its capabilities decide what the context carries: the trainer
        config for methods that train models, the truth for the reference arms that need it,
        cleanlab's noise-rate estimate for methods that use it. Every method gets the trusted
        set's noise estimate (from the fold models' ``val_probs.npy``).
    params
        The validated :class:`labelnoise.params.Params`.
    trusted
        The rate's :func:`trusted_estimate` when already made (for another method): it is the
        same for every method.
    """
    from labelnoise.clean import CleanContext
    from labelnoise.io import load_npy

    given = labels["given"].to_numpy()
    probs_path = Path(train_dir) / "oos_probs.npy"
    pred_probs = load_npy(probs_path)
    train_images, _, _ = dataset.split("train")
    val_images, val_labels, _ = dataset.split("val")
    estimate = None
    if method.uses_noise_estimate:
        from labelnoise.clean.cleanlab_method import estimate_noise_rate

        estimate = estimate_noise_rate(given, pred_probs, source=str(probs_path))
    if trusted is None:
        trusted = trusted_estimate(dataset, given, pred_probs, train_dir, name=method.name)
    return CleanContext(
        labels=given,
        n_classes=dataset.n_classes,
        pred_probs=pred_probs,
        features=load_npy(Path(train_dir) / "train_features.npy"),
        val_features=load_npy(Path(train_dir) / "val_features.npy"),
        val_labels=val_labels,
        images=train_images,
        val_images=val_images,
        train_config=train_config(params.train) if method.trains_model else None,
        # Ground truth reaches only the reference arms: the oracle drops exactly the flips,
        # random drops as many.
        flipped=(labels["flipped"].to_numpy(dtype=bool) if method.needs_truth else None),
        noise_rate_estimate=estimate,
        trusted_noise=trusted,
        seed=params.seed,
        pred_probs_source=str(probs_path),
    )
