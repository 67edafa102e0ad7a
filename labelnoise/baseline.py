"""The ``train`` stage's outputs of one rate: the baseline's weights, the fold models'
out-of-sample, trusted and test probabilities, the folds and the baseline's features
(:mod:`labelnoise.layout` names the files), and how good the fold models are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelnoise import layout
from labelnoise.io import save_npy


def write_baseline(
    train: Path,
    rate: float,
    tested,
    folds,
    val_probs: np.ndarray,
    dataset,
    *,
    batch_size: int,
) -> None:
    """One rate's baseline outputs in a new folder of ``train``: its weights, the out-of-sample,
    trusted and test probabilities, the fold of each train example, and the train and trusted
    features.

    Parameters
    ----------
    train
        The stage's folder of rates (``data/train``, or the folder that becomes it).
    rate
        The rate, whose folder (:func:`labelnoise.layout.rate_dir`) must not exist yet.
    tested
        The baseline, a :class:`labelnoise.train_test.TestedModel`.
    folds
        :func:`~labelnoise.train.out_of_sample_folds`'s result.
    val_probs
        ``(K, n_val, C)`` each fold model's probabilities of the trusted images.
    dataset
        A :class:`labelnoise.data.Dataset`.
    batch_size
        Images per forward pass of the feature extraction.
    """
    import torch

    from labelnoise.train import extract_features

    train_images, _, _ = dataset.split("train")
    val_images, _, _ = dataset.split("val")
    layout.rate_dir(train, rate).mkdir()
    torch.save(tested.model.state_dict(), layout.baseline_weights(train, rate))
    save_npy(layout.oos_probs(train, rate), folds.proba.astype(np.float32))
    save_npy(layout.folds_file(train, rate), folds.fold)
    save_npy(layout.val_probs(train, rate), val_probs.astype(np.float32))
    for split, images in (("train", train_images), ("val", val_images)):
        features = extract_features(tested.model, images, batch_size=batch_size)
        save_npy(layout.features(train, rate, split), features)
    save_npy(layout.baseline_test_probs(train, rate), tested.test_proba.astype(np.float32))


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
        (:func:`labelnoise.trusted.noise_estimate`) and ``noise_estimate``, what that rests on
        (:data:`labelnoise.trusted.NOISE_ESTIMATES`).
    """
    from labelnoise.evaluate import expected_calibration_error
    from labelnoise.trusted import NOISE_ESTIMATES, noise_estimate

    _, test_labels, _ = dataset.split("test")
    accuracy = [float((p.argmax(1) == test_labels).mean()) for p in test_probs]
    ece = [expected_calibration_error(test_labels, p) for p in test_probs]
    return {
        "fold_accuracy": float(np.mean(accuracy)),
        "fold_ece": float(np.mean(ece)),
        "trusted_noise_rate": noise_estimate(dataset, given, pred_probs, val_probs).rate,
        "noise_estimate": NOISE_ESTIMATES[dataset.trusted_val],
    }


def fold_models(dataset, given: np.ndarray, *, params, seed: int) -> tuple:
    """The K fold models behind every score at one rate, trained on the given labels with the
    fold loss (:func:`labelnoise.train_test.fold_config`), each predicting the images it held
    out and every trusted and test image.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    given
        ``(n_train,)`` given train labels.
    params
        The ``train`` params section (:class:`labelnoise.params.TrainParams`).
    seed
        The run's seed.

    Returns
    -------
    tuple
        :func:`~labelnoise.train.out_of_sample_folds`'s result, ``(K, n_val, C)`` each fold
        model's probabilities of the trusted images, and :func:`fold_model_metrics`.
    """
    from labelnoise.train import out_of_sample_folds
    from labelnoise.train_test import fold_config

    train_images, _, _ = dataset.split("train")
    val_images, _, _ = dataset.split("val")
    test_images, _, _ = dataset.split("test")
    folds = out_of_sample_folds(
        train_images,
        given,
        n_classes=dataset.n_classes,
        folds=params.folds,
        config=fold_config(params),
        seed=seed,
        stack=params.stack_folds,
        other_images=np.concatenate([val_images, test_images]),
    )
    val_probs = folds.others[:, : len(val_images)]  # (folds, n_val, C): one block per model
    metrics = fold_model_metrics(
        dataset, given, folds.proba, folds.others[:, len(val_images) :], val_probs
    )
    return folds, val_probs, metrics
