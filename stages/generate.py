"""Stage `generate`: the dataset — a generated, 100%-correctly-labelled task, or your own images
imported once from a folder or CSV (the originals are only read)."""

import argparse
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import atomic_path, save_figure, write_csv
from labelnoise.params import DataParams, load_params


def _generate(data: DataParams, seed: int, out: Path):
    from labelnoise.data import alterations_figure, generate_dataset, save_dataset
    from labelnoise.data.store import IMAGES_FILE

    dataset = generate_dataset(
        n_train=data.n_train,
        n_val_per_class=data.n_val_per_class,
        n_test=data.n_test,
        task=data.task,
        image_size=data.image_size,
        base=data.base,
        base_path=data.base_path,
        vertices=data.vertices,
        area=data.area,
        crop_scale=data.crop_scale,
        seed=seed,
        chunk_size=data.chunk_size,
        images_path=out / IMAGES_FILE,
    )
    save_dataset(dataset, out, write_images=False)
    figure = alterations_figure(
        seed=seed,
        base=data.base,
        base_path=data.base_path,
        vertices=data.vertices,
        area=data.area,
        crop_scale=data.crop_scale,
    )
    return dataset, figure


def _import(data: DataParams, seed: int, out: Path):
    from labelnoise.data import examples_figure, import_dataset, save_dataset
    from labelnoise.data.reviewed import read_reviewed
    from labelnoise.data.store import IMAGES_FILE
    from labelnoise.layout import skipped_file

    dataset, skipped = import_dataset(
        Path(data.path),
        kind=data.source,
        image_size=data.image_size,
        resize=data.resize,
        val_fraction=data.val_fraction,
        test_fraction=data.test_fraction,
        on_bad_image=data.on_bad_image,
        seed=seed,
        workers=data.workers,
        images_path=out / IMAGES_FILE,
        chunk_size=data.chunk_size,
        reviewed=read_reviewed(data.reviewed),
    )
    save_dataset(dataset, out, write_images=False)
    if len(dataset.reviewed):
        corrected = dataset.reviewed["label"] != dataset.reviewed["original_label"]
        print(
            f"reviewed: {len(dataset.reviewed)} images from {data.reviewed}, "
            f"{int(corrected.sum())} labels corrected; val split: "
            f"{dataset.meta['split_origin']['val']}"
        )
    # Every file left out is listed: with on_bad_image: skip nothing is dropped silently.
    write_csv(skipped, skipped_file(out))
    if len(skipped):
        print(f"skipped {len(skipped)} unreadable or missing images: see {skipped_file(out)}")
    train_images, train_labels, _ = dataset.split("train")
    figure = examples_figure(train_images, train_labels, class_names=dataset.classes, seed=seed)
    return dataset, figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to write")
    parser.add_argument("--figure", type=Path, required=True, help="PNG of the images")
    args = parser.parse_args()
    params = load_params()
    data = params.data
    build = _generate if data.source == "generate" else _import
    if data.source == "generate" and Path(data.reviewed).exists():
        from labelnoise.data.reviewed import read_reviewed

        if len(read_reviewed(data.reviewed)):
            raise ValueError(
                f"data.reviewed ({data.reviewed}) holds reviewed labels, but data.source is "
                "'generate': a review corrects your own images (data.source folder or csv)"
            )
    with atomic_path(args.out, directory=True) as tmp:
        dataset, figure = build(data, params.seed, tmp)
    save_figure(figure, args.figure)
    counts = dataset.index.groupby("split").size().to_dict()
    print(
        f"{data.source}: {len(dataset.index)} images of {data.image_size} px {counts} -> {args.out}"
    )


if __name__ == "__main__":
    run_stage(main)
