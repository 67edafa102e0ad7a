"""The trusted noise estimate of one rate, from the ``train`` stage's files.

``count: trusted`` flags by this estimate, and the ``cost`` rule's posterior is calibrated on the
same trusted images (:func:`labelnoise.clean_context.flag_inputs`): the fold models'
probabilities of them (``val_probs.npy``) measure the models' own mistakes, which the estimate
divides out. When the val split was carved from the given labels, cleanlab's cross-validated
estimate stands in (:data:`NOISE_ESTIMATES`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelnoise import layout

NOISE_ESTIMATES = {
    True: "trusted set",
    False: "cross-validated: the val split was carved from the given labels",
}
"""What the noise estimate behind ``count: trusted`` rests on, by whether the val split is
trusted (:attr:`labelnoise.data.Dataset.trusted_val`)."""


def noise_estimate(
    dataset, given: np.ndarray, pred_probs: np.ndarray, val_probs: np.ndarray | None
):
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
        ``(K, n_val, C)`` each fold model's probabilities of the val images; read only when
        the val split is trusted.
    """
    from labelnoise.noise import cross_validated_noise_estimate, trusted_noise_estimate

    if not dataset.trusted_val:
        return cross_validated_noise_estimate(pred_probs, given, n_classes=dataset.n_classes)
    _, val_labels, _ = dataset.split("val")
    return trusted_noise_estimate(
        pred_probs, given, val_probs, val_labels, n_classes=dataset.n_classes
    )


def trusted_estimate(
    dataset, given: np.ndarray, pred_probs: np.ndarray, train: Path, rate: float, *, name: str
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
        ``(n_train, C)`` the rate's out-of-sample probabilities
        (:func:`labelnoise.layout.oos_probs`).
    train
        The ``train`` stage's folder of rates (``data/train``).
    rate
        The rate.
    name
        Who asks (a cleaning method's name), named in errors.
    """
    from labelnoise.clean.base import validate_pred_probs
    from labelnoise.io import load_npy

    probs_path = layout.oos_probs(train, rate)
    validate_pred_probs(
        pred_probs, n=len(given), n_classes=dataset.n_classes, name=name, source=str(probs_path)
    )
    val_probs, source = None, f"cross-validated estimate from {probs_path}"
    if dataset.trusted_val:
        val_path = layout.val_probs(train, rate)
        val_probs, source = load_npy(val_path), f"trusted-set estimate from {val_path}"
    try:
        return noise_estimate(dataset, given, pred_probs, val_probs)
    except ValueError as err:
        raise ValueError(f"{name}: {source}: {err}") from None
