"""Stage `clean`: every cleaning method at every rate, scored against the true flips.

Methods in `clean.methods` run here (they read only the trained models' outputs); the results
of `clean.trained` methods come from their `fit` stages; methods that combine others (the
consensus) run last, on the results of the rest. Every result is flagged here, by one rule
(`clean.count`), whichever stage scored it.
One file per rate and method: a result that did not change stops DVC downstream.
"""

import argparse
from pathlib import Path

from labelnoise.cli import run_stage
from labelnoise.io import write_json
from labelnoise.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="corrupt's folder of rates")
    parser.add_argument("--train", type=Path, required=True, help="train's folder of rates")
    parser.add_argument("--fit", type=Path, required=True, help="fit's <method>/<rate>.npz")
    parser.add_argument("--out", type=Path, required=True, help="<method>/<rate>.npz results")
    parser.add_argument("--metrics", type=Path, required=True, help="<rate>-<method>.json")
    parser.add_argument("--pr", type=Path, required=True, help="<rate>-<method>.json curves")
    args = parser.parse_args()
    params = load_params()

    from labelnoise import layout
    from labelnoise.clean import get_method, load_result, save_result
    from labelnoise.clean.base import check_result
    from labelnoise.clean.flagging import flag
    from labelnoise.clean_context import clean_context, flag_inputs
    from labelnoise.data import load_dataset
    from labelnoise.evaluate import detection_metrics, pr_curve
    from labelnoise.io import atomic_path, load_npy
    from labelnoise.noisy_labels import read_noisy_labels
    from labelnoise.trusted import trusted_estimate

    dataset = load_dataset(args.dataset, mmap=True)
    verified = dataset.reviewed_rows("train")  # a person checked these labels: never flagged
    methods = {name: get_method(name) for name in params.clean.cleaned}
    # Methods that combine others run last, on the results of the rest at the same rate.
    combining = [name for name in params.clean.methods if methods[name].combines]
    light = [name for name in params.clean.methods if name not in combining]

    def run_one(method_name, labels, rate, trusted, results=None):
        method = methods[method_name]
        context = clean_context(
            dataset, labels, args.train, rate, method=method, seed=params.seed, trusted=trusted
        )
        context.results = results
        result = method.run(context, **params.clean.settings(method_name))
        return check_result(method_name, result, len(labels)), context.trusted_noise

    def flagged(method_name, result, inputs):
        context, posterior = inputs
        own = method_name in params.clean.flag_own
        return flag(
            methods[method_name], result, context, rule="own" if own else params.clean.count,
            cost_ratio=params.clean.cost_ratio, posterior=posterior, verified=verified,
        )  # fmt: skip

    with (
        atomic_path(args.out, directory=True) as out,
        atomic_path(args.metrics, directory=True) as metrics_dir,
        atomic_path(args.pr, directory=True) as pr_dir,
    ):
        for rate in params.rates:
            name = layout.rate_name(rate)
            labels = read_noisy_labels(layout.noisy_labels(args.noisy, rate), dataset)
            flipped = labels["flipped"].to_numpy(dtype=bool)
            results, trusted = {}, None
            for method_name in light:
                results[method_name], trusted = run_one(method_name, labels, rate, trusted)
            for method_name in params.clean.trained:
                path = layout.result_file(args.fit, rate, method_name)
                results[method_name] = check_result(
                    f"{method_name} ({path})", load_result(path), len(labels)
                )
            given = labels["given"].to_numpy()
            if trusted is None:  # no light method made it
                trusted = trusted_estimate(
                    dataset, given, load_npy(layout.oos_probs(args.train, rate)),
                    args.train, rate, name="clean",
                )  # fmt: skip
            inputs = flag_inputs(dataset, given, args.train, rate, trusted)
            results = {m: flagged(m, result, inputs) for m, result in results.items()}
            for method_name in combining:  # they vote with their members' flags
                result, _ = run_one(method_name, labels, rate, trusted, results)
                results[method_name] = flagged(method_name, result, inputs)
            for method_name, result in results.items():
                save_result(result, layout.result_file(out, rate, method_name))
                metrics = detection_metrics(flipped, result.scores, result.flags)
                metrics.update(
                    rate=rate,
                    method=method_name,
                    true_noise_rate=float(flipped.mean()),
                    trusted_noise_rate=trusted.rate,
                    estimated_noise_rate=float(result.noise_rate_estimate),
                )
                write_json(layout.detect_record(metrics_dir, rate, method_name), metrics)
                curve = pr_curve(flipped, result.scores)
                write_json(
                    layout.pr_file(pr_dir, rate, method_name),
                    {"rate": rate, "method": method_name, "curve": curve},
                )
                print(
                    f"{method_name} @ {name}: flagged {metrics['n_flagged']} "
                    f"(true flips {metrics['n_flipped']}), F1 {metrics['f1']}, "
                    f"F1 at k {metrics['f1_at_k']}, AUROC {metrics['auroc']}"
                )


if __name__ == "__main__":
    run_stage(main)
