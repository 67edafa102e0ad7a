import json

import numpy as np
import pandas as pd
import pytest

from labelnoise.data.generate import generate_dataset
from labelnoise.data.store import load_dataset, save_dataset, write_images


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


def test_splits_of_a_loaded_dataset_are_views_of_the_memmap(dataset, tmp_path):
    save_dataset(dataset, tmp_path)
    loaded = load_dataset(tmp_path)
    for split in ("train", "val", "test"):
        images, _, ids = loaded.split(split)
        assert isinstance(images, np.memmap) and np.shares_memory(images, loaded.images)
        assert np.array_equal(images, dataset.images[ids])


def test_scattered_splits_are_refused(dataset, tmp_path):
    save_dataset(dataset, tmp_path)
    index = dataset.index.copy()
    index.loc[0, "split"] = "test"
    index.to_csv(tmp_path / "index.csv", index=False)
    with pytest.raises(ValueError, match=r"index\.csv: the rows of split\(s\) test are not contig"):
        load_dataset(tmp_path)


def _chunks(images, size):
    for a in range(0, len(images), size):
        yield images[a : a + size]


@pytest.mark.parametrize("to_file", [False, True])
def test_write_images(dataset, tmp_path, to_file):
    path = tmp_path / "images.npy" if to_file else None
    images = dataset.images
    out = write_images(_chunks(images, 5), shape=images.shape, path=path)
    assert np.array_equal(out, images) and isinstance(out, np.memmap) == to_file
    # Fewer rows than announced: a shorter array (the file's header and length follow).
    out = write_images(_chunks(images[:7], 3), shape=images.shape, path=path)
    assert np.array_equal(out, images[:7])
    if to_file:
        assert np.array_equal(np.load(path), images[:7])
        assert path.stat().st_size == out.offset + images[:7].nbytes
    with pytest.raises(ValueError, match=f"more than the {len(images) - 1} rows"):
        write_images(_chunks(images, 5), shape=(len(images) - 1, *images.shape[1:]), path=path)
    with pytest.raises(ValueError, match="image chunks must be uint8"):
        write_images([images.astype(np.int16)], shape=images.shape, path=path)
    if to_file:
        assert np.array_equal(np.load(path), images[:7]), "a failed write replaced the file"
        assert [p.name for p in tmp_path.iterdir()] == ["images.npy"]


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
