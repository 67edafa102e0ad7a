"""The GPU path in one prepared run: speed against the conventional baselines, CUDA against CPU,
one end-to-end cell of the gpu profile, and the tests marked gpu.

    python bench/gpu_check.py OUT [--device cuda] [--quick] [--parts a,b] [--budget SECONDS]

Writes ``OUT/gpu_check.json`` (every figure and check) and ``OUT/gpu_check.md`` (the same as
tables) after each part, so a run stopped at its time limit still leaves what it measured.
Exits 1 when a check fails or a part raises. Needs torch, torchvision, numpy, pandas,
scikit-learn, scikit-image, Pillow, PyYAML and pytest only (no dvc, cleanlab, pydantic or
dvclive), so it runs on a bare GPU machine. ``--device cpu --quick`` runs every part at toy
size; the test suite does that, so the script cannot rot between GPU runs.

Parts, each side by side with its conventional baseline in this one process:

- ``tests``: the tests marked gpu (a pytest subprocess; they skip without CUDA).
- ``trainer``: ``labelnoise.train.fit`` against a DataLoader of PIL images with torchvision
  transforms, ``small_cnn`` at 32 px; and ``resnet18`` through ``fit``.
- ``folds``: K fold models trained stacked (``fit_stacked``) against K separate ``fit``s.
- ``tvnet``: Training-ValueNet's batched Monte-Carlo phase against its per-step reference.
- ``cell``: one cell of ``profiles/gpu.yaml`` through the library, on a slice of its data:
  generate, corrupt, train, out-of-sample folds, clean (methods without cleanlab), retrain.
- ``agreement``: the same training on CUDA and on the CPU reaches the same accuracy, and one
  model predicts the same on both.
- ``compile``: ``small_cnn`` and ``resnet18`` with and without ``torch.compile``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The side-by-side baselines of the other bench scripts; the package itself where it is not
# installed (a bare GPU machine runs this from a copy of the repository).
sys.path[:0] = [str(BENCH), str(ROOT)]

import folds as folds_bench  # noqa: E402
import trainer as trainer_bench  # noqa: E402
import tvnet as tvnet_bench  # noqa: E402

from labelnoise.profiles import apply_profile  # noqa: E402
from labelnoise.train import (  # noqa: E402
    TrainConfig,
    extract_features,
    fit,
    out_of_sample_folds,
    predict_proba,
    resolve_device,
)

# Tolerances of the checks. CUDA trains under bf16 autocast and sums in other orders than the
# CPU, so one seed's model differs between the two as another seed's would: accuracies are
# compared as seed-to-seed differences, the same weights' predictions more tightly.
ACCURACY_TOLERANCE = 0.03  # |mean accuracy CUDA - CPU| over AGREEMENT_SEEDS, at equal settings
PREDICTION_AGREEMENT = 0.99  # share of test images one model classifies alike on both devices
PROBABILITY_TOLERANCE = 0.05  # max |p_cuda - p_cpu| of one model's probabilities (bf16)
TVNET_TOLERANCE = 1e-6  # max |batched - reference| of the Monte-Carlo gains (float64 both)
FOLD_ACCURACY_TOLERANCE = 0.03  # |mean test accuracy stacked - separate| of the fold models
AGREEMENT_SEEDS = (0, 1)
RATE = 0.2  # the cell's false-label rate

PARTS = ("tests", "trainer", "folds", "tvnet", "cell", "agreement", "compile")


@dataclass(frozen=True)
class Sizes:
    """How big each part runs: the full run fills a few minutes of one GPU, quick runs in
    seconds on a CPU."""

    trainer_images: int  # random 32 px images per epoch; a multiple of the batch
    trainer_epochs: int  # the first epoch carries start-up and compilation
    loader_workers: int  # DataLoader processes of the conventional pipeline
    fold_images: int
    fold_epochs: int
    tvnet: dict
    cell_train: int  # train images of the cell's slice of the gpu profile
    cell_test: int
    cell_val_per_class: int
    cell_epochs: int | None  # None: the profile's
    agreement_train: int
    agreement_epochs: int
    small: dict = field(default_factory=dict)  # TrainConfig overrides of every trained model


FULL = Sizes(
    trainer_images=51_200,
    trainer_epochs=3,
    loader_workers=min(8, os.cpu_count() or 1),
    fold_images=20_000,
    fold_epochs=3,
    tvnet={
        "classes": 14,
        "per_class": 500,
        "dim": 64,
        "val_per_class": 50,
        "episodes": 100,
        "ref_episodes": 3,
    },
    cell_train=10_000,
    cell_test=5_000,
    cell_val_per_class=100,
    cell_epochs=None,
    agreement_train=6_000,
    agreement_epochs=6,
)
QUICK = Sizes(
    trainer_images=128,
    trainer_epochs=2,
    loader_workers=0,
    fold_images=240,
    fold_epochs=1,
    tvnet={
        "classes": 3,
        "per_class": 20,
        "dim": 8,
        "val_per_class": 10,
        "episodes": 4,
        "ref_episodes": 2,
    },
    cell_train=280,
    cell_test=140,
    cell_val_per_class=6,
    cell_epochs=2,
    agreement_train=200,
    agreement_epochs=1,
    small={"width": 8, "depth": 2, "batch_size": 64, "eval_batch_size": 256},
)


class Run:
    """The figures and checks of one run, written after every part."""

    def __init__(self, out: Path, device: torch.device, quick: bool) -> None:
        self.out, self.device, self.quick = out, device, quick
        self.start = time.perf_counter()
        self.parts: dict[str, dict] = {}
        self.checks: list[dict] = []
        self.env = environment(device)

    def check(self, part: str, name: str, ok: bool, detail: str) -> None:
        self.checks.append({"part": part, "check": name, "ok": bool(ok), "detail": detail})
        print(f"  [{'ok' if ok else 'FAILED'}] {name}: {detail}", flush=True)

    @property
    def failed(self) -> bool:
        # A part left out by the budget has checked nothing: the run has not passed.
        failed_parts = any(p.get("status") in ("error", "not run") for p in self.parts.values())
        return failed_parts or not all(c["ok"] for c in self.checks)

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        record = {
            "environment": self.env,
            "quick": self.quick,
            "wall_s": time.perf_counter() - self.start,
            "failed": self.failed,
            "parts": self.parts,
            "checks": self.checks,
        }
        _write_text(self.out / "gpu_check.json", json.dumps(record, indent=2, default=float))
        _write_text(self.out / "gpu_check.md", markdown(record))


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def environment(device: torch.device) -> dict:
    env = {
        "device": str(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "commit": _commit(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30)
    return env


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def gpu_profile(sizes: Sizes, device: torch.device) -> dict:
    """``params.yaml`` with ``profiles/gpu.yaml`` laid over it, on ``device``."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    overlay = yaml.safe_load((ROOT / "profiles" / "gpu.yaml").read_text())
    params = apply_profile(base, overlay, source="profiles/gpu.yaml")
    params["train"].update(device=device.type, **sizes.small)
    if sizes.cell_epochs is not None:
        params["train"]["epochs"] = sizes.cell_epochs
        params["train"]["warmup_epochs"] = min(params["train"]["warmup_epochs"], sizes.cell_epochs)
    return params


def train_config(params: dict, **change) -> TrainConfig:
    names = set(TrainConfig.__dataclass_fields__)
    return TrainConfig(**{k: v for k, v in {**params["train"], **change}.items() if k in names})


def steady(seconds: list[float], images: int) -> float:
    """Images per second of the epochs after the first (start-up, compilation, loader workers)."""
    later = seconds[1:] or seconds
    return images / float(np.median(later))


def random_images(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, classes, n)


# --- parts ---------------------------------------------------------------------------------


def part_tests(run: Run, sizes: Sizes) -> dict:
    """The tests marked gpu, found by their marker in ``tests/``."""
    files = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if "pytest.mark.gpu" in p.read_text()
    )
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([*command, *files], cwd=ROOT, env=env, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}
    run.check("tests", "pytest -m gpu", done.returncode == 0, summary)
    if run.device.type == "cuda":
        run.check("tests", "none skipped on CUDA", counts.get("skipped", 0) == 0, summary)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    return {"files": files, **counts, "summary": summary}


def part_trainer(run: Run, sizes: Sizes) -> dict:
    """small_cnn through fit against the DataLoader pipeline; resnet18 through fit."""
    params = gpu_profile(sizes, run.device)
    config = train_config(params, epochs=sizes.trainer_epochs, warmup_epochs=1.0)
    images, labels = random_images(sizes.trainer_images, 10, seed=0)
    warm = replace(config, epochs=1)
    trainer_bench.ours(images[:512], labels[:512], warm, 0)  # CUDA context, cuDNN plans
    ours = trainer_bench.ours(images, labels, config, 0)
    resnet = trainer_bench.ours(images, labels, replace(config, model="resnet18"), 0)
    workers, loader_error = sizes.loader_workers, None
    try:
        conv = trainer_bench.conventional(images, labels, config, 0, workers=workers)
    except RuntimeError as err:  # loader processes need shared memory that a VM may lack
        loader_error, workers = f"{type(err).__name__}: {err}", 0
        print(f"  DataLoader with {sizes.loader_workers} workers failed ({err}); again with 0")
        conv = trainer_bench.conventional(images, labels, config, 0, workers=0)
    n = len(images)
    figures = {
        "images": n,
        "epochs": config.epochs,
        "config": {"width": config.width, "depth": config.depth, "batch_size": config.batch_size},
        "loader_workers": workers,
        "loader_error": loader_error,
        "conventional_img_s": steady(conv, n),
        "small_cnn_img_s": steady(ours, n),
        "resnet18_img_s": steady(resnet, n),
        "epoch_seconds": {"conventional": conv, "small_cnn": ours, "resnet18": resnet},
    }
    figures["speedup"] = figures["small_cnn_img_s"] / figures["conventional_img_s"]
    print(
        f"  small_cnn {figures['small_cnn_img_s']:,.0f} img/s, conventional "
        f"{figures['conventional_img_s']:,.0f} img/s ({figures['speedup']:.1f}x); resnet18 "
        f"{figures['resnet18_img_s']:,.0f} img/s",
        flush=True,
    )
    return figures


def part_compile(run: Run, sizes: Sizes) -> dict:
    """small_cnn and resnet18 with and without torch.compile (CUDA; on the CPU only with a
    C++ compiler, and slow to compile, so a quick CPU run skips it)."""
    if run.device.type != "cuda" and run.quick:
        return {"status": "skipped", "reason": "torch.compile is measured on CUDA only"}
    params = gpu_profile(sizes, run.device)
    config = train_config(params, epochs=sizes.trainer_epochs, warmup_epochs=1.0)
    images, labels = random_images(sizes.trainer_images, 10, seed=0)
    figures = {"images": len(images), "epochs": config.epochs}
    for model in ("small_cnn", "resnet18"):
        eager = trainer_bench.ours(images, labels, replace(config, model=model), 0)
        compiled = trainer_bench.ours(images, labels, replace(config, model=model, compile=True), 0)
        figures[model] = {
            "eager_img_s": steady(eager, len(images)),
            "compiled_img_s": steady(compiled, len(images)),
            "compile_first_epoch_extra_s": compiled[0] - eager[0],
            "epoch_seconds": {"eager": eager, "compiled": compiled},
        }
        figures[model]["speedup"] = figures[model]["compiled_img_s"] / figures[model]["eager_img_s"]
        print(f"  {model}: compiled {figures[model]['speedup']:.2f}x eager", flush=True)
    return figures


def part_folds(run: Run, sizes: Sizes) -> dict:
    params = gpu_profile(sizes, run.device)
    k = params["train"]["folds"]
    config = train_config(
        params, epochs=sizes.fold_epochs, warmup_epochs=min(1.0, sizes.fold_epochs)
    )
    images, labels = folds_bench.synthetic(sizes.fold_images, 32, 3, seed=0)
    test_images, test_labels = folds_bench.synthetic(2000, 32, 3, seed=1)
    rows = folds_bench.fold_rows(labels, k, seed=0)
    warm = replace(config, epochs=1, warmup_epochs=1.0)
    small = folds_bench.fold_rows(labels[:512], k, seed=0)
    folds_bench.sequential(images, labels, small, warm, 0)
    folds_bench.stacked(images, labels, small, warm, 0)
    t_seq, _, seq_models = folds_bench.sequential(images, labels, rows, config, 0)
    t_stk, _, stk_models = folds_bench.stacked(images, labels, rows, config, 0)
    accuracy = {
        name: [float((predict_proba(m, test_images).argmax(1) == test_labels).mean()) for m in ms]
        for name, ms in (("separate", seq_models), ("stacked", stk_models))
    }
    gap = abs(np.mean(accuracy["stacked"]) - np.mean(accuracy["separate"]))
    run.check(
        "folds",
        "stacked fold models as accurate as separate ones",
        gap <= FOLD_ACCURACY_TOLERANCE,
        f"mean test accuracy {np.mean(accuracy['stacked']):.3f} stacked, "
        f"{np.mean(accuracy['separate']):.3f} separate (tolerance {FOLD_ACCURACY_TOLERANCE})",
    )
    image_epochs = sum(len(r) for r in rows) * config.epochs
    return {
        "folds": k,
        "images_per_fold": len(rows[0]),
        "epochs": config.epochs,
        "separate_s": t_seq,
        "stacked_s": t_stk,
        "separate_img_s": image_epochs / t_seq,
        "stacked_img_s": image_epochs / t_stk,
        "speedup": t_seq / t_stk,
        "test_accuracy": accuracy,
    }


def part_tvnet(run: Run, sizes: Sizes) -> dict:
    setting = dict(sizes.tvnet)
    episodes, ref_episodes = setting.pop("episodes"), setting.pop("ref_episodes")
    x, y, xv, yv = tvnet_bench.clusters(**setting, seed=0)
    figures = tvnet_bench.measure(
        x, y, xv, yv, classes=setting["classes"], episodes=episodes, ref_episodes=ref_episodes,
        lr=0.01, device=run.device.type, seed=0,
    )  # fmt: skip
    run.check(
        "tvnet",
        "batched equals the reference",
        figures["max_abs_difference"] <= TVNET_TOLERANCE,
        f"max |difference| {figures['max_abs_difference']:.1e} (tolerance {TVNET_TOLERANCE:.0e})",
    )
    return {**setting, **figures}


_CELL_DATA: dict = {}


def cell_data(sizes: Sizes, params: dict):
    """The cell's slice of the gpu profile's dataset, made once per run."""
    if "dataset" not in _CELL_DATA:
        from labelnoise.data import generate_dataset

        data = params["data"]
        settings = {
            "n_train": sizes.cell_train,
            "n_val_per_class": sizes.cell_val_per_class,
            "n_test": sizes.cell_test,
            "task": data["task"],
            "image_size": data["image_size"],
            "vertices": tuple(data["vertices"]),
            "area": tuple(data["area"]),
            "crop_scale": tuple(data["crop_scale"]),
            "seed": params["seed"],
        }
        start = time.perf_counter()
        try:
            dataset = generate_dataset(base=data["base"], **settings)
        except ValueError as err:  # another scikit-image build may ship other photographs
            if data["base"] != "skimage":
                raise
            print(f"  {err}: the cell paints on procedural bases instead", flush=True)
            dataset = generate_dataset(base="procedural", **settings)
        _CELL_DATA["dataset"], _CELL_DATA["seconds"] = dataset, time.perf_counter() - start
    return _CELL_DATA["dataset"], _CELL_DATA["seconds"]


# Methods that need no cleanlab, each with its own flag rule; data_params flags its "hard"
# category (its "top" rule reads cleanlab's noise estimate).
CELL_METHODS = {
    "none": {},
    "oracle": {},
    "mistakenness": {"threshold": 0.5},
    "hardness": {"threshold": 0.8},
    "tvnet": {"episodes": 100},
    "aum": {"percentile": 99.0, "passes": 2},
    "data_params": {"flag": "hard"},
}
CELL_ARMS = ("oracle", "mistakenness", "tvnet", "aum", "data_params")


def part_cell(run: Run, sizes: Sizes) -> dict:
    """One rate of the gpu profile through the library, as the stages run it."""
    from labelnoise.clean import CleanContext, get_method
    from labelnoise.evaluate import classification_metrics, detection_metrics
    from labelnoise.noise import corrupt_labels

    params = gpu_profile(sizes, run.device)
    config = train_config(params)
    seed = params["seed"]
    seconds = {}  # of each phase
    dataset, seconds["generate"] = cell_data(sizes, params)
    start = time.perf_counter()
    train_images, true, _ = dataset.split("train")
    val_images, val_labels, _ = dataset.split("val")
    test_images, test_labels, _ = dataset.split("test")
    n_classes = dataset.n_classes
    given = corrupt_labels(true, rate=RATE, n_classes=n_classes, kind="symmetric", seed=seed)
    flipped = given != true

    def train_and_test(keep=None) -> dict:
        result = fit(
            train_images, given, n_classes=n_classes, config=config, seed=seed,
            rows=None if keep is None else np.flatnonzero(keep), epoch_size=len(given),
            progress=False,
        )  # fmt: skip
        proba = predict_proba(result.model, test_images, batch_size=config.eval_batch_size)
        metrics = classification_metrics(test_labels, proba.argmax(1), class_names=dataset.classes)
        return result.model, metrics["accuracy"]

    clock = time.perf_counter()
    model, baseline_accuracy = train_and_test()
    seconds["train"] = time.perf_counter() - clock
    clock = time.perf_counter()
    stack = run.device.type == "cuda"  # K small models fill a GPU that one leaves idle
    folds = out_of_sample_folds(
        train_images, given, n_classes=n_classes, folds=params["train"]["folds"], config=config,
        seed=seed, stack=stack, progress=False,
    )  # fmt: skip
    seconds["folds"] = time.perf_counter() - clock
    fold_accuracy = float((folds.proba.argmax(1) == true).mean())
    run.check(
        "cell",
        "out-of-sample probabilities are distributions",
        np.isfinite(folds.proba).all() and np.allclose(folds.proba.sum(1), 1.0, atol=1e-3),
        f"{folds.proba.shape}, row sums within 1e-3 of 1",
    )
    context = CleanContext(
        labels=given, n_classes=n_classes, pred_probs=folds.proba,
        features=extract_features(model, train_images),
        val_features=extract_features(model, val_images), val_labels=val_labels,
        images=train_images, val_images=val_images, train_config=config, seed=seed,
        progress=False,
    )  # fmt: skip
    detection, flags, clock = {}, {}, time.perf_counter()
    for name, settings in CELL_METHODS.items():
        method = get_method(name)
        # Ground truth reaches only the reference arms, as in the clean stage.
        method_context = replace(context, flipped=flipped if method.needs_truth else None)
        method_start = time.perf_counter()
        result = method.run(method_context, **settings)
        flags[name] = result.flags
        metrics = detection_metrics(flipped, result.scores, result.flags)
        detection[name] = {
            k: metrics[k] for k in ("n_flagged", "precision", "recall", "f1", "auroc")
        } | {"seconds": time.perf_counter() - method_start}
        print(
            f"  {name}: flagged {metrics['n_flagged']}, F1 {metrics['f1']}, "
            f"AUROC {metrics['auroc']}",
            flush=True,
        )
    seconds["clean"] = time.perf_counter() - clock
    arms, clock = {"none": baseline_accuracy}, time.perf_counter()
    for name in CELL_ARMS:
        keep = ~flags[name]
        arms[name] = train_and_test(keep)[1] if keep.any() else None
        print(f"  retrain {name}: kept {int(keep.sum())}, accuracy {arms[name]}", flush=True)
    seconds["retrain"] = time.perf_counter() - clock
    seconds["total_after_generate"] = time.perf_counter() - start
    run.check(
        "cell",
        "the oracle finds exactly the flips",
        np.array_equal(flags["oracle"], flipped),
        f"{int(flipped.sum())} flips",
    )
    if not run.quick:
        chance = 1.0 / n_classes
        run.check(
            "cell",
            "the baseline learns",
            baseline_accuracy > 3 * chance,
            f"test accuracy {baseline_accuracy:.3f} (chance {chance:.3f})",
        )
        run.check(
            "cell",
            "dropping the flips does not hurt",
            arms["oracle"] >= baseline_accuracy - 0.01,
            f"oracle {arms['oracle']:.3f} against no cleaning {baseline_accuracy:.3f}",
        )
    return {
        "task": params["data"]["task"],
        "classes": n_classes,
        "train_images": len(given),
        "test_images": len(test_labels),
        "rate": RATE,
        "epochs": config.epochs,
        "width": config.width,
        "batch_size": config.batch_size,
        "folds": params["train"]["folds"],
        "stacked_folds": stack,
        "fold_oos_accuracy_vs_true": fold_accuracy,
        "detection": detection,
        "accuracy": arms,
        "phase_seconds": seconds,
        "wall_s": seconds["generate"] + seconds["total_after_generate"],
    }


def part_agreement(run: Run, sizes: Sizes) -> dict:
    """The same training on ``run.device`` and on the CPU, at equal settings."""
    params = gpu_profile(sizes, run.device)
    dataset, _ = cell_data(sizes, params)
    images, labels, _ = dataset.split("train")
    images, labels = images[: sizes.agreement_train], labels[: sizes.agreement_train]
    test_images, test_labels, _ = dataset.split("test")
    # The CPU's default settings (a width and batch it trains in seconds), on both devices.
    default = {"width": 16, "batch_size": 128, "lr": 0.05, **sizes.small}
    base = train_config(params, **default, epochs=sizes.agreement_epochs, warmup_epochs=1.0)
    accuracy, models = {}, {}
    for device in dict.fromkeys([run.device.type, "cpu"]):
        config = replace(base, device=device)
        accuracy[device] = []
        for seed in AGREEMENT_SEEDS:
            model = fit(images, labels, n_classes=dataset.n_classes, config=config, seed=seed,
                        progress=False).model  # fmt: skip
            proba = predict_proba(model, test_images)
            accuracy[device].append(float((proba.argmax(1) == test_labels).mean()))
            models.setdefault(device, model)
    other = run.device.type
    gap = abs(np.mean(accuracy[other]) - np.mean(accuracy["cpu"]))
    run.check(
        "agreement",
        f"{other} trains as well as the CPU",
        gap <= ACCURACY_TOLERANCE,
        f"mean test accuracy {np.mean(accuracy[other]):.3f} {other}, "
        f"{np.mean(accuracy['cpu']):.3f} cpu over seeds {list(AGREEMENT_SEEDS)} "
        f"(tolerance {ACCURACY_TOLERANCE})",
    )
    cpu_model = models["cpu"]
    p_cpu = predict_proba(cpu_model, test_images, device="cpu")
    p_other = predict_proba(cpu_model, test_images, device=other)
    same = float((p_cpu.argmax(1) == p_other.argmax(1)).mean())
    worst = float(np.abs(p_cpu - p_other).max())
    run.check(
        "agreement",
        f"one model predicts alike on {other} and cpu",
        same >= PREDICTION_AGREEMENT and worst <= PROBABILITY_TOLERANCE,
        f"same class for {same:.2%} of {len(test_labels)} test images (at least "
        f"{PREDICTION_AGREEMENT:.0%}), max |dp| {worst:.4f} (at most {PROBABILITY_TOLERANCE})",
    )
    return {
        "train_images": len(labels),
        "epochs": base.epochs,
        "accuracy": accuracy,
        "same_prediction": same,
        "max_probability_difference": worst,
    }


PART_FUNCTIONS: dict[str, Callable[[Run, Sizes], dict]] = {
    "tests": part_tests,
    "trainer": part_trainer,
    "folds": part_folds,
    "tvnet": part_tvnet,
    "cell": part_cell,
    "agreement": part_agreement,
    "compile": part_compile,
}


# --- summary -------------------------------------------------------------------------------


def markdown(record: dict) -> str:
    env, parts = record["environment"], record["parts"]
    lines = [
        "# GPU check",
        "",
        f"{env.get('gpu', env['device'])}, torch {env['torch']}, Python {env['python']}, "
        f"{env['cpu_cores']} CPU cores, commit {env['commit']}"
        + (" (quick)" if record["quick"] else "")
        + f"; {record['wall_s']:.0f} s; {'FAILED' if record['failed'] else 'passed'}.",
        "",
        "| part | status | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {p.get('status')} | {p.get('seconds', 0):.1f} |" for n, p in parts.items()]
    lines += ["", "| part | check | result | detail |", "|---|---|---|---|"]
    lines += [
        f"| {c['part']} | {c['check']} | {'ok' if c['ok'] else 'FAILED'} | {c['detail']} |"
        for c in record["checks"]
    ]
    if parts.get("trainer", {}).get("status") == "ok":
        t = parts["trainer"]
        lines += [
            "",
            f"Trainer, {t['images']:,} random 32 px images, steady epochs (after the first):",
            "",
            "| pipeline | img/s |",
            "|---|---|",
            f"| DataLoader + PIL transforms ({t['loader_workers']} workers), small_cnn "
            f"| {t['conventional_img_s']:,.0f} |",
            f"| labelnoise.train.fit, small_cnn | {t['small_cnn_img_s']:,.0f} |",
            f"| labelnoise.train.fit, resnet18 | {t['resnet18_img_s']:,.0f} |",
            f"| speed-up of fit (small_cnn) | {t['speedup']:.1f}x |",
        ]
    if parts.get("compile", {}).get("status") == "ok":
        c = parts["compile"]
        lines += ["", "| model | eager img/s | compiled img/s | speed-up | first-epoch extra s |",
                  "|---|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {m} | {c[m]['eager_img_s']:,.0f} | {c[m]['compiled_img_s']:,.0f} | "
            f"{c[m]['speedup']:.2f}x | {c[m]['compile_first_epoch_extra_s']:.1f} |"
            for m in ("small_cnn", "resnet18")
        ]
    if parts.get("folds", {}).get("status") == "ok":
        f = parts["folds"]
        lines += [
            "",
            f"{f['folds']} fold models of {f['images_per_fold']:,} images x {f['epochs']} epochs: "
            f"separate {f['separate_s']:.1f} s, stacked {f['stacked_s']:.1f} s "
            f"(**{f['speedup']:.2f}x**).",
        ]
    if parts.get("tvnet", {}).get("status") == "ok":
        v = parts["tvnet"]
        lines += [
            "",
            f"Training-ValueNet Monte-Carlo, {v['steps_per_episode']:,} steps per episode: "
            f"batched {v['batched_ms_per_episode']:.1f} ms/episode, reference "
            f"{v['reference_ms_per_episode']:.1f} ms/episode (**{v['speedup']:.1f}x**).",
        ]
    if parts.get("cell", {}).get("status") == "ok":
        c = parts["cell"]
        lines += [
            "",
            f"Cell of the gpu profile ({c['task']}, {c['train_images']:,} train images, rate "
            f"{c['rate']}, {c['epochs']} epochs, width {c['width']}): {c['wall_s']:.0f} s.",
            "",
            "| method | flagged | F1 | AUROC | retrained accuracy |",
            "|---|---|---|---|---|",
        ]
        for name, d in c["detection"].items():
            acc = c["accuracy"].get(name)
            lines.append(
                f"| {name} | {d['n_flagged']} | {_fmt(d['f1'])} | {_fmt(d['auroc'])} | "
                f"{_fmt(acc)} |"
            )
        lines += [
            "",
            "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in c["phase_seconds"].items()),
        ]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--device", default="cuda", help="cuda | cpu")
    parser.add_argument("--quick", action="store_true", help="every part at toy size")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"of {', '.join(PARTS)}")
    parser.add_argument(
        "--budget", type=float, default=float("inf"), help="start no part after this many s"
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; valid: {', '.join(PARTS)}")
    device = resolve_device(args.device)
    run = Run(args.out, device, args.quick)
    sizes = QUICK if args.quick else FULL
    print(f"gpu check on {run.env.get('gpu', device)}: {', '.join(parts)}", flush=True)
    for name in parts:
        if time.perf_counter() - run.start > args.budget:
            run.parts[name] = {
                "status": "not run",
                "reason": f"over the {args.budget:.0f} s budget",
            }
            run.write()
            continue
        print(f"[{name}]", flush=True)
        start = time.perf_counter()
        try:
            figures = PART_FUNCTIONS[name](run, sizes)
            status = figures.pop("status", "ok")
        except Exception as err:  # a part that breaks must not hide the others' figures
            import traceback

            traceback.print_exc()
            figures, status = {"error": f"{type(err).__name__}: {err}"}, "error"
        run.parts[name] = {"status": status, "seconds": time.perf_counter() - start, **figures}
        run.write()
    print((args.out / "gpu_check.md").read_text())
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
