"""The self-contained HTML report: summary tables, figures and a review gallery of suspects.

The page has no external reference at all (styles, scripts and images are inline, images as
base64 data URIs), so it opens offline, from a CI artifact or an e-mail attachment.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from labelnoise.glance import Glance

SUSPECT_COLUMNS = ("method", "row", "label", "score", "rank")

FIGURES: dict[str, tuple[str, str]] = {
    "accuracy_vs_rate": (
        "Accuracy vs false-label rate",
        "Test accuracy on clean test labels. <i>none</i> is trained on the noisy labels as given; "
        "every other method is retrained after removing what it flagged (<i>_relabel</i>: after "
        "giving the flagged examples it is sure of their suggested label; <i>gce</i>: every "
        "noisy label, a robust loss). Markers are observed with their 95% intervals (over seeds "
        "when several are pooled, else test sampling only), lines the binomial GLM fit. Higher "
        "and flatter is better; <i>oracle</i> (drop exactly the false labels) and "
        "<i>oracle_relabel</i> (every true label) are ceilings, <i>random</i> (drop as many at "
        "random) the floor.",
    ),
    "review_effort": (
        "How many images must a person review?",
        "Each method's images sorted most suspect first: the share of the false labels among "
        "the first k (recall at k). A marker is where the method's flags stop; the dashed line "
        "is a perfect ranking, the dotted one a random order. The legend gives how many images "
        "it takes to find 90% of the false labels.",
    ),
    "detection_vs_rate": (
        "Detection quality vs false-label rate",
        "Left: F1 of each method's flags against the known false labels. Right: AUROC of its "
        "scores (0.5 = chance, 1 = every false label ranked above every correct one; undefined "
        "at rate 0).",
    ),
    "review_rows": (
        "Easy / hard / need-review examples",
        "Data Parameters learns a temperature σ per example; examples the model discounts get a "
        "high σ. Green frames: σ fell and stayed low (easy, keep). Red: σ stayed high (hard or "
        "mislabelled). Orange: in between (a person should look).",
    ),
    "tsne": (
        "t-SNE of the features",
        "Each dot is a train example placed by the similarity of its penultimate-layer "
        "features. Left: red = the label is actually false. Right: red = the method flagged it. "
        "The closer the two panels, the better the method.",
    ),
    "training_values": (
        "Training values per class",
        "Training-ValueNet's predicted value of each example: the expected drop in validation "
        "loss from one SGD step on it. Below 0 (dashed line) an example hurts and is flagged; "
        "false labels (red) should sit to the left.",
    ),
    "dp_trajectories": (
        "Data Parameters trajectories",
        "σ of sampled examples after each epoch (log scale). False labels (red) should climb "
        "while correct ones (blue) fall.",
    ),
    "relevance_mask": (
        "Pixel relevance",
        "Which grey-level pixels best separate the given classes (ANOVA F, "
        "SelectPercentile). A mask concentrated on one region means the task depends on it; a "
        "diffuse mask means the classes differ everywhere or in colour rather than brightness.",
    ),
    "alterations": (
        "How the images were made",
        "Examples of the generated task: original, altered region outlined, altered image.",
    ),
    "examples": (
        "Your images",
        "Random train images of every class, as imported (one row per given class).",
    ),
}
"""Title and caption of each figure the report knows, by file stem; others get their stem."""

_CSS = """
:root { --fg:#1b1b1b; --muted:#5c5c5c; --line:#d0d0d0; --bg:#fafafa; --bad:#c62828;
        --ok:#2e7d32; --accent:#1f5fa8; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, sans-serif; color: var(--fg); margin: 0; background: #fff; }
header, section { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
      padding: 6px 24px; z-index: 2; }
nav a { margin-right: 18px; color: var(--accent); text-decoration: none; }
h1 { margin: 0 0 8px; } h2 { margin-top: 36px; border-bottom: 2px solid var(--line); }
.lead { max-width: 80ch; }
.notice { max-width: 90ch; border-left: 6px solid #e08a00; background: #fff6e5;
          padding: 8px 12px; }
.muted { color: var(--muted); font-size: 13px; }
.headline { font-size: 18px; max-width: 90ch; margin: 12px 0; }
table.glance th { text-align: left; cursor: default; background: var(--bg); }
table.glance td { text-align: left; white-space: normal; }
.table-wrap { overflow-x: auto; margin: 0 0 16px; }
table { border-collapse: collapse; font-size: 14px; }
.table-title { font-weight: 600; margin: 20px 0 4px; max-width: 110ch; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right;
         white-space: nowrap; }
td.text, th.text { text-align: left; white-space: normal; max-width: 70ch; }
td.note { font-size: 12px; color: var(--muted); min-width: 24ch; }
th { background: var(--bg); cursor: pointer; user-select: none; white-space: normal; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
tbody tr:hover { background: #f2f7ff; }
figure { margin: 16px 0 32px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { max-width: 90ch; color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; gap: 16px; align-items: center;
            background: var(--bg); border: 1px solid var(--line); padding: 10px 12px;
            position: sticky; top: 38px; z-index: 1; }
.controls label { font-weight: 600; }
select, button { font: inherit; padding: 2px 6px; }
#gallery, .gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
           gap: 10px; margin: 12px 0 40px; }
.card { display: flex; gap: 8px; border: 1px solid var(--line); border-left-width: 6px;
        padding: 6px; background: #fff; font-size: 13px; line-height: 1.35; }
.card[hidden] { display: none; }
.card.false-label { border-left-color: var(--bad); }
.card.correct-label { border-left-color: var(--ok); }
.card img { width: 96px; height: 96px; image-rendering: pixelated; flex: none;
            border: 1px solid var(--line); }
.card .score { font-weight: 700; }
.card.pair img { width: 64px; height: 64px; }
.card .truth.bad { color: var(--bad); font-weight: 600; }
.card .truth.ok { color: var(--ok); }
.card .differs { color: var(--bad); }
"""

_JS = """
(function () {
  function key(cell) {
    if (!cell) return null;
    var raw = cell.getAttribute("data-value");
    if (raw === null) raw = cell.textContent.trim();
    if (raw === "") return null;
    var num = Number(raw);
    return isNaN(num) ? raw.toLowerCase() : num;
  }
  function compare(a, b, dir) {
    if (a === null && b === null) return 0;
    if (a === null) return 1;  // missing values stay last either way
    if (b === null) return -1;
    if (a < b) return -dir;
    if (a > b) return dir;
    return 0;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th) {
      th.title = "click to sort";
      th.addEventListener("click", function () {
        var col = th.cellIndex;
        var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
        table.querySelectorAll("thead th").forEach(function (o) {
          o.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          return compare(key(r1.cells[col]), key(r2.cells[col]), dir);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  var gallery = document.getElementById("gallery");
  if (!gallery) return;
  var method = document.getElementById("method-filter");
  var klass = document.getElementById("class-filter");
  var truth = document.getElementById("truth-filter");
  var sort = document.getElementById("sort-score");
  var count = document.getElementById("visible-count");
  var cards = Array.prototype.slice.call(gallery.querySelectorAll(".card"));
  function apply() {
    var shown = 0;
    cards.forEach(function (card) {
      var ok = (method.value === "all" || card.dataset.method === method.value) &&
               (klass.value === "all" || card.dataset.class === klass.value) &&
               (!truth || truth.value === "all" || card.dataset.flipped === truth.value);
      card.hidden = !ok;
      if (ok) shown += 1;
    });
    count.textContent = shown + " of " + cards.length + " suspects shown";
  }
  [method, klass, truth].forEach(function (s) { if (s) s.addEventListener("change", apply); });
  sort.addEventListener("click", function () {
    var dir = gallery.dataset.order === "desc" ? 1 : -1;
    gallery.dataset.order = dir === 1 ? "asc" : "desc";
    cards.sort(function (a, b) {
      return dir * (Number(a.dataset.score) - Number(b.dataset.score));
    });
    cards.forEach(function (c) { gallery.appendChild(c); });
    sort.textContent = dir === 1 ? "Score: low \\u2192 high (click to reverse)"
                                 : "Score: high \\u2192 low (click to reverse)";
  });
  apply();
})();
"""


def top_suspects(
    scores: Mapping[str, np.ndarray], labels: np.ndarray, *, top_k: int
) -> pd.DataFrame:
    """The ``top_k`` highest-scored examples of each given class, per method.

    Parameters
    ----------
    scores
        Method name -> ``(n,)`` suspicion scores (higher = more likely mislabelled).
    labels
        ``(n,)`` given labels.
    top_k
        Suspects kept per (method, class).

    Returns
    -------
    DataFrame
        ``method, row, label, score, rank``: ``row`` indexes the train arrays, ``rank`` is 0 for
        the most suspect example of its (method, class); ordered by method (as given), label and
        rank. Ties are broken by the lower row.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    frames = []
    rows = np.arange(len(labels))
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != labels.shape:
            raise ValueError(f"scores of {name!r} have shape {values.shape}, labels {labels.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"scores of {name!r} contain NaN or infinite values")
        order = np.lexsort((rows, -values, labels))
        sorted_labels = labels[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_labels)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        rank = np.arange(len(order)) - group_start
        keep = order[rank < top_k]
        frames.append(
            pd.DataFrame(
                {
                    "method": name,
                    "row": keep,
                    "label": labels[keep],
                    "score": values[keep],
                    "rank": rank[rank < top_k],
                }
            )
        )
    if not frames:
        raise ValueError("no method scores given")
    return pd.concat(frames, ignore_index=True)


def png_data_uri(png: bytes) -> str:
    """``data:`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail_uri(image: np.ndarray) -> str:
    """``data:`` URI of one uint8 ``(H, W, 3)`` image as a lossless PNG at its own size (the
    page upscales it without smoothing)."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return png_data_uri(buffer.getvalue())


# ----------------------------------------------------------------------------- tables

_Cell = tuple[str, object]  # (shown text, sort value)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: object, fmt: str = "{:.3f}") -> _Cell:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ("–", None)
    text = fmt.format(value)
    if re.fullmatch(r"-0\.?0*%?", text):  # a tiny negative printed as "-0.000"
        text = text[1:]
    return (text, float(value))


def _ci(value: object, ci: object, fmt: str = "{:.3f}") -> _Cell:
    text, key = _num(value, fmt)
    if key is not None and isinstance(ci, list | tuple) and len(ci) == 2:
        low, high = ("–" if b is None else fmt.format(b) for b in ci)
        text += f" [{low}, {high}]"
    return (text, key)


def _table(
    table_id: str,
    caption: str,
    header: Sequence[str],
    rows: Sequence[Sequence[_Cell]],
    *,
    text_columns: Sequence[int] = (0,),
) -> str:
    head = "".join(
        f'<th class="text" scope="col">{_esc(h)}</th>'
        if i in text_columns
        else f'<th scope="col">{_esc(h)}</th>'
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = []
        for i, (text, key) in enumerate(row):
            cls = ' class="text"' if i in text_columns else ""
            if i == len(row) - 1 and header[-1] == "note":
                cls = ' class="text note"'
            value = "" if key is None else _esc(key)
            cells.append(f'<td{cls} data-value="{value}">{_esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<p class="table-title" id="{_esc(table_id)}-title">{_esc(caption)}</p>'
        f'<div class="table-wrap"><table class="sortable" id="{_esc(table_id)}" '
        f'aria-labelledby="{_esc(table_id)}-title"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _method_order(names: Sequence[str]) -> list[str]:
    from labelnoise.figures import METHOD_ORDER

    names = list(dict.fromkeys(names))
    return [m for m in METHOD_ORDER if m in names] + sorted(set(names) - set(METHOD_ORDER))


def _rate_pivot(
    frame: pd.DataFrame, column: str, table_id: str, caption: str, *, fmt: str = "{:.3f}"
) -> str:
    means = frame.groupby(["method", "rate"])[column].mean().unstack("rate")
    rates = sorted(means.columns)
    rows = [
        [(name, name), *[_num(_float(means.at[name, r]), fmt) for r in rates]]
        for name in _method_order(list(means.index))
    ]
    return _table(table_id, caption, ["method", *[f"rate {r:g}" for r in rates]], rows)


def _float(value: object) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


def _baseline_table(runs: pd.DataFrame) -> str:
    base = runs[runs["method"] == "none"].groupby("rate")
    columns = ["accuracy", "balanced_accuracy", "macro_f1"]
    headers = ["false-label rate", "accuracy", "balanced accuracy", "macro F1"]
    if "hter" in runs and runs["hter"].notna().any():
        columns, headers = [*columns, "hter"], [*headers, "HTER"]
    if "fold_ece" in runs and runs["fold_ece"].notna().any():
        columns = [*columns, "fold_accuracy", "fold_ece"]
        headers = [*headers, "fold models' accuracy", "fold models' ECE (lower = calibrated)"]
    stats = base[columns].mean()
    n_test = base["n_test"].first() if "n_test" in runs else None
    rows = [
        [
            (f"{rate:g}", rate),
            *[_num(_float(stats.at[rate, c])) for c in stats.columns],
            _num(_float(n_test[rate]) if n_test is not None else None, "{:.0f}"),
        ]
        for rate in stats.index
    ]
    return _table(
        "baseline-table",
        "Baseline: trained on the noisy labels as given, tested on clean labels",
        [*headers, "test images"],
        rows,
    )


def _gap_table(runs: pd.DataFrame) -> str:
    """Per cleaning arm and nonzero rate: the share of the noisy baseline's gap to the
    clean-label ceiling it closes, and the share of the gap to the drop-oracle (recovery),
    each with its 95% interval (:func:`labelnoise.regress.gap_closed`)."""
    from labelnoise.clean import CEILING
    from labelnoise.metrics import is_reference
    from labelnoise.regress import ceiling_arm, gap_closed

    rates = [r for r in sorted(set(runs["rate"])) if r > 0]
    arms = [m for m in _method_order(list(runs["method"])) if not is_reference(m)]
    if not arms:
        return ""
    if not rates:  # your labels as given: no ceiling to measure against
        return _change_table(runs, arms)
    rows = []
    for arm in arms:
        cells: list[_Cell] = [(arm, arm)]
        for rate in rates:
            for target in (ceiling_arm(runs, rate), (rate, CEILING)):
                share = target and gap_closed(runs, rate=rate, method=arm, target=target)
                cells.append(_ci(share[0], share[1:], "{:.2f}") if share else ("–", None))
        rows.append(cells)
    header = ["arm"]
    for rate in rates:
        header += [f"gap closed @{rate:g}", f"recovery @{rate:g}"]
    return _table(
        "gap-table",
        "Share of the gap closed: (arm − no cleaning) / (clean-label ceiling − no cleaning), "
        "and recovery, the same against dropping exactly the false labels; 95% intervals "
        "(over seeds when there are several, else test sampling only)",
        header,
        rows,
    )


def _change_table(runs: pd.DataFrame, arms: Sequence[str]) -> str:
    """Per cleaning arm and rate: its test accuracy minus no cleaning's, in points, with its
    95% interval (:func:`labelnoise.regress.accuracy_change`)."""
    from labelnoise.regress import accuracy_change

    rates = sorted(set(runs["rate"]))
    rows = []
    for arm in arms:
        cells: list[_Cell] = [(arm, arm)]
        for rate in rates:
            change = accuracy_change(runs, rate=rate, method=arm)
            cells.append(
                ("–", None) if change is None
                else _ci(100 * change[0], [100 * c for c in change[1:]], "{:+.1f}")
            )  # fmt: skip
        rows.append(cells)
    return _table(
        "change-table",
        "Accuracy change against no cleaning, in points, on the test labels; 95% intervals "
        "(over seeds when there are several, else test sampling only)",
        ["arm", *[f"rate {r:g}" for r in rates]],
        rows,
    )


def _beyond(cell: _Cell, largest: float) -> _Cell:
    """Mark a rate estimated beyond the largest rate observed: it rests on the fit's shape."""
    text, key = cell
    return (text + " †", key) if key is not None and key > largest else cell


def _regression_table(regression: dict) -> str:
    methods = regression.get("accuracy", {}).get("methods", {})
    if not methods:
        raise ValueError("regression results have no accuracy.methods entry")
    first = next(iter(methods.values()))
    drops = sorted(
        (m.group(1) for k in first if (m := re.fullmatch(r"tolerance_(.+)pt", k))), key=float
    )
    rows = []
    for name in _method_order(list(methods)):
        entry = methods[name]
        observed = list((entry.get("observed_mean_accuracy") or {}).values())
        if len(observed) < 2 or np.ptp(observed) == 0:
            continue  # one rate, or the same accuracy at every rate (trained on true labels)
        rows.append(
            [
                (name, name),
                _num(entry.get("intercept")),
                _ci(entry.get("slope"), entry.get("slope_ci")),
                *[
                    _beyond(
                        _ci(entry.get(f"tolerance_{d}pt"), entry.get(f"tolerance_{d}pt_ci")),
                        max(entry.get("rates") or [math.inf]),
                    )
                    for d in drops
                ],
                (entry.get("note") or "", entry.get("note") or ""),
            ]
        )
    header = [
        "method",
        "accuracy at rate 0",
        "slope [95% CI] (accuracy per unit rate)",
        *[f"rate costing {d} pt [95% CI]" for d in drops],
        "note",
    ]
    return _table(
        "regression-table",
        "Accuracy vs false-label rate, binomial GLM per method (slope at rate 0; "
        "the tolerance rate is where accuracy is d points below its rate-0 value — higher = "
        "more robust, – = not reached, † = beyond the largest rate observed, extrapolated)",
        header,
        rows,
        text_columns=(0, len(header) - 1),
    )


def _distinct_estimates(detect: pd.DataFrame) -> pd.DataFrame:
    """``detect`` without the reference arms (they know the flips) and with methods whose
    estimates agree at every rate merged into one row, named ``a, b``."""
    from labelnoise.metrics import is_reference

    own = detect[~detect["method"].map(is_reference).astype(bool)]
    if own.empty:
        return own
    means = own.groupby(["method", "rate"])["estimated_noise_rate"].mean().unstack("rate")
    groups: dict[tuple, list[str]] = {}
    for name in _method_order(list(means.index)):
        groups.setdefault(tuple(means.loc[name].round(6).fillna(-1)), []).append(name)
    rename = {m: ", ".join(names) for names in groups.values() for m in names}
    merged = own.assign(method=own["method"].map(rename))
    return merged.drop_duplicates([c for c in ("seed", "rate", "method") if c in merged])


def _estimates_tables(detect: pd.DataFrame, regression: dict) -> str:
    from labelnoise.metrics import is_reference

    truth = detect.groupby("rate")["true_noise_rate"].mean()
    pivot = _rate_pivot(
        _distinct_estimates(detect),
        "estimated_noise_rate",
        "noise-estimate-table",
        "Each method's estimate of the false-label rate (row 'true' = the actual rate; methods "
        "whose estimates agree at every rate share a row)",
    )
    true_row = "<tr>" + '<td class="text" data-value="true"><b>true</b></td>'
    true_row += "".join(f'<td data-value="{v}"><b>{v:.3f}</b></td>' for v in truth.to_numpy())
    pivot = pivot.replace("<tbody>", "<tbody>" + true_row + "</tr>", 1)
    fits = regression.get("estimates", {})
    rows = [
        [
            (name, name),
            _ci(fits[name].get("slope"), fits[name].get("slope_ci")),
            _ci(fits[name].get("intercept"), fits[name].get("intercept_ci")),
            _num(fits[name].get("mae")),
            _num(fits[name].get("bias"), "{:+.3f}"),
        ]
        for name in _method_order(list(fits))
        if not is_reference(name)  # they estimate the truth by construction: slope 1 exactly
    ]
    fit_table = _table(
        "estimate-fit-table",
        "Estimated vs true rate, OLS per method (unbiased: slope 1, intercept 0; MAE lower = "
        "better; bias > 0 = overestimates)",
        ["method", "slope [95% CI]", "intercept [95% CI]", "MAE", "bias"],
        rows,
    )
    return pivot + fit_table


def _inverse_table(regression: dict) -> str:
    inverse = regression.get("inverse") or {}
    rows = []
    for model in ("summary", "accuracy"):
        entry = inverse.get(model)
        if isinstance(entry, dict):
            rows.append(
                [
                    (model, model),
                    (", ".join(entry.get("features") or []), None),
                    _num(entry.get("loro_mae")),
                    _num(entry.get("loro_rmse")),
                ]
            )
    if not rows:
        return ""
    if inverse.get("null_loro_mae") is not None:
        rows.append(
            [
                ("mean only", "mean only"),
                ("(none)", None),
                _num(inverse["null_loro_mae"]),
                _num(None),
            ]
        )
    return _table(
        "inverse-table",
        "Reading the false-label rate back from the baseline's test results "
        "(leave-one-rate-out error, lower = better; 'mean only' is the no-skill reference)",
        ["model", "features", "MAE", "RMSE"],
        rows,
        text_columns=(0, 1),
    )


# ----------------------------------------------------------------------------- gallery


def _ident(row) -> str:
    """How a card names its image: the file name of your own image, else the dataset id."""
    path = getattr(row, "path", None)
    if isinstance(path, str) and path:
        return path.replace("\\", "/").rsplit("/", 1)[-1]
    return f"id {int(row.id)}" if hasattr(row, "id") else f"row {int(row.row)}"


def _cards(suspects: pd.DataFrame, images: np.ndarray, class_names: Sequence[str]) -> str:
    uris: dict[int, str] = {}
    for row in np.unique(suspects["row"].to_numpy()):
        uris[int(row)] = thumbnail_uri(images[row])
    has_truth = "flipped" in suspects.columns
    cards = []
    for s in suspects.itertuples(index=False):
        given = class_names[int(s.label)]
        lines = [f'<div class="score">score {s.score:.4g} · #{int(s.rank) + 1} in class</div>']
        lines.append(f"<div>given: <b>{_esc(given)}</b></div>")
        if "suggested" in suspects.columns:
            suggested = class_names[int(s.suggested)]
            cls = ' class="differs"' if int(s.suggested) != int(s.label) else ""
            prob = f" ({s.confidence:.2f})" if "confidence" in suspects.columns else ""
            lines.append(f"<div{cls}>model says: <b>{_esc(suggested)}</b>{prob}</div>")
        state = "unknown"
        if has_truth and not pd.isna(s.flipped):
            state = "true" if bool(s.flipped) else "false"
            if bool(s.flipped):
                true = (
                    f" — true: {_esc(class_names[int(s.true)])}"
                    if "true" in suspects.columns
                    else ""
                )
                lines.append(f'<div class="truth bad">false label{true}</div>')
            else:
                lines.append('<div class="truth ok">label is correct</div>')
        lines.append(f'<div class="muted">{_esc(_ident(s))} · {_esc(s.method)}</div>')
        css = {"true": " false-label", "false": " correct-label"}.get(state, "")
        cards.append(
            f'<div class="card{css}" data-method="{_esc(s.method)}" data-class="{_esc(given)}" '
            f'data-score="{float(s.score)!r}" data-flipped="{state}" data-row="{int(s.row)}">'
            f'<img src="{uris[int(s.row)]}" alt="train example {int(s.row)}, given {_esc(given)}">'
            f"<div>{''.join(lines)}</div></div>"
        )
    return "".join(cards)


def _options(select_id: str, label: str, values: Sequence[str], *, selected: str) -> str:
    options = "".join(
        f'<option value="{_esc(v)}"{" selected" if v == selected else ""}>{_esc(text)}</option>'
        for v, text in [("all", "all"), *[(v, v) for v in values]]
    )
    return f'<label for="{select_id}">{label}</label> <select id="{select_id}">{options}</select>'


def _gallery(
    suspects: pd.DataFrame, images: np.ndarray, class_names: Sequence[str], *, default: str
) -> str:
    methods = list(dict.fromkeys(suspects["method"]))
    classes = [class_names[k] for k in sorted(set(suspects["label"].astype(int)))]
    controls = [
        _options("method-filter", "Method", methods, selected=default),
        _options("class-filter", "Given class", classes, selected="all"),
    ]
    if "flipped" in suspects.columns:
        controls.append(
            '<label for="truth-filter">Truth</label> <select id="truth-filter">'
            '<option value="all" selected>all</option>'
            '<option value="true">false labels only</option>'
            '<option value="false">correct labels only</option></select>'
        )
    controls.append('<button id="sort-score" type="button">Sort by score</button>')
    controls.append('<span id="visible-count" class="muted"></span>')
    hits = ""
    if "flipped" in suspects.columns:
        rows = [
            [
                (name, name),
                _num(len(group), "{:.0f}"),
                _num(int(group["flipped"].sum()), "{:.0f}"),
                _num(float(group["flipped"].mean()), "{:.0%}"),
            ]
            for name, group in ((m, suspects[suspects["method"] == m]) for m in methods)
        ]
        hits = _table(
            "gallery-hits-table",
            "How many of the suspects below really have a false label (precision of the top "
            "suspects; the oracle shows what real false labels look like)",
            ["method", "suspects shown", "really false", "share"],
            rows,
        )
    return (
        hits + f'<div class="controls">{"".join(controls)}</div>'
        f'<div id="gallery">{_cards(suspects, images, class_names)}</div>'
    )


ISSUE_DESCRIPTIONS = {
    "label": ("results.method", "the given label is likely wrong"),
    "outlier": ("Datalab", "far from the other train images in the features"),
    "near_duplicate": ("Datalab", "features almost identical to another train image's"),
    "non_iid": ("Datalab", "the images' order is not random (score: the test's p-value)"),
    "class_imbalance": ("Datalab", "in the rarest class, when it is far rarer than the others"),
    "underperforming_group": (
        "Datalab",
        "in the class the models do worst on, when markedly worse than on the others",
    ),
    "dark": ("cleanvision", "dark image"),
    "light": ("cleanvision", "washed-out, overly bright image"),
    "blurry": ("cleanvision", "blurry image"),
    "low_information": ("cleanvision", "little information (low entropy): near-constant"),
    "odd_size": ("cleanvision", "much smaller or larger than the others"),
    "odd_aspect_ratio": ("cleanvision", "unusually elongated"),
    "grayscale": ("cleanvision", "greyscale among colour images"),
    "exact_duplicates": ("cleanvision", "the same pixels as another train image (MD5)"),
    "near_duplicates": ("cleanvision", "the same perceptual hash as another train image"),
    "leak": (
        "pixels, cleanvision",
        "the same (exact) or nearly the same (near: perceptual hash) image in two splits; "
        "counted in pairs (results/leaks.csv)",
    ),
}
"""Issue type: (what found it, what it means), in the order of ``issue_summary.csv``."""


def issue_summary_table(summary: pd.DataFrame) -> str:
    """The issue summary as a sortable HTML table, its counts exactly those of the file.

    Parameters
    ----------
    summary
        ``results/issue_summary.csv``: ``issue_type, num_issues, score`` (score in ``[0, 1]``,
        lower = more severe).
    """
    _require_columns(summary, ("issue_type", "num_issues", "score"), "issue summary")
    rows = []
    for s in summary.itertuples(index=False):
        found_by, meaning = ISSUE_DESCRIPTIONS.get(s.issue_type, ("", ""))
        rows.append(
            [
                (s.issue_type, s.issue_type),
                (found_by, found_by),
                (meaning, meaning),
                _num(int(s.num_issues), "{:.0f}"),
                _num(float(s.score)),
            ]
        )
    return _table(
        "issue-summary-table",
        "Every issue type of the train images (results/issue_summary.csv; score: lower = more "
        "severe)",
        ["issue type", "found by", "what it means", "issues", "score"],
        rows,
        text_columns=(0, 1, 2),
    )


@dataclass(frozen=True)
class OtherIssues:
    """The issues that are not false labels, as the `results` stage wrote them.

    Attributes
    ----------
    summary
        ``results/issue_summary.csv``: ``issue_type, num_issues, score``.
    issues
        ``results/issues.csv``: one row per train image, ``id, path, given_label`` and
        ``is_<type>_issue``, ``<type>_score`` (lower = more severe) per type.
    leaks
        ``results/leaks.csv``: ``split_a, id_a, path_a, split_b, id_b, path_b, kind,
        pixel_distance``.
    images
        uint8 ``(N, H, W, 3)``, every image of the dataset, row = id.
    limit
        At most this many images per issue type and this many leak pairs are shown; the
        counts are never capped.
    """

    summary: pd.DataFrame
    issues: pd.DataFrame
    leaks: pd.DataFrame
    images: np.ndarray
    limit: int = 16

    def __post_init__(self) -> None:
        _require_columns(self.issues, ("id", "path", "given_label"), "issues")
        _require_columns(self.leaks, ("split_a", "id_a", "split_b", "id_b", "kind"), "leaks")
        ids = np.concatenate([self.issues["id"], self.leaks["id_a"], self.leaks["id_b"]])
        outside = ids[(ids < 0) | (ids >= len(self.images))]
        if len(outside):
            raise ValueError(f"issue id {outside[0]} is outside the {len(self.images)} images")
        if self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit!r}")


def _issue_cards(found: OtherIssues, kind: str, uris: dict[int, str]) -> str:
    flagged = found.issues[found.issues[f"is_{kind}_issue"].astype(bool)]
    shown = flagged.sort_values(f"{kind}_score", kind="stable").head(found.limit)
    cards = []
    for s in shown.itertuples(index=False):
        uri = uris.setdefault(int(s.id), thumbnail_uri(found.images[int(s.id)]))
        cards.append(
            f'<div class="card" data-kind="{_esc(kind)}"><img src="{uri}" alt="{_esc(kind)}: '
            f'{_esc(_ident(s))}"><div><div class="score">{_esc(kind)}</div>'
            f"<div>score {getattr(s, f'{kind}_score'):.3f}</div>"
            f"<div>given: <b>{_esc(s.given_label)}</b></div>"
            f'<div class="muted">{_esc(_ident(s))}</div></div></div>'
        )
    return (
        f'<p class="table-title">{_esc(kind)}: {len(shown)} of {len(flagged)} shown, most '
        f'severe first</p><div class="gallery" data-kind="{_esc(kind)}">{"".join(cards)}</div>'
    )


def _leak_cards(found: OtherIssues, uris: dict[int, str]) -> str:
    leaks = found.leaks
    if len(leaks) == 0:
        return "<p>No image is in two splits, exactly or nearly (results/leaks.csv).</p>"
    pairs = (leaks["split_a"] + "↔" + leaks["split_b"]).value_counts()
    cards = []
    for s in leaks.head(found.limit).itertuples(index=False):
        sides = []
        for split, ident, path in ((s.split_a, s.id_a, s.path_a), (s.split_b, s.id_b, s.path_b)):
            uri = uris.setdefault(int(ident), thumbnail_uri(found.images[int(ident)]))
            name = _ident(SimpleNamespace(id=ident, path=path))
            sides.append((f'<img src="{uri}" alt="{_esc(split)}: {_esc(name)}">', split, name))
        cards.append(
            f'<div class="card pair" data-kind="leak">{sides[0][0]}{sides[1][0]}<div>'
            f'<div class="score">{_esc(s.kind)} leak</div>'
            f"<div>{_esc(sides[0][1])}: {_esc(sides[0][2])}</div>"
            f"<div>{_esc(sides[1][1])}: {_esc(sides[1][2])}</div>"
            f"<div>pixel distance {s.pixel_distance:.1f}</div></div></div>"
        )
    return (
        f'<p class="table-title">Leaks: {min(len(leaks), found.limit)} of {len(leaks)} pairs '
        f"shown ({_esc(', '.join(f'{n} {k}' for k, n in pairs.items()))})</p>"
        f'<div id="leaks-gallery" class="gallery">{"".join(cards)}</div>'
    )


def _other_issues(found: OtherIssues, *, rate: float, with_summary: bool = True) -> str:
    uris: dict[int, str] = {}
    kinds = [
        k
        for k in found.summary.loc[found.summary["num_issues"] > 0, "issue_type"]
        if k not in ("label", "leak") and f"is_{k}_issue" in found.issues.columns
    ]
    return (
        f"<p>Every issue type of the train images, at false-label rate {rate:g} where it "
        "depends on the model (results/issues.csv: one row per train image, columns "
        "is_&lt;type&gt;_issue and &lt;type&gt;_score; the label issues are the review "
        "gallery's), and the images that are in two splits at once"
        + (
            ".</p>" + issue_summary_table(found.summary)
            if with_summary
            else "; how many of each: the issue summary at the top.</p>"
        )
        + "".join(_issue_cards(found, k, uris) for k in kinds)
        + _leak_cards(found, uris)
    )


def _falsified_lead(rate: float) -> str:
    return (
        "A fraction of the training labels was deliberately falsified (the false-label rate); "
        "a model was trained on them and tested on clean labels. Each cleaning method then "
        "scored every training example (higher score = more likely mislabelled), flagged some, "
        "and the model was retrained without the flagged ones (the _relabel arms keep those "
        "it can fix, under their suggested label; gce trains through the noise with a robust "
        "loss). The tables show how accuracy falls with the rate, how well each method finds "
        "the false labels, and how fast accuracy degrades (regression). Click a column header "
        f"to sort a table. The gallery at the end shows, at rate {rate:g}, each method's top "
        "suspects per class, as a person reviewing labels would see them; a red edge marks a "
        "label that really is false, a green edge a correct label the method suspected "
        "wrongly. Scores are comparable only within one method."
    )


def _given_lead() -> str:
    return (
        "Your labels were used as given. Models trained on them with cross-validation scored "
        "every training image; each cleaning method turned that into a suspicion score "
        "(higher = more likely mislabelled) and flagged some, and the model was retrained "
        "without the flagged images (the _relabel arms keep those it can fix, under their "
        "suggested label; gce trains on every label with a robust loss) and tested on the "
        "test split. Which labels are really wrong is not known here, so detection quality "
        "cannot be scored; the gallery at the end shows each method's top suspects per class, "
        "with their file names, for a person to review, after the outliers and duplicates. "
        "Scores are comparable only within one method."
    )


def trust_notice(split_origin: Mapping[str, str], review: Mapping | None = None) -> str | None:
    """What the labels behind the numbers are: what a person reviewed (``review``,
    :func:`labelnoise.review.review_summary`), and what rests on your own, unverified labels
    when the trusted val split or the test split was carved out of train (``split_origin`` of
    an imported dataset's metadata); ``None`` when both were given and nothing was reviewed."""
    parts = []
    if review and review["n_reviewed"]:
        n, drawn = review["n_reviewed"], review["by_sample"]["random"]["n"]
        text = f"You reviewed {n} images (data.reviewed): {review['n_corrected']} labels corrected"
        if split_origin.get("val") == "reviewed":
            who = f"the {drawn} drawn at random" if drawn else "all of them"
            text += f"; {who} are the trusted validation set"
        parts.append(text + "; reviewed labels are never flagged and never test images.")
    carved = [s for s in ("val", "test") if split_origin.get(s) == "carved"]
    if carved:
        rests = []
        if "val" in carved:
            rests.append(
                "the trusted validation set, and so the noise-rate estimate, every flag count "
                "(count: trusted) and Training-ValueNet's values"
            )
        if "test" in carved:
            rests.append("the test set, and so every test accuracy")
        advice = (
            "Add a small val/ folder (tens of images per class) whose labels a person has "
            "checked, or review a random sample (python -m labelnoise.review export)."
            if "val" in carved
            else "Add a test/ folder whose labels a person has checked."
        )
        parts.append(
            f"No {' or '.join(f'{s}/' for s in carved)} folder of checked labels was given: "
            f"{' and '.join(rests)} rest on labels carved out of your own training labels, which "
            f"may be wrong themselves. {advice}"
        )
    return " ".join(parts) or None


# ----------------------------------------------------------------------------- page


def _check_report_inputs(runs, detect, suspects, images, default_method, other_issues) -> str:
    """Raise ``ValueError`` on a table without its columns or a gallery row out of range;
    return the method the gallery shows first."""
    _require_columns(runs, ("rate", "method", "accuracy", "balanced_accuracy", "macro_f1"), "runs")
    _require_columns(
        detect,
        ("rate", "method", "f1", "auroc", "true_noise_rate", "estimated_noise_rate"),
        "detect",
    )
    _require_columns(suspects, SUSPECT_COLUMNS, "suspects")
    if other_issues is not None and not isinstance(other_issues, OtherIssues):
        raise ValueError(f"other_issues must be OtherIssues, got {type(other_issues).__name__}")
    if len(suspects) == 0:
        raise ValueError("suspects is empty: nothing to show in the review gallery")
    if "none" not in set(runs["method"]):
        raise ValueError("runs has no baseline rows (method 'none')")
    rows = suspects["row"].to_numpy()
    if rows.min() < 0 or rows.max() >= len(images):
        raise ValueError(f"suspects.row out of range for {len(images)} images")
    methods = list(dict.fromkeys(suspects["method"]))
    default = methods[0] if default_method is None else default_method
    if default not in methods:
        raise ValueError(f"default_method {default!r} not among the gallery methods {methods}")
    return default


def _summary_tables(
    runs: pd.DataFrame, detect: pd.DataFrame, regression: dict, *, given_labels: bool
) -> str:
    """The summary section: the gap closed, baseline, accuracy, detection and regression
    tables; with your labels as given only what can vary without ground truth."""
    if given_labels:
        return _given_table(runs) + _baseline_table(runs)
    return "".join(
        [
            _gap_table(runs),
            _baseline_table(runs),
            _rate_pivot(
                runs,
                "accuracy",
                "retrain-table",
                "Test accuracy after cleaning (none = no cleaning) by false-label rate",
            ),
            _rate_pivot(
                detect, "f1", "detection-f1-table", "Detection F1 of the flags (higher = better)"
            ),
            _rate_pivot(
                detect,
                "auroc",
                "detection-auroc-table",
                "Detection AUROC of the scores (0.5 = chance, – = undefined at rate 0)",
            ),
            _regression_table(regression),
            _inverse_table(regression),
        ]
    )


def _given_table(runs: pd.DataFrame) -> str:
    """Per arm that needs no ground truth: its test accuracy on your test split and its change
    against every label as given, each with its 95% interval."""
    from labelnoise.metrics import is_reference
    from labelnoise.regress import accuracy_change, accuracy_interval

    arms = ["none"] + [m for m in _method_order(list(runs["method"])) if not is_reference(m)]
    rows = []
    for arm in arms:
        accuracy = accuracy_interval(runs, rate=0.0, method=arm)
        change = None if arm == "none" else accuracy_change(runs, rate=0.0, method=arm)
        rows.append(
            [
                (arm, arm),
                _ci(accuracy[0], accuracy[1:]) if accuracy else ("–", None),
                ("–", None)
                if change is None
                else _ci(100 * change[0], [100 * c for c in change[1:]], "{:+.1f}"),
            ]
        )
    return _table(
        "given-table",
        "Test accuracy on your test split, trained on every label as given (none) and after "
        "each cleaning, with the change in points; 95% intervals",
        ["arm", "accuracy [95% CI]", "change against none, points [95% CI]"],
        rows,
    )


def _first_screen(glance: Glance, other_issues: OtherIssues | None) -> str:
    from labelnoise.glance import review_html, settings_html

    summary = "" if other_issues is None else issue_summary_table(other_issues.summary)
    return glance.headline + summary + review_html(glance.review) + settings_html(glance.settings)


def build_report(
    runs: pd.DataFrame,
    detect: pd.DataFrame,
    regression: dict,
    figures: Mapping[str, bytes],
    suspects: pd.DataFrame,
    images: np.ndarray,
    *,
    class_names: Sequence[str],
    rate: float,
    title: str = "labelnoise report",
    default_method: str | None = None,
    other_issues: OtherIssues | None = None,
    issues_rate: float | None = None,
    notice: str | None = None,
    given_labels: bool = False,
    glance: Glance | None = None,
) -> str:
    """Render the whole report as one self-contained HTML page.

    Parameters
    ----------
    runs
        One row per (seed, rate, method) classification run (:func:`labelnoise.metrics.collect`):
        ``rate, method, accuracy, balanced_accuracy, macro_f1`` (+ ``n_test``); method
        ``"none"`` is the baseline.
    detect
        One row per (seed, rate, method) detection run: ``rate, method, f1, auroc,
        true_noise_rate, estimated_noise_rate``.
    regression
        ``metrics/regression.json`` (:func:`labelnoise.regress.regression_report`).
    figures
        PNG bytes by figure name (file stem, e.g. ``"tsne"``), shown in this order; names in
        :data:`FIGURES` get their title and caption.
    suspects
        :func:`top_suspects` rows at ``rate`` (``method, row, label, score, rank``), optionally
        with ``suggested`` (model's class), ``confidence`` (its probability), ``flipped``
        (bool, ground truth), ``true`` (true label) and ``id`` (dataset id).
    images
        uint8 ``(n, H, W, 3)`` train images; ``suspects.row`` indexes them.
    class_names
        Name of each class, index = label.
    rate
        False-label rate the gallery and figures come from.
    title
        Page title.
    default_method
        Method the gallery shows first (default: the first in ``suspects``).
    other_issues
        Every other issue type, its summary and the leaks across splits, found at
        ``issues_rate`` (default ``rate``); no such section when ``None``.
    notice
        A warning shown under the title (e.g. which numbers rest on unverified labels).
    given_labels
        The labels were used as given (your own images, nothing falsified): the page says so
        instead of describing falsified labels, leaves out what needs ground truth (the
        reference arms, detection scores, the regression over rates) and shows the review
        gallery right after the first screen.
    glance
        The first screen (:class:`Glance`): the headline, the issue summary of
        ``other_issues``, what a person reviewed and the run's settings; none when ``None``.

    Returns
    -------
    str
        The HTML document.
    """
    default = _check_report_inputs(runs, detect, suspects, images, default_method, other_issues)
    if given_labels:  # without ground truth the arms that read it cannot differ from none
        from labelnoise.metrics import is_reference

        runs = runs[(runs["method"] == "none") | ~runs["method"].map(is_reference)]
    summary = _summary_tables(runs, detect, regression, given_labels=given_labels)
    figure_html = "".join(_figure(name, png) for name, png in figures.items())
    lead = _given_lead() if given_labels else _falsified_lead(rate)
    gallery = (
        "review",
        "Review gallery: top suspects per class"
        + ("" if given_labels else f" at false-label rate {rate:g}"),
        _gallery(suspects, images, class_names, default=default),
    )
    issues = None
    if other_issues is not None:
        at = rate if issues_rate is None else issues_rate
        heading = "Other issues: outliers, duplicates, image properties, leaks across splits"
        found = _other_issues(other_issues, rate=at, with_summary=glance is None)
        issues = ("other-issues", heading, found)
    tables = ("summary", "Summary tables", summary)
    estimates_html = _estimates_tables(detect, regression)
    estimates = ("noise-estimates", "Estimated vs true false-label rate", estimates_html)
    figures_section = ("figures", "Figures", figure_html)
    if given_labels:  # what a practitioner came for first: the suspects, then the rest
        sections = [gallery, issues, figures_section, tables]
    else:
        sections = [figures_section, tables, estimates, issues, gallery]
    if glance is not None:  # the headline first; how the run was made right after it
        first = _first_screen(glance, other_issues) + f'<p class="lead">{_esc(lead)}</p>'
        sections.insert(0, ("glance", "At a glance", first))
    sections = [section for section in sections if section is not None]
    header_lead = "" if glance is not None else f'<p class="lead">{_esc(lead)}</p>'
    banner = "" if notice is None else f'<p class="notice" role="alert">{_esc(notice)}</p>'
    nav = "".join(
        f'<a href="#{sid}">{_esc(heading.split(":")[0])}</a>' for sid, heading, _ in sections
    )
    body = "".join(
        f'<section id="{sid}"><h2>{_esc(heading)}</h2>{content}</section>'
        for sid, heading, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>{_esc(title)}</h1>{header_lead}{banner}</header>"
        f"<nav>{nav}</nav>{body}"
        f"<script>{_JS}</script></body></html>\n"
    )


def _figure(name: str, png: bytes) -> str:
    """One figure with its title and caption (:data:`FIGURES`; others get their name)."""
    title, caption = FIGURES.get(name, (name, ""))
    return (
        f'<figure id="fig-{_esc(name)}"><img src="{png_data_uri(png)}" alt="{_esc(title)}">'
        f"<figcaption><b>{_esc(title)}.</b> {caption}</figcaption></figure>"
    )


def report_methods(
    cleaned: Sequence[str], *, methods: Sequence[str] | None = None, tsne_method: str | None = None
) -> tuple[list[str], str]:
    """The methods whose suspects the gallery shows, and the one whose flags the t-SNE shows.

    Parameters
    ----------
    cleaned
        Every method the pipeline scored (``clean.methods`` then ``clean.trained``).
    methods, tsne_method
        ``report.methods`` and ``report.tsne_method``; None = the default below.

    Returns
    -------
    list of str, str
        By default the cleaning methods in display order, then the reference arms (not the
        baseline, which scores nothing); the t-SNE shows a method that combines the others when
        one runs, else the first of those.
    """
    from labelnoise.clean import BASELINE, METHODS

    order = _method_order(cleaned)
    found = [m for m in order if not METHODS[m].reference]
    found += [m for m in order if METHODS[m].reference and m != BASELINE]
    combined = [m for m in found if METHODS[m].combines]
    return list(methods or found), tsne_method or (combined or found)[0]


def report_figures(
    metrics,
    regression: dict,
    results: Mapping,
    *,
    images: np.ndarray,
    given: np.ndarray,
    flipped: np.ndarray,
    features: np.ndarray,
    tsne_method: str,
    class_names: Sequence[str],
    seed: int,
    rate: float | None = None,
) -> dict:
    """The report's matplotlib figures by name (the keys of :data:`FIGURES`).

    Parameters
    ----------
    metrics
        The grid's :class:`labelnoise.metrics.Metrics`.
    regression
        ``metrics/regression.json``.
    results
        Method name -> :class:`labelnoise.clean.CleanResult` at the report's rate: methods
        whose extras hold Data Parameters' trajectories or Training-ValueNet's values add their
        figures.
    images, given, flipped, features
        ``(n, H, W, 3)`` train images, ``(n,)`` given labels and true flips, ``(n, D)``
        penultimate features.
    tsne_method
        Whose flags the t-SNE shows.
    rate
        The false-label rate of ``results``, ``flipped`` and the review-effort figure; with your
        labels as given (one rate, no false label known) the figures that compare rates or
        need the truth are left out.
    """
    from labelnoise import figures as F
    from labelnoise.regress import (
        accuracy_fit_table,
        accuracy_interval_table,
        accuracy_plot_table,
        accuracy_table,
        detection_plot_table,
    )

    runs = accuracy_table(metrics.runs)
    figures = {}
    if metrics.runs["rate"].nunique() > 1:
        figures["accuracy_vs_rate"] = F.accuracy_vs_rate_figure(
            accuracy_plot_table(runs),
            accuracy_fit_table(runs, regression["accuracy"]),
            accuracy_interval_table(metrics.runs),
        )
    if flipped.any():
        figures["detection_vs_rate"] = F.detection_figure(detection_plot_table(metrics.detect))
        figures["review_effort"] = _review_effort(results, flipped, rate=rate)
    extras = {name: result.extras for name, result in results.items()}
    learned = next((e for e in extras.values() if {"category", "trajectory"} <= e.keys()), None)
    if learned is not None:
        figures["review_rows"] = F.review_rows_figure(
            images, given, learned["category"], class_names=class_names, seed=seed
        )
        figures["dp_trajectories"] = F.trajectory_figure(
            learned["trajectory"], flipped, seed=seed, best_epoch=int(learned["best_epoch"])
        )
    valued = next((e for e in extras.values() if "predicted_value" in e), None)
    if valued is not None:
        figures["training_values"] = F.training_value_histograms(
            valued["predicted_value"], given, flipped, class_names=class_names
        )
    figures["tsne"] = F.tsne_figure(
        features, flipped=flipped, flagged=results[tsne_method].flags, method=tsne_method, seed=seed
    )
    figures["relevance_mask"] = F.relevance_mask_figure(images, given)
    return figures


def _review_effort(results: Mapping, flipped: np.ndarray, *, rate: float | None):
    """The review-effort figure of the methods that clean (no reference arm): how many images
    a person must review, most suspect first, to find the false labels."""
    from labelnoise import figures as F
    from labelnoise.evaluate import review_effort
    from labelnoise.metrics import is_reference

    found, flagged = {}, {}
    for name in _method_order(list(results)):
        if not is_reference(name):
            found[name], _ = review_effort(flipped, results[name].scores)
            flagged[name] = int(np.sum(results[name].flags))
    return F.review_effort_figure(
        found, flagged, n_false=int(flipped.sum()), rate=float("nan") if rate is None else rate
    )


def review_suspects(
    scores: Mapping[str, np.ndarray],
    labels: pd.DataFrame,
    pred_probs: np.ndarray,
    *,
    top_k: int,
    paths: pd.Series | None = None,
) -> pd.DataFrame:
    """:func:`top_suspects` with what the gallery shows of each: the suggested class and its
    out-of-sample probability, whether it is a true flip, its true label, id and file.

    Parameters
    ----------
    scores
        Method name -> ``(n,)`` scores, higher = more suspect.
    labels
        The rate's ``labels.csv`` (``id, true, given, flipped``), ``n`` rows.
    pred_probs
        ``(n, C)`` out-of-sample probabilities.
    paths
        Source file by image id, for your own images (None for generated ones).
    """
    given, flipped = labels["given"].to_numpy(), labels["flipped"].to_numpy(bool)
    suspects = top_suspects(scores, given, top_k=top_k)
    rows = suspects["row"].to_numpy()
    suspects["suggested"] = pred_probs[rows].argmax(axis=1)
    suspects["confidence"] = pred_probs[rows, suspects["suggested"].to_numpy()]
    suspects["flipped"], suspects["true"] = flipped[rows], labels["true"].to_numpy()[rows]
    suspects["id"] = labels["id"].to_numpy()[rows]
    if paths is not None:
        suspects["path"] = paths.loc[suspects["id"]].to_numpy()
    return suspects
