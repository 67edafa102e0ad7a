"""Stage `report`: the PNG figures and the self-contained HTML report with the review gallery."""

import argparse
from pathlib import Path

import numpy as np

from labelnoise.cli import run_stage
from labelnoise.io import atomic_path, load_npy, read_json, save_figure, write_text
from labelnoise.params import load_params


def _csv(path: Path):
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    return __import__("pandas").read_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("dataset", "noisy", "train", "clean", "outliers", "duplicates", "alterations"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    for name in ("metrics-dir", "figures-dir"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")
    args = parser.parse_args()
    params = load_params()
    section = params.report
    rate, top_k = section.rate, section.top_k

    from labelnoise import figures as F
    from labelnoise.clean import REFERENCE, load_result
    from labelnoise.data import load_dataset
    from labelnoise.metrics import BASELINE, Grid, collect, rate_name
    from labelnoise.regress import (
        accuracy_fit_table,
        accuracy_plot_table,
        accuracy_table,
        detection_plot_table,
    )
    from labelnoise.report import build_report, other_issues_table, top_suspects, trust_notice

    dataset = load_dataset(args.dataset, mmap=True)
    images = np.asarray(dataset.split("train")[0])
    labels = _csv(args.noisy / rate_name(rate) / "labels.csv")
    given, flipped = labels["given"].to_numpy(), labels["flipped"].to_numpy(bool)
    if len(labels) != len(images):
        raise ValueError(f"{args.noisy}: {len(labels)} labels for {len(images)} train images")
    train_dir = args.train / rate_name(rate)
    probs = load_npy(train_dir / "oos_probs.npy")
    # Detectors first, the oracle / random references last; "none" scores nothing.
    cleaned = params.clean.cleaned
    order = [m for m in dict.fromkeys([*F.METHOD_ORDER, *cleaned]) if m in cleaned]
    found = [m for m in order if m not in REFERENCE]
    found += [m for m in order if m in REFERENCE and m != BASELINE]
    methods = section.methods or found
    tsne_method = section.tsne_method or ("consensus" if "consensus" in found else found[0])
    needed = {*methods, tsne_method, *({"tvnet", "data_params"} & set(cleaned))}
    results = {m: load_result(args.clean / m / f"{rate_name(rate)}.npz") for m in sorted(needed)}
    metrics = collect([args.metrics_dir], grid=Grid.from_params(params), seeds=[params.seed])
    regression = read_json(args.metrics_dir / "regression.json")
    runs = accuracy_table(metrics.runs)
    names, seed = dataset.classes, params.seed
    figures = {
        "accuracy_vs_rate": F.accuracy_vs_rate_figure(
            accuracy_plot_table(runs), accuracy_fit_table(runs, regression["accuracy"])
        ),
        "detection_vs_rate": F.detection_figure(detection_plot_table(metrics.detect)),
    }
    if "data_params" in results:
        dp = results["data_params"].extras
        figures["review_rows"] = F.review_rows_figure(
            images, given, dp["category"], class_names=names, seed=seed
        )
        figures["dp_trajectories"] = F.trajectory_figure(
            dp["trajectory"], flipped, seed=seed, best_epoch=int(dp["best_epoch"])
        )
    if "tvnet" in results:
        figures["training_values"] = F.training_value_histograms(
            results["tvnet"].extras["predicted_value"], given, flipped, class_names=names
        )
    figures["tsne"] = F.tsne_figure(
        load_npy(train_dir / "train_features.npy"),
        flipped=flipped,
        flagged=results[tsne_method].flags,
        method=tsne_method,
        seed=seed,
    )
    figures["relevance_mask"] = F.relevance_mask_figure(images, given)
    pngs = {}
    with atomic_path(args.figures_dir, directory=True) as tmp:
        for name, fig in figures.items():
            save_figure(fig, tmp / f"{name}.png")
            pngs[name] = (tmp / f"{name}.png").read_bytes()
    own = dataset.meta["task"] == "custom"
    pngs["examples" if own else "alterations"] = args.alterations.read_bytes()
    suspects = top_suspects({m: results[m].scores for m in methods}, given, top_k=top_k)
    rows = suspects["row"].to_numpy()
    suspects["suggested"] = probs[rows].argmax(axis=1)
    suspects["confidence"] = probs[rows, suspects["suggested"].to_numpy()]
    suspects["flipped"], suspects["true"] = flipped[rows], labels["true"].to_numpy()[rows]
    suspects["id"] = labels["id"].to_numpy()[rows]
    if own:  # your images are named by their file
        suspects["path"] = dataset.index.set_index("id").loc[suspects["id"], "source"].to_numpy()
    issues = other_issues_table(
        _csv(args.outliers), _csv(args.duplicates), labels["id"].to_numpy(), limit=4 * top_k
    )
    if not own:
        issues = issues.drop(columns="path")
    page = build_report(
        metrics.runs,
        metrics.detect,
        regression,
        pngs,
        suspects,
        images,
        class_names=names,
        rate=rate,
        other_issues=issues,
        issues_rate=params.results.rate,
        notice=trust_notice(dataset.meta.get("split_origin", {})) if own else None,
        given_labels=params.rates == [0.0] and own,
    )
    write_text(args.out, page)
    print(f"report: {args.out} ({len(page) / 1e6:.1f} MB), {len(suspects)} suspects at {rate:g}")


if __name__ == "__main__":
    run_stage(main)
