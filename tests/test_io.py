import json

import numpy as np
import pytest

from labelnoise.io import atomic_path, load_npy, read_json, save_npy, write_json


def test_atomic_file_is_untouched_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"old": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_directory_replaces_the_whole_directory(tmp_path):
    target = tmp_path / "dir"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "a.txt").write_text("a")
    with atomic_path(target, directory=True) as tmp:
        (tmp / "b.txt").write_text("b")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_json_converts_numpy_and_non_finite(tmp_path):
    write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    assert read_json(tmp_path / "m.json") == {"a": 0.5, "b": [0, 1], "c": None}


def test_npy_round_trip_and_missing_file(tmp_path):
    save_npy(tmp_path / "x.npy", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert load_npy(tmp_path / "x.npy", mmap=True).sum() == 15
    with pytest.raises(ValueError, match="missing.npy"):
        load_npy(tmp_path / "missing.npy")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        read_json(tmp_path / "bad.json")
