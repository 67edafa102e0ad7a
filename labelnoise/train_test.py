"""Train on the train split's labels, then test on the clean test split: the trainer's config
from the ``train`` params, the tested model, and the weights and probabilities a stage keeps of
it. The baseline, every retrained arm and the benchmarks train this way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise.evaluate import classification_metrics
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
    # Saved through a file object: given a path, torch names the archive's records after the
    # (temporary) file, so the same weights would differ byte for byte from run to run.
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)


@dataclass
class TestedModel:
    """A model trained by :func:`train_and_test`, and its test results.

    Attributes
    ----------
    model
        The trained ``torch.nn.Module``.
    test_proba
        ``(n_test, C)`` its probabilities of the test images.
    metrics
        :func:`labelnoise.evaluate.classification_metrics` of its test predictions.
    confusion
        One row per test image: ``actual``, ``predicted`` (class names).
    """

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
