"""Stage `clean`: one cleaning method at one rate scores every train example and flags suspects."""

import argparse
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import load_npy, write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True, help="output directory of `train`")
    parser.add_argument("--out", type=Path, required=True, help=".npz of scores, flags, extras")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--pr", type=Path, required=True, help="precision-recall curve JSON")
    args = parser.parse_args()
    params = load_params()

    from labelnoise.clean import CleanContext, get_method, save_result
    from labelnoise.clean.base import check_result
    from labelnoise.clean.cleanlab_method import estimate_noise_rate
    from labelnoise.data import load_dataset
    from labelnoise.evaluate import detection_metrics, pr_curve
    from labelnoise.runs import read_noisy_labels, train_config

    method = get_method(args.method)
    dataset = load_dataset(args.dataset, mmap=True)
    labels = read_noisy_labels(args.labels, dataset)
    given = labels["given"].to_numpy()
    flipped = labels["flipped"].to_numpy(dtype=bool)
    probs_path = args.train / "oos_probs.npy"
    pred_probs = load_npy(probs_path)
    train_images, _, _ = dataset.split("train")
    val_images, val_labels, _ = dataset.split("val")
    context = CleanContext(
        labels=given,
        n_classes=dataset.n_classes,
        pred_probs=pred_probs,
        features=load_npy(args.train / "train_features.npy"),
        val_features=load_npy(args.train / "val_features.npy"),
        val_labels=val_labels,
        images=train_images,
        val_images=val_images,
        train_config=train_config(params.train) if getattr(method, "trains_model", False) else None,
        # Ground truth reaches only the baselines: the oracle drops exactly the flips, random
        # drops as many.
        flipped=flipped if args.method in ("oracle", "random") else None,
        noise_rate_estimate=(
            estimate_noise_rate(given, pred_probs, source=str(probs_path))
            if getattr(method, "uses_noise_estimate", False)
            else None
        ),
        seed=params.seed,
        pred_probs_source=str(probs_path),
    )
    result = method.run(context, **getattr(params.clean, args.method))
    result = check_result(args.method, result, context.n)
    save_result(result, args.out)
    metrics = detection_metrics(flipped, result.scores, result.flags)
    metrics.update(
        rate=args.rate,
        method=args.method,
        true_noise_rate=float(flipped.mean()),
        estimated_noise_rate=float(result.noise_rate_estimate),
    )
    write_json(args.metrics, metrics)
    write_json(
        args.pr,
        {"rate": args.rate, "method": args.method, "curve": pr_curve(flipped, result.scores)},
    )
    print(
        f"{args.method} @ {args.rate}: flagged {metrics['n_flagged']} "
        f"(true flips {metrics['n_flipped']}), F1 {metrics['f1']}, AUROC {metrics['auroc']}"
    )


if __name__ == "__main__":
    run_stage(main)
