"""The cleaned model, ready to deploy: one folder holding its weights (``model.pt``, a
``state_dict``) and a model card (``model.json``) with everything needed to use them; loading
the folder and predicting a folder of images.

The ``model`` stage writes ``models/cleaned/``, the DVC artifact ``cleaned-model``: the drop arm
of ``results.method`` at the results rate, a model trained on the labels that method keeps.

``python -m labelnoise.predict MODEL_DIR IMAGES_DIR --out predictions.csv`` predicts every image
under ``IMAGES_DIR`` (its subfolders included; files are only read, never modified): one row
per image with its path, the predicted class, its probability and the probability of every
class. The images are decoded as the import decodes yours (the card's ``image_size`` and
``resize``). Only torch, Pillow, numpy and pandas are needed: no DVC, cleanlab or pydantic.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelnoise import __version__

MODEL_FORMAT = "labelnoise-model"
"""``model.json``'s ``format``: what the file is."""
FORMAT_VERSION = 1
"""``model.json``'s ``format_version``: the card's layout this version of labelnoise reads."""
WEIGHTS_FILE = "model.pt"
CARD_FILE = "model.json"
DEFAULT_RESIZE = "crop"
"""How images are fitted to ``image_size`` when the card names no mode (generated data)."""
NORMALISATION = (
    "inside the model: it takes raw uint8 pixel values in [0, 255], as float (B, 3, H, W), "
    "and normalises them with its own per-channel buffers (state_dict keys mean and std)"
)


def model_card(
    record: Mapping[str, Any],
    *,
    model: str,
    width: int,
    depth: int,
    classes: Sequence[str],
    image_size: int,
    resize: str | None,
    method: str,
    rate: float,
    seed: int,
    test_labels: str,
) -> dict[str, Any]:
    """The model card (``model.json``) of a drop arm's model.

    Parameters
    ----------
    record
        The arm's metrics file at ``rate`` (``metrics/retrain/<method>/<rate>.json``: what it
        trained on and its test metrics).
    model, width, depth
        The architecture: ``train.model`` and the ``small_cnn`` knobs ``train.width`` and
        ``train.depth`` (``resnet18`` ignores them).
    classes
        ``C`` class names; position = the label the model predicts.
    image_size
        Side of the square uint8 RGB images the model was trained on.
    resize
        How your own images were fitted to ``image_size`` on import (``data.resize``); ``None``
        for generated images, made at that size.
    method, rate, seed
        The cleaning method whose kept labels it trained on, the false-label rate of that
        cell (0.0 with your labels as given) and the run's seed.
    test_labels
        Where the test labels came from: ``generated`` (correct by construction), ``given``
        (your ``test/`` folder), ``carved`` (out of your unverified train labels).

    Returns
    -------
    dict
        JSON-ready card: ``format``, ``format_version``, ``labelnoise_version``,
        ``architecture``, ``classes``, ``input``, ``trained_on``, ``test``.
    """
    return {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "labelnoise_version": __version__,
        "architecture": {"model": model, "width": width, "depth": depth, "n_classes": len(classes)},
        "classes": list(classes),
        "input": {
            "image_size": image_size,
            "resize": resize,
            "dtype": "uint8",
            "channels": "RGB",
            "layout": "HWC",
            "normalisation": NORMALISATION,
        },
        "trained_on": {
            "method": method,
            "arm": "drop",
            "rate": float(rate),
            "seed": seed,
            **{key: record[key] for key in ("n_kept", "n_removed", "n_flipped_kept")},
        },
        "test": {
            "labels": test_labels,
            **{
                key: record[key]
                for key in ("accuracy", "balanced_accuracy", "macro_f1", "n_test", "n_correct")
            },
        },
    }


def write_model_folder(
    folder: str | os.PathLike, *, weights: str | os.PathLike, card: dict
) -> None:
    """Write ``folder`` anew (atomically) with a copy of the ``weights`` file and ``card``.

    The weights are first loaded into the card's architecture, so a card that does not describe
    them is refused (``ValueError`` naming the weights file) and nothing is written.
    """
    from labelnoise.io import atomic_path, write_json
    from labelnoise.train import load_weights

    check_card(card, source=str(weights))
    load_weights(_build(card), weights)
    with atomic_path(folder, directory=True) as tmp:
        shutil.copyfile(weights, tmp / WEIGHTS_FILE)
        write_json(tmp / CARD_FILE, card)


def check_card(card: object, *, source: str) -> dict:
    """``card`` if it is a model card this version reads, else a ``ValueError`` naming
    ``source`` and every problem."""
    if not isinstance(card, dict) or card.get("format") != MODEL_FORMAT:
        raise ValueError(f"{source}: not a labelnoise model card (no format {MODEL_FORMAT!r})")
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{source}: model card format_version {version!r} (written by labelnoise "
            f"{card.get('labelnoise_version')}); labelnoise {__version__} reads version "
            f"{FORMAT_VERSION}"
        )
    from labelnoise.data.importer import RESIZE_MODES
    from labelnoise.train import MODELS

    arch, classes = card.get("architecture"), card.get("classes")
    size = (card.get("input") or {}).get("image_size")
    resize = (card.get("input") or {}).get("resize")
    problems = []
    if not isinstance(arch, dict) or arch.get("model") not in MODELS:
        problems.append(f"architecture.model must be one of {list(MODELS)}")
    elif not all(isinstance(arch.get(key), int) for key in ("width", "depth", "n_classes")):
        problems.append("architecture needs integer width, depth and n_classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        problems.append("classes must be a list of class names")
    elif isinstance(arch, dict) and len(classes) != arch.get("n_classes"):
        problems.append(f"{len(classes)} classes for n_classes {arch.get('n_classes')}")
    if not isinstance(size, int) or size < 1:
        problems.append(f"input.image_size must be a positive integer, got {size!r}")
    if resize is not None and resize not in RESIZE_MODES:
        problems.append(f"input.resize must be null or one of {list(RESIZE_MODES)}, got {resize!r}")
    if problems:
        raise ValueError(f"{source}: invalid model card: {'; '.join(problems)}")
    return card


def load_cleaned_model(folder: str | os.PathLike, *, device: str = "cpu") -> tuple[Any, dict]:
    """The model of a folder :func:`write_model_folder` wrote (``models/cleaned/``).

    Parameters
    ----------
    folder
        Holds ``model.pt`` and ``model.json``.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    Returns
    -------
    model, card
        The ``torch.nn.Module`` in eval mode on ``device``: raw uint8 pixels as float
        ``(B, 3, H, W)`` in, logits ``(B, C)`` out (:func:`labelnoise.train.predict_proba` takes
        uint8 ``(n, H, W, 3)`` arrays); and the model card (a dict, see :func:`model_card`).

    Raises
    ------
    ValueError
        Naming the folder or file: a missing folder or file, a card that is not valid JSON, of
        another format version or inconsistent, weights that do not fit the card.
    """
    from labelnoise.io import read_json
    from labelnoise.train import load_weights, resolve_device

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: model folder not found (it holds {WEIGHTS_FILE}, {CARD_FILE})")
    card = check_card(read_json(folder / CARD_FILE), source=str(folder / CARD_FILE))
    model = load_weights(_build(card), folder / WEIGHTS_FILE)
    return model.eval().to(resolve_device(device)), card


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Every image file under ``folder`` (subfolders too; hidden files and folders left out),
    sorted: the suffixes Pillow opens. An empty or missing folder is a ``ValueError``."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: images folder not found")
    Image.init()
    suffixes = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    )
    if not files:
        raise ValueError(f"{folder}: no image files in it or its subfolders")
    return files


def predict_folder(
    model_folder: str | os.PathLike,
    images_folder: str | os.PathLike,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    workers: int = 0,
    on_bad_image: str = "error",
    progress: bool = False,
) -> pd.DataFrame:
    """Predict every image under ``images_folder`` with the model in ``model_folder``.

    Images are decoded by the importer's loader (:func:`labelnoise.data.importer.load_image`,
    read-only) at the card's ``image_size`` and ``resize`` (``crop`` when it names none),
    ``batch_size`` at a time.

    Parameters
    ----------
    model_folder
        A folder :func:`load_cleaned_model` reads.
    images_folder
        Image files, in subfolders or not (:func:`image_files`).
    batch_size
        Images decoded and predicted at a time.
    device
        Where the model runs (:func:`load_cleaned_model`).
    workers
        Decoding threads, 0 = one per CPU core.
    on_bad_image
        ``"error"``: an unreadable file stops the run with one message naming every such file;
        ``"skip"``: they are left out and listed in ``table.attrs["skipped"]``.
    progress
        Show a progress bar of the decoding.

    Returns
    -------
    pandas.DataFrame
        One row per image, sorted by path: ``path``, ``predicted_label`` (a class name),
        ``predicted_prob``, then ``prob_<class>`` for every class in the card's order (each row
        sums to 1).
    """
    from labelnoise.data.importer import BAD_IMAGE_MODES

    if on_bad_image not in BAD_IMAGE_MODES:
        raise ValueError(f"unknown on_bad_image {on_bad_image!r}; valid: {list(BAD_IMAGE_MODES)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    model, card = load_cleaned_model(model_folder, device=device)
    paths = image_files(images_folder)
    probs, reasons = _predict_files(
        model, paths, image_size=card["input"]["image_size"],
        resize=card["input"]["resize"] or DEFAULT_RESIZE, batch_size=batch_size,
        workers=workers, progress=progress,
    )  # fmt: skip
    bad = [f"{path} ({why})" for path, why in zip(paths, reasons, strict=True) if why]
    if bad and on_bad_image == "error":
        shown = "; ".join(bad[:20]) + (f"; and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise ValueError(f"{images_folder}: {len(bad)} unreadable image(s): {shown}")
    good = np.array([why is None for why in reasons])
    names = np.asarray(card["classes"])
    probs = probs[good]
    table = pd.DataFrame(
        {
            "path": [str(path) for path, ok in zip(paths, good, strict=True) if ok],
            "predicted_label": names[probs.argmax(axis=1)] if len(probs) else [],
            "predicted_prob": probs.max(axis=1) if len(probs) else [],
        }
    )
    for k, name in enumerate(names):
        table[f"prob_{name}"] = probs[:, k]
    table.attrs["skipped"] = bad
    return table


def _build(card: dict):
    from labelnoise.train import build_model

    arch = card["architecture"]
    return build_model(
        arch["model"], n_classes=arch["n_classes"], width=arch["width"], depth=arch["depth"],
        image_size=card["input"]["image_size"],
    )  # fmt: skip


def _predict_files(
    model, paths: list[Path], *, image_size: int, resize: str, batch_size: int, workers: int,
    progress: bool,
) -> tuple[np.ndarray, list[str | None]]:  # fmt: skip
    """``(n, C)`` float32 probabilities of the ``n`` files (rows of unreadable files are 0)
    and, per file, ``None`` or why it could not be read."""
    from labelnoise.data.importer import decode_chunks
    from labelnoise.train import predict_proba

    probs = np.zeros((len(paths), model.head.out_features), dtype=np.float32)
    reasons: list[str | None] = []
    chunks = decode_chunks(
        paths, image_size=image_size, resize=resize, workers=workers, progress=progress,
        chunk_size=batch_size,
    )  # fmt: skip
    for images, why in chunks:
        ok = np.flatnonzero([reason is None for reason in why])
        if ok.size:
            rows = len(reasons) + ok
            probs[rows] = predict_proba(model, images[ok], batch_size=batch_size)
        reasons.extend(why)
    return probs, reasons


def main(argv: list[str] | None = None) -> None:
    """``python -m labelnoise.predict MODEL_DIR IMAGES_DIR [--out predictions.csv]``."""
    parser = argparse.ArgumentParser(prog="python -m labelnoise.predict", description=__doc__)
    parser.add_argument("model_dir", type=Path, help="models/cleaned, or a copy of it")
    parser.add_argument("images_dir", type=Path, help="folder of images (read only)")
    parser.add_argument("--out", type=Path, help="CSV to write (default: standard output)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    parser.add_argument("--workers", type=int, default=0, help="decoding threads, 0 = per core")
    parser.add_argument("--on-bad-image", choices=("error", "skip"), default="error")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.resolve().is_relative_to(args.images_dir.resolve()):
        raise ValueError(f"--out {args.out}: write the predictions outside {args.images_dir}")
    table = predict_folder(
        args.model_dir, args.images_dir, batch_size=args.batch_size, device=args.device,
        workers=args.workers, on_bad_image=args.on_bad_image, progress=args.out is not None,
    )  # fmt: skip
    for line in table.attrs["skipped"]:
        print(f"skipped: {line}", file=sys.stderr)
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
        return
    from labelnoise.io import write_csv

    write_csv(table, args.out)
    counts = table["predicted_label"].value_counts().to_dict()
    print(f"{len(table)} images -> {args.out}: {counts}", file=sys.stderr)


if __name__ == "__main__":
    from labelnoise.cli import run_stage

    run_stage(main)
