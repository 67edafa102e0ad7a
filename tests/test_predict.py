"""labelnoise.predict: the model folder's card, loading it back, predicting a folder of images
(decoded as the import decodes them), the command line, and every way a folder can be wrong."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labelnoise.data.importer import load_image
from labelnoise.predict import (
    FORMAT_VERSION,
    image_files,
    load_cleaned_model,
    model_card,
    predict_folder,
    write_model_folder,
)
from labelnoise.train import build_model, predict_proba
from labelnoise.train_test import save_weights

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "eel"]
RECORD = {
    "rate": 0.2, "method": "consensus", "n_kept": 90, "n_removed": 10, "n_flipped_kept": 3,
    "accuracy": 0.75, "balanced_accuracy": 0.7, "macro_f1": 0.72, "n_test": 40, "n_correct": 30,
}  # fmt: skip


def _card(**changes) -> dict:
    options = dict(
        model="small_cnn", width=4, depth=2, classes=CLASSES, image_size=12, resize="pad",
        method="consensus", rate=0.2, seed=3, test_labels="given",
    )  # fmt: skip
    return model_card(RECORD, **{**options, **changes})


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A model folder of an untrained 3-class small_cnn on 12 px images, resized by padding."""
    model = build_model("small_cnn", n_classes=3, width=4, depth=2, image_size=12, seed=1)
    save_weights(tmp_path / "weights.pt", model)
    write_model_folder(tmp_path / "model", weights=tmp_path / "weights.pt", card=_card())
    return tmp_path / "model"


@pytest.fixture
def images_dir(tmp_path) -> Path:
    """Five images of other sizes and modes, two in a subfolder, and files that are not images."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for i, (name, mode) in enumerate(
        [
            ("a.png", "RGB"),
            ("b.jpg", "RGB"),
            ("c.png", "L"),
            ("sub/d.webp", "RGB"),
            ("sub/e.bmp", "P"),
        ]
    ):
        pixels = rng.integers(0, 256, size=(10 + 3 * i, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).convert(mode).save(root / name)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes((root / "a.png").read_bytes())
    return root


def test_the_card_says_how_to_use_the_model():
    card = _card()
    assert card["format"] == "labelnoise-model" and card["format_version"] == FORMAT_VERSION
    assert card["architecture"] == {"model": "small_cnn", "width": 4, "depth": 2, "n_classes": 3}
    assert card["classes"] == CLASSES
    assert card["input"]["image_size"] == 12 and card["input"]["resize"] == "pad"
    assert (card["input"]["dtype"], card["input"]["channels"], card["input"]["layout"]) == (
        "uint8", "RGB", "HWC",
    )  # fmt: skip
    assert "inside the model" in card["input"]["normalisation"]
    assert card["trained_on"]["method"] == "consensus" and card["trained_on"]["rate"] == 0.2
    assert card["test"] == {
        "labels": "given", "accuracy": 0.75, "balanced_accuracy": 0.7, "macro_f1": 0.72,
        "n_test": 40, "n_correct": 30,
    }  # fmt: skip
    json.dumps(card)  # JSON as it is


def test_the_folder_loads_back_the_same_weights_normalisation_included(model_dir, tmp_path):
    model, card = load_cleaned_model(model_dir)
    assert card == _card() and not model.training
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert {"mean", "std"} <= saved.keys()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_predictions_are_the_models_probabilities_of_the_imported_pixels(model_dir, images_dir):
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in images_dir.rglob("*.*")}
    table = predict_folder(model_dir, images_dir, batch_size=2)
    files = ["a.png", "b.jpg", "c.png", "sub/d.webp", "sub/e.bmp"]
    assert list(table["path"]) == [str(images_dir / name) for name in files]
    assert list(table.columns) == [
        "path", "predicted_label", "predicted_prob", "prob_cat", "prob_dog", "prob_eel"
    ]  # fmt: skip
    model, _ = load_cleaned_model(model_dir)
    pixels = np.stack([load_image(images_dir / f, image_size=12, resize="pad") for f in files])
    expected = predict_proba(model, pixels)
    probs = table[["prob_cat", "prob_dog", "prob_eel"]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    assert list(table["predicted_label"]) == [CLASSES[k] for k in expected.argmax(1)]
    np.testing.assert_allclose(table["predicted_prob"], expected.max(1), rtol=1e-5)
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in images_dir.rglob("*.*")} == before


def test_an_unreadable_image_is_named_or_skipped(model_dir, images_dir):
    (images_dir / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=r"1 unreadable image\(s\): .*broken\.jpg"):
        predict_folder(model_dir, images_dir)
    table = predict_folder(model_dir, images_dir, on_bad_image="skip")
    assert len(table) == 5 and "broken.jpg" in table.attrs["skipped"][0]


def test_the_command_line_writes_the_table_outside_the_images(model_dir, images_dir, tmp_path):
    out = tmp_path / "predictions.csv"
    command = [sys.executable, "-m", "labelnoise.predict", str(model_dir), str(images_dir)]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[0] == (
        "path,predicted_label,predicted_prob,prob_cat,prob_dog,prob_eel"
    )
    assert len(out.read_text().splitlines()) == 6
    inside = images_dir / "predictions.csv"
    done = subprocess.run(
        [*command, "--out", str(inside)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2 and "outside" in done.stderr and not inside.exists()


def _damage(folder: Path, edit) -> None:
    path = folder / "model.json"
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        (lambda f: (f / "model.json").unlink(), r"model\.json: file not found"),
        (lambda f: (f / "model.pt").unlink(), r"model\.pt: weights file not found"),
        (lambda f: (f / "model.json").write_text("{oops"), r"model\.json: not valid JSON"),
        (lambda f: (f / "model.pt").write_bytes(b"junk"), r"model\.pt: not a readable state_dict"),
        (
            lambda f: _damage(f, lambda c: c.update(format_version=FORMAT_VERSION + 1)),
            rf"model card format_version {FORMAT_VERSION + 1} .* reads version {FORMAT_VERSION}",
        ),
        (lambda f: _damage(f, lambda c: c.pop("format")), "not a labelnoise model card"),
        (
            lambda f: _damage(f, lambda c: c["classes"].append("fox")),
            r"invalid model card: 4 classes for n_classes 3",
        ),
        (
            lambda f: _damage(f, lambda c: c["input"].update(resize="zoom")),
            r"input\.resize must be null or one of",
        ),
        (
            lambda f: _damage(f, lambda c: c["architecture"].update(width=8)),
            r"model\.pt: weights do not match the model",
        ),
    ],
    ids=[
        "no-card", "no-weights", "corrupt-card", "corrupt-weights", "newer-version", "no-format",
        "classes", "resize", "other-architecture",
    ],
)  # fmt: skip
def test_a_wrong_model_folder_is_refused_by_name(model_dir, images_dir, damage, pattern):
    damage(model_dir)
    with pytest.raises(ValueError, match=pattern):
        load_cleaned_model(model_dir)
    with pytest.raises(ValueError, match=pattern):
        predict_folder(model_dir, images_dir)


def test_a_missing_model_folder_and_empty_or_missing_images_are_refused(model_dir, tmp_path):
    with pytest.raises(ValueError, match=r"no-model: model folder not found"):
        load_cleaned_model(tmp_path / "no-model")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"empty: no image files in it or its subfolders"):
        predict_folder(model_dir, empty)
    with pytest.raises(ValueError, match=r"nowhere: images folder not found"):
        image_files(tmp_path / "nowhere")


def test_a_card_that_does_not_describe_the_weights_is_never_written(tmp_path):
    model = build_model("small_cnn", n_classes=3, width=4, depth=2, image_size=12)
    save_weights(tmp_path / "weights.pt", model)
    with pytest.raises(ValueError, match=r"weights\.pt: weights do not match the model"):
        write_model_folder(tmp_path / "model", weights=tmp_path / "weights.pt", card=_card(depth=3))
    assert not (tmp_path / "model").exists()


def test_predicting_needs_none_of_the_pipelines_dependencies(model_dir, images_dir):
    code = (
        "import sys; from labelnoise.predict import predict_folder; "
        "predict_folder(sys.argv[1], sys.argv[2]); "
        "print(sorted({'dvc', 'cleanlab', 'pydantic', 'dvclive'} & set(sys.modules)))"
    )
    command = [sys.executable, "-c", code, str(model_dir), str(images_dir)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
