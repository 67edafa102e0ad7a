import json

import numpy as np
import pandas as pd
import pytest

from labelnoise.data.generate import generate_dataset
from labelnoise.data.store import load_dataset, save_dataset


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(n_train=8, n_val_per_class=2, n_test=4, image_size=8, seed=0)


def test_round_trip(dataset, tmp_path):
    save_dataset(dataset, tmp_path)
    loaded = load_dataset(tmp_path)
    assert isinstance(loaded.images, np.memmap)
    assert np.array_equal(loaded.images, dataset.images)
    pd.testing.assert_frame_equal(loaded.index, dataset.index, check_dtype=False)
    assert loaded.meta == dataset.meta and loaded.classes == dataset.classes
    for split in ("train", "val", "test"):
        a, b = loaded.split(split), dataset.split(split)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
    assert not isinstance(load_dataset(tmp_path, mmap=False).images, np.memmap)
    assert not list(tmp_path.glob("*.tmp*"))


def test_split_unknown(dataset):
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        dataset.split("dev")


def test_load_errors(dataset, tmp_path):
    with pytest.raises(ValueError, match=r"images\.npy: file not found"):
        load_dataset(tmp_path)
    save_dataset(dataset, tmp_path)
    dataset.index.drop(columns=["source"]).to_csv(tmp_path / "index.csv", index=False)
    with pytest.raises(ValueError, match=r"index\.csv: missing columns source"):
        load_dataset(tmp_path)
    save_dataset(dataset, tmp_path)
    meta = dict(dataset.meta)
    del meta["classes"]
    (tmp_path / "classes.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"classes\.json: missing keys classes"):
        load_dataset(tmp_path)
    save_dataset(dataset, tmp_path)
    dataset.index.iloc[:-1].to_csv(tmp_path / "index.csv", index=False)
    with pytest.raises(ValueError, match=r"index\.csv: ids must be"):
        load_dataset(tmp_path)
