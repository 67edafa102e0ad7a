"""A battery of bad inputs, each run through a stage script: every one is refused with exit 2 and
one ``error:`` line naming the culprit (key path, file or value), and nothing is written.

Cases already covered by ``test_stage_cli.py`` (unknown task, source, model, device, method, an
out-of-range rate, a bad noise matrix, a bad base folder) are not repeated here. The last
section checks the cleaning boundary directly: probabilities and scores are validated before
use, and the message says where they came from.
"""

import itertools
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_stage_cli import _stage, _write_params

from labelnoise import layout
from labelnoise.clean import CleanContext, CleanResult, get_method
from labelnoise.clean.base import check_result, validate_pred_probs
from labelnoise.clean.cleanlab_method import estimate_noise_rate
from labelnoise.clean.consensus import combine
from labelnoise.data.store import CLASSES_FILE, IMAGES_FILE, INDEX_FILE
from labelnoise.io import save_npy

GENERATE = ("generate.py", "--out", "ds", "--figure", "fig.png")


OUTPUT_OPTIONS = ("--out", "--figure", "--metrics", "--pr", "--confusion")
# A tqdm bar, or the line labelnoise.progress writes in its stead when stderr is no terminal.
PROGRESS = re.compile(r"%\||: \S+ \d+/\d+ \(\d+%\) in ")


def _refused(cwd: Path, command: tuple[str, ...], patterns: tuple[str, ...]) -> None:
    """Run ``command`` in ``cwd``: exit 2, an ``error: ...`` message holding every pattern (only
    progress before it), no traceback, no output."""
    done = _stage(cwd, *command)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error: ")), None)
    assert start is not None and "Traceback" not in done.stderr, done.stderr
    assert all(PROGRESS.search(line) or not line.strip() for line in lines[:start]), done.stderr
    message = "\n".join(lines[start:])
    missing = [pattern for pattern in patterns if pattern not in message]
    assert not missing, f"{missing} not in {message!r}"
    outputs = [value for option, value in itertools.pairwise(command) if option in OUTPUT_OPTIONS]
    assert outputs and not [name for name in outputs if (cwd / name).exists()]


# ---------------------------------------------------------------------------------------------
# params.yaml: refused by the first stage before any work, every problem with its key path.


@pytest.mark.parametrize(
    ("changes", "patterns"),
    [
        ({"sead": 1}, ("sead: unknown key",)),
        ({"train.colour": "blue"}, ("train.colour: unknown key",)),
        ({"data.n_train": "many"}, ("data.n_train", "'many'")),
        ({"train.hflip": "sometimes"}, ("train.hflip", "'sometimes'")),
        ({"train.lr": "fast"}, ("train.lr", "'fast'")),
        ({"noise.rates": [-0.1, 0.2]}, ("noise.rates", "-0.1")),
        ({"noise.rates": [0.1, 0.1]}, ("noise.rates", "distinct")),
        ({"noise.rates": []}, ("noise.rates", "at least one rate")),
        ({"data.val_fraction": 1.5}, ("data.val_fraction", "1.5")),
        ({"train.folds": 1}, ("train.folds",)),
        ({"train.batch_size": 0}, ("train.batch_size",)),
        ({"data.image_size": 1024}, ("data.image_size", "1024")),
        ({"seed": -1}, ("seed",)),
        ({"data.vertices": [2, 9]}, ("data.vertices", "[2, 9]")),
        ({"data.resize": "zoom"}, ("data.resize", "'zoom'")),
        ({"data.on_bad_image": "ignore"}, ("data.on_bad_image", "'ignore'")),
        ({"noise.kind": "matrix"}, ("noise.matrix is required",)),
        ({"data.source": "folder", "data.path": ""}, ("data.path", "at least 1 character")),
        ({"results.rate": 0.25}, ("results.rate: 0.25 is not one of the rates",)),
        ({"retrain.robust": ["mae"]}, ("retrain.robust.0", "'gce'")),
        ({"regress.bootstrap": "many"}, ("regress.bootstrap", "'many'")),
        ({"regress.reference": "magic"}, ("regress.reference: 'magic' is not an arm",)),
        ({"report.top_k": "eight"}, ("report.top_k", "'eight'")),
        ({"retrain.methods": ["oracle", "none"]}, ("retrain.methods", "['none']")),
        (
            {"clean.methods": ["cleanlab", "aum", "consensus"]},
            ("clean.methods", "['aum'] train models of their own", "clean.trained"),
        ),
        (
            {"clean.trained": ["tvnet", "cleanlab"]},
            ("clean.trained", "['cleanlab'] train no model of their own"),
        ),
        (
            {"clean.consensus": {"members": ["cleanlab", "magic"]}},
            ("clean.consensus.members", "['magic'] are not cleaning methods"),
        ),
        (
            {"data.task": "medium", "train.lr": -1.0, "noise.colour": 1},
            ("3 invalid", "data.task", "train.lr", "noise.colour: unknown key"),
        ),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else None,
)
def test_bad_params(tmp_path, changes, patterns):
    _write_params(tmp_path, changes)
    _refused(tmp_path, GENERATE, patterns)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (None, "params.yaml: file not found"),
        ("seed: [0,\n", "params.yaml: not valid YAML"),
        ("- seed\n- data\n", "params.yaml: expected a mapping"),
    ],
    ids=["missing", "not-yaml", "not-a-mapping"],
)
def test_bad_params_file(tmp_path, content, pattern):
    if content is not None:
        (tmp_path / "params.yaml").write_text(content)
    _refused(tmp_path, GENERATE, (pattern,))


# ---------------------------------------------------------------------------------------------
# Your own images: folders, CSV listings and image files, through the generate stage.


def _image(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 24, 3), value, dtype=np.uint8)).save(path)
    return path


def _classes(root: Path, names=("cat", "dog"), per_class: int = 6) -> list[Path]:
    return [
        _image(root / name / f"{i}.png", 40 * k + i)
        for k, name in enumerate(names)
        for i in range(per_class)
    ]


def _truncated(root: Path) -> None:
    _classes(root)
    noisy = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(root / "dog" / "cut.png")
    data = (root / "dog" / "cut.png").read_bytes()
    (root / "dog" / "cut.png").write_bytes(data[: len(data) // 2])


def _listing(root: Path, rows: list[str], header: str = "path,label,split") -> None:
    _classes(root / "files")
    (root / "list.csv").write_text("\n".join([header, *rows]) + "\n")


def _folder(build: Callable[[Path], None]) -> Callable[[Path], dict]:
    def setup(tmp_path: Path) -> dict:
        build(tmp_path / "images")
        return {"data.source": "folder", "data.path": str(tmp_path / "images")}

    return setup


def _csv(rows: list[str], header: str = "path,label,split") -> Callable[[Path], dict]:
    def setup(tmp_path: Path) -> dict:
        _listing(tmp_path / "images", rows, header)
        return {"data.source": "csv", "data.path": str(tmp_path / "images" / "list.csv")}

    return setup


OK_ROWS = [f"files/{c}/{i}.png,{c},train" for c in ("cat", "dog") for i in range(6)]

SOURCES = {
    "missing-folder": (lambda root: None, ("images", "does not exist")),
    "empty-folder": (lambda root: root.mkdir(), ("contains no image files",)),
    "garbage-bytes": (
        lambda root: (_classes(root), (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8junk")),
        ("broken.jpg",),
    ),
    "text-with-image-suffix": (
        lambda root: (_classes(root), (root / "cat" / "notes.png").write_text("a note")),
        ("notes.png", "cannot identify image file"),
    ),
    "truncated-image": (_truncated, ("cut.png", "truncated")),
    "zero-size-image": (
        lambda root: (_classes(root), (root / "dog" / "empty.jpg").write_bytes(b"")),
        ("empty.jpg",),
    ),
    "image-outside-class-folders": (
        lambda root: (_classes(root), _image(root / "stray.png")),
        ("outside a class folder", "stray.png"),
    ),
    "unknown-folder-beside-train": (
        lambda root: (_classes(root / "train"), _classes(root / "extra")),
        ("beside train/ must be val/ or test/", "extra"),
    ),
    "class-with-one-image": (
        lambda root: (_classes(root, ("cat",)), _image(root / "dog" / "only.png")),
        ("class 'dog' has 1",),
    ),
    "val-label-unknown-to-train": (
        lambda root: (_classes(root / "train"), _classes(root / "val", ("bird",), 2)),
        ("labels that train does not have", "'bird'"),
    ),
}
LISTINGS = {
    "csv-missing-label-column": (_csv(OK_ROWS, "path,class"), ("missing columns label",)),
    "csv-empty-label": (_csv([*OK_ROWS, "files/cat/0.png,,train"]), ("line 14: empty label",)),
    "csv-missing-file": (_csv([*OK_ROWS, "files/cat/99.png,cat,train"]), ("99.png", "not found")),
    "csv-bad-split": (_csv([*OK_ROWS, "files/cat/0.png,cat,validation"]), ("'validation'",)),
    "csv-duplicate-path": (
        _csv([*OK_ROWS, "files/cat/1.png,dog,train"]),
        ("listed more than once", "cat/1.png"),
    ),
    "csv-missing-listing": (
        lambda tmp_path: {"data.source": "csv", "data.path": str(tmp_path / "nothing.csv")},
        ("nothing.csv", "does not exist"),
    ),
}
IMAGE_SOURCES = {
    **{name: (_folder(build), patterns) for name, (build, patterns) in SOURCES.items()},
    **LISTINGS,
}


@pytest.mark.parametrize("case", IMAGE_SOURCES)
def test_bad_image_sources(tmp_path, case):
    setup, patterns = IMAGE_SOURCES[case]
    _write_params(tmp_path, setup(tmp_path))
    _refused(tmp_path, GENERATE, patterns)


def test_a_single_class_folder_is_refused_on_import(tmp_path):
    _classes(tmp_path / "images", ("cat",))
    _write_params(tmp_path, {"data.source": "folder", "data.path": str(tmp_path / "images")})
    _refused(tmp_path, GENERATE, ("images", "class"))


# ---------------------------------------------------------------------------------------------
# Arrays and tables between stages: the dataset, the noisy labels, the out-of-sample
# probabilities and the cleaning results, each damaged in one way.


RATE = 0.2
# The project's params: one rate, every light method it needs, aum's result from its fit stage.
PROJECT = {
    "noise.rates": [0.2],
    "report.rate": 0.2,
    "clean.methods": ["cleanlab", "consensus"],
    "clean.trained": ["aum"],
    "clean.consensus": {"members": ["cleanlab", "aum"]},
    "retrain.methods": ["cleanlab", "aum", "consensus"],
    "retrain.relabel": ["consensus"],
}
FIT = layout.result_file("fit", RATE, "aum").as_posix()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Pristine inputs of the later stages: a tiny dataset, its labels at rate 0.2, plausible
    train-stage arrays and aum's result from its fit stage, a consensus member."""
    root = tmp_path_factory.mktemp("project")
    _write_params(root, PROJECT)
    assert _stage(root, *GENERATE).returncode == 0
    done = _stage(root, *CORRUPT)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (root / "noisy").iterdir()) == [layout.rate_name(RATE)]
    n = len(pd.read_csv(layout.noisy_labels(root / "noisy", RATE)))
    rng = np.random.default_rng(0)
    train = root / "train"
    save_npy(layout.oos_probs(train, RATE), rng.dirichlet(np.ones(4), n).astype(np.float32))
    save_npy(layout.features(train, RATE, "train"), rng.normal(size=(n, 8)).astype(np.float32))
    save_npy(layout.features(train, RATE, "val"), rng.normal(size=(80, 8)).astype(np.float32))
    val_probs = rng.dirichlet(np.ones(4), (2, 80)).astype(np.float32)
    save_npy(layout.val_probs(train, RATE), val_probs)
    flags = rng.random(n) < 0.2
    (root / FIT).parent.mkdir(parents=True)
    np.savez(root / FIT, scores=rng.random(n), flags=flags, noise_rate_estimate=flags.mean())
    return root


CLEAN = (
    "clean.py", "--dataset", "ds", "--noisy", "noisy", "--train", "train", "--fit", "fit",
    "--out", "clean", "--metrics", "detect", "--pr", "pr",
)  # fmt: skip
CORRUPT = ("corrupt.py", "--dataset", "ds", "--out", "noisy")


@dataclass(frozen=True)
class Clean:
    """The clean stage run with the params ``changes`` on top of the project's."""

    changes: dict = field(default_factory=dict)
    command: tuple[str, ...] = CLEAN


def _clean(method: str = "cleanlab", **changes) -> Clean:
    """The clean stage running ``method`` alone (so the message comes from it); ``changes`` are
    params keys with ``__`` for dots."""
    # aum's result comes from the project's fit folder; it stays valid in every case. Beside a
    # reference method (oracle) it is the results method, whose drop arm the params must list.
    alone = {
        "clean.methods": [method], "retrain.methods": [method, "aum"], "retrain.relabel": [],
        "retrain.second": [],
    }  # fmt: skip
    return Clean({**alone, **{key.replace("__", "."): v for key, v in changes.items()}})


CONSENSUS = Clean()  # cleanlab, aum from fit/ and consensus of the two: the project's params
TRAINED = Clean(
    {
        "clean.methods": ["cleanlab"],
        "retrain.methods": ["cleanlab", "aum"],
        "retrain.relabel": [],
        "retrain.second": [],
    }
)


def _labels(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        path = layout.noisy_labels(root / "noisy", RATE)
        edit(pd.read_csv(path)).to_csv(path, index=False)

    return damage


def _set(column: str, row: int, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df

    return edit


def _probs(edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        path = layout.oos_probs(root / "train", RATE)
        np.save(path, edit(np.load(path)))

    return damage


def _at(row: int, col: int, value: float) -> Callable[[np.ndarray], np.ndarray]:
    def edit(p: np.ndarray) -> np.ndarray:
        p[row, col] = value
        return p

    return edit


def _truncate(relative: str | Path) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        data = (root / relative).read_bytes()
        (root / relative).write_bytes(data[: len(data) // 2])

    return damage


def _images(edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        path = root / "ds" / IMAGES_FILE
        np.save(path, edit(np.load(path)))

    return damage


def _replace(relative: str | Path, content: bytes) -> Callable[[Path], None]:
    return lambda root: (root / relative).write_bytes(content)


def _member(**arrays) -> Callable[[Path], None]:
    return lambda root: np.savez(root / FIT, **arrays)


ARRAYS = {
    # The dataset as the corrupt stage reads it.
    "images-with-alpha": (_images(lambda x: np.pad(x, [(0, 0)] * 3 + [(0, 1)])), CORRUPT,
                          ("images.npy", "expected uint8 (N, H, W, 3)")),
    "images-truncated": (_truncate(Path("ds", IMAGES_FILE)), CORRUPT,
                         ("images.npy", "not a readable")),
    "index-without-label": (_replace(Path("ds", INDEX_FILE), b"id,split\n0,train\n"), CORRUPT,
                            ("index.csv", "missing columns")),
    "classes-not-json": (_replace(Path("ds", CLASSES_FILE), b"{classes: [cat"), CORRUPT,
                         ("classes.json", "not valid JSON")),
    # The noisy labels as every later stage reads them.
    "label-out-of-range": (_labels(_set("given", 3, 7)), _clean(), ("labels.csv", "given labels")),
    "label-not-an-integer": (_labels(_set("given", 3, "cat")), _clean(),
                             ("labels.csv", "'given' must hold integers")),
    "labels-one-row-short": (_labels(lambda df: df.iloc[:-1]), _clean(),
                             ("labels.csv", "rows do not match the train split")),
    "flipped-not-boolean": (_labels(_set("flipped", 3, "maybe")), _clean("oracle"),
                            ("labels.csv", "'flipped' must hold True/False")),
    "flipped-contradicts-labels": (
        _labels(lambda df: df.assign(flipped=df["flipped"].where(df.index != 3, ~df["flipped"]))),
        _clean("oracle"), ("labels.csv", "'flipped' disagrees", "first id"),
    ),
    "labels-empty-file": (_replace(layout.noisy_labels("noisy", RATE), b""), _clean(),
                          ("labels.csv", "not a readable CSV")),
    "labels-missing-file": (lambda root: layout.noisy_labels(root / "noisy", RATE).unlink(),
                            _clean(), ("labels.csv", "file not found")),
    "val-probs-missing": (lambda root: layout.val_probs(root / "train", RATE).unlink(),
                          _clean(), ("val_probs.npy", "file not found")),
    "val-probs-of-other-classes": (
        lambda root: save_npy(
            layout.val_probs(root / "train", RATE), np.full((2, 80, 3), 1 / 3, np.float32)
        ),
        _clean(), ("val_probs.npy", "from the trusted set has shape", "expected (160, 4)"),
    ),
    # Out-of-sample probabilities on their way into cleanlab.
    "probs-with-nan": (_probs(_at(5, 1, np.nan)), _clean(),
                       ("oos_probs.npy", "1 NaN/inf entries", "row 5")),
    "probs-with-inf": (_probs(_at(5, 1, np.inf)), _clean("mistakenness"),
                       ("mistakenness: pred_probs from", "oos_probs.npy", "NaN/inf")),
    "probs-negative": (_probs(_at(7, 0, -0.5)), _clean(), ("oos_probs.npy", "negative", "row 7")),
    "probs-not-summing-to-1": (_probs(lambda p: p * 0.9), _clean(),
                               ("oos_probs.npy", "do not sum to 1", "sums to 0.9")),
    "probs-one-row-short": (_probs(lambda p: p[:-1]), _clean(),
                            ("oos_probs.npy", "has shape (399, 4), expected (400, 4)")),
    "probs-of-other-classes": (_probs(lambda p: p[:, :3] / p[:, :3].sum(1, keepdims=True)),
                               _clean("hardness"), ("oos_probs.npy", "expected (400, 4)")),
    "probs-truncated": (_truncate(layout.oos_probs("train", RATE)), _clean(),
                        ("oos_probs.npy", "not a readable .npy array")),
    "probs-not-npy": (_replace(layout.oos_probs("train", RATE), b"0.25,0.25,0.25,0.25\n"), _clean(),
                      ("oos_probs.npy", "not a .npy array")),
    # Method parameters, read by the clean stage.
    "cleanlab-unknown-filter": (None, _clean(clean__cleanlab={"filter_by": "magic"}),
                                ("clean.cleanlab.filter_by", "(got 'magic')")),
    "mistakenness-threshold-above-1": (None, _clean("mistakenness",
                                                    clean__mistakenness={"threshold": 2.0}),
                                       ("mistakenness: threshold", "2.0")),
    "hardness-unknown-parameter": (None, _clean("hardness", clean__hardness={"thresh": 0.5}),
                                   ("clean.hardness.thresh: unknown key",)),
    "unknown-method": (None, _clean("magic"), ("clean.methods", "unknown methods ['magic']")),
    # A model-training method's result from its fit stage, read by the clean stage for consensus.
    "member-not-a-result": (_replace(FIT, b"PK\x03\x04 torn"), CONSENSUS,
                            (FIT, "not a readable cleaning result")),
    "member-missing": (lambda root: (root / FIT).unlink(), CONSENSUS, (FIT, "file not found")),
    "member-missing-scores": (_member(flags=np.zeros(400, bool)), CONSENSUS,
                              (FIT, "missing ['noise_rate_estimate', 'scores']")),
    "member-wrong-length": (
        _member(scores=np.zeros(399), flags=np.zeros(399, bool), noise_rate_estimate=0.0),
        CONSENSUS, ("aum (fit/aum/0.2.npz): scores have shape (399,), expected (400,)",),
    ),
    "member-nan-score": (
        _member(scores=np.r_[np.nan, np.zeros(399)], flags=np.zeros(400, bool),
                noise_rate_estimate=0.0),
        CONSENSUS, ("aum (fit/aum/0.2.npz): 1 score(s) are NaN or infinite", "index 0"),
    ),
    # The same result when no consensus reads it: checked all the same, before its metrics.
    "trained-wrong-length": (
        _member(scores=np.zeros(399), flags=np.zeros(399, bool), noise_rate_estimate=0.0),
        TRAINED, ("aum (fit/aum/0.2.npz): scores have shape (399,), expected (400,)",),
    ),
    "trained-nan-score": (
        _member(scores=np.r_[np.nan, np.zeros(399)], flags=np.zeros(400, bool),
                noise_rate_estimate=0.0),
        TRAINED, ("aum (fit/aum/0.2.npz): 1 score(s) are NaN or infinite", "index 0"),
    ),
    "trained-estimate-above-1": (
        _member(scores=np.zeros(400), flags=np.zeros(400, bool), noise_rate_estimate=1.5),
        TRAINED, ("aum (fit/aum/0.2.npz): noise_rate_estimate 1.5 is not in [0, 1]",),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", ARRAYS)
def test_bad_arrays_and_tables(tmp_path, project, case):
    damage, command, patterns = ARRAYS[case]
    work = tmp_path / "project"
    shutil.copytree(project, work)
    if command is CORRUPT:
        shutil.rmtree(work / "noisy")
    if isinstance(command, Clean):
        _write_params(work, {**PROJECT, **command.changes})
        command = command.command
    if damage is not None:
        damage(work)
    _refused(work, command, patterns)


@pytest.mark.parametrize("clean", [CONSENSUS, TRAINED, _clean("oracle"), _clean("hardness")])
def test_the_pristine_project_is_accepted(tmp_path, project, clean):
    """The refusals above come from the damage, not from the project or its params."""
    work = tmp_path / "project"
    shutil.copytree(project, work)
    _write_params(work, {**PROJECT, **clean.changes})
    done = _stage(work, *clean.command)
    assert done.returncode == 0, done.stderr
    params = {**PROJECT, **clean.changes}
    for method in [*params["clean.methods"], *params["clean.trained"]]:
        assert layout.result_file(work / "clean", RATE, method).is_file(), method
        assert layout.detect_record(work / "detect", RATE, method).is_file(), method


# ---------------------------------------------------------------------------------------------
# The cleaning boundary, called directly.


def _context(probs: np.ndarray, **kwargs) -> CleanContext:
    labels = np.arange(len(probs)) % probs.shape[1]
    return CleanContext(labels=labels, n_classes=probs.shape[1], pred_probs=probs, **kwargs)


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.array([[0.5, 0.5], [np.nan, 1.0]]), r"1 NaN/inf entries \(first in row 1\)"),
        (np.array([[0.5, 0.5], [1.5, -0.5]]), r"1 negative entries \(first in row 1: -0.5\)"),
        (np.array([[0.5, 0.5], [1.5, 0.0]]), r"1 entries above 1 \(first in row 1: 1.5\)"),
        (
            np.array([[0.5, 0.5], [0.3, 0.3]]),
            "rows that do not sum to 1 within 0.001; row 1 sums to 0.6",
        ),
        (np.array([["a", "b"], ["c", "d"]]), "is not a numeric array"),
    ],
    ids=["nan", "negative", "above-1", "row-sum", "not-numeric"],
)
def test_probabilities_are_checked_and_their_source_named(probs, match):
    with pytest.raises(ValueError, match=f"^cleanlab: pred_probs from run/oos.npy .*{match}"):
        validate_pred_probs(probs, n=2, n_classes=2, name="cleanlab", source="run/oos.npy")
    ctx = _context(probs, pred_probs_source="run/oos.npy")
    with pytest.raises(ValueError, match=f"^cleanlab: pred_probs from run/oos.npy .*{match}"):
        get_method("cleanlab").run(ctx)


def test_probabilities_must_match_the_labels():
    ctx = CleanContext(
        labels=np.array([0, 1, 0]), n_classes=2, pred_probs=np.full((2, 2), 0.5), progress=False
    )
    with pytest.raises(ValueError, match=r"mistakenness: pred_probs has shape \(2, 2\), expected"):
        get_method("mistakenness").run(ctx)
    with pytest.raises(ValueError, match=r"cleanlab: pred_probs from x.npy has shape \(4,\)"):
        estimate_noise_rate(np.array([0, 1]), np.full(4, 0.25), source="x.npy")
    with pytest.raises(ValueError, match=r"cleanlab: pred_probs from x.npy has shape \(2, 2\)"):
        estimate_noise_rate(np.array([0, 1, 1]), np.full((2, 2), 0.5), source="x.npy")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_reported_with_the_method(bad):
    scores = np.array([0.1, bad, 0.3])
    result = CleanResult(scores=scores, flags=np.zeros(3, bool), noise_rate_estimate=0.0)
    with pytest.raises(
        ValueError, match=r"^tvnet: 1 score\(s\) are NaN or infinite \(first at index 1\)"
    ):
        check_result("tvnet", result, 3)
    with pytest.raises(ValueError, match=r"^consensus member 'aum': 1 score\(s\) are NaN"):
        combine({"aum": result}, n=3)


def test_a_loaded_result_names_its_file(tmp_path):
    from labelnoise.clean import load_result

    (tmp_path / "torn.npz").write_bytes(b"PK\x03\x04")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"torn.npz: not a readable cleaning result"):
        load_result(tmp_path / "torn.npz")
    with pytest.raises(ValueError, match=r"array.npy: not a readable cleaning result \(a .npy"):
        load_result(tmp_path / "array.npy")
    (tmp_path / "metrics.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match=r"metrics.json: not a readable cleaning result"):
        load_result(tmp_path / "metrics.json")
