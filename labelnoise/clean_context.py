"""The contexts the cleaning steps work in at one rate, built from the rate's noisy labels and
the ``train`` stage's files: a cleaning method's :class:`labelnoise.clean.CleanContext`,
carrying what the method's capabilities ask for, and the flagging step's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelnoise import layout


def clean_context(
    dataset,
    labels: pd.DataFrame,
    train: Path,
    rate: float,
    *,
    method,
    seed: int,
    config=None,
    trusted=None,
):
    """The :class:`labelnoise.clean.CleanContext` of one rate for ``method``.

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    labels
        That rate's noisy labels (:func:`labelnoise.noisy_labels.read_noisy_labels`).
    train
        The ``train`` stage's folder of rates (``data/train``): the rate's out-of-sample
        probabilities and features are read there.
    rate
        The rate.
    method
        The cleaning method; its capabilities decide what the context carries: the trainer
        config for methods that train models, the truth for the reference arms that need it,
        cleanlab's noise-rate estimate for methods that use it. Every method gets the trusted
        set's noise estimate (from the fold models' ``val_probs.npy``).
    seed
        The run's seed.
    config
        The trainer's config (:func:`labelnoise.train_test.train_config` of the ``train``
        params), which a method that trains models of its own (``trains_model``, the ``fit``
        stage's) needs and no other method gets.
    trusted
        The rate's :func:`labelnoise.trusted.trusted_estimate` when already made (for another
        method): it is the same for every method.
    """
    from labelnoise.clean import CleanContext
    from labelnoise.io import load_npy
    from labelnoise.trusted import trusted_estimate

    if method.trains_model and config is None:
        raise ValueError(f"{method.name}: trains models of its own, but no trainer config given")
    given = labels["given"].to_numpy()
    probs_path = layout.oos_probs(train, rate)
    pred_probs = load_npy(probs_path)
    train_images, _, _ = dataset.split("train")
    val_images, val_labels, _ = dataset.split("val")
    estimate = None
    if method.uses_noise_estimate:
        from labelnoise.clean.cleanlab_method import estimate_noise_rate

        estimate = estimate_noise_rate(given, pred_probs, source=str(probs_path))
    if trusted is None:
        trusted = trusted_estimate(dataset, given, pred_probs, train, rate, name=method.name)
    return CleanContext(
        labels=given,
        n_classes=dataset.n_classes,
        pred_probs=pred_probs,
        features=load_npy(layout.features(train, rate, "train")),
        val_features=load_npy(layout.features(train, rate, "val")),
        val_labels=val_labels,
        images=train_images,
        val_images=val_images,
        train_config=config if method.trains_model else None,
        # Ground truth reaches only the reference arms: the oracle drops exactly the flips,
        # random drops as many.
        flipped=(labels["flipped"].to_numpy(dtype=bool) if method.needs_truth else None),
        noise_rate_estimate=estimate,
        trusted_noise=trusted,
        seed=seed,
        pred_probs_source=str(probs_path),
    )


def flag_inputs(dataset, given: np.ndarray, train: Path, rate: float, trusted) -> tuple:
    """What the flagging step reads at one rate: a context (the given labels, the
    out-of-sample probabilities and the trusted estimate ``trusted``) and the ``(n,)``
    probability that each label is wrong (:func:`labelnoise.clean.flagging.wrong_label_posterior`:
    calibrated on the trusted set when the val split is trusted, else the fold models' own view
    at the level of the cross-validated noise estimate).

    Parameters
    ----------
    dataset
        A :class:`labelnoise.data.Dataset`.
    given
        ``(n_train,)`` given train labels.
    train
        The ``train`` stage's folder of rates (``data/train``).
    rate
        The rate.
    trusted
        The rate's :func:`labelnoise.trusted.trusted_estimate`.
    """
    from labelnoise.clean import CleanContext
    from labelnoise.clean.flagging import wrong_label_posterior
    from labelnoise.io import load_npy

    pred_probs = load_npy(layout.oos_probs(train, rate))
    trusted_set = {"per_class_false": trusted.per_class}
    if dataset.trusted_val:
        _, val_labels, _ = dataset.split("val")
        trusted_set.update(val_probs=load_npy(layout.val_probs(train, rate)), val_labels=val_labels)
    context = CleanContext(
        labels=given, n_classes=dataset.n_classes, pred_probs=pred_probs, trusted_noise=trusted
    )
    return context, wrong_label_posterior(pred_probs, given, **trusted_set)
