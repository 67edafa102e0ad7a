"""Properties that must hold for any input: label-noise injection, the score contract of the
cleaning methods, and the knobs of ``params.yaml`` (every value the schema accepts, the library
function it reaches accepts; a value just outside a declared bound both refuse, naming the key).

The cleaning methods that train a model (``tvnet``, ``data_params``, ``aum``) are left out of the
generated examples on purpose: one call fits networks or regressors for seconds, far too slow for
dozens of examples, and their scores depend on seeded draws made by row position (minibatch
order, Monte-Carlo subsets, threshold samples), so reordering the rows changes the draws and
permutation-equivariance does not hold for them by design. Their contract — ``(n,)`` finite
scores, boolean flags, flips ranked above clean labels — is checked on learnable images in
``tests/clean/test_tvnet.py``, ``test_data_params.py`` and ``test_aum.py``.
"""

import copy
import math
import warnings
from pathlib import Path
from typing import Literal, get_args, get_origin

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.special import softmax

from labelnoise.clean import METHODS, CleanContext, CleanResult, get_method
from labelnoise.clean.cleanlab_method import SCORE_METHODS
from labelnoise.clean.consensus import combine
from labelnoise.config import NoiseConfig, RegressConfig
from labelnoise.data import generate_dataset, import_dataset
from labelnoise.data.alter import FINE_TO_COARSE
from labelnoise.data.config import GENERATED_TASKS, DataConfig, n_classes
from labelnoise.knobs import knobs
from labelnoise.noise import KINDS, corrupt_labels, noise_matrix
from labelnoise.params import LAUNCH_KNOBS, read_yaml, validate
from labelnoise.regress import accuracy_fit_table, fit_accuracy
from labelnoise.train.config import TrainConfig, check_config

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Methods that score from the given labels and out-of-sample probabilities alone, with the
# parameters each is exercised with.
PROBABILITY_METHODS = [
    ("none", {}),
    ("oracle", {}),
    ("random", {}),
    *[("cleanlab", {"score_method": s}) for s in SCORE_METHODS],
    ("mistakenness", {}),
    ("hardness", {}),
]
# Rows permuted -> scores and flags permuted. random is left out: its scores are seeded draws
# by position, so they stay where they are when the rows move.
EQUIVARIANT = [entry for entry in PROBABILITY_METHODS if entry[0] != "random"]
# Methods whose score rises when the given label moves from the most to the least probable class.
LABEL_SENSITIVE = [
    entry for entry in PROBABILITY_METHODS if entry[0] in ("cleanlab", "mistakenness")
]
TRAINED = ("tvnet", "data_params", "aum")
FEATURE_METHODS = ("knn",)  # score by the train features alone


# ---------------------------------------------------------------------------------------------
# Noise injection


@st.composite
def noise_cases(draw, kind: str):
    """Labels of any shape and class count, a rate, a seed and what ``kind`` needs."""
    c = draw(st.integers(2, 20))
    shape = draw(
        st.one_of(
            st.tuples(st.integers(0, 400)),
            st.tuples(st.integers(1, 20), st.integers(1, 20)),
        )
    )
    rate = draw(st.floats(0.0, 1.0, exclude_max=True))
    seed = draw(st.integers(0, 2**63 - 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels = rng.integers(0, c, shape)
    extra = {}
    if kind == "within_coarse":
        extra["fine_to_coarse"] = rng.integers(0, draw(st.integers(1, c)), c)
    elif kind == "matrix":
        t = rng.random((c, c)) * (rng.random((c, c)) < draw(st.floats(0.0, 1.0)))
        # Every row keeps some off-diagonal mass on one random other class.
        t[np.arange(c), (np.arange(c) + rng.integers(1, c, c)) % c] += rng.random(c) + 0.01
        extra["transition"] = t / t.sum(axis=1, keepdims=True)
    return labels, c, rate, seed, extra


def _eligible(labels: np.ndarray, extra: dict) -> int:
    """Labels that ``within_coarse`` may flip: those of a class with a sibling."""
    parents = np.asarray(extra["fine_to_coarse"])
    siblings = (parents[:, None] == parents[None, :]).sum(axis=1) - 1
    return int((siblings[labels] > 0).sum())


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_noise_flips_exactly_the_count_and_never_to_the_same_class(kind, data):
    labels, c, rate, seed, extra = data.draw(noise_cases(kind))
    n_flip = round(rate * labels.size)
    if kind == "within_coarse" and n_flip > _eligible(labels, extra):
        with pytest.raises(ValueError, match=f"needs {n_flip} flips but only"):
            corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
        return
    noisy = corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
    assert noisy.shape == labels.shape and noisy.dtype == np.int64
    assert noisy.min(initial=0) >= 0 and noisy.max(initial=0) < c
    changed = noisy != labels
    # Exactly n_flip positions are drawn; one that kept its class would make this count smaller.
    assert changed.sum() == n_flip
    old, new = labels[changed], noisy[changed]
    if kind == "pairflip":
        np.testing.assert_array_equal(new, (old + 1) % c)
    elif kind == "within_coarse":
        np.testing.assert_array_equal(extra["fine_to_coarse"][new], extra["fine_to_coarse"][old])
    elif kind == "matrix":
        assert (extra["transition"][old, new] > 0).all()


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64]))
def test_noise_is_a_function_of_labels_rate_and_seed(kind, data, dtype):
    labels, c, rate, seed, extra = data.draw(noise_cases(kind))
    if kind == "within_coarse" and round(rate * labels.size) > _eligible(labels, extra):
        return
    if np.iinfo(dtype).max < c:
        dtype = np.int64
    first = corrupt_labels(labels, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
    again = corrupt_labels(
        labels.astype(dtype), rate=rate, n_classes=c, kind=kind, seed=seed, **extra
    )
    assert first.tobytes() == again.tobytes()
    np.testing.assert_array_equal(labels, labels.astype(dtype))  # the input is left alone


@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["symmetric", "pairflip", "matrix"]))
def test_realised_noise_matrix_accounts_for_every_flip(data, kind):
    labels, c, rate, seed, extra = data.draw(noise_cases(kind))
    true = labels.ravel()
    noisy = corrupt_labels(true, rate=rate, n_classes=c, kind=kind, seed=seed, **extra)
    m = noise_matrix(true, noisy, n_classes=c)
    counts = np.bincount(true, minlength=c)
    np.testing.assert_allclose(m.sum(axis=1), (counts > 0).astype(float), atol=1e-12)
    flips_per_class = counts * (1.0 - np.diag(m))
    assert flips_per_class.sum() == pytest.approx(round(rate * true.size), abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Cleaning methods on out-of-sample probabilities


@st.composite
def probability_tables(draw):
    """Given labels (every class present) and softmax probabilities, from flat to one-hot."""
    c = draw(st.integers(2, 6))
    m = draw(st.integers(2 * c, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Scale 0 gives uniform rows, 40 rows that are one-hot to float precision.
    logits = rng.normal(0.0, draw(st.sampled_from([0.0, 0.3, 1.0, 3.0, 10.0, 40.0])), (m, c))
    probs = softmax(logits, axis=1)
    if draw(st.booleans()):
        probs = probs.astype(np.float32)  # as the train stage stores them
    labels = rng.permutation(np.arange(m) % c)
    flipped = rng.random(m) < draw(st.floats(0.0, 1.0))
    return labels, probs, flipped, int(rng.integers(2**31))


def _run(name: str, params: dict, labels, probs, flipped, seed) -> CleanResult:
    ctx = CleanContext(
        labels=labels,
        n_classes=probs.shape[1],
        pred_probs=probs,
        flipped=flipped,
        seed=seed,
        progress=False,
    )
    return get_method(name).run(ctx, **params)


def _ids(entries):
    return [f"{name}-{params.get('score_method', '')}".rstrip("-") for name, params in entries]


def test_every_registered_method_is_covered():
    covered = {name for name, _ in PROBABILITY_METHODS} | set(TRAINED) | {"consensus"}
    assert covered | set(FEATURE_METHODS) == set(METHODS)


@SETTINGS
@given(
    n=st.integers(2, 40),
    dim=st.integers(1, 6),
    c=st.integers(2, 5),
    k=st.integers(1, 25),
    seed=st.integers(0, 2**16),
)
def test_knn_scores_are_shares_one_per_example_and_permute_with_the_rows(n, dim, c, k, seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, dim)) + 1e-3  # no all-zero row: cosine needs a direction
    labels = rng.integers(0, c, n)
    ctx = CleanContext(labels=labels, n_classes=c, pred_probs=np.full((n, c), 1 / c),
                       features=features)  # fmt: skip
    result = get_method("knn").run(ctx, n_neighbors=k)
    assert result.scores.shape == (n,) and np.isfinite(result.scores).all()
    assert ((0 <= result.scores) & (result.scores <= 1)).all()
    assert result.flags.dtype == np.bool_
    order = rng.permutation(n)
    moved = CleanContext(labels=labels[order], n_classes=c, pred_probs=ctx.pred_probs,
                         features=features[order])  # fmt: skip
    # Ties among equally near neighbours can pick others; the distinct-distance case is exact.
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    distances = 1 - unit @ unit.T  # the cosine distances the search uses
    upper = distances[np.triu_indices(n, 1)]
    if len(np.unique(np.round(upper, 9))) == len(upper):
        again = get_method("knn").run(moved, n_neighbors=k)
        np.testing.assert_allclose(again.scores, result.scores[order])


@pytest.mark.parametrize(("name", "params"), PROBABILITY_METHODS, ids=_ids(PROBABILITY_METHODS))
@SETTINGS
@given(table=probability_tables())
def test_scores_are_finite_one_per_example_and_flags_boolean(name, params, table):
    labels, probs, flipped, seed = table
    result = _run(name, params, labels, probs, flipped, seed)
    n = len(labels)
    assert result.scores.shape == (n,) and np.isfinite(result.scores).all()
    assert result.flags.shape == (n,) and result.flags.dtype == np.bool_
    assert 0.0 <= result.noise_rate_estimate <= 1.0


@pytest.mark.parametrize(("name", "params"), EQUIVARIANT, ids=_ids(EQUIVARIANT))
@SETTINGS
@given(table=probability_tables(), order_seed=st.integers(0, 2**32 - 1))
def test_permuting_the_rows_permutes_scores_and_flags(name, params, table, order_seed):
    labels, probs, flipped, seed = table
    perm = np.random.default_rng(order_seed).permutation(len(labels))
    base = _run(name, params, labels, probs, flipped, seed)
    moved = _run(name, params, labels[perm], probs[perm], flipped[perm], seed)
    np.testing.assert_allclose(moved.scores, base.scores[perm], rtol=1e-12, atol=1e-12)
    # Rows whose given label is equally (im)probable to 1e-9 are ties that a method may break by
    # position (cleanlab's pruning sorts margins stably): equivariance holds per tie group.
    given = np.round(probs[perm][np.arange(len(labels)), labels[perm]], 9)
    for value in np.unique(given):
        group = given == value
        assert moved.flags[group].sum() == base.flags[perm][group].sum(), value
    assert moved.noise_rate_estimate == pytest.approx(base.noise_rate_estimate, abs=1e-9)


# Rows one-hot to float precision: cleanlab's confidence_weighted_entropy used to rank them
# backwards (see Cleanlab.run).
ONE_HOT = np.array([[1.0, 1e-9], [1.0, 0.0], [1e-12, 1.0], [0.3, 0.7]])


@pytest.mark.parametrize(("name", "params"), LABEL_SENSITIVE, ids=_ids(LABEL_SENSITIVE))
@SETTINGS
@given(table=probability_tables())
@example(table=(np.array([0, 0, 1, 1]), ONE_HOT, np.zeros(4, dtype=bool), 0))
def test_a_less_probable_given_label_scores_at_least_as_high(name, params, table):
    labels, probs, flipped, seed = table
    # Every row three times: under its drawn label (every class present), then labelled with
    # its most probable class and with its least probable one.
    stacked = np.concatenate([probs, probs, probs])
    likely, unlikely = probs.argmax(axis=1), probs.argmin(axis=1)
    result = _run(
        name, params, np.concatenate([labels, likely, unlikely]), stacked, np.tile(flipped, 3), seed
    )
    m = len(labels)
    agree, disagree = result.scores[m : 2 * m], result.scores[2 * m :]
    assert (disagree >= agree - 1e-12).all()
    # Strictly higher wherever the model prefers one class to another at all.
    spread = probs.max(axis=1) - probs.min(axis=1) > 1e-3
    assert (disagree[spread] > agree[spread]).all()


@SETTINGS
@given(table=probability_tables(), mix=st.floats(0.0, 1.0))
def test_hardness_rises_towards_the_uniform_distribution(table, mix):
    labels, probs, _, seed = table
    probs = probs.astype(np.float64)
    flatter = (1.0 - mix) * probs + mix / probs.shape[1]
    result = _run("hardness", {}, np.tile(labels, 2), np.concatenate([probs, flatter]), None, seed)
    m = len(labels)
    assert (result.scores[m:] >= result.scores[:m] - 1e-9).all()
    np.testing.assert_array_equal(result.flags, result.scores > 0.8)  # params.yaml's threshold


@SETTINGS
@given(table=probability_tables())
def test_oracle_scores_flips_above_everything_else(table):
    labels, probs, flipped, seed = table
    result = _run("oracle", {}, labels, probs, flipped, seed)
    assert (result.scores[flipped] > result.scores[~flipped].max(initial=-np.inf)).all()
    np.testing.assert_array_equal(result.flags, flipped)


# ---------------------------------------------------------------------------------------------
# Consensus of member results


@st.composite
def member_results(draw):
    """2..5 members over the same n examples; integer scores so that ties occur."""
    n = draw(st.integers(1, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    members = {}
    for k in range(draw(st.integers(1, 5))):
        flags = rng.random(n) < 0.3
        scores = rng.integers(0, draw(st.integers(1, 10)), n).astype(float) * 10.0**k
        members[f"m{k}"] = CleanResult(scores=scores, flags=flags, noise_rate_estimate=0.0)
    return n, members, rng.permutation(n)


@SETTINGS
@given(case=member_results())
def test_consensus_permutes_with_its_members_and_follows_them(case):
    n, members, perm = case
    base = combine(members, n=n)
    moved = combine(
        {
            k: CleanResult(r.scores[perm], r.flags[perm], r.noise_rate_estimate)
            for k, r in members.items()
        },
        n=n,
    )
    np.testing.assert_allclose(moved.scores, base.scores[perm], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(moved.flags, base.flags[perm])
    assert base.scores.shape == (n,) and np.isfinite(base.scores).all()
    # An example that every member puts on top is on top of the consensus.
    for r in members.values():
        r.scores[0] = r.scores.max() + 1.0
    top = combine(members, n=n).scores
    assert top[0] == top.max()


# ---------------------------------------------------------------------------------------------
# Knobs: what the schema accepts, the function it reaches accepts
#
# Each section runs through the schema (labelnoise.params.validate) and through the library
# functions a stage hands it to, as the stage does: data to generate_dataset or import_dataset,
# noise to corrupt_labels at each rate, regress to fit_accuracy and accuracy_fit_table, train to
# the trainer's check of its config (what fit and fit_stacked do before anything else; a
# training per example would take seconds, and tests/train trains). The sizes are tiny; the
# bounds come from the declarations (labelnoise.data.config, labelnoise.config,
# labelnoise.train.config), so a bound changed there is tested here.
#
# Two refusals are beyond bounds and drawn around: an area range so high or narrow that no
# polygon of it can be drawn at the image size (generate says so, naming data.area), and a
# vertex count so large that its arrays do not fit in memory (data.vertices has no upper bound).

PARAMS = read_yaml(Path(__file__).resolve().parents[1] / "params.yaml")
DATA, NOISE, REGRESS = knobs(DataConfig), knobs(NoiseConfig), knobs(RegressConfig)
TRAIN = knobs(TrainConfig)
KNOB_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TINY = {"n_train": 4, "n_val_per_class": 1, "n_test": 4, "image_size": 8, "base": "procedural"}
# Every fine class but gaussian_blur, which has no sibling to be flipped to (within_coarse).
FINE_LABELS = np.array([c for c in range(14) if c != 4] * 2)
# Knobs that reach no function's bounds: paths, the matrix (checked against the class count by
# corrupt_labels), switches, and the reference arm (checked against the arms that ran).
UNREACHED = {
    "data.path",
    "data.reviewed",
    "noise.matrix",
    "noise.inject_own",
    "regress.reference",
    "train.weights",
    "train.hflip",
    "train.class_weights",
    "train.compile",
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    """Your own images (2 classes of 6, as a folder and a CSV) and a folder of base photos."""
    root = tmp_path_factory.mktemp("knobs")
    rng = np.random.default_rng(0)
    rows = []
    for c in ("cat", "dog"):
        (root / "images" / c).mkdir(parents=True)
        for i in range(6):
            path = root / "images" / c / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, (14, 20, 3), dtype=np.uint8)).save(path)
            rows.append((f"images/{c}/{i}.png", c))
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(root / "list.csv", index=False)
    (root / "photos").mkdir()
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
        root / "photos" / "a.png"
    )
    return {
        "folder": str(root / "images"),
        "csv": str(root / "list.csv"),
        "photos": str(root / "photos"),
    }


def _data(folders: dict[str, str], **changes) -> dict:
    """The data section: params.yaml's, at tiny sizes, with ``changes``; a folder or CSV source
    reads the images of ``folders``, a folder base its photos."""
    data = {**PARAMS["data"], **TINY, **changes}
    if data["source"] in ("folder", "csv") and "path" not in changes:
        data["path"] = folders[data["source"]]
    if data["base"] == "folder" and "base_path" not in changes:
        data["base_path"] = folders["photos"]
    return data


def _run_data(data: dict) -> None:
    """What stage generate does with the data section."""
    if data["source"] == "generate":
        names = ("n_train", "n_val_per_class", "n_test", "task", "image_size", "base",
                 "base_path", "vertices", "area", "crop_scale", "chunk_size")  # fmt: skip
        dataset = generate_dataset(**{n: data[n] for n in names}, seed=0, progress=False)
        assert (
            len(dataset.images)
            == data["n_train"] + data["n_test"] + len(dataset.classes) * data["n_val_per_class"]
        )
    else:
        names = ("image_size", "resize", "val_fraction", "test_fraction", "on_bad_image",
                 "workers", "chunk_size")  # fmt: skip
        dataset, _ = import_dataset(
            data["path"], kind=data["source"], **{n: data[n] for n in names}, seed=0,
            progress=False,
        )  # fmt: skip
        assert len(dataset.images) == 12


def _run_noise(noise: dict) -> None:
    """What stage corrupt does with the noise section, on fine labels."""
    extra = {}
    if noise["kind"] == "within_coarse":
        extra["fine_to_coarse"] = FINE_TO_COARSE
    elif noise["kind"] == "matrix":
        extra["transition"] = np.asarray(noise["matrix"])
    for rate in noise["rates"]:
        corrupt_labels(FINE_LABELS, rate=rate, n_classes=14, kind=noise["kind"], seed=0, **extra)


def _accuracy_table() -> pd.DataFrame:
    rows = []
    for method, slope in (("none", -0.5), ("cleanlab", -0.2)):
        for rate in (0.0, 0.2, 0.4):
            k = round((0.9 + slope * rate) * 200)
            rows.append((0, rate, method, k / 200, k, 200 - k))
    return pd.DataFrame(
        rows, columns=["seed", "rate", "method", "accuracy", "n_correct", "n_wrong"]
    )


ACCURACY = _accuracy_table()


def _run_regress(regress: dict) -> None:
    """What stage regress does with the regress section."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tolerance beyond the observed rates says so
        fit = fit_accuracy(ACCURACY, drops=regress["drops"], n_boot=regress["bootstrap"])
    accuracy_fit_table(ACCURACY, fit, n_grid=regress["grid"])


def _run_train(train: dict) -> None:
    """What stage train does with the train section, up to the trainer's check of its config."""
    check_config(TrainConfig(**{n: v for n, v in train.items() if n not in LAUNCH_KNOBS}))


RUNS = {"data": _run_data, "noise": _run_noise, "regress": _run_regress, "train": _run_train}


def _verdicts(section: str, values: dict) -> tuple[str | None, str | None]:
    """``(schema, function)``: each one's refusal message, or None where it accepts."""
    raw = copy.deepcopy(PARAMS)
    raw[section] = values
    if section == "noise" and values.get("kind") == "within_coarse":
        raw["data"]["task"] = "fine"
    depth = values.get("depth") if section == "train" else None
    if isinstance(depth, int) and not isinstance(depth, bool) and 0 < depth <= 9:
        # small_cnn halves the image in each block: the images must be large enough for it.
        raw["data"]["image_size"] = max(raw["data"]["image_size"], 2**depth)
    verdicts = []
    for run in (validate, RUNS[section]):
        try:
            run(raw if run is validate else values)
        except ValueError as err:
            verdicts.append(str(err))
        else:
            verdicts.append(None)
    return verdicts[0], verdicts[1]


def _accepted_by_both(section: str, values: dict) -> None:
    schema, function = _verdicts(section, values)
    assert schema is None, schema
    assert function is None, function


def _floats(declared, *, low=None, high=None) -> st.SearchStrategy[float]:
    """Floats across a knob's declared bounds (or the ``low``/``high`` given), edges included
    where inclusive and approached where exclusive."""
    b = declared.bounds
    return st.floats(
        min_value=b.get("ge", b.get("gt")) if low is None else low,
        max_value=b.get("le", b.get("lt")) if high is None else high,
        exclude_min=low is None and "gt" in b,
        exclude_max=high is None and "lt" in b,
    )


def _low(declared) -> int:
    """A knob's inclusive lower bound."""
    return int(declared.bounds["ge"])


@st.composite
def generated_data(draw, folders: dict[str, str]) -> dict:
    task = draw(st.sampled_from(GENERATED_TASKS))
    classes = n_classes(task)
    v0 = draw(st.integers(_low(DATA["vertices"]), 8))
    a0 = draw(_floats(DATA["area"], high=0.3))
    c0 = draw(_floats(DATA["crop_scale"]))
    return _data(
        folders,
        task=task,
        base=draw(st.sampled_from(get_args(DATA["base"].kind))),
        image_size=draw(st.integers(_low(DATA["image_size"]), 16)),
        n_train=draw(st.integers(classes, classes + 6)),
        n_val_per_class=draw(st.integers(_low(DATA["n_val_per_class"]), 2)),
        n_test=draw(st.integers(classes, classes + 6)),
        vertices=(v0, draw(st.integers(v0, 12))),
        area=(a0, draw(_floats(DATA["area"], low=a0 + 0.1))),
        crop_scale=(c0, draw(_floats(DATA["crop_scale"], low=c0))),
        chunk_size=draw(st.integers(_low(DATA["chunk_size"]), 64)),
    )


@KNOB_SETTINGS
@given(data=st.data())
def test_generated_data_the_schema_accepts_generate_accepts(folders, data):
    _accepted_by_both("data", data.draw(generated_data(folders)))


@st.composite
def imported_data(draw, folders: dict[str, str]) -> dict:
    # Both fractions above 0: the pipeline needs a val and a test split (the import would take
    # 0 as "carve none"); together below 1.
    val = draw(_floats(DATA["val_fraction"], low=math.ulp(0.0)))
    return _data(
        folders,
        source=draw(st.sampled_from(get_args(DATA["source"].kind)[1:])),
        image_size=draw(st.integers(_low(DATA["image_size"]), 16)),
        resize=draw(st.sampled_from(get_args(DATA["resize"].kind))),
        val_fraction=val,
        test_fraction=draw(
            st.floats(math.ulp(0.0), 1.0 - val, exclude_max=True).filter(lambda t: val + t < 1)
        ),
        on_bad_image=draw(st.sampled_from(get_args(DATA["on_bad_image"].kind))),
        workers=draw(st.integers(_low(DATA["workers"]), 3)),
        chunk_size=draw(st.integers(_low(DATA["chunk_size"]), 20)),
    )


@KNOB_SETTINGS
@given(data=st.data())
def test_imported_data_the_schema_accepts_the_import_accepts(folders, data):
    _accepted_by_both("data", data.draw(imported_data(folders)))


@KNOB_SETTINGS
@given(
    rates=st.lists(_floats(NOISE["rates"]), min_size=1, max_size=3, unique=True),
    kind=st.sampled_from(get_args(NOISE["kind"].kind)),
)
def test_noise_the_schema_accepts_corrupt_labels_accepts(rates, kind):
    matrix = ((np.ones((14, 14)) - np.eye(14)) / 13).tolist() if kind == "matrix" else None
    _accepted_by_both("noise", {**PARAMS["noise"], "rates": rates, "kind": kind, "matrix": matrix})


@KNOB_SETTINGS
@given(
    bootstrap=st.integers(_low(REGRESS["bootstrap"]), 300),
    drops=st.lists(_floats(REGRESS["drops"]), min_size=1, max_size=3),
    grid=st.integers(_low(REGRESS["grid"]), 60),
)
def test_regress_the_schema_accepts_the_fits_accept(bootstrap, drops, grid):
    _accepted_by_both("regress", {"bootstrap": bootstrap, "drops": drops, "grid": grid,
                                  "reference": "none"})  # fmt: skip


@st.composite
def train_sections(draw) -> dict:
    """The train section with every bounded knob and choice drawn from its declaration, and
    the warm-up no longer than the training (TrainConfig.joint)."""
    train = dict(PARAMS["train"])
    for name, declared in TRAIN.items():
        if get_origin(declared.kind) is Literal:
            train[name] = draw(st.sampled_from(get_args(declared.kind)))
        elif declared.kind is int:
            low = _low(declared)
            high = int(declared.bounds.get("le", low + 64))
            if name == "depth":  # a rule across sections: small_cnn halves the image per block
                high = min(high, int(math.log2(PARAMS["data"]["image_size"])))
            train[name] = draw(st.integers(low, high))
        elif declared.kind is float and {"le", "lt"} & set(declared.bounds):
            train[name] = draw(_floats(declared))
    train["warmup_epochs"] = draw(_floats(TRAIN["warmup_epochs"], high=train["epochs"]))
    return train


@KNOB_SETTINGS
@given(data=st.data())
def test_train_the_schema_accepts_the_trainer_accepts(data):
    _accepted_by_both("train", data.draw(train_sections()))


def test_the_warm_up_rule_is_refused_by_both_at_its_edge():
    for warmup, inside in ((15.0, True), (math.nextafter(15.0, math.inf), False)):
        schema, function = _verdicts("train", {**PARAMS["train"], "epochs": 15,
                                               "warmup_epochs": warmup})  # fmt: skip
        if inside:
            assert schema is None and function is None, (schema, function)
        else:
            message = "train.warmup_epochs must be <= train.epochs (15)"
            assert message in schema and message in function


# The edges of every declared bound, from the declarations: the value on an inclusive bound (or
# the nearest inside an exclusive one) and the nearest outside, each as the whole section.

SECTIONS = {"data": DATA, "noise": NOISE, "regress": REGRESS, "train": TRAIN}
# Bounds that a rule between knobs tightens: a generated task needs an image of each class, so
# the edges of n_train and n_test are at the coarse task's 4 classes, not at 1.
JOINT_LOW = dict.fromkeys(("data.n_train", "data.n_test"), n_classes("coarse"))
# Where the pipeline is stricter than the function (labelnoise.params): a fraction of 0 carves
# no split, which the import takes and the pipeline, needing both splits, refuses.
PIPELINE_ONLY = {"data.val_fraction": 0.0, "data.test_fraction": 0.0}


def _step(value, bound: str, inward: bool):
    """The value next to ``value`` on the side of bound ``bound`` that is inside (or outside)."""
    up = (bound in ("ge", "gt")) == inward
    if isinstance(value, int):
        return value + (1 if up else -1)
    return math.nextafter(value, math.inf if up else -math.inf)


def _edges(key: str, declared) -> list[tuple[str, object, bool]]:
    """``(what, value, inside)`` around each bound of a knob, as the knob's whole value."""
    cases = []
    for bound, limit in declared.bounds.items():
        limit = JOINT_LOW.get(key, limit)
        inclusive = bound in ("ge", "le")
        inside = limit if inclusive else _step(limit, bound, inward=True)
        outside = _step(limit, bound, inward=False) if inclusive else limit
        for value, is_inside in ((inside, True), (outside, False)):
            if get_origin(declared.kind) is tuple:  # a pair: the low or the high end moves
                low_end = bound in ("ge", "gt")
                value = (value, declared.default[1]) if low_end else (declared.default[0], value)
            elif get_origin(declared.kind) is list:
                value = [value]
            cases.append((f"{bound} {limit}", value, is_inside))
    return cases


def _knob_cases():
    for section, declared_knobs in SECTIONS.items():
        for name, declared in declared_knobs.items():
            key = f"{section}.{name}"
            if key in UNREACHED:
                continue
            cases = _edges(key, declared)
            if declared.ordered:
                cases.append(("high before low", declared.default[::-1], False))
            if get_origin(declared.kind) is Literal:
                cases += [(f"choice {c}", c, True) for c in get_args(declared.kind)]
                cases.append(("unknown choice", "no-such", False))
            elif declared.kind is not bool:
                cases.append(("wrong type", "many", False))
            for what, value, inside in cases:
                yield pytest.param(key, value, inside, id=f"{key}-{what}-{value!r}"[:80])


# The data knobs that reach the import rather than generate_dataset, and those that reach both.
IMPORT_ONLY = {"resize", "val_fraction", "test_fraction", "on_bad_image", "workers"}
BOTH = {"image_size", "chunk_size"}


def _contexts(key: str, value, folders: dict[str, str]) -> list[tuple[str, dict]]:
    """The sections that carry ``value`` at ``key`` to each function it reaches, the other
    knobs valid: ``(section, values)``."""
    section, name = key.split(".")
    if section == "noise":
        matrix = ((np.ones((14, 14)) - np.eye(14)) / 13).tolist()
        base = {**PARAMS["noise"], "rates": [0.2], "kind": "matrix", "matrix": matrix}
        return [(section, {**base, name: value})]
    if section in ("regress", "train"):
        return [(section, {**PARAMS[section], name: value})]
    if name == "source":
        return [(section, _data(folders, source=value))]
    if name in IMPORT_ONLY or (name == "task" and value == "custom"):
        sources = ["folder"]  # imported images are of task custom, generated ones never
    elif name in BOTH:
        sources = ["generate", "folder"]
    else:
        sources = ["generate"]
    contexts = []
    for source in sources:
        changes = {"source": source, name: value}
        if name in ("val_fraction", "test_fraction"):  # the other smallest, so the sum fits
            other = "test_fraction" if name == "val_fraction" else "val_fraction"
            changes[other] = math.ulp(0.0)
        if name == "base" and value == "folder":
            changes["base_path"] = folders["photos"]
        if name == "task" and value == "fine":
            changes.update(n_train=14, n_test=14)  # an image of each of the 14 classes
        contexts.append((section, _data(folders, **changes)))
    return contexts


def test_every_knob_reaches_a_function_or_is_named_unreached():
    reached = {key for key, *_ in (case.values for case in _knob_cases())}
    declared = {f"{s}.{name}" for s, section in SECTIONS.items() for name in section}
    assert reached | UNREACHED == declared and not reached & UNREACHED


@pytest.mark.parametrize(("key", "value", "inside"), list(_knob_cases()))
def test_the_schema_and_the_function_agree_at_every_edge(folders, key, value, inside):
    for section, values in _contexts(key, value, folders):
        schema, function = _verdicts(section, values)
        if inside:
            assert function is None, function
            if key in PIPELINE_ONLY and value == PIPELINE_ONLY[key]:
                assert schema is not None and f"{key} must be > 0 in the pipeline" in schema
            else:
                assert schema is None, schema
        else:
            assert schema is not None and key in schema, schema
            assert function is not None and key in function, function


def test_generated_task_custom_is_refused_by_both(folders):
    schema, function = _verdicts("data", _data(folders, task="custom"))
    assert schema and function and "data.task: 'custom' is for your own images" in function
    assert "data.task: 'custom' is for your own images" in schema
