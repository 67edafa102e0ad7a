"""The report's first screen: what the run found, before any table.

With generated (or deliberately falsified) labels: the best cleaning arm and the share of what
the false labels cost that it wins back, against the clean-label ceiling (*gap closed*) and
against dropping exactly the false labels (*recovery*), with 95% intervals — over seeds when the
grid pools several, over test sampling only with one. With your labels as given there is no
ceiling: the cleaned model's accuracy on your test split and its change against the model
trained on every given label. Then what a person reviewed, and the settings that made the run.
"""

from __future__ import annotations

import html
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Glance:
    """What the report's first screen shows beside the issue summary.

    Attributes
    ----------
    headline
        HTML: :func:`headline_html`, or with your labels as given :func:`cleaned_model_html`.
    settings
        :func:`run_settings`.
    review
        :func:`labelnoise.review.review_summary`, when a person reviewed labels.
    """

    headline: str
    settings: Mapping[str, str]
    review: Mapping | None = None


def glance_of(
    params, dataset, metrics, regression: dict, *, flagged: int, given_labels: bool
) -> Glance:
    """The first screen of a run.

    Parameters
    ----------
    params
        The validated :class:`labelnoise.params.Params`.
    dataset
        The :class:`labelnoise.data.Dataset`.
    metrics
        The run's :class:`labelnoise.metrics.Metrics`.
    regression
        ``metrics/regression.json``.
    flagged
        How many train images ``results.method`` flags at the results rate.
    given_labels
        Your labels as given (one rate, no ceiling): the cleaned model's accuracy is the
        headline.
    """
    from labelnoise.regress import headline
    from labelnoise.review import review_summary

    if given_labels:
        n_train = int((dataset.index["split"] == "train").sum())
        head = cleaned_model_html(
            metrics.runs, method=params.results.method, flagged=flagged, n_train=n_train
        )
    else:
        figures = headline(metrics, regression, rate=params.report.rate)
        head = headline_html(figures, n_seeds=int(metrics.runs["seed"].nunique()))
    review = review_summary(dataset.reviewed) if len(dataset.reviewed) else None
    return Glance(head, run_settings(params, dataset=dataset, commit=git_commit()), review)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _interval(value: float | None, low: float | None, high: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    if low is None or high is None:
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def _points(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "–"
    return _interval(100 * value, 100 * low, 100 * high, "{:+.1f}") + " points"


def pooled_note(n_seeds: int) -> str:
    """How the intervals of a run of ``n_seeds`` seeds were made."""
    if n_seeds > 1:
        return (
            f"{n_seeds} seeds pooled: 95% t intervals over the seeds, which count training noise "
            "and test sampling alike."
        )
    return (
        "One seed: the 95% intervals count test sampling only, not training noise, which one "
        "seed cannot measure (0.28 points of accuracy from seed to seed on the default task, "
        "BENCHMARKS.md); pool seeds for intervals that count it (README, Sweeps)."
    )


def headline_html(head: Mapping, *, n_seeds: int) -> str:
    """The headline of a run whose false labels are known (generated or falsified on purpose).

    Parameters
    ----------
    head
        :func:`labelnoise.regress.headline` (``metrics/summary.json``).
    n_seeds
        Seeds pooled in it.
    """
    best, rate = head.get("best_method"), head["rate"]
    accuracy = head.get("accuracy", {})
    if best is None:
        return "<p>No cleaning arm was retrained: there is no headline to give.</p>"

    def share(key: str) -> str:
        return _interval(head.get(key), head.get(f"{key}_low"), head.get(f"{key}_high"), "{:.2f}")

    detection = head.get("detection", {})
    rows = [
        ("best cleaning arm", f"{best}: accuracy {accuracy.get(best, float('nan')):.4f}"),
        ("no cleaning", f"{accuracy.get('none', float('nan')):.4f}"),
        (
            "clean-label ceiling",
            "–" if head.get("ceiling") is None else f"{head['ceiling']:.4f} (every label true)",
        ),
        ("gap closed", share("gap_closed") + " of the way to the ceiling"),
        ("recovery", share("recovery") + " of the way to dropping exactly the false labels"),
        (
            "accuracy change",
            _points(head.get("change"), head.get("change_low"), head.get("change_high")),
        ),
        (
            "detection",
            f"F1 {_num(detection.get('best_f1'))} ({detection.get('best_f1_method')}), AUROC "
            f"{_num(detection.get('best_auroc'))} ({detection.get('best_auroc_method')})",
        ),
    ]
    gap = head.get("gap_closed")
    sentence = (
        f"At false-label rate {rate:g}, cleaning with <b>{_esc(best)}</b> wins back "
        + ("–" if gap is None else f"<b>{gap:.0%}</b>")
        + " of the accuracy the false labels cost, measured against training on every true "
        "label."
    )
    return _headline_block(sentence, rows, pooled_note(n_seeds))


def cleaned_model_html(runs: pd.DataFrame, *, method: str, flagged: int, n_train: int) -> str:
    """The headline with your labels as given: the cleaned model's accuracy on your test split
    against the model trained on every given label.

    Parameters
    ----------
    runs
        :attr:`labelnoise.metrics.Metrics.runs` (one rate: 0).
    method
        ``results.method``: whose cleaned labels the kept model trained on.
    flagged, n_train
        How many of the train images that method flags, of how many.
    """
    from labelnoise.regress import accuracy_change, accuracy_interval

    n_seeds = int(runs["seed"].nunique()) if "seed" in runs else 1
    mine = accuracy_interval(runs, rate=0.0, method=method)
    given = accuracy_interval(runs, rate=0.0, method="none")
    change = accuracy_change(runs, rate=0.0, method=method)
    if mine is None or given is None:
        return f"<p>No model was retrained on {_esc(method)}'s cleaned labels.</p>"
    rows = [
        (f"cleaned model ({method})", _interval(*mine, "{:.4f}")),
        ("every label as given", _interval(*given, "{:.4f}")),
        ("accuracy change", _points(*change) if change else "–"),
        ("flagged", f"{flagged:,} of {n_train:,} train images ({flagged / max(n_train, 1):.1%})"),
    ]
    sentence = (
        f"The model trained on the labels <b>{_esc(method)}</b> keeps scores "
        f"<b>{mine[0]:.1%}</b> on your test split, against {given[0]:.1%} trained on every "
        "label as given (models/cleaned, the DVC artifact cleaned-model)."
    )
    return _headline_block(sentence, rows, pooled_note(n_seeds))


def _num(value: object) -> str:
    return "–" if value is None else f"{float(value):.3f}"


def _headline_block(sentence: str, rows: list[tuple[str, str]], note: str) -> str:
    items = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return (
        f'<p class="headline">{sentence}</p>'
        f'<table class="glance" id="headline-table"><tbody>{items}</tbody></table>'
        f'<p class="muted">{_esc(note)}</p>'
    )


def review_html(review: Mapping | None) -> str:
    """What a person's review found (:func:`labelnoise.review.review_summary`): how precise the
    flags were on the reviewed images, and the noise rate the random sample estimates; empty
    when nothing was reviewed."""
    if not review or not review["n_reviewed"]:
        return ""
    rows = [("reviewed", f"{review['n_reviewed']} images, {review['n_corrected']} corrected")]
    for key, name, who in (
        ("flag_precision", "flag precision", "flagged images reviewed"),
        ("noise_rate", "your noise rate", "images drawn at random"),
    ):
        found = review.get(key)
        if found:
            share = _interval(found["share"], found["low"], found["high"], "{:.0%}")
            rows.append(
                (name, f"{found['wrong']} of the {found['n']} {who} had a wrong label: {share}")
            )
    items = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return (
        '<p class="table-title">Your review (data.reviewed; 95% Wilson intervals)</p>'
        f'<table class="glance" id="review-table"><tbody>{items}</tbody></table>'
    )


def git_commit(folder: str | Path = ".") -> str:
    """The commit the code was at (short hash, and whether tracked files had changes), or why
    it is unknown."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True,
        )  # fmt: skip
    except OSError:
        return "unknown (no git)"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def run_settings(params, *, dataset, commit: str) -> dict[str, str]:
    """The settings that made the run, for the first screen: what a reader needs to know to
    trust or repeat it.

    Parameters
    ----------
    params
        The validated :class:`labelnoise.params.Params`.
    dataset
        The :class:`labelnoise.data.Dataset` (its split sizes).
    commit
        :func:`git_commit`.
    """
    data, train, clean = params.data, params.train, params.clean
    sizes = dataset.index["split"].value_counts()
    source = (
        f"generated, {data.task} task, base {data.base}"
        if data.source == "generate"
        else f"{data.source} {data.path}"
    )
    members = ""
    if "consensus" in clean.cleaned:
        members = ", ".join(clean.settings("consensus").get("members") or [])
    return {
        "commit": commit,
        "seed": str(params.seed),
        "data": f"{source}; {data.image_size} px",
        "images": ", ".join(f"{sizes.get(s, 0):,} {s}" for s in ("train", "val", "test")),
        "false-label rates": ", ".join(f"{r:g}" for r in params.rates)
        + ("" if params.rates == [0.0] else f" ({params.noise.kind})"),
        "training": f"{train.model} (width {train.width}, depth {train.depth}), {train.epochs} "
        f"epochs, batch {train.batch_size}, lr {train.lr:g}, loss {train.loss}; {train.folds} "
        f"fold models with loss {train.fold_loss}",
        "cleaning": ", ".join(clean.cleaned) + (f" (consensus of {members})" if members else ""),
        "flag criterion": f"count {clean.count}"
        + (f", cost ratio {clean.cost_ratio:g}" if clean.count == "cost" else ""),
        "results from": f"{params.results.method} at rate {params.results.rate:g}",
    }


def settings_html(settings: Mapping[str, str]) -> str:
    """The run's settings as a two-column table."""
    items = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in settings.items())
    return (
        '<p class="table-title">Settings of this run (params.yaml)</p>'
        f'<table class="glance" id="settings-table"><tbody>{items}</tbody></table>'
    )
