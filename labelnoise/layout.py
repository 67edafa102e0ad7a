"""Where the pipeline's data files live: the one owner of their names.

``dvc.yaml`` names each stage's output folders and passes them on the command line; this module
names every file below those folders, as a function of the folder and the rate (and the cleaning
method). Stages, the library, the benchmarks and the tests all build their paths here, so a
file is spelled once. The dataset's own files are :mod:`labelnoise.data.store`'s
(``IMAGES_FILE``, ``INDEX_FILE``, ``CLASSES_FILE``, ``REVIEWED_FILE``).

* ``data/dataset`` (generate): :func:`skipped_file`;
* ``data/noisy`` (corrupt), per rate: :func:`noisy_labels`, :func:`noise_matrix`;
* ``data/train`` (train), per rate: :func:`baseline_weights`, :func:`oos_probs`,
  :func:`val_probs`, :func:`baseline_test_probs`, :func:`folds_file`, :func:`features`;
* ``data/live`` (train): :func:`live_dir`, dvclive's folder of one rate;
* ``data/fit/<method>`` (fit) and ``data/clean/<method>`` (clean): :func:`result_file`;
* ``data/pr`` (clean): :func:`pr_file`;
* ``data/first/<method>`` (retrain): :func:`first_probs`, :func:`first_weights`;
* ``metrics/baseline`` (train) and ``metrics/retrain/<arm>`` (the arms): :func:`rate_record`;
  ``metrics/detect`` (clean): :func:`detect_record` (:mod:`labelnoise.metrics` finds the same
  files from the metrics root).

A stage that gets the folder of every method (``data/clean``) names the method
(``result_file(clean, rate, method)``); one that gets a single method's folder
(``data/clean/<method>``) does not (``result_file(flags, rate)``). The module imports nothing
but the standard library, so any stage may use it without depending on more of the library.
"""

from __future__ import annotations

import os
from pathlib import Path

PathLike = str | os.PathLike

SKIPPED_FILE = "skipped.csv"
"""Images the import left out, and why (``path, reason``), beside the dataset's own files."""
LABELS_FILE = "labels.csv"
"""One rate's noisy labels: ``id, true, given, flipped``, the train split in index order."""
NOISE_MATRIX_FILE = "noise_matrix.json"
"""One rate's realised noise: the transition matrix of true to given labels."""
BASELINE_WEIGHTS_FILE = "model.pt"
"""The baseline's ``state_dict``, trained on one rate's noisy labels."""
OOS_PROBS_FILE = "oos_probs.npy"
"""``(n_train, C)`` float32: the K fold models' out-of-sample probabilities of the train images."""
VAL_PROBS_FILE = "val_probs.npy"
"""``(K, n_val, C)`` float32: each fold model's probabilities of the trusted images."""
TEST_PROBS_FILE = "test_probs.npy"
"""``(n_test, C)`` float32: the baseline's probabilities of the test images."""
FOLDS_FILE = "folds.npy"
"""``(n_train,)``: the fold that held out each train image."""
FEATURES_SPLITS = ("train", "val")
"""The splits whose penultimate features the baseline keeps."""


def rate_name(rate: float) -> str:
    """The one spelling of ``rate`` in file and folder names (``0.2``, ``0.0``; ``0`` is
    ``0.0``)."""
    return str(float(rate))


def rate_dir(folder: PathLike, rate: float) -> Path:
    """``folder/<rate>``: one rate's folder in a stage's folder of rates (``data/noisy``,
    ``data/train``, ``data/live``)."""
    return Path(folder) / rate_name(rate)


def skipped_file(dataset: PathLike) -> Path:
    """``<dataset>/skipped.csv``: the images the import left out, and why."""
    return Path(dataset) / SKIPPED_FILE


def noisy_labels(noisy: PathLike, rate: float) -> Path:
    """``<noisy>/<rate>/labels.csv``: the corrupt stage's labels of the train split."""
    return rate_dir(noisy, rate) / LABELS_FILE


def noise_matrix(noisy: PathLike, rate: float) -> Path:
    """``<noisy>/<rate>/noise_matrix.json``: the corrupt stage's realised noise matrix."""
    return rate_dir(noisy, rate) / NOISE_MATRIX_FILE


def baseline_weights(train: PathLike, rate: float) -> Path:
    """``<train>/<rate>/model.pt``: the baseline's weights."""
    return rate_dir(train, rate) / BASELINE_WEIGHTS_FILE


def oos_probs(train: PathLike, rate: float) -> Path:
    """``<train>/<rate>/oos_probs.npy``: the fold models' out-of-sample probabilities."""
    return rate_dir(train, rate) / OOS_PROBS_FILE


def val_probs(train: PathLike, rate: float) -> Path:
    """``<train>/<rate>/val_probs.npy``: the fold models' probabilities of the trusted images."""
    return rate_dir(train, rate) / VAL_PROBS_FILE


def baseline_test_probs(train: PathLike, rate: float) -> Path:
    """``<train>/<rate>/test_probs.npy``: the baseline's probabilities of the test images."""
    return rate_dir(train, rate) / TEST_PROBS_FILE


def folds_file(train: PathLike, rate: float) -> Path:
    """``<train>/<rate>/folds.npy``: the fold of each train image."""
    return rate_dir(train, rate) / FOLDS_FILE


def features(train: PathLike, rate: float, split: str) -> Path:
    """``<train>/<rate>/<split>_features.npy``: the baseline's penultimate features of the
    ``train`` or ``val`` split."""
    if split not in FEATURES_SPLITS:
        raise ValueError(f"features: no {split!r} split; valid: {', '.join(FEATURES_SPLITS)}")
    return rate_dir(train, rate) / f"{split}_features.npy"


def live_dir(live: PathLike, rate: float) -> Path:
    """``<live>/<rate>``: the dvclive folder of the baseline's training at ``rate``."""
    return rate_dir(live, rate)


def _method_dir(folder: PathLike, method: str | None) -> Path:
    return Path(folder) if method is None else Path(folder) / method


def result_file(folder: PathLike, rate: float, method: str | None = None) -> Path:
    """A cleaning method's result at ``rate`` (:func:`labelnoise.clean.save_result`):
    ``<folder>/<method>/<rate>.npz`` in the folder of every method (``data/clean``,
    ``data/fit``), ``<folder>/<rate>.npz`` in one method's (``method=None``)."""
    return _method_dir(folder, method) / f"{rate_name(rate)}.npz"


def first_probs(folder: PathLike, rate: float, method: str | None = None) -> Path:
    """The drop arm's model's probabilities of every train image at ``rate``:
    ``<folder>/<method>/<rate>.npy`` (``data/first``), or ``<folder>/<rate>.npy`` in one
    method's folder."""
    return _method_dir(folder, method) / f"{rate_name(rate)}.npy"


def first_weights(folder: PathLike, rate: float, method: str | None = None) -> Path:
    """The drop arm's model's weights at ``rate``: ``<folder>/<method>/<rate>.pt``
    (``data/first``), or ``<folder>/<rate>.pt`` in one method's folder."""
    return _method_dir(folder, method) / f"{rate_name(rate)}.pt"


def pr_file(pr: PathLike, rate: float, method: str) -> Path:
    """``<pr>/<rate>-<method>.json``: a method's precision-recall curve of the flips."""
    return Path(pr) / f"{rate_name(rate)}-{method}.json"


def rate_record(folder: PathLike, rate: float) -> Path:
    """``<folder>/<rate>.json``: one rate's metric file in the baseline's folder of them
    (``metrics/baseline``) or one retrained arm's (``metrics/retrain/<arm>``)."""
    return Path(folder) / f"{rate_name(rate)}.json"


def detect_record(detect: PathLike, rate: float, method: str) -> Path:
    """``<detect>/<rate>-<method>.json``: a method's detection metrics (``metrics/detect``)."""
    return Path(detect) / f"{rate_name(rate)}-{method}.json"
