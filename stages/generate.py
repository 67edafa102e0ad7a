"""Stage `generate`: a 100%-correctly-labelled image dataset and the figure of its alterations."""

import argparse
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import save_figure
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to write")
    parser.add_argument("--figure", type=Path, required=True, help="PNG of every alteration")
    args = parser.parse_args()
    params = load_params()
    data = params.data
    if data.source != "generate":
        raise ValueError(f"data.source is {data.source!r}: this stage only generates")

    from labelnoise.data import alterations_figure, generate_dataset, save_dataset

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
        seed=params.seed,
    )
    save_dataset(dataset, args.out)
    figure = alterations_figure(
        seed=params.seed,
        base=data.base,
        base_path=data.base_path,
        vertices=data.vertices,
        area=data.area,
        crop_scale=data.crop_scale,
    )
    save_figure(figure, args.figure)
    counts = dataset.index.groupby("split").size().to_dict()
    print(f"generated {len(dataset.index)} images of {data.image_size} px: {counts} -> {args.out}")


if __name__ == "__main__":
    run_stage(main)
