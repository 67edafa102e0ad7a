"""Stage `consensus`: flag what a majority of the member methods flag, at one rate."""

import argparse
from pathlib import Path

import pandas as pd

from labelnoise.cli import run_stage
from labelnoise.io import write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--members", type=Path, nargs="+", required=True, help="clean .npz files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--pr", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()

    from labelnoise.clean import load_result, save_result
    from labelnoise.clean.base import reject_unknown_params
    from labelnoise.clean.consensus import combine
    from labelnoise.evaluate import detection_metrics, pr_curve

    flipped = pd.read_csv(args.labels)["flipped"].to_numpy(dtype=bool)
    members = {path.stem: load_result(path) for path in args.members}
    reject_unknown_params("consensus", params.clean.consensus)
    result = combine(members, n=len(flipped))
    save_result(result, args.out)
    metrics = detection_metrics(flipped, result.scores, result.flags)
    metrics.update(
        rate=args.rate,
        method="consensus",
        members=sorted(members),
        true_noise_rate=float(flipped.mean()),
        estimated_noise_rate=float(result.noise_rate_estimate),
    )
    write_json(args.metrics, metrics)
    write_json(
        args.pr,
        {"rate": args.rate, "method": "consensus", "curve": pr_curve(flipped, result.scores)},
    )
    print(f"consensus @ {args.rate} of {sorted(members)}: flagged {metrics['n_flagged']}")


if __name__ == "__main__":
    run_stage(main)
