"""Stage `report`: the PNG figures and the self-contained HTML report with the review gallery."""

import argparse
from pathlib import Path

import numpy as np

from labelnoise.cli import run_stage
from labelnoise.io import load_npy, read_json, save_figure, write_text
from labelnoise.params import load_params


def _csv(path: Path):
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    return __import__("pandas").read_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("dataset", "noisy", "train", "clean", "metrics-dir", "figures-dir"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")
    args = parser.parse_args()
    params = load_params()
    section = params.report
    rate, top_k = section.rate, section.top_k

    from labelnoise import figures as F
    from labelnoise.clean import load_result
    from labelnoise.data import load_dataset
    from labelnoise.metrics import Grid, collect, rate_name
    from labelnoise.regress import (
        accuracy_fit_table,
        accuracy_plot_table,
        accuracy_table,
        detection_plot_table,
    )
    from labelnoise.report import build_report, top_suspects

    dataset = load_dataset(args.dataset, mmap=True)
    images = np.asarray(dataset.split("train")[0])
    labels = _csv(args.noisy / rate_name(rate) / "labels.csv")
    given, flipped = labels["given"].to_numpy(), labels["flipped"].to_numpy(bool)
    if len(labels) != len(images):
        raise ValueError(f"{args.noisy}: {len(labels)} labels for {len(images)} train images")
    train_dir = args.train / rate_name(rate)
    probs = load_npy(train_dir / "oos_probs.npy")
    # Detectors first, the oracle / random references last; "none" scores nothing.
    refs = ("none", "oracle", "random")
    cleaned = params.clean.cleaned
    order = [m for m in dict.fromkeys([*F.METHOD_ORDER, *cleaned]) if m in cleaned]
    found = [m for m in order if m not in refs] + [m for m in refs[1:] if m in cleaned]
    methods = section.methods or found
    tsne_method = section.tsne_method or ("consensus" if "consensus" in found else "cleanlab")
    needed = {*methods, "tvnet", "data_params", tsne_method}
    results = {m: load_result(args.clean / m / f"{rate_name(rate)}.npz") for m in sorted(needed)}
    metrics = collect([args.metrics_dir], grid=Grid.from_params(params), seeds=[params.seed])
    regression = read_json(args.metrics_dir / "regression.json")
    runs = accuracy_table(metrics.runs)
    names, seed = dataset.classes, params.seed
    dp, tv = results["data_params"].extras, results["tvnet"].extras
    figures = {
        "accuracy_vs_rate": F.accuracy_vs_rate_figure(
            accuracy_plot_table(runs), accuracy_fit_table(runs, regression["accuracy"])
        ),
        "detection_vs_rate": F.detection_figure(detection_plot_table(metrics.detect)),
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
    page = build_report(
        metrics.runs,
        metrics.detect,
        regression,
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
