import csv
import io
import json
import math
import re
import shutil
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labelnoise.train import (
    FitResult,
    TrainConfig,
    extract_features,
    fit,
    predict_proba,
    resolve_device,
)
from labelnoise.train.device import to_device_nhwc
from labelnoise.train.steps import crop_flip

FAST = TrainConfig(width=8, depth=2, epochs=4, batch_size=32, lr=0.05, device="cpu")


def brightest_channel(n: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is the channel lifted above the others."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 110, (n, size, size, 3))
    images[np.arange(n), :, :, labels] += 120
    return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def data():
    return brightest_channel(200, seed=0)


@pytest.fixture(scope="module")
def val():
    return brightest_channel(90, seed=1)


@pytest.fixture(scope="module")
def trained(data, val):
    images, labels = data
    return fit(images, labels, n_classes=3, config=FAST, seed=0, progress=False)


class CrossEntropyHook:
    """Plain cross-entropy; optionally interrupts the run at one epoch."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at = stop_at
        self.steps = 0

    def loss(self, logits, targets, index, epoch):
        assert index.shape == targets.shape
        return F.cross_entropy(logits, targets, reduction="none")

    def after_step(self) -> None:
        self.steps += 1

    def end_epoch(self, epoch: int) -> None:
        if epoch == self.stop_at:
            raise KeyboardInterrupt

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]


class NanHook(CrossEntropyHook):
    def loss(self, logits, targets, index, epoch):
        losses = super().loss(logits, targets, index, epoch)
        return losses * (math.nan if epoch == 1 else 1.0)


def test_fit_learns(trained, val):
    assert isinstance(trained, FitResult)
    assert trained.device == torch.device("cpu")
    assert [h["epoch"] for h in trained.history] == [0, 1, 2, 3]
    assert trained.history[-1]["train_loss"] < trained.history[0]["train_loss"]
    proba = predict_proba(trained.model, val[0])
    assert (proba.argmax(1) == val[1]).mean() > 0.9


def test_predict_proba_rows_sum_to_one(trained, val):
    proba = predict_proba(trained.model, val[0], batch_size=7)
    assert proba.shape == (90, 3)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)


def test_extract_features_shape(trained, val):
    feats = extract_features(trained.model, val[0], batch_size=50)
    assert feats.shape == (90, trained.model.head.in_features)
    assert np.isfinite(feats).all()


def test_deterministic_on_cpu(data, val, trained):
    again = fit(*data, n_classes=3, config=FAST, seed=0, progress=False)
    np.testing.assert_array_equal(
        predict_proba(again.model, val[0]), predict_proba(trained.model, val[0])
    )
    other = fit(*data, n_classes=3, config=FAST, seed=1, progress=False)
    assert not np.array_equal(
        predict_proba(other.model, val[0]), predict_proba(trained.model, val[0])
    )


def test_resume_after_interruption_is_exact(data, val, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(
            *data,
            n_classes=3,
            config=FAST,
            seed=3,
            checkpoint_path=ckpt,
            hook=CrossEntropyHook(stop_at=2),
            progress=False,
        )
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    hook = CrossEntropyHook()
    resumed = fit(
        *data, n_classes=3, config=FAST, seed=3, checkpoint_path=ckpt, hook=hook, progress=False
    )
    straight_hook = CrossEntropyHook()
    straight = fit(*data, n_classes=3, config=FAST, seed=3, hook=straight_hook, progress=False)
    assert hook.steps == straight_hook.steps
    assert resumed.history == straight.history
    np.testing.assert_array_equal(
        predict_proba(resumed.model, val[0]), predict_proba(straight.model, val[0])
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_a_log_gets_a_line_per_epoch_with_loss_and_accuracy(data, val, capsys):
    fit(*data, n_classes=3, config=FAST, seed=0, val_images=val[0], val_labels=val[1], desc="fit")
    lines = capsys.readouterr().err.splitlines()
    line_format = re.compile(r"fit: epoch (\d)/4 \(\d+%\) in .*, loss=\d\.\d{3} acc=\d\.\d{3}$")
    found = [line_format.match(line) for line in lines]
    assert all(found), lines
    assert [int(m[1]) for m in found] == [1, 2, 3, 4]


def test_a_terminal_gets_a_tqdm_bar_over_the_epochs(data, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fit(*data, n_classes=3, config=FAST, seed=0, desc="fit")
    bar = terminal.getvalue()
    assert "fit: 100%|" in bar and "4/4" in bar and "\r" in bar
    assert not re.search(r"fit: epoch \d/4", bar)


def test_checkpoint_of_other_config_is_not_resumed(data, tmp_path, capsys):
    ckpt = tmp_path / "ckpt.pt"
    fit(
        *data,
        n_classes=3,
        config=TrainConfig(**{**FAST.__dict__, "epochs": 1}),
        seed=0,
        checkpoint_path=ckpt,
        progress=False,
    )
    resumed = fit(*data, n_classes=3, config=FAST, seed=0, checkpoint_path=ckpt, progress=False)
    assert "starting afresh" in capsys.readouterr().err
    fresh = fit(*data, n_classes=3, config=FAST, seed=0, progress=False)
    assert resumed.history == fresh.history


def test_rows_train_as_a_copy_of_them_would(data, val, tmp_path, capsys):
    images, labels = data
    rows = np.flatnonzero(np.arange(len(labels)) % 3 != 1)
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 2, "class_weights": True})
    ckpt = tmp_path / "ckpt.pt"
    copied = fit(
        images[rows],
        labels[rows],
        n_classes=3,
        config=cfg,
        seed=0,
        checkpoint_path=ckpt,
        progress=False,
    )
    selected = fit(images, labels, rows=rows, n_classes=3, config=cfg, seed=0, progress=False)
    assert selected.history == copied.history
    np.testing.assert_array_equal(
        predict_proba(selected.model, val[0]), predict_proba(copied.model, val[0])
    )
    # Same fingerprint: the copy's finished checkpoint is resumed, with nothing left to train.
    resume = {"rows": rows, "n_classes": 3, "config": cfg, "seed": 0, "checkpoint_path": ckpt}
    fit(images, labels, **resume, progress=False)
    assert "starting afresh" not in capsys.readouterr().err
    changed = images.copy()
    changed[rows[-1], 0, 0, 0] ^= 1
    fit(changed, labels, **resume, progress=False)
    assert "starting afresh" in capsys.readouterr().err


def test_read_only_memory_map_is_trained_in_place(data, val, trained, tmp_path):
    images, labels = data
    np.save(tmp_path / "images.npy", images)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    assert to_device_nhwc(mapped, torch.device("cpu")).data_ptr() == mapped.ctypes.data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit(
            mapped,
            labels,
            n_classes=3,
            config=FAST,
            seed=0,
            val_images=mapped[:50],
            val_labels=labels[:50],
            progress=False,
        )
    np.testing.assert_array_equal(
        predict_proba(result.model, val[0]), predict_proba(trained.model, val[0])
    )


@pytest.mark.parametrize("pad", [0, 1, 3])
def test_crops_read_the_border_as_a_padded_copy_would(pad):
    rng = np.random.default_rng(pad)
    n, height, width, b = 10, 5, 7, 32
    images = torch.from_numpy(rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8))
    fill = torch.tensor([7, 8, 9], dtype=torch.uint8)
    padded = fill.expand(n, height + 2 * pad, width + 2 * pad, 3).clone()
    padded[:, pad : pad + height, pad : pad + width] = images
    idx = torch.from_numpy(rng.integers(0, n, b))
    offsets = torch.from_numpy(rng.integers(0, 2 * pad + 1, (b, 2)))
    flips = torch.from_numpy(rng.random(b) < 0.5)
    batch = crop_flip(images, idx, offsets, flips, fill=fill, pad=pad)
    for k in range(b):
        dy, dx = offsets[k].tolist()
        crop = padded[idx[k], dy : dy + height, dx : dx + width]
        assert torch.equal(batch[k], crop.flip(1) if flips[k] else crop)


def test_nan_loss_names_epoch(data):
    with pytest.raises(ValueError, match="epoch 1, step 0"):
        fit(*data, n_classes=3, config=FAST, seed=0, hook=NanHook(), progress=False)


def test_a_huge_lr_is_refused_before_training(data):
    cfg = TrainConfig(**{**FAST.__dict__, "lr": 1e12, "warmup_epochs": 0.0})
    with pytest.raises(ValueError, match=r"train.lr must lie in \(0, 10\], got 1000000000000.0"):
        fit(*data, n_classes=3, config=cfg, seed=0, progress=False)


def test_log_dir(data, val, tmp_path):
    images, labels = data
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 2, "class_weights": True})
    result = fit(
        images,
        labels,
        n_classes=3,
        config=cfg,
        seed=0,
        val_images=val[0],
        val_labels=val[1],
        class_names=["r", "g", "b"],
        log_dir=tmp_path / "log",
        progress=False,
    )
    log = tmp_path / "log"
    assert {"train_loss", "val_acc"} <= set(result.history[-1])
    report = json.loads((log / "class_report" / "epoch_001.json").read_text())
    assert {"r", "g", "b", "accuracy"} <= set(report)
    assert json.loads((log / "label_mapping.json").read_text()) == {"0": "r", "1": "g", "2": "b"}
    assert "parameters:" in (log / "model_summary.txt").read_text()
    assert not (log / "dvc.yaml").exists() and not (tmp_path / "dvc.yaml").exists()
    metrics = json.loads((log / "metrics.json").read_text())
    assert "train" in metrics and "val" in metrics


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"images": lambda x: x.astype(np.float32)}, "uint8"),
        ({"images": lambda x: x[..., :2]}, "shape"),
        ({"labels": lambda y: y[:-1]}, "199 entries"),
        ({"labels": lambda y: np.where(np.arange(len(y)) == 5, 7, y)}, "contains 7"),
        ({"labels": lambda y: y.astype(float)}, "integer"),
        ({"config": lambda c: TrainConfig(device="tpu")}, "tpu"),
        ({"config": lambda c: TrainConfig(model="vgg")}, "vgg"),
        ({"config": lambda c: TrainConfig(epochs=0)}, "epochs"),
    ],
)
def test_bad_inputs(data, change, match):
    images, labels = data
    images = change.get("images", lambda x: x)(images)
    labels = change.get("labels", lambda y: y)(labels)
    config = change.get("config", lambda c: c)(FAST)
    with pytest.raises(ValueError, match=match):
        fit(images, labels, n_classes=3, config=config, seed=0, progress=False)


def test_cuda_unavailable_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="'cuda'"):
        resolve_device("cuda")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}


@pytest.mark.gpu
def test_cuda_bf16_training(data, val):
    cfg = TrainConfig(**{**FAST.__dict__, "device": "cuda"})
    result = fit(
        *data, n_classes=3, config=cfg, seed=0, val_images=val[0], val_labels=val[1], progress=False
    )
    assert result.device.type == "cuda"
    proba = predict_proba(result.model, val[0])
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-4)
    assert (proba.argmax(1) == val[1]).mean() > 0.9
    assert result.history[-1]["val_acc"] > 0.9


@pytest.mark.gpu
def test_cuda_compiled_training_learns_what_eager_learns(data, val):
    eager = TrainConfig(**{**FAST.__dict__, "device": "cuda"})
    compiled = TrainConfig(**{**eager.__dict__, "compile": True})
    accuracy = {}
    for name, cfg in (("eager", eager), ("compiled", compiled)):
        model = fit(*data, n_classes=3, config=cfg, seed=0, progress=False).model
        accuracy[name] = (predict_proba(model, val[0]).argmax(1) == val[1]).mean()
    # torch.compile reorders float work, so the two models differ by rounding, not in skill.
    assert accuracy["compiled"] > 0.9
    assert abs(accuracy["compiled"] - accuracy["eager"]) <= 0.05


def test_resumed_training_curve_has_each_epoch_once(data, tmp_path):
    ckpt, live = tmp_path / "ckpt.pt", tmp_path / "live"
    options = {"n_classes": 3, "config": FAST, "seed": 3, "checkpoint_path": ckpt}
    # Stopped after the first epoch: dvclive alone would resume its log at step 0 again.
    with pytest.raises(KeyboardInterrupt):
        fit(*data, **options, hook=CrossEntropyHook(stop_at=1), log_dir=live, progress=False)
    fit(*data, **options, hook=CrossEntropyHook(), log_dir=live, progress=False)
    with open(live / "plots" / "metrics" / "train" / "loss.tsv") as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh, delimiter="\t")]
    assert steps == list(range(FAST.epochs))


class _StepCounter:
    """A hook that counts optimizer steps and the rows each batch drew."""

    def __init__(self) -> None:
        self.steps = 0
        self.seen: list[np.ndarray] = []

    def loss(self, logits, targets, index, epoch):
        self.seen.append(index.cpu().numpy())
        return F.cross_entropy(logits, targets, reduction="none")

    def after_step(self) -> None:
        self.steps += 1

    def end_epoch(self, epoch: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def test_a_cleaned_subset_takes_the_steps_of_the_whole_set(data):
    images, labels = data
    config = TrainConfig(width=8, depth=2, epochs=2, batch_size=32, device="cpu")
    whole, kept = _StepCounter(), _StepCounter()
    reference = fit(images, labels, n_classes=3, config=config, seed=0, hook=whole, progress=False)
    rows = np.flatnonzero(np.arange(len(labels)) % 3 != 0)  # a third dropped
    result = fit(
        images, labels, n_classes=3, config=config, seed=0, rows=rows,
        epoch_size=len(labels), hook=kept, progress=False,
    )  # fmt: skip
    assert kept.steps == whole.steps == 2 * math.ceil(len(labels) / 32)
    # The same learning-rate schedule, to its end.
    assert [h["lr"] for h in result.history] == [h["lr"] for h in reference.history]
    # Only kept rows are drawn, each once before any is drawn again.
    first_epoch = np.concatenate(kept.seen[: whole.steps // 2])
    assert set(first_epoch) <= set(rows)
    assert set(first_epoch[: len(rows)]) == set(rows)


def test_epoch_size_below_the_rows_is_refused(data):
    images, labels = data
    with pytest.raises(ValueError, match="epoch_size must be an int >= the 100 examples"):
        fit(
            images, labels, n_classes=3, config=FAST, seed=0, rows=np.arange(100),
            epoch_size=99, progress=False,
        )  # fmt: skip


def test_a_finished_checkpoint_resumed_into_a_fresh_log_writes_the_whole_curve(data, tmp_path):
    ckpt, live = tmp_path / "ckpt.pt", tmp_path / "live"
    options = {"n_classes": 3, "config": FAST, "seed": 3, "checkpoint_path": ckpt}
    fit(*data, **options, log_dir=live, progress=False)
    first = (live / "plots" / "metrics" / "train" / "loss.tsv").read_text()
    shutil.rmtree(live)  # as DVC removes a stage's outputs before it runs again
    fit(*data, **options, log_dir=live, progress=False)  # nothing left to train
    again = (live / "plots" / "metrics" / "train" / "loss.tsv").read_text()
    losses = [row.split("\t")[1] for row in again.splitlines()[1:]]
    assert losses == [row.split("\t")[1] for row in first.splitlines()[1:]]
    assert len(losses) == FAST.epochs
