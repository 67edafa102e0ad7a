"""A practitioner's folder of images, run through the pipeline's stages: issues ranked, originals
untouched, cleaned tree linked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from projects import dvc_project
from sklearn.metrics import roc_auc_score
from test_stage_cli import _write_params, tiny_params

from labelnoise import layout
from labelnoise.data.store import INDEX_FILE

ROOT = Path(__file__).resolve().parents[2]


def _stage(cwd: Path, script: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"{script}: {done.stderr[-3000:]}"


def _image_folder(root: Path) -> list[Path]:
    """An imbalanced binary task: 90 'warm' images (red region) and 30 'cold' (blue), in mixed
    formats, modes and sizes."""
    rng = np.random.default_rng(0)
    paths = []
    for label, count, channel in (("warm", 90, 0), ("cold", 30, 2)):
        folder = root / "train" / label
        folder.mkdir(parents=True)
        for i in range(count):
            h, w = rng.integers(20, 48, size=2)
            pixels = rng.integers(0, 90, size=(h, w, 3)).astype(np.uint8)
            pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4, channel] = 240
            image = Image.fromarray(pixels)
            kind = i % 4
            if kind == 0:
                path = folder / f"{i}.jpg"
                image.save(path, quality=90)
            elif kind == 1:
                path = folder / f"{i}.png"
                image.convert("RGBA").save(path)
            elif kind == 2:
                path = folder / f"{i}.webp"
                image.save(path)
            else:
                path = folder / f"{i}.bmp"
                image.convert("P").save(path)
            paths.append(path)
    return paths


@pytest.mark.slow
def test_folder_flips_are_ranked_high_and_originals_untouched(tmp_path):
    paths = _image_folder(tmp_path / "images")
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths}
    _write_params(
        tmp_path,
        {
            "data.source": "folder",
            "data.path": str(tmp_path / "images"),
            "noise.rates": [0.15],
            "noise.inject_own": True,  # benchmark on your data: falsify 15% of the labels
            "train.epochs": 8,
            "train.class_weights": True,
            "results.rate": 0.15,
            "results.method": "cleanlab",
            "report.rate": 0.15,
            "clean.methods": ["cleanlab", "mistakenness"],
            "clean.trained": ["aum"],
            "retrain.methods": ["cleanlab"],
            "retrain.relabel": [],
            "retrain.second": [],
        },
    )
    _stage(tmp_path, "generate.py", "--out", "data/dataset", "--figure", "examples.png")
    _stage(tmp_path, "corrupt.py", "--dataset", "data/dataset", "--out", "data/noisy")
    _stage(
        tmp_path, "train.py", "--dataset", "data/dataset", "--noisy", "data/noisy",
        "--out", "data/train", "--metrics", "baseline", "--confusion", "confusion",
        "--live", "live", "--checkpoints", "checkpoints",
    )  # fmt: skip
    _stage(
        tmp_path, "fit.py", "--method", "aum", "--dataset", "data/dataset", "--noisy",
        "data/noisy", "--train", "data/train", "--out", "data/fit/aum",
    )  # fmt: skip
    _stage(
        tmp_path, "clean.py", "--dataset", "data/dataset", "--noisy", "data/noisy",
        "--train", "data/train", "--fit", "data/fit", "--out", "data/clean",
        "--metrics", "detect", "--pr", "pr",
    )  # fmt: skip
    _stage(
        tmp_path, "results.py", "--dataset", "data/dataset", "--noisy", "data/noisy",
        "--train", "data/train", "--clean", "data/clean",
        "--issues", "results/label_issues.csv", "--cleaned", "results/cleaned_labels.csv",
        "--issue-table", "results/issues.csv", "--issue-summary", "results/issue_summary.csv",
        "--leaks", "results/leaks.csv",
    )  # fmt: skip
    links = subprocess.run(
        [sys.executable, "-m", "labelnoise.label_issues"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert links.returncode == 0, links.stderr

    baseline = json.loads((tmp_path / "baseline" / "0.15.json").read_text())
    assert {"balanced_accuracy", "hter"} <= set(baseline)
    issues = pd.read_csv(tmp_path / "results" / "label_issues.csv")
    assert issues["injected_flip"].sum() == round(0.15 * len(issues))
    assert roc_auc_score(issues["injected_flip"], issues["cleanlab_suspicion"]) > 0.85
    assert issues["path"].map(lambda p: Path(p).is_file()).all()

    cleaned = list((tmp_path / "results" / "cleaned").rglob("*.*"))
    flagged = list((tmp_path / "results" / "flagged").rglob("*.*"))
    assert len(cleaned) + len(flagged) == len(issues)
    for link in cleaned + flagged:
        assert any(os.path.samefile(link, p) for p in paths)
    kept = pd.read_csv(tmp_path / "results" / "cleaned_labels.csv")
    assert len(kept) == len(cleaned)
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths} == before


def test_a_broken_image_stops_the_import_and_leaves_no_dataset(tmp_path):
    _image_folder(tmp_path / "images")
    (tmp_path / "images" / "train" / "warm" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "images" / "train" / "cold" / "empty.png").write_bytes(b"")
    _write_params(tmp_path, {"data.source": "folder", "data.path": str(tmp_path / "images")})
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "generate.py"), "--out", "ds", "--figure", "f.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert "broken.jpg" in done.stderr and "empty.png" in done.stderr
    assert not (tmp_path / "ds").exists()


def _repro(project: Path, env: dict, *targets: str) -> set[str]:
    import re

    done = subprocess.run(
        ["dvc", "repro", *targets], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return set(re.findall(r"Running stage '([^']+)'", done.stdout))


@pytest.mark.slow
def test_one_setting_runs_a_folder_and_a_changed_folder_reimports(tmp_path):
    """data.source + data.path is all it takes: the grid is the given labels (rate 0), results
    and the report follow, the report warns that its trusted and test splits were carved from
    the given labels; consensus runs without tvnet; a changed folder re-imports on its own."""
    folder = tmp_path / "photos"
    paths = _image_folder(folder)
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths}
    project = tmp_path / "project"
    changes = {
        "data.source": "folder",
        "data.path": str(folder),
        # Speed only: aum alone trains models of its own, and votes in no consensus; one arm
        # (the cleaned model's) retrains.
        "clean.trained": ["aum"],
        "clean.consensus.members": ["cleanlab", "mistakenness"],
        "retrain.methods": ["consensus"],
        "retrain.relabel": [],
        "retrain.second": [],
        "retrain.robust": [],
    }
    env = dvc_project(project, tiny_params(changes))
    ran = _repro(project, env)
    assert {"generate", "train", "clean", "results", "report"} <= ran
    assert sorted(p.name for p in (project / "data" / "noisy").iterdir()) == ["0.0"]
    issues = pd.read_csv(project / "results" / "label_issues.csv")
    assert len(issues) == len(pd.read_csv(layout.noisy_labels(project / "data" / "noisy", 0.0)))
    assert (
        "injected_flip" not in issues.columns and issues["path"].str.startswith(str(folder)).all()
    )
    for name in ("issues.csv", "issue_summary.csv", "leaks.csv", "cleaned_labels.csv"):
        assert (project / "results" / name).is_file()
    # Every issue type of your images, counted exactly as the per-image table holds them.
    table = pd.read_csv(project / "results" / "issues.csv")
    summary = pd.read_csv(project / "results" / "issue_summary.csv").set_index("issue_type")
    assert list(table["path"]) == list(issues.sort_values("id")["path"])
    for kind in summary.index.drop("leak"):
        assert summary.loc[kind, "num_issues"] == table[f"is_{kind}_issue"].sum(), kind
    assert summary.loc["leak", "num_issues"] == len(pd.read_csv(project / "results" / "leaks.csv"))
    # Checked at their own sizes (20–48 px), not at the imported size.
    assert table["odd_size_score"].nunique() > 1 and table["odd_aspect_ratio_score"].nunique() > 1
    page = (project / "report" / "index.html").read_text()
    assert 'class="notice"' in page and "No val/ or test/ folder" in page
    assert Path(paths[0]).name in page  # the gallery names your files
    assert "How the images were made" not in page and "Your images" in page
    assert "Your labels were used as given" in page and "deliberately falsified" not in page
    assert 'id="other-issues"' in page
    # Without a val/ folder the flag counts come from cleanlab's cross-validated estimate.
    baseline = json.loads((project / "metrics" / "baseline" / "0.0.json").read_text())
    assert baseline["noise_estimate"].startswith("cross-validated")
    assert not (project / "plots" / "report" / "training_values.png").exists()  # no tvnet

    shown = subprocess.run(
        ["dvc", "plots", "show", "--json"], cwd=project, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0 and not json.loads(shown.stdout).get("errors"), shown.stdout
    assert not _repro(project, env), "an unchanged folder must not re-import"
    Image.new("RGB", (30, 30), (240, 10, 10)).save(folder / "train" / "warm" / "extra.png")
    assert "generate" in _repro(project, env, "generate")
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths} == before
    _review_round_trip(project, env)
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths} == before


def _review_round_trip(project: Path, env: dict) -> None:
    """Export the suspects, let a person correct them, re-run: exactly the reviewed labels
    change, the random sample becomes the trusted split, the report says what was reviewed."""
    done = subprocess.run(
        [sys.executable, "-m", "labelnoise.review", "export", "--top", "6", "--random", "4"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sheet = pd.read_csv(project / "results" / "review" / "review.csv", keep_default_na=False)
    tasks = json.loads((project / "results" / "review" / "tasks.json").read_text())
    assert [t["data"]["path"] for t in tasks] == list(sheet["path"])
    # The reviewer swaps the suspects' labels, confirms the random sample, skips one suspect.
    swap = {"warm": "cold", "cold": "warm"}
    suspect = sheet["sample"] == "suspect"
    sheet["label"] = np.where(suspect, sheet["given_label"].map(swap), sheet["given_label"])
    sheet.loc[sheet.index[0], "label"] = ""
    sheet.to_csv(project / "reviewed" / "round1.csv", index=False)
    index = project / "data" / "dataset" / INDEX_FILE
    before = pd.read_csv(index).set_index("source")
    assert "generate" in _repro(project, env)
    after = pd.read_csv(index).set_index("source")
    changed = after["label_name"] != before["label_name"].reindex(after.index)
    reviewed = sheet.iloc[1:]
    expected = reviewed.loc[reviewed["sample"] == "suspect", "path"]
    assert sorted(after.index[changed]) == sorted(expected)
    assert (after.loc[reviewed["path"], "split"] != "test").all()
    assert set(after.loc[reviewed.loc[~suspect, "path"], "split"]) == {"val"}
    assert set(after.index[after["split"] == "val"]) == set(reviewed.loc[~suspect, "path"])
    page = (project / "report" / "index.html").read_text()
    assert "You reviewed 9 images" in page and "5 labels corrected" in page
    baseline = json.loads((project / "metrics" / "baseline" / "0.0.json").read_text())
    assert baseline["noise_estimate"] == "trusted set"
    issues = pd.read_csv(project / "results" / "label_issues.csv")
    assert not issues.set_index("path").loc[expected, "is_label_issue"].any()
