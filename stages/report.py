"""Stage `report`: the PNG figures and the self-contained HTML report with the review gallery."""

import argparse
from pathlib import Path

import numpy as np

from labelnoise.cli import run_stage
from labelnoise.io import load_npy, read_json, save_figure, write_text
from labelnoise.params import load_params

KEYS = {"rate", "top_k", "methods", "tsne_method"}


def _rate_dir(root: Path, rate: float) -> Path:
    """``root/<rate>`` whatever the rate's spelling (``0.2``, ``0.20``)."""
    for path in sorted(root.glob("[0-9]*")):
        if path.is_dir() and path.name.replace(".", "", 1).isdigit() and float(path.name) == rate:
            return path
    raise ValueError(f"{root}: no directory for rate {rate:g}; run the pipeline first")


def _csv(path: Path):
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    return __import__("pandas").read_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("dataset", "noisy", "train", "clean", "metrics-dir", "plots-dir", "figures-dir"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")
    args = parser.parse_args()
    params = load_params()
    section = params.report
    if unknown := sorted(set(section) - KEYS):
        raise ValueError(f"params.yaml: unknown report keys {unknown}; valid: {sorted(KEYS)}")
    rates = params.noise.rates
    positive = [r for r in rates if 0 < r <= 0.2] or rates
    rate = float(section.get("rate", max(positive)))
    if rate not in rates:
        raise ValueError(f"params.yaml: report.rate {rate:g} is not one of noise.rates {rates}")
    top_k = section.get("top_k", 8)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"params.yaml: report.top_k must be a positive integer, got {top_k!r}")

    from labelnoise import figures as F
    from labelnoise.clean import load_result
    from labelnoise.data import load_dataset
    from labelnoise.regress import collect, select
    from labelnoise.report import build_report, top_suspects

    dataset = load_dataset(args.dataset, mmap=True)
    images = np.asarray(dataset.split("train")[0])
    labels = _csv(_rate_dir(args.noisy, rate) / "labels.csv")
    given, flipped = labels["given"].to_numpy(), labels["flipped"].to_numpy(bool)
    if len(labels) != len(images):
        raise ValueError(f"{args.noisy}: {len(labels)} labels for {len(images)} train images")
    train_dir, clean_dir = _rate_dir(args.train, rate), _rate_dir(args.clean, rate)
    probs = load_npy(train_dir / "oos_probs.npy")
    # Detectors first, the oracle / random references last; "none" scores nothing.
    refs = ("none", "oracle", "random")
    order = [*F.METHOD_ORDER, *sorted(p.stem for p in clean_dir.glob("*.npz"))]
    order = [m for m in dict.fromkeys(order) if m not in refs] + list(refs[1:])
    grid = {*params.clean.methods, "consensus"}
    found = [m for m in order if m in grid and (clean_dir / f"{m}.npz").is_file()]
    methods = section.get("methods", found)
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise ValueError(f"params.yaml: report.methods must be a list of names, got {methods!r}")
    tsne_method = section.get("tsne_method", "consensus" if "consensus" in found else "cleanlab")
    needed = {*methods, "tvnet", "data_params", tsne_method}
    results = {m: load_result(clean_dir / f"{m}.npz") for m in sorted(needed)}
    names, seed = dataset.classes, params.seed
    dp, tv = results["data_params"].extras, results["tvnet"].extras
    figures = {
        "accuracy_vs_rate": F.accuracy_vs_rate_figure(
            _csv(args.plots_dir / "accuracy.csv"),
            _csv(args.plots_dir / "regression" / "accuracy_fit.csv"),
        ),
        "detection_vs_rate": F.detection_figure(_csv(args.plots_dir / "detection.csv")),
        "review_rows": F.review_rows_figure(
            images, given, dp["category"], class_names=names, seed=seed
        ),
        "dp_trajectories": F.trajectory_figure(
            dp["trajectory"], flipped, seed=seed, best_epoch=int(dp["best_epoch"])
        ),
        "training_values": F.training_value_histograms(
            tv["predicted_value"], given, flipped, class_names=names
        ),
        "tsne": F.tsne_figure(
            load_npy(train_dir / "train_features.npy"),
            flipped=flipped,
            flagged=results[tsne_method].flags,
            method=tsne_method,
            seed=seed,
        ),
        "relevance_mask": F.relevance_mask_figure(images, given),
    }
    pngs = {}
    for name, fig in figures.items():
        save_figure(fig, args.figures_dir / f"{name}.png")
        pngs[name] = (args.figures_dir / f"{name}.png").read_bytes()
    alterations = args.figures_dir / "alterations.png"
    if alterations.is_file():
        pngs["alterations"] = alterations.read_bytes()
    else:
        print(f"note: {alterations} not found (imported data?); the report goes without it")
    suspects = top_suspects({m: results[m].scores for m in methods}, given, top_k=top_k)
    rows = suspects["row"].to_numpy()
    suspects["suggested"] = probs[rows].argmax(axis=1)
    suspects["confidence"] = probs[rows, suspects["suggested"].to_numpy()]
    suspects["flipped"], suspects["true"] = flipped[rows], labels["true"].to_numpy()[rows]
    suspects["id"] = labels["id"].to_numpy()[rows]
    grid = {*params.clean.methods, *params.retrain.methods}
    metrics = select(
        collect([args.metrics_dir], seeds=[seed]), rates=params.noise.rates, methods=sorted(grid)
    )
    page = build_report(
        metrics.runs,
        metrics.detect,
        read_json(args.metrics_dir / "regression.json"),
        pngs,
        suspects,
        images,
        class_names=names,
        rate=rate,
    )
    write_text(args.out, page)
    print(f"report: {args.out} ({len(page) / 1e6:.1f} MB), {len(suspects)} suspects at {rate:g}")


if __name__ == "__main__":
    run_stage(main)
