"""Stage `model`: the cleaned model to deploy, the DVC artifact ``cleaned-model``.

The drop arm of ``results.method`` at the results rate (``results.rate``; with your own labels
as given, the one rate 0.0) was trained by its `retrain` stage on the labels that method keeps,
which kept its weights (``<rate>.pt`` beside its train probabilities). This stage trains
nothing: it copies those weights into ``--out`` with a model card (``model.json``: the
architecture, the classes in order, the input the model takes and its test metrics), so that
``models/cleaned/`` always holds the chosen arm whatever ``results.method`` names, and changing
that choice re-runs no training. ``labelnoise.predict`` loads the folder and predicts images.
"""

import argparse
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--first", type=Path, required=True, help="the drop arms' weights folder")
    parser.add_argument("--metrics", type=Path, required=True, help="the arms' <rate>.json folder")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    args = parser.parse_args()
    params = load_params()
    method, rate = params.results.method, params.results.rate
    if method is None:
        raise ValueError("results.method: no cleaning method runs, so no model was cleaned")

    from labelnoise import layout
    from labelnoise.data import load_dataset
    from labelnoise.io import read_json
    from labelnoise.predict import model_card, write_model_folder

    dataset = load_dataset(args.dataset, mmap=True)
    path = layout.rate_record(args.metrics / method, rate)
    record = read_json(path)
    if record.get("method") != method or record.get("rate") != rate:
        raise ValueError(
            f"{path}: holds {record.get('method')!r} at rate {record.get('rate')!r}, "
            f"expected {method!r} at {rate}"
        )
    imported = dataset.meta["task"] == "custom"
    card = model_card(
        record, model=params.train.model, width=params.train.width, depth=params.train.depth,
        classes=dataset.classes, image_size=int(dataset.images.shape[1]),
        resize=params.data.resize if imported else None, method=method, rate=rate,
        seed=params.seed,
        test_labels=dataset.meta.get("split_origin", {}).get("test", "given")
        if imported else "generated",
    )  # fmt: skip
    write_model_folder(args.out, weights=layout.first_weights(args.first, rate, method), card=card)
    print(
        f"cleaned model: {method} (drop) at rate {layout.rate_name(rate)}, test accuracy "
        f"{record['accuracy']:.4f} -> {args.out}"
    )


if __name__ == "__main__":
    run_stage(main)
