"""Train-then-test runs: every retrain arm takes the optimizer steps of the whole train split."""

import numpy as np
import pandas as pd
import pytest

import labelnoise.train
from labelnoise.data import Dataset
from labelnoise.params import TrainParams
from labelnoise.train_test import train_and_test


def _dataset(n_train=40, n_val=8, n_test=8) -> Dataset:
    rng = np.random.default_rng(0)
    n = n_train + n_val + n_test
    labels = np.arange(n) % 2
    images = rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8)
    index = pd.DataFrame(
        {
            "id": np.arange(n),
            "split": ["train"] * n_train + ["val"] * n_val + ["test"] * n_test,
            "label": labels,
            "source": [f"img{i}" for i in range(n)],
        }
    )
    meta = {"task": "custom", "classes": ["a", "b"], "image_size": 8, "hflip_safe": True}
    return Dataset(images, index, meta)


@pytest.mark.parametrize("kept", [40, 25, 3])
def test_every_arm_is_trained_for_the_whole_splits_steps(monkeypatch, kept):
    dataset = _dataset()
    calls = []
    real_fit = labelnoise.train.fit

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(labelnoise.train, "fit", spy)
    keep = np.zeros(40, bool)
    keep[:kept] = True
    params = TrainParams(epochs=1, batch_size=8, width=4, depth=1, device="cpu")
    train_and_test(
        dataset, dataset.index["label"].to_numpy()[:40], params=params, seed=0, keep=keep
    )
    (call,) = calls
    assert call["epoch_size"] == 40 and len(call["rows"]) == kept


def test_fold_models_train_with_the_fold_loss_and_the_baseline_keeps_its_own():
    from labelnoise.params import load_params
    from labelnoise.train_test import fold_config, train_config

    params = load_params()
    baseline, folds = train_config(params.train), fold_config(params.train)
    assert folds.loss == params.train.fold_loss == "gce"
    assert baseline.loss == params.train.loss == "cross_entropy"
    # Only the loss differs: the fold models take the baseline's settings and steps.
    assert {k for k in baseline.__dict__ if getattr(baseline, k) != getattr(folds, k)} == {"loss"}


def test_fit_stages_depend_on_nothing_that_only_flagging_reads():
    from ruamel.yaml import YAML

    from labelnoise.clean import METHODS
    from labelnoise.clean.flagging import flag

    stages = YAML().load(open("dvc.yaml"))["stages"]
    fit_params = stages["fit"]["do"]["params"]
    flagging = {"clean", "clean.count", "clean.cost_ratio", "clean.flag_own"}
    assert not flagging & {str(p) for p in fit_params}
    assert "clean.${item}" in fit_params  # the method's own block, which holds no flag rule
    assert all("count" not in METHODS[m].run.__code__.co_varnames for m in METHODS)
    # The clean stage is the one place that flags, and it reads the whole clean section.
    assert "clean" in stages["clean"]["params"]
    assert "flag(" in open("stages/clean.py").read() and flag.__module__.endswith("flagging")


def test_saved_weights_are_the_same_bytes_whatever_the_file_is_called(tmp_path):
    import torch

    from labelnoise.train_test import save_weights

    model = torch.nn.Linear(3, 2)
    save_weights(tmp_path / "a.pt", model)
    save_weights(tmp_path / "b" / "other.pt", model)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "other.pt").read_bytes()
