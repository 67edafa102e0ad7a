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
    for name in ("dataset", "noisy", "train", "clean", "alterations"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    for name in ("issue-table", "issue-summary", "leaks"):  # results/issues.csv, ...
        parser.add_argument(f"--{name}", type=Path, required=True)
    for name in ("regression", "metrics-dir", "figures-dir"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")
    args = parser.parse_args()
    params = load_params()
    section = params.report
    rate, top_k = section.rate, section.top_k

    from labelnoise import layout
    from labelnoise.clean import load_result
    from labelnoise.data import load_dataset
    from labelnoise.glance import glance_of
    from labelnoise.metrics import Grid, collect
    from labelnoise.noisy_labels import read_noisy_labels
    from labelnoise.report import (
        OtherIssues,
        build_report,
        report_figures,
        report_methods,
        review_suspects,
        trust_notice,
    )
    from labelnoise.review import review_summary

    dataset = load_dataset(args.dataset, mmap=True)
    origin = dataset.meta.get("split_origin", {})
    images = np.asarray(dataset.split("train")[0])
    labels = read_noisy_labels(layout.noisy_labels(args.noisy, rate), dataset)
    cleaned = params.clean.cleaned
    methods, tsne_method = report_methods(
        cleaned, methods=section.methods, tsne_method=section.tsne_method
    )
    results = {m: load_result(layout.result_file(args.clean, rate, m)) for m in cleaned}
    metrics = collect([args.metrics_dir], grid=Grid.from_params(params), seeds=[params.seed])
    regression = read_json(args.regression)
    figures = report_figures(
        metrics,
        regression,
        results,
        images=images,
        given=labels["given"].to_numpy(),
        flipped=labels["flipped"].to_numpy(bool),
        features=load_npy(layout.features(args.train, rate, "train")),
        tsne_method=tsne_method,
        class_names=dataset.classes,
        seed=params.seed,
        rate=rate,
    )
    pngs = {}
    with atomic_path(args.figures_dir, directory=True) as tmp:
        for name, fig in figures.items():
            save_figure(fig, tmp / f"{name}.png")
            pngs[name] = (tmp / f"{name}.png").read_bytes()
    own = dataset.meta["task"] == "custom"
    pngs["examples" if own else "alterations"] = args.alterations.read_bytes()
    suspects = review_suspects(
        {m: results[m].scores for m in methods},
        labels,
        load_npy(layout.oos_probs(args.train, rate)),
        top_k=top_k,
        paths=dataset.index.set_index("id")["source"] if own else None,
    )
    issues, leaks = _csv(args.issue_table), _csv(args.leaks)
    if not own:  # generated images have no file to name: their cards show the id
        issues, leaks = issues.assign(path=""), leaks.assign(path_a="", path_b="")
    other = OtherIssues(_csv(args.issue_summary), issues, leaks, dataset.images, limit=2 * top_k)
    given_labels = params.rates == [0.0] and own
    chosen = layout.result_file(args.clean, params.results.rate, params.results.method)
    flagged = int(load_result(chosen).flags.sum())
    page = build_report(
        metrics.runs,
        metrics.detect,
        regression,
        pngs,
        suspects,
        images,
        class_names=dataset.classes,
        rate=rate,
        other_issues=other,
        issues_rate=params.results.rate,
        notice=trust_notice(origin, review_summary(dataset.reviewed)) if own else None,
        given_labels=given_labels,
        glance=glance_of(
            params, dataset, metrics, regression, flagged=flagged, given_labels=given_labels
        ),
    )
    write_text(args.out, page)
    print(f"report: {args.out} ({len(page) / 1e6:.1f} MB), {len(suspects)} suspects at {rate:g}")


if __name__ == "__main__":
    run_stage(main)
