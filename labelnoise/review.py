"""The review round-trip: the suspects go out to a person, the verdicts come back as labels.

``python -m labelnoise.review export`` writes the top suspects of ``results/label_issues.csv``
(and a uniform random sample of the other train images) for a labelling tool: a Label Studio
import file whose tasks carry the image, the given label and the suggested one as a prediction,
its labelling config, and a plain CSV whose empty ``label`` column the reviewer fills in.

``data.reviewed`` (a CSV of ``path,label``, or a folder of such CSVs) takes the verdicts back
on the next import: a reviewed label replaces the given one, a reviewed image is never carved
into the test split, and when there is no ``val/`` folder the reviewed images the export drew at
random (all reviewed images if the CSV does not say) become the trusted validation split that
calibrates the noise estimate and the flag criterion. The suspects' corrections stay in train.
A random sample is what makes that calibration honest: the suspects are the hard images, and a
trusted set of hard images alone would make a correct label look less certain than it is.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd


def review_summary(reviewed: pd.DataFrame) -> dict:
    """What the review found, for the report.

    Parameters
    ----------
    reviewed
        The dataset's review record (:func:`labelnoise.data.reviewed.reviewed_table`).

    Returns
    -------
    dict
        ``n_reviewed`` and ``n_corrected``; per sample kind (``suspect``, ``random``,
        ``unspecified``) the number reviewed and corrected; ``flag_precision`` — of the reviewed
        images the run had flagged, the share whose label was wrong, with a Wilson 95%
        interval (``None`` when no reviewed image says whether it was flagged); and
        ``noise_rate`` — the share of wrong labels in the random sample, an unbiased estimate
        of the folder's noise rate, with its interval (``None`` without a random sample).
    """
    from statsmodels.stats.proportion import proportion_confint

    corrected = (reviewed["label"] != reviewed["original_label"]).to_numpy()

    def share(mask: np.ndarray) -> dict | None:
        n = int(mask.sum())
        if n == 0:
            return None
        k = int(corrected[mask].sum())
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        return {"n": n, "wrong": k, "share": k / n, "low": float(low), "high": float(high)}

    sample = reviewed["sample"].fillna("").to_numpy()
    flagged = reviewed["flagged"].astype("boolean")
    kinds = {"suspect": sample == "suspect", "random": sample == "random"}
    kinds["unspecified"] = ~(kinds["suspect"] | kinds["random"])
    return {
        "n_reviewed": len(reviewed),
        "n_corrected": int(corrected.sum()),
        "by_sample": {
            kind: {"n": int(mask.sum()), "corrected": int(corrected[mask].sum())}
            for kind, mask in kinds.items()
        },
        "flag_precision": share(flagged.fillna(False).to_numpy(dtype=bool)),
        "noise_rate": share(kinds["random"]),
    }


def export_review(
    issues: pd.DataFrame,
    *,
    out: Path,
    images: np.ndarray | None = None,
    reviewed_ids: np.ndarray | None = None,
    class_names: list[str],
    top: int,
    random: int,
    seed: int,
    document_root: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Write the review files: the ``top`` most suspect train images and ``random`` others.

    Parameters
    ----------
    issues
        ``results/label_issues.csv`` (ranked, most suspect first: ``rank``, ``id``, ``path``,
        ``is_label_issue``, ``given_label``, ``predicted_label``, ``predicted_prob``).
    out
        Folder to write ``review.csv``, ``tasks.json`` (Label Studio import) and
        ``label_config.xml`` into.
    images
        The dataset's images uint8 ``(N, H, W, 3)`` (row = id), when ``path`` names no files
        (generated data): each exported one is written to ``out/images/<id>.png``.
    reviewed_ids
        Ids already reviewed: never exported again.
    class_names
        The classes, in label order (the labelling config's choices).
    top, random
        How many suspects, and how many others drawn uniformly within each given class (in
        proportion to its size, at least one each when ``random`` allows).
    seed
        Seeds the random draw.
    document_root
        Label Studio serves local files below this folder (its
        ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``); the tasks name each image relative to it.
        Default: the deepest folder holding every exported image.

    Returns
    -------
    pandas.DataFrame
        The rows of ``review.csv``: ``path, label`` (empty, for the reviewer), ``given_label,
        suggested_label, suggested_prob, sample, flagged, rank, id``.
    """
    from labelnoise.io import atomic_path, write_csv, write_text

    if top < 0 or random < 0 or top + random == 0:
        raise ValueError(f"export: top and random must be >= 0 and not both 0, got {top}, {random}")
    table = issues.sort_values("rank", kind="stable")
    if reviewed_ids is not None and len(reviewed_ids):
        table = table[~table["id"].isin(reviewed_ids)]
    suspects = table.head(top)
    rest = table.iloc[len(suspects) :]
    drawn = rest.iloc[_stratified_draw(rest["given_label"].to_numpy(), random, seed=seed)]
    chosen = pd.concat([suspects.assign(sample="suspect"), drawn.assign(sample="random")])
    if chosen.empty:
        raise ValueError("export: no train image left to review")
    with atomic_path(out, directory=True) as folder:
        paths = chosen["path"].astype(str).to_numpy()
        if images is not None:
            paths = _write_previews(images, chosen["id"].to_numpy(), folder, final=out)
        rows = pd.DataFrame(
            {
                "path": paths,
                "label": "",
                "given_label": chosen["given_label"].to_numpy(),
                "suggested_label": chosen["predicted_label"].to_numpy(),
                "suggested_prob": chosen["predicted_prob"].to_numpy().round(4),
                "sample": chosen["sample"].to_numpy(),
                "flagged": chosen["is_label_issue"].to_numpy(dtype=bool),
                "rank": chosen["rank"].to_numpy(),
                "id": chosen["id"].to_numpy(),
            }
        )
        write_csv(rows, folder / "review.csv")
        root = Path(document_root) if document_root else Path(os.path.commonpath(list(paths)))
        if root.is_file():
            root = root.parent
        tasks = [_task(row, root) for row in rows.itertuples(index=False)]
        write_text(folder / "tasks.json", json.dumps(tasks, indent=1) + "\n")
        write_text(folder / "label_config.xml", _label_config(class_names))
    return rows


def _stratified_draw(labels: np.ndarray, size: int, *, seed: int) -> np.ndarray:
    """Sorted positions of ``size`` rows drawn uniformly within each label of ``labels``
    ``(n,)``, in proportion to its share and at least one per label when ``size`` allows: the
    trusted split they may become needs every class."""
    if size == 0 or len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    names, counts = np.unique(labels, return_counts=True)
    want = np.floor(size * counts / counts.sum() + 0.5).astype(np.int64)
    if size >= len(names):
        want = np.maximum(want, 1)
    want = np.minimum(want, counts)
    chosen = [
        rng.choice(np.flatnonzero(labels == name), size=k, replace=False)
        for name, k in zip(names, want, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def _write_previews(images: np.ndarray, ids: np.ndarray, folder: Path, *, final: Path) -> list:
    """Write each exported generated image as a PNG; their final paths, in ``ids`` order."""
    from PIL import Image

    (folder / "images").mkdir()
    paths = []
    for i in ids:
        Image.fromarray(np.asarray(images[i])).save(folder / "images" / f"{int(i)}.png")
        paths.append(str(Path(os.path.abspath(final)) / "images" / f"{int(i)}.png"))
    return paths


def _task(row, root: Path) -> dict:
    """One Label Studio task: the image (as a local file below ``root``), the given label and
    the suggestion as a prediction on the ``label`` choices."""
    relative = os.path.relpath(row.path, root)
    return {
        "data": {
            "image": f"/data/local-files/?d={relative}",
            "path": row.path,
            "given_label": row.given_label,
            "sample": row.sample,
            "flagged": bool(row.flagged),
        },
        "predictions": [
            {
                "model_version": "labelnoise",
                "score": float(row.suggested_prob),
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": [row.suggested_label]},
                    }
                ],
            }
        ],
    }


def _label_config(class_names: list[str]) -> str:
    """A Label Studio labelling config: the image, its given label, one choice per class."""
    from xml.sax.saxutils import quoteattr

    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in class_names)
    return (
        "<View>\n"
        '  <Image name="image" value="$image"/>\n'
        '  <Header value="Given label: $given_label"/>\n'
        '  <Choices name="label" toName="image" choice="single" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m labelnoise.review export``: the review files of the last run."""
    from labelnoise.data import load_dataset
    from labelnoise.data.store import load_reviewed
    from labelnoise.params import load_params

    parser = argparse.ArgumentParser(prog="python -m labelnoise.review", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the suspects for a labelling tool")
    export.add_argument("--issues", type=Path, default=Path("results/label_issues.csv"))
    export.add_argument("--dataset", type=Path, default=Path("data/dataset"))
    export.add_argument("--params", type=Path, default=Path("params.yaml"))
    export.add_argument("--out", type=Path, default=Path("results/review"))
    export.add_argument("--top", type=int, default=200, help="most suspect images to review")
    export.add_argument(
        "--random", type=int, default=50, help="images drawn at random: they calibrate"
    )
    export.add_argument("--document-root", type=Path, help="Label Studio's local-files root")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    if not args.issues.is_file():
        raise ValueError(f"{args.issues}: file not found; run `dvc repro` first")
    issues = pd.read_csv(args.issues, keep_default_na=False, dtype={"path": str})
    dataset = load_dataset(args.dataset, mmap=True)
    imported = dataset.meta["task"] == "custom"
    reviewed = load_reviewed(args.dataset)
    rows = export_review(
        issues, out=args.out, images=None if imported else dataset.images,
        reviewed_ids=reviewed["id"].to_numpy(),
        class_names=dataset.classes, top=args.top, random=args.random, seed=params.seed,
        document_root=args.document_root,
    )  # fmt: skip
    counts = rows["sample"].value_counts().to_dict()
    print(
        f"{len(rows)} images to review ({counts}) -> {args.out}/review.csv (fill in `label`), "
        f"{args.out}/tasks.json and label_config.xml (Label Studio)"
    )


if __name__ == "__main__":
    from labelnoise.cli import run_stage

    run_stage(lambda: main())
