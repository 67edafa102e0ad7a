"""What a training writes for people to read: the dvclive curves (``train/loss``, ``val/acc``)
without touching ``dvc.yaml``, a class report per epoch, the model summary, the label mapping,
and the figures of the progress bar.

dvclive and scikit-learn are optional here: without them the curves or the class reports are
left out and the training goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from labelnoise.io import write_json, write_text
from labelnoise.progress import Progress


def open_log(log_path: Path, model: nn.Module, names: list[str], history: list[dict]):
    """Write the model summary and label mapping; return the dvclive logger (or ``None``),
    holding the curve of the ``history`` already trained (a resumed checkpoint's epochs)."""
    n_params = sum(p.numel() for p in model.parameters())
    write_text(log_path / "model_summary.txt", f"{model}\n\nparameters: {n_params}\n")
    write_json(log_path / "label_mapping.json", {str(i): name for i, name in enumerate(names)})
    start_epoch = len(history)
    curve = log_path / "plots" / "metrics" / "train" / "loss.tsv"
    logged = len(curve.read_text().splitlines()) - 1 if curve.is_file() else 0
    resume = start_epoch > 0 and logged == start_epoch
    live = _open_live(log_path, resume=resume)
    if live is None:
        return None
    if resume:
        # dvclive resumes a log whose last step is 0 at step 0 again; the checkpoint's epoch is
        # the step of the next row in every case.
        live.step = start_epoch
    else:
        # The log is gone (DVC removes a stage's outputs before it runs) or is another run's:
        # the checkpoint's epochs are written again, so the curve is whole.
        for record in history:
            log_epoch(record, live, None)
    return live


def log_epoch(record: dict[str, Any], live, bar: Progress | None) -> None:
    """An epoch's record to dvclive and the progress bar (either may be ``None``)."""
    if live is not None:
        live.log_metric("train/loss", record["train_loss"])
        if "val_acc" in record:
            live.log_metric("val/acc", record["val_acc"])
        live.next_step()
    if bar is not None:
        shown = {"loss": f"{record['train_loss']:.3f}"}
        if "val_acc" in record:
            shown["acc"] = f"{record['val_acc']:.3f}"
        bar.set_postfix(shown)
        bar.update(1)


def write_class_report(
    log_dir: Path | None, epoch: int, y_true: np.ndarray, y_pred: np.ndarray, names: list[str]
) -> None:
    """``class_report/epoch_XXX.json`` under ``log_dir`` (nothing when ``None``): precision,
    recall and F1 of each class of ``names`` from the labels ``y_true`` and predictions
    ``y_pred`` ``(n,)`` of the validation set."""
    if log_dir is None:
        return
    try:
        from sklearn.metrics import classification_report
    except ImportError:
        return
    report = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(names))),
        target_names=names,
        output_dict=True,
        zero_division=0,
    )
    write_json(log_dir / "class_report" / f"epoch_{epoch:03d}.json", report)


def close_log(bar: Progress | None, live) -> None:
    """Close the progress bar and end the dvclive log (either may be ``None``)."""
    if bar is not None:
        bar.close()
    if live is not None:
        live.end()


def _open_live(log_dir: Path, resume: bool):
    try:
        from dvclive import Live
    except ImportError:
        return None
    return Live(str(log_dir), resume=resume, dvcyaml=False, save_dvc_exp=False)
