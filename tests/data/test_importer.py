import os
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from labelnoise.data.importer import import_dataset, link_tree, load_image
from labelnoise.data.store import load_dataset, save_dataset

FORMATS = [
    ("jpg", "RGB"),
    ("png", "RGBA"),
    ("webp", "RGB"),
    ("bmp", "L"),
    ("png", "P"),
    ("png", "I;16"),
]


def make_image(path, *, fmt="png", mode="RGB", size=(12, 9), value=0):
    rng = np.random.default_rng(value)
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    if mode == "I;16":
        im = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    elif mode == "RGBA":
        im = Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]))
    else:
        im = Image.fromarray(rgb).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format={"jpg": "JPEG"}.get(fmt, fmt.upper()))
    return path


def make_tree(root, classes=("cat", "dog"), per_class=5, split="train"):
    """Class folders of mixed formats, modes and sizes; returns the written paths."""
    paths = []
    for c, name in enumerate(classes):
        for i in range(per_class):
            fmt, mode = FORMATS[(c + i) % len(FORMATS)]
            size = (10 + i, 8 + 2 * c)
            base = root / split if split else root
            paths.append(
                make_image(
                    base / name / f"{i}.{fmt}", fmt=fmt, mode=mode, size=size, value=c * 99 + i
                )
            )
    return paths


def snapshot(paths):
    return {str(p): (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths}


def test_flat_folder_splits_stratified_and_deterministic(tmp_path):
    paths = make_tree(tmp_path / "data", per_class=10, split=None)
    before = snapshot(paths)
    kw = dict(
        kind="folder", image_size=8, val_fraction=0.2, test_fraction=0.2, workers=2, progress=False
    )
    ds, skipped = import_dataset(tmp_path / "data", seed=3, **kw)
    assert skipped.empty and list(skipped.columns) == ["path", "reason"]
    assert ds.images.shape == (20, 8, 8, 3) and ds.images.dtype == np.uint8
    assert ds.classes == ["cat", "dog"] and ds.meta["task"] == "custom"
    assert ds.meta["hflip_safe"] is True and ds.meta["fine_to_coarse"] == []
    idx = ds.index
    assert (idx["coarse"] == -1).all() and (idx["fine"] == -1).all()
    assert idx["id"].tolist() == list(range(20))
    counts = idx.groupby(["split", "label"]).size().unstack()
    assert counts.loc["train"].tolist() == [6, 6]
    assert counts.loc["val"].tolist() == [2, 2] and counts.loc["test"].tolist() == [2, 2]
    # splits are contiguous, in train/val/test order
    assert idx["split"].tolist() == ["train"] * 12 + ["val"] * 4 + ["test"] * 4
    assert set(idx["source"]) == {str(p) for p in paths}
    assert (idx["label_name"] == [ds.classes[i] for i in idx["label"]]).all()
    # each row holds the decoded image of its source
    row = idx.iloc[5]
    assert np.array_equal(ds.images[5], load_image(row["source"], image_size=8))
    again, _ = import_dataset(tmp_path / "data", seed=3, **kw)
    pd.testing.assert_frame_equal(again.index, idx)
    assert np.array_equal(again.images, ds.images)
    other, _ = import_dataset(tmp_path / "data", seed=4, **kw)
    assert set(other.index.loc[other.index["split"] == "val", "source"]) != set(
        idx.loc[idx["split"] == "val", "source"]
    )
    assert snapshot(paths) == before
    save_dataset(ds, tmp_path / "out")
    assert load_dataset(tmp_path / "out").classes == ["cat", "dog"]


def test_split_folders_and_memmap(tmp_path):
    root = tmp_path / "data"
    make_tree(root, per_class=3)
    make_tree(root, per_class=1, split="val")
    make_tree(root, classes=("dog",), per_class=2, split="test")
    npy = tmp_path / "out" / "images.npy"
    ds, _ = import_dataset(
        root, kind="folder", image_size=8, seed=0, progress=False, images_path=npy
    )
    assert isinstance(ds.images, np.memmap) and ds.images.shape == (10, 8, 8, 3)
    assert np.array_equal(np.load(npy), ds.images)
    assert ds.index["split"].value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
    assert not list(npy.parent.glob("*.tmp*"))


def test_carves_only_missing_split(tmp_path):
    root = tmp_path / "data"
    make_tree(root, per_class=6)
    make_tree(root, per_class=1, split="test")
    ds, _ = import_dataset(
        root, kind="folder", image_size=8, val_fraction=0.2, seed=0, progress=False
    )
    counts = ds.index["split"].value_counts().to_dict()
    assert counts == {"train": 10, "val": 2, "test": 2}


def test_csv_with_and_without_split(tmp_path):
    paths = make_tree(tmp_path / "imgs", classes=("2", "10"), per_class=4, split=None)
    rel = [str(p.relative_to(tmp_path)) for p in paths]
    labels = [p.parent.name for p in paths]
    pd.DataFrame({"path": rel, "label": labels}).to_csv(tmp_path / "a.csv", index=False)
    ds, _ = import_dataset(
        tmp_path / "a.csv",
        kind="csv",
        image_size=8,
        val_fraction=0.25,
        test_fraction=0.25,
        seed=1,
        progress=False,
    )
    assert ds.classes == ["2", "10"]
    assert ds.index["split"].value_counts().to_dict() == {"train": 4, "val": 2, "test": 2}
    split = ["train", "train", "val", "test"] * 2
    pd.DataFrame({"path": [str(p) for p in paths], "label": labels, "split": split}).to_csv(
        tmp_path / "b.csv", index=False
    )
    ds, _ = import_dataset(tmp_path / "b.csv", kind="csv", image_size=8, seed=1, progress=False)
    got = dict(zip(ds.index["source"], ds.index["split"], strict=True))
    assert got == dict(zip(map(str, paths), split, strict=True))


def test_conversions_and_resize(tmp_path):
    a16 = np.array([[0, 32896], [65535, 65535]], dtype=np.uint16)
    Image.fromarray(a16).save(tmp_path / "g16.png")
    assert load_image(tmp_path / "g16.png", image_size=8, resize="stretch")[0, 0].tolist() == [
        0,
        0,
        0,
    ]
    rgba = np.zeros((8, 8, 4), np.uint8)
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    assert (load_image(tmp_path / "clear.png", image_size=8) == 255).all()
    # 40 x 20: blue outer quarters, white centre
    wide = np.full((20, 40, 3), 255, np.uint8)
    wide[:, :10] = wide[:, 30:] = (0, 0, 255)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    crop = load_image(tmp_path / "wide.png", image_size=8, resize="crop").astype(int)
    assert crop[..., 0].min() > 200  # no blue left, only resampling ringing at the edges
    pad = load_image(tmp_path / "wide.png", image_size=8, resize="pad")
    assert (pad[[0, 1, 6, 7]] == 0).all() and pad[4, 4].tolist() == [255, 255, 255]
    stretch = load_image(tmp_path / "wide.png", image_size=8, resize="stretch").astype(int)
    assert stretch[4, 0, 0] < 50 and stretch[4, 4].tolist() == [255, 255, 255]
    # EXIF orientation 2 (mirrored) decodes like the mirrored pixels without EXIF
    exif = Image.Exif()
    exif[0x0112] = 2
    Image.fromarray(wide[:, :20]).save(tmp_path / "exif.png", exif=exif)
    Image.fromarray(wide[:, :20][:, ::-1]).save(tmp_path / "plain.png")
    assert np.array_equal(
        load_image(tmp_path / "exif.png", image_size=8),
        load_image(tmp_path / "plain.png", image_size=8),
    )


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_bad_images_named_or_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    root = tmp_path / "data"
    paths = make_tree(root, per_class=4, split=None)
    truncate(paths[0])
    (root / "dog" / "junk.png").write_bytes(b"not an image")
    (root / "dog" / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"unreadable images.*cat/0\.jpg.*dog/junk\.png"):
        import_dataset(
            root,
            kind="folder",
            image_size=8,
            seed=0,
            progress=False,
            test_fraction=0,
            val_fraction=0,
        )
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    npy = tmp_path / "images.npy"
    full, _ = import_dataset(
        root,
        kind="folder",
        image_size=8,
        seed=0,
        progress=False,
        val_fraction=0,
        test_fraction=0,
        on_bad_image="skip",
    )
    ds, skipped = import_dataset(
        root,
        kind="folder",
        image_size=8,
        seed=0,
        progress=False,
        val_fraction=0,
        test_fraction=0,
        on_bad_image="skip",
        images_path=npy,
    )
    assert sorted(skipped["path"]) == sorted(
        [str(paths[0]), str(root / "dog" / "junk.png"), str(root / "dog" / "notes.txt")]
    )
    assert len(ds.index) == 7 and ds.images.shape == (7, 8, 8, 3)
    assert str(paths[0]) not in set(ds.index["source"])
    assert np.array_equal(np.load(npy), full.images)
    for i, src in enumerate(ds.index["source"]):
        assert np.array_equal(ds.images[i], load_image(src, image_size=8))
    truncate(paths[1])
    truncate(paths[2])
    with pytest.raises(ValueError, match="class 'cat' has 1"):
        import_dataset(
            root,
            kind="folder",
            image_size=8,
            seed=0,
            progress=False,
            on_bad_image="skip",
            images_path=npy,
        )
    assert np.array_equal(np.load(npy), full.images)


def test_chunk_size_does_not_change_the_import(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    root = tmp_path / "data"
    paths = make_tree(root, per_class=6, split=None)
    truncate(paths[3])
    (root / "dog" / "junk.png").write_bytes(b"not an image")
    kw = dict(kind="folder", image_size=8, seed=0, progress=False, on_bad_image="skip", workers=2)
    whole, skipped = import_dataset(root, chunk_size=1000, **kw)
    assert len(skipped) == 2 and len(whole.index) == 11
    for chunk_size in (1, 2, 5):
        for path in (None, tmp_path / f"images_{chunk_size}.npy"):
            ds, again = import_dataset(root, chunk_size=chunk_size, images_path=path, **kw)
            assert np.array_equal(ds.images, whole.images), (chunk_size, path)
            assert ds.index.equals(whole.index) and again.equals(skipped)
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        import_dataset(root, chunk_size=0, **kw)


def test_import_memory_is_bounded_by_the_chunk(tmp_path):
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for i in range(400):
        folder = tmp_path / "data" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(tile, i, axis=0)).save(folder / f"{i}.png")
    kw = dict(kind="folder", image_size=64, seed=0, progress=False, workers=2, chunk_size=8)
    # A first run loads Pillow's plugins and tqdm, which would count as allocations.
    import_dataset(tmp_path / "data", **kw)
    tracemalloc.start()
    try:
        ds, _ = import_dataset(tmp_path / "data", images_path=tmp_path / "images.npy", **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Beyond one chunk of pixels, only the file listing grows with the number of images.
    assert peak < ds.images.nbytes / 5, f"{peak} bytes for {ds.images.nbytes}"


def test_structural_errors(tmp_path):
    kw = dict(kind="folder", image_size=8, seed=0, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        import_dataset(tmp_path / "nope", **kw)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="no image files"):
        import_dataset(tmp_path / "empty", **kw)
    (tmp_path / "empty" / "dog").mkdir()
    (tmp_path / "empty" / "bird").mkdir()
    make_tree(tmp_path / "empty", classes=("dog",), per_class=2, split=None)
    with pytest.raises(ValueError, match=r"without image files: \S+/bird; \S+/cat$"):
        import_dataset(tmp_path / "empty", **kw)
    one = tmp_path / "one"
    make_tree(one, per_class=3, split=None)
    make_image(one / "bird" / "x.png")
    make_image(one / "fish" / "y.png")
    with pytest.raises(
        ValueError, match=r">= 2 train images: class 'bird' has 1; class 'fish' has 1"
    ):
        import_dataset(one, **kw)
    unk = tmp_path / "unk"
    make_tree(unk, per_class=3)
    make_image(unk / "val" / "bird" / "a.png")
    make_image(unk / "test" / "fish" / "b.png")
    with pytest.raises(ValueError, match="train does not have") as err:
        import_dataset(unk, on_bad_image="skip", **kw)
    assert "val/bird/a.png (label 'bird')" in str(err.value)
    assert "test/fish/b.png (label 'fish')" in str(err.value)


def test_csv_errors(tmp_path):
    kw = dict(kind="csv", image_size=8, seed=0, progress=False)
    paths = make_tree(tmp_path / "imgs", per_class=3, split=None)
    good = [str(p) for p in paths]
    labels = [p.parent.name for p in paths]
    csv = tmp_path / "l.csv"
    pd.DataFrame({"file": good, "label": labels}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match="missing columns path"):
        import_dataset(csv, **kw)
    pd.DataFrame(
        {"path": [*good, "gone1.png", "gone2.png"], "label": [*labels, "cat", "dog"]}
    ).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"not found.*line 8.*gone1\.png.*line 9.*gone2\.png"):
        import_dataset(csv, **kw)
    ds, skipped = import_dataset(csv, on_bad_image="skip", **kw)
    assert len(ds.index) == 6 and skipped["reason"].tolist() == ["file not found"] * 2
    pd.DataFrame({"path": good, "label": ["", *labels[1:-1], ""]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"line 2: empty label; .*line 7: empty label"):
        import_dataset(csv, on_bad_image="skip", **kw)
    pd.DataFrame({"path": [*good, good[0], good[1]], "label": [*labels, "cat", "cat"]}).to_csv(
        csv, index=False
    )
    with pytest.raises(ValueError, match=r"more than once.*line 2 .*line 3 .*line 8 .*line 9 "):
        import_dataset(csv, on_bad_image="skip", **kw)
    many = pd.DataFrame({"path": [f"m{i}.png" for i in range(25)], "label": "cat"})
    many.to_csv(csv, index=False)
    with pytest.raises(ValueError, match="and 5 more"):
        import_dataset(csv, **kw)


def test_link_tree(tmp_path):
    a = make_image(tmp_path / "src" / "a" / "x.png")
    b = make_image(tmp_path / "src" / "b" / "x.png", value=1)
    c = make_image(tmp_path / "src" / "c.jpg", fmt="jpg")
    before = snapshot([a, b, c])
    out = tmp_path / "tree"
    table = link_tree([a, b, c], ["cat", "cat", "dog"], out)
    assert table["link"].tolist() == ["cat/x__0.png", "cat/x__1.png", "dog/c.jpg"]
    for src, link in zip(table["path"], table["link"], strict=True):
        assert os.stat(src).st_ino == os.stat(out / link).st_ino
    assert snapshot([a, b, c]) == before
    table = link_tree([c], ["bird"], out, mode="symlink")
    assert sorted(p.name for p in out.iterdir()) == ["bird"]
    assert (out / "bird" / "c.jpg").resolve() == c
    assert snapshot([a, b, c]) == before
    assert not list(tmp_path.glob(".tree.*"))
    with pytest.raises(
        ValueError, match=r"nope1\.png: file not found; .*nope2\.png: file not found"
    ):
        link_tree([tmp_path / "nope1.png", tmp_path / "nope2.png"], ["a", "b"], out)
    with pytest.raises(ValueError, match="bad label '../x'"):
        link_tree([a], ["../x"], out)
