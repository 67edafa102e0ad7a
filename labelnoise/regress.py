"""Regressions over the metric files: how accuracy falls with the false-label rate (per cleaning
method), how well the rate can be read back from a classifier's test results, and how well each
cleaning method estimates the noise rate.

Tables used throughout (one row per run, ``seed`` tells replicate runs apart):

* runs: ``seed, rate, method, accuracy, balanced_accuracy, macro_f1, macro_precision,
  macro_recall, n_test, n_correct`` — method ``"none"`` is the baseline (trained on the noisy
  labels as given), every other method is a retrain after removing what it flagged;
* per_class: ``seed, rate, method, class, precision, recall, f1, support``;
* detect: ``seed, rate, method, precision, recall, f1, auroc, auprc, n_flagged, n_flipped,
  false_positives, true_noise_rate, estimated_noise_rate``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from labelnoise.clean import CEILING
from labelnoise.config import REGRESS, RegressConfig
from labelnoise.knobs import check
from labelnoise.metrics import BASELINE, Metrics, is_reference

INVERSE_FEATURES = ("accuracy", "macro_precision", "macro_recall", "macro_f1")


# ----------------------------------------------------------------------------- accuracy


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Counts for the binomial fit, one row per (seed, rate, method).

    Parameters
    ----------
    runs
        The ``runs`` table of :func:`collect`.

    Returns
    -------
    DataFrame
        ``seed, rate, method, accuracy, n_correct, n_test, n_wrong`` (higher accuracy = better).
    """
    _require(runs, ("seed", "rate", "method", "accuracy", "n_correct", "n_test"), "runs table")
    table = runs[["seed", "rate", "method", "accuracy", "n_correct", "n_test"]].copy()
    table["n_wrong"] = table["n_test"] - table["n_correct"]
    return table.reset_index(drop=True)


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")
    if table.empty:
        raise ValueError(f"{what}: no rows")


def _methods(table: pd.DataFrame, reference: str) -> list[str]:
    names = sorted(set(table["method"]))
    return [reference, *[m for m in names if m != reference]] if reference in names else names


def _rhs(methods: Sequence[str], reference: str) -> str:
    # One level of C() has no contrasts to estimate: a lone method gets a plain line.
    return f"rate * C(method, Treatment({reference!r}))" if len(methods) > 1 else "rate"


def _directions(exog: np.ndarray, table: pd.DataFrame, methods: Sequence[str]):
    """Rows ``L0, L1`` (methods × params) with design(rate, m) = L0[m] + rate · L1[m].

    Read off the fitted design matrix itself, so the per-method intercept and slope are exact
    linear combinations of the coefficients whatever the formula engine names its columns.
    """
    rate = table["rate"].to_numpy(float)
    method = table["method"].to_numpy()
    l0, l1 = np.empty((len(methods), exog.shape[1])), np.empty((len(methods), exog.shape[1]))
    for i, name in enumerate(methods):
        rows = method == name
        basis = np.column_stack([np.ones(rows.sum()), rate[rows]])
        coef = np.linalg.lstsq(basis, exog[rows], rcond=None)[0]
        l0[i], l1[i] = coef
    return l0, l1


def _wald(beta: np.ndarray, cov: np.ndarray, combos: np.ndarray, quantile: float):
    est = combos @ beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", combos, cov, combos), 0.0))
    return est, se, est - quantile * se, est + quantile * se


def _tolerance(a: np.ndarray, b: np.ndarray, drop: float) -> np.ndarray:
    """Rate where expit(a + b·rate) is ``drop`` below expit(a); ``inf`` if not within [0, 1)."""
    target = special.expit(a) - drop
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (special.logit(np.clip(target, 1e-300, None)) - a) / b
    reached = (target > 0) & (b < 0) & (rate < 1.0)
    return np.where(reached, rate, np.inf)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _fit_glm(table, methods, reference, *, drops, n_boot, seed, out, level=0.95):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    formula = f"n_correct + n_wrong ~ {_rhs(methods, reference)}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = smf.glm(formula, data=table, family=sm.families.Binomial()).fit()
    dispersion = result.pearson_chi2 / result.df_resid if result.df_resid > 0 else math.nan
    # Replicate seeds vary more than test-set sampling alone: widen (never narrow) the
    # intervals by the Pearson dispersion, as a quasi-binomial fit would.
    scale = max(1.0, dispersion) if np.isfinite(dispersion) else 1.0
    cov = np.asarray(result.cov_params()) * scale
    beta = np.asarray(result.params)
    l0, l1 = _directions(np.asarray(result.model.exog), table, methods)
    z = stats.norm.ppf(0.5 + level / 2)
    a, _, a_lo, a_hi = _wald(beta, cov, l0, z)
    b, b_se, b_lo, b_hi = _wald(beta, cov, l1, z)
    ref = methods.index(reference)
    diff, diff_se, diff_lo, diff_hi = _wald(beta, cov, l1 - l1[ref], z)

    draws = np.random.default_rng(seed).multivariate_normal(beta, cov, size=n_boot, method="eigh")
    a_draw, b_draw = draws @ l0.T, draws @ l1.T  # (n_boot, methods)
    p0_draw = special.expit(a_draw)
    deriv_draw = b_draw * p0_draw * (1 - p0_draw)
    tails = [(1 - level) / 2, (1 + level) / 2]
    deriv_ci = np.quantile(deriv_draw, tails, axis=0)
    tolerances = {}
    for drop in drops:
        point = _tolerance(a, b, drop / 100)
        sample = _tolerance(a_draw, b_draw, drop / 100)
        # inf (never reached) sorts last, so an unbounded upper end shows as null.
        ci = np.quantile(sample, tails, axis=0, method="inverted_cdf")
        tolerances[drop] = (point, ci, np.isfinite(sample).mean(axis=0))

    for i, name in enumerate(methods):
        entry = out[name]
        p0 = special.expit(a[i])
        entry.update(
            intercept=float(p0),
            intercept_ci=[float(special.expit(a_lo[i])), float(special.expit(a_hi[i]))],
            slope=float(b[i] * p0 * (1 - p0)),
            slope_ci=[float(deriv_ci[0, i]), float(deriv_ci[1, i])],
            logit_intercept=float(a[i]),
            logit_intercept_ci=[float(a_lo[i]), float(a_hi[i])],
            logit_slope=float(b[i]),
            logit_slope_se=float(b_se[i]),
            logit_slope_ci=[float(b_lo[i]), float(b_hi[i])],
            logit_slope_p=float(2 * stats.norm.sf(abs(b[i]) / b_se[i])) if b_se[i] > 0 else None,
        )
        if name != reference:
            entry.update(
                logit_slope_diff=float(diff[i]),
                logit_slope_diff_ci=[float(diff_lo[i]), float(diff_hi[i])],
                logit_slope_diff_p=float(2 * stats.norm.sf(abs(diff[i]) / diff_se[i]))
                if diff_se[i] > 0
                else None,
            )
        largest = float(table.loc[table["method"] == name, "rate"].max())
        for drop, (point, ci, reached) in tolerances.items():
            key, said = f"tolerance_{drop:g}pt", f"the rate costing {drop:g} point(s)"
            entry[key] = _finite(point[i])
            entry[f"{key}_ci"] = [_finite(ci[0, i]), _finite(ci[1, i])]
            if not np.isfinite(point[i]):
                entry["notes"].append(
                    f"{said}: predicted accuracy never drops {drop:g} point(s) below its rate-0 "
                    "value within [0, 1)"
                )
            elif point[i] > largest:
                entry["notes"].append(
                    f"{said}: extrapolated beyond the largest observed rate {largest:g}"
                )
            if np.isfinite(point[i]) and not np.isfinite(ci[1, i]):
                entry["notes"].append(
                    f"{said}: upper CI bound is beyond rate 1 (the drop is reached in only "
                    f"{reached[i]:.0%} of the bootstrap draws)"
                )
    return {
        "formula": formula,
        "reference": reference,
        "methods_fitted": list(methods),
        "n_obs": int(result.nobs),
        "df_resid": float(result.df_resid),
        "aic": float(result.aic),
        "deviance": float(result.deviance),
        "null_deviance": float(result.null_deviance),
        "pseudo_r2": float(1 - result.deviance / result.null_deviance)
        if result.null_deviance > 0
        else None,
        "pseudo_r2_kind": "deviance explained, 1 - deviance / null deviance",
        "dispersion": _finite(dispersion),
        "ci_scale": scale,
        "converged": bool(result.converged),
        "bootstrap_draws": n_boot,
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
    }


def _fit_ols(table, methods, reference, *, out, level=0.95):
    import statsmodels.formula.api as smf

    formula = f"accuracy ~ {_rhs(methods, reference)}"
    result = smf.ols(formula, data=table).fit()
    df = result.df_resid
    beta = np.asarray(result.params)
    cov = np.asarray(result.cov_params()) if df > 0 else np.full((beta.size, beta.size), np.nan)
    l0, l1 = _directions(np.asarray(result.model.exog), table, methods)
    quantile = stats.t.ppf(0.5 + level / 2, df) if df > 0 else math.nan
    a, _, a_lo, a_hi = _wald(beta, cov, l0, quantile)
    b, _, b_lo, b_hi = _wald(beta, cov, l1, quantile)
    for i, name in enumerate(methods):
        out[name].update(
            ols_intercept=float(a[i]),
            ols_intercept_ci=[_finite(a_lo[i]), _finite(a_hi[i])],
            ols_slope=float(b[i]),
            ols_slope_ci=[_finite(b_lo[i]), _finite(b_hi[i])],
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        r2, adj_r2 = _finite(result.rsquared), _finite(result.rsquared_adj)
    return {
        "formula": formula,
        "reference": reference,
        "methods_fitted": list(methods),
        "n_obs": int(result.nobs),
        "df_resid": float(df),
        "r2": r2,
        "adj_r2": adj_r2,
        "aic": _finite(result.aic),
        "note": "no residual degrees of freedom: no confidence intervals" if df <= 0 else None,
    }


def _method_entry(rows: pd.DataFrame, drops: Sequence[float]) -> dict:
    observed = rows.groupby("rate")["accuracy"].mean()
    entry = {
        "n_points": len(rows),
        "rates": [float(r) for r in observed.index],
        "observed_mean_accuracy": {f"{r:g}": float(v) for r, v in observed.items()},
        "notes": [],
    }
    for key in ("intercept", "slope", "logit_intercept", "logit_slope", "logit_slope_diff"):
        entry[key] = entry[f"{key}_ci"] = None
    for key in ("ols_intercept", "ols_slope"):
        entry[key] = entry[f"{key}_ci"] = None
    entry["logit_slope_se"] = entry["logit_slope_p"] = entry["logit_slope_diff_p"] = None
    for drop in drops:
        entry[f"tolerance_{drop:g}pt"] = entry[f"tolerance_{drop:g}pt_ci"] = None
    return entry


def fit_accuracy(
    table: pd.DataFrame,
    *,
    reference: str = BASELINE,
    drops: Sequence[float] = tuple(REGRESS.drops),
    n_boot: int = REGRESS.bootstrap,
    seed: int = 0,
) -> dict:
    """Accuracy against the false-label rate, a line per method, with 95% intervals.

    The main fit is a binomial GLM (logit link) of the test counts,
    ``n_correct + n_wrong ~ rate * C(method, Treatment(reference))``, one observation per
    (seed, rate, method) so that replicate seeds enter the fit; its intervals are widened by the
    Pearson dispersion when the replicates vary more than binomially. An OLS of ``accuracy`` on
    the same terms is reported for comparison.

    Parameters
    ----------
    table
        :func:`accuracy_table` output.
    reference
        Method the contrasts (``logit_slope_diff``) are taken against; must be in ``table``.
    drops
        Accuracy drops in points (1 = 0.01 accuracy) for the tolerance rates, each in (0, 100):
        ``regress.drops``.
    n_boot
        Parametric bootstrap draws from the GLM coefficients' normal approximation, at least
        100: ``regress.bootstrap``.
    seed
        Seed of the bootstrap.

    ``drops`` and ``n_boot`` are checked as :class:`labelnoise.config.RegressConfig` declares
    their knobs and default to ``params.yaml``'s values.

    Returns
    -------
    dict
        ``glm`` and ``ols`` fit summaries and ``methods``: per method the GLM's predicted
        accuracy at rate 0 (``intercept``), its derivative in accuracy per unit rate at rate 0
        (``slope``, negative = accuracy falls with noise), the logit intercept and slope, the OLS
        intercept and slope, and ``tolerance_<d>pt``: the false-label rate at which predicted
        accuracy is ``d`` points below the method's own rate-0 prediction (higher = more robust;
        null when not reached within [0, 1)), each with a 95% interval, plus ``note`` (null, or
        why a value is missing or extrapolated).
        Methods observed at a single rate, or with every test prediction right (or wrong) at
        every rate (perfect separation: an infinite logit), are left out of the GLM and say so.
    """
    _require(
        table, ("seed", "rate", "method", "accuracy", "n_correct", "n_wrong"), "accuracy table"
    )
    check(RegressConfig, "regress", {"bootstrap": n_boot, "drops": drops})
    methods = _methods(table, reference)
    if reference not in methods:
        raise ValueError(f"reference method {reference!r} not among {methods}")
    entries = {m: _method_entry(table[table["method"] == m], drops) for m in methods}
    ols_methods, glm_methods = [], []
    for name in methods:
        rows = table[table["method"] == name]
        if rows["rate"].nunique() < 2:
            entries[name]["notes"].append(
                f"observed at one rate only ({rows['rate'].iloc[0]:g}): no slope can be fitted"
            )
            continue
        ols_methods.append(name)
        if (rows["n_wrong"] == 0).all() or (rows["n_correct"] == 0).all():
            level = "1.0" if (rows["n_wrong"] == 0).all() else "0.0"
            entries[name]["notes"].append(
                f"accuracy is {level} at every rate (perfect separation, infinite logit): left "
                "out of the GLM, so no GLM slope or tolerance rate; see the OLS slope"
            )
            continue
        glm_methods.append(name)
    report: dict = {"glm": None, "ols": None, "methods": entries}
    if ols_methods:
        ols_ref = reference if reference in ols_methods else ols_methods[0]
        rows = table[table["method"].isin(ols_methods)].reset_index(drop=True)
        report["ols"] = _fit_ols(rows, ols_methods, ols_ref, out=entries)
    if glm_methods:
        glm_ref = reference if reference in glm_methods else glm_methods[0]
        rows = table[table["method"].isin(glm_methods)].reset_index(drop=True)
        report["glm"] = _fit_glm(
            rows, glm_methods, glm_ref, drops=drops, n_boot=n_boot, seed=seed, out=entries
        )
        if glm_ref != reference:
            report["glm"]["note"] = f"reference {reference!r} cannot be fitted; used {glm_ref!r}"
    for entry in entries.values():
        entry["note"] = "; ".join(entry.pop("notes")) or None
    return report


def accuracy_fit_table(
    table: pd.DataFrame, fit: dict, *, n_grid: int = REGRESS.grid
) -> pd.DataFrame:
    """Observed mean accuracy and the GLM's curve on a fine rate grid, for plotting.

    Parameters
    ----------
    table
        :func:`accuracy_table` output.
    fit
        :func:`fit_accuracy` output for the same table.
    n_grid
        Points of the even grid from 0 to the largest observed rate (observed rates are added),
        at least 2: ``regress.grid`` (:class:`labelnoise.config.RegressConfig`).

    Returns
    -------
    DataFrame
        ``rate`` plus, per method, ``<method>`` (mean observed accuracy, NaN off the observed
        rates) and ``<method>_fit`` (GLM prediction; NaN for methods the GLM left out).
    """
    _require(table, ("rate", "method", "accuracy"), "accuracy table")
    check(RegressConfig, "regress", {"grid": n_grid})
    observed = table.groupby(["rate", "method"])["accuracy"].mean().unstack("method")
    grid = np.unique(
        np.round(np.r_[np.linspace(0.0, table["rate"].max(), n_grid), observed.index], 12)
    )
    out = pd.DataFrame({"rate": grid})
    observed.index = np.round(observed.index.to_numpy(float), 12)
    for name in fit["methods"]:
        entry = fit["methods"][name]
        out[name] = observed[name].reindex(grid).to_numpy()
        if entry["logit_slope"] is None:
            out[f"{name}_fit"] = np.nan
        else:
            out[f"{name}_fit"] = special.expit(
                entry["logit_intercept"] + entry["logit_slope"] * grid
            )
    return out


def accuracy_plot_table(table: pd.DataFrame, *, reference: str = BASELINE) -> pd.DataFrame:
    """Wide table for ``dvc plots``: ``rate`` and one column per method (mean accuracy over
    seeds; empty where a method was not run at that rate)."""
    _require(table, ("rate", "method", "accuracy"), "accuracy table")
    wide = table.groupby(["rate", "method"])["accuracy"].mean().unstack("method")
    return wide[_methods(table, reference)].reset_index().rename_axis(columns=None)


def detection_plot_table(detect: pd.DataFrame) -> pd.DataFrame:
    """Wide table for ``dvc plots``: ``rate``, ``<method>_f1`` and ``<method>_auroc`` (means over
    seeds; higher = better detection of the false labels; AUROC is empty at rate 0)."""
    _require(detect, ("rate", "method", "f1", "auroc"), "detection table")
    means = detect.groupby(["rate", "method"])[["f1", "auroc"]].mean().unstack("method")
    out = pd.DataFrame({"rate": means.index.to_numpy(float)})
    for name in sorted(set(detect["method"])):
        out[f"{name}_f1"] = means[("f1", name)].to_numpy()
        out[f"{name}_auroc"] = means[("auroc", name)].to_numpy()
    return out


# ----------------------------------------------------------------------------- inverse


def _independent(
    x: np.ndarray, names: Sequence[str], *, max_condition: float = 30.0
) -> tuple[list[int], list[str]]:
    """Columns kept in order while the standardised design stays well conditioned.

    A column that is constant, or that would push the condition number past ``max_condition``
    (the usual mark of harmful collinearity), is dropped: macro F1 is nearly a function of
    macro precision and recall, and macro recall equals accuracy on a class-balanced test set.
    """
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    keep: list[int] = []
    dropped: list[str] = []
    for j in range(x.shape[1]):
        if std[j] > 0 and np.linalg.cond(z[:, [*keep, j]]) < max_condition:
            keep.append(j)
        else:
            dropped.append(names[j])
    return keep, dropped


def _fit_predict(x_fit, y_fit, x_new, *, ridge_alpha: float) -> tuple[np.ndarray, str]:
    import statsmodels.api as sm

    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    design = sm.add_constant((x_fit - mean) / std, has_constant="add")
    new = sm.add_constant((x_new - mean) / std, has_constant="add")
    p = x_fit.shape[1]
    if len(y_fit) >= p + 3:
        params = sm.OLS(y_fit, design).fit().params
        kind = "ols"
    else:
        # Too few points for OLS residual degrees of freedom: shrink the standardised slopes
        # (not the intercept) instead.
        alpha = np.r_[0.0, np.full(p, ridge_alpha)]
        params = sm.OLS(y_fit, design).fit_regularized(alpha=alpha, L1_wt=0.0).params
        kind = "ridge"
    return np.clip(new @ params, 0.0, 1.0), kind


def fit_inverse(
    baseline: pd.DataFrame,
    *,
    features: Sequence[str] = INVERSE_FEATURES,
    ridge_alpha: float = 0.1,
) -> dict:
    """Predict the false-label rate from a baseline model's test results.

    The per-class precision, recall and F1 are summarised as their class means (plus accuracy):
    with about eight rates per run, a regression on every per-class score (3 × classes
    features) would have more coefficients than points, while a handful of summaries keeps a
    plain statsmodels OLS with interpretable coefficients. Summaries nearly collinear with
    earlier ones (condition number of the standardised design over 30) are dropped, in the
    order given, so that the coefficients stay interpretable. When a fold has too few points
    for OLS, its standardised slopes are ridge-shrunk (``OLS.fit_regularized``, ``L1_wt=0``).
    A one-feature model on accuracy alone and a mean-only model are fitted for comparison.

    Parameters
    ----------
    baseline
        Rows of the ``runs`` table with method ``"none"``, one per (seed, rate).
    features
        Columns used by the ``summary`` model.
    ridge_alpha
        Ridge penalty on standardised features, used only when a fold is too small for OLS.

    Returns
    -------
    dict
        Per model (``summary``, ``accuracy``): ``features``, ``dropped_features``,
        ``estimator`` (ols | ridge), leave-one-rate-out ``loro_mae`` and ``loro_rmse`` (lower =
        better; predictions clipped to [0, 1]), ``loro_predictions`` per held-out rate, and the
        full-data OLS ``coefficients`` with 95% CIs and ``r2``; plus ``null_loro_mae`` (predicting
        the training mean) and ``n_obs``, ``n_rates``, ``note``.
    """
    import statsmodels.api as sm

    _require(baseline, ("seed", "rate", *features, "accuracy"), "baseline table")
    if "method" in baseline.columns and (baseline["method"] != BASELINE).any():
        raise ValueError(f"baseline table: expected only method {BASELINE!r} rows")
    rates = np.sort(baseline["rate"].unique())
    report: dict = {"n_obs": len(baseline), "n_rates": len(rates), "note": None}
    if len(rates) < 3:
        report["note"] = (
            f"only {len(rates)} distinct rates: leave-one-rate-out needs at least 3; not fitted"
        )
        return report
    y = baseline["rate"].to_numpy(float)
    held = baseline["rate"].to_numpy(float)
    null_pred = np.concatenate([np.full((held == r).sum(), y[held != r].mean()) for r in rates])
    y_sorted = np.concatenate([y[held == r] for r in rates])
    report["null_loro_mae"] = float(np.abs(null_pred - y_sorted).mean())
    for model, names in (("summary", list(features)), ("accuracy", ["accuracy"])):
        x_all = baseline[names].to_numpy(float)
        keep, dropped = _independent(x_all, names)
        if not keep:
            report[model] = {
                "features": [],
                "dropped_features": dropped,
                "note": "no varying feature",
            }
            continue
        x = x_all[:, keep]
        used = [names[j] for j in keep]
        predictions, kinds, rows = [], set(), []
        for rate in rates:
            test = held == rate
            pred, kind = _fit_predict(x[~test], y[~test], x[test], ridge_alpha=ridge_alpha)
            kinds.add(kind)
            predictions.append(pred)
            rows.append({"rate": float(rate), "predicted": [float(v) for v in pred]})
        error = np.concatenate(predictions) - y_sorted
        full = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
        ci = (
            np.asarray(full.conf_int())
            if full.df_resid > 0
            else np.full((len(used) + 1, 2), np.nan)
        )
        report[model] = {
            "features": used,
            "dropped_features": dropped,
            "estimator": "+".join(sorted(kinds)),
            "loro_mae": float(np.abs(error).mean()),
            "loro_rmse": float(np.sqrt((error**2).mean())),
            "loro_predictions": rows,
            "coefficients": {
                name: {"coef": float(full.params[i]), "ci": [_finite(ci[i, 0]), _finite(ci[i, 1])]}
                for i, name in enumerate(["Intercept", *used])
            },
            "r2": _finite(full.rsquared),
            "condition_number": _finite(full.condition_number),
        }
    return report


# ----------------------------------------------------------------------------- estimates


def fit_estimates(detect: pd.DataFrame, *, level: float = 0.95) -> dict:
    """Per method, OLS of the estimated noise rate on the true one.

    Parameters
    ----------
    detect
        The ``detect`` table of :func:`collect`.

    Returns
    -------
    dict
        Per method: ``n``, ``slope`` and ``intercept`` with 95% CIs (slope 1 and intercept 0 =
        unbiased), ``r2``, ``mae`` (mean |estimated - true|, lower = better), ``bias`` (mean of
        estimated - true, positive = overestimates) and ``note``.
    """
    import statsmodels.formula.api as smf

    _require(detect, ("method", "true_noise_rate", "estimated_noise_rate"), "detection table")
    out = {}
    for name in sorted(set(detect["method"])):
        rows = detect[detect["method"] == name]
        missing = int(rows["estimated_noise_rate"].isna().sum())
        rows = rows.dropna(subset=["true_noise_rate", "estimated_noise_rate"])
        error = rows["estimated_noise_rate"] - rows["true_noise_rate"]
        entry = {
            "n": len(rows),
            "slope": None,
            "slope_ci": None,
            "intercept": None,
            "intercept_ci": None,
            "r2": None,
            "mae": float(error.abs().mean()) if len(rows) else None,
            "bias": float(error.mean()) if len(rows) else None,
            "note": f"{missing} run(s) without an estimate left out" if missing else None,
        }
        if rows["true_noise_rate"].nunique() < 2:
            entry["note"] = "; ".join(filter(None, [entry["note"], "fewer than 2 true rates"]))
            out[name] = entry
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            result = smf.ols("estimated_noise_rate ~ true_noise_rate", data=rows).fit()
            ci = np.asarray(result.conf_int(alpha=1 - level)) if result.df_resid > 0 else None
            entry.update(
                slope=float(result.params["true_noise_rate"]),
                intercept=float(result.params["Intercept"]),
                r2=_finite(result.rsquared),
            )
        if ci is None:
            entry["note"] = "; ".join(filter(None, [entry["note"], "no residual df: no CIs"]))
        else:
            entry["intercept_ci"] = [_finite(ci[0, 0]), _finite(ci[0, 1])]
            entry["slope_ci"] = [_finite(ci[1, 0]), _finite(ci[1, 1])]
        out[name] = entry
    return out


# ----------------------------------------------------------------------------- report


def regression_report(
    metrics: Metrics,
    *,
    reference: str = BASELINE,
    drops: Sequence[float] = tuple(REGRESS.drops),
    n_boot: int = REGRESS.bootstrap,
    seed: int = 0,
) -> dict:
    """Every regression as one JSON-ready dict (``metrics/regression.json``).

    Returns
    -------
    dict
        ``accuracy`` (:func:`fit_accuracy`), ``inverse`` (:func:`fit_inverse` on the baseline
        runs), ``estimates`` (:func:`fit_estimates`), ``n_runs`` and ``seeds``.
    """
    table = accuracy_table(metrics.runs)
    baseline = metrics.runs[metrics.runs["method"] == BASELINE].reset_index(drop=True)
    seeds = sorted(int(s) for s in metrics.runs["seed"].unique())
    return {
        "accuracy": fit_accuracy(table, reference=reference, drops=drops, n_boot=n_boot, seed=seed),
        "inverse": fit_inverse(baseline),
        "estimates": fit_estimates(metrics.detect),
        "n_runs": len(seeds),
        "seeds": seeds,
    }


def _best(means: pd.Series) -> tuple[str | None, float | None]:
    means = means.dropna()
    if means.empty:
        return None, None
    name = str(means.idxmax())
    return name, float(means[name])


def recovery_interval(
    noisy: tuple[int, int],
    cleaned: tuple[int, int],
    oracle: tuple[int, int],
    *,
    draws: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of recovery = (cleaned − noisy) / (oracle − noisy).

    Each arm's test accuracy is redrawn as binomial on its own test-set size. The arms share one
    test set, whose shared easy and hard images make their accuracies move together, so drawing
    them independently gives a wider interval than the truth: a conservative one.

    Parameters
    ----------
    noisy, cleaned, oracle
        ``(n_correct, n_test)`` of each arm, summed over the seeds pooled.
    draws
        Bootstrap draws.
    level
        Coverage of the interval.
    seed
        Seeds the draws.

    Returns
    -------
    tuple of float or None
        ``(low, high)``; ``None`` when the oracle does not beat the noisy arm in most draws
        (recovery is then undefined).
    """
    rng = np.random.default_rng(seed)
    acc = {
        name: rng.binomial(n, k / n, size=draws) / n
        for name, (k, n) in {"noisy": noisy, "cleaned": cleaned, "oracle": oracle}.items()
    }
    gap = acc["oracle"] - acc["noisy"]
    usable = gap > 0
    if usable.mean() < 0.5:
        return None
    ratio = (acc["cleaned"][usable] - acc["noisy"][usable]) / gap[usable]
    tail = 100 * (1 - level) / 2
    return float(np.percentile(ratio, tail)), float(np.percentile(ratio, 100 - tail))


CLEAN_CEILING = f"{CEILING}_relabel"
"""The arm trained on every image under its true label: the clean-label ceiling. Without it in
the grid, the baseline at rate 0 (the same images, every label true) takes its place."""


def ceiling_arm(runs: pd.DataFrame, rate: float) -> tuple[float, str] | None:
    """``(rate, method)`` of the clean-label ceiling for arms at ``rate`` in ``runs``, or None
    when neither :data:`CLEAN_CEILING` at that rate nor the baseline at rate 0 ran."""
    for cell in ((rate, CLEAN_CEILING), (0.0, BASELINE)):
        if ((np.isclose(runs["rate"], cell[0])) & (runs["method"] == cell[1])).any():
            return cell
    return None


def gap_closed(
    runs: pd.DataFrame,
    *,
    rate: float,
    method: str,
    target: tuple[float, str],
    level: float = 0.95,
) -> tuple[float, float, float] | None:
    """The share of the noisy baseline's gap to ``target`` that ``method`` closes at ``rate``:
    (method − noisy) / (target − noisy), with its interval.

    Parameters
    ----------
    runs
        :attr:`Metrics.runs`: one row per seed, rate and arm.
    rate, method
        The arm.
    target
        ``(rate, method)`` of the arm that sets the gap: the clean-label ceiling
        (:func:`ceiling_arm`: *gap closed*), or the drop-oracle at ``rate`` (*recovery*).
    level
        Coverage of the interval.

    Returns
    -------
    tuple of float or None
        ``(value, low, high)``. With several seeds: the mean over seeds of each seed's share and
        a t interval over seeds, which counts training noise and test sampling alike (each seed
        generates its own images); with one seed: that seed's share and the test-sampling
        bootstrap of :func:`recovery_interval`. None when an arm is missing or the target does
        not beat the noisy arm.
    """
    cells = {"noisy": (rate, BASELINE), "arm": (rate, method), "target": target}
    per_seed = {}
    for key, (at, name) in cells.items():
        rows = runs[np.isclose(runs["rate"], at) & (runs["method"] == name)]
        per_seed[key] = rows.set_index("seed")[["accuracy", "n_correct", "n_test"]]
    seeds = sorted(set.intersection(*(set(table.index) for table in per_seed.values())))
    if not seeds:
        return None
    acc = {key: table.loc[seeds, "accuracy"].to_numpy(float) for key, table in per_seed.items()}
    gap = acc["target"] - acc["noisy"]
    if (gap <= 0).any():
        return None
    shares = (acc["arm"] - acc["noisy"]) / gap
    if len(seeds) > 1:
        half = (
            stats.t.ppf(0.5 + level / 2, len(seeds) - 1) * shares.std(ddof=1) / np.sqrt(len(seeds))
        )
        return float(shares.mean()), float(shares.mean() - half), float(shares.mean() + half)
    counts = [tuple(per_seed[k].loc[seeds[0], ["n_correct", "n_test"]].astype(int)) for k in cells]
    interval = recovery_interval(*counts, level=level)
    if interval is None:
        return None
    return float(shares[0]), *interval


def accuracy_change(
    runs: pd.DataFrame, *, rate: float, method: str, level: float = 0.95
) -> tuple[float, float, float] | None:
    """``method``'s test accuracy minus the noisy baseline's at ``rate``, with its interval.

    Returns ``(value, low, high)``: with several seeds the mean of each seed's difference and a
    t interval over seeds; with one seed a normal interval of two binomial proportions (the
    arms share the test images, so it is conservative). None when either arm is missing.
    """
    at = runs[np.isclose(runs["rate"], rate)]
    tables = [at[at["method"] == name].set_index("seed") for name in (method, BASELINE)]
    seeds = sorted(set(tables[0].index) & set(tables[1].index))
    if not seeds:
        return None
    arm, noisy = (t.loc[seeds] for t in tables)
    diff = (arm["accuracy"] - noisy["accuracy"]).to_numpy(float)
    if len(seeds) > 1:
        half = stats.t.ppf(0.5 + level / 2, len(seeds) - 1) * diff.std(ddof=1) / np.sqrt(len(seeds))
    else:
        p = np.array([arm["accuracy"].iloc[0], noisy["accuracy"].iloc[0]])
        n = np.array([arm["n_test"].iloc[0], noisy["n_test"].iloc[0]])
        half = stats.norm.ppf(0.5 + level / 2) * np.sqrt((p * (1 - p) / n).sum())
    return float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half)


def accuracy_interval(
    runs: pd.DataFrame, *, rate: float, method: str, level: float = 0.95
) -> tuple[float, float, float] | None:
    """``method``'s test accuracy at ``rate`` with its interval: with several seeds the mean and
    a t interval over seeds (training noise and test sampling alike), with one seed the Wilson
    interval of its test sampling. None when the arm did not run at ``rate``.

    Returns
    -------
    tuple of float or None
        ``(value, low, high)``, fractions correct.
    """
    from statsmodels.stats.proportion import proportion_confint

    rows = runs[np.isclose(runs["rate"], rate) & (runs["method"] == method)]
    if rows.empty:
        return None
    accuracy = rows["accuracy"].to_numpy(float)
    if len(rows) > 1:
        half = stats.t.ppf(0.5 + level / 2, len(rows) - 1) * accuracy.std(ddof=1)
        half /= np.sqrt(len(rows))
        return float(accuracy.mean()), float(accuracy.mean() - half), float(accuracy.mean() + half)
    k, n = int(rows["n_correct"].iloc[0]), int(rows["n_test"].iloc[0])
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return float(accuracy[0]), float(low), float(high)


def accuracy_interval_table(runs: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Long table of :func:`accuracy_interval` for every arm and rate of ``runs``: ``rate,
    method, accuracy, low, high`` (the error bars of the accuracy figure)."""
    cells = runs[["rate", "method"]].drop_duplicates().sort_values(["method", "rate"])
    rows = [
        (rate, method, *accuracy_interval(runs, rate=rate, method=method, level=level))
        for rate, method in cells.itertuples(index=False)
    ]
    return pd.DataFrame(rows, columns=["rate", "method", "accuracy", "low", "high"])


def noise_rate_errors(detect: pd.DataFrame) -> pd.Series:
    """Largest |estimated − true noise rate| over the rates, per estimator, smallest first.

    ``trusted`` is the trusted set's estimate (:func:`labelnoise.noise.trusted_noise_estimate`);
    every other estimator is a method's own (e.g. cleanlab's confident joint, or the fraction a
    method flags). Means over seeds are taken first.
    """
    cells = detect.groupby(["rate", "method"])[
        ["true_noise_rate", "trusted_noise_rate", "estimated_noise_rate"]
    ].mean()
    own = (cells["estimated_noise_rate"] - cells["true_noise_rate"]).abs().groupby("method").max()
    trusted = (cells["trusted_noise_rate"] - cells["true_noise_rate"]).abs().groupby("rate").max()
    errors = pd.concat([own, pd.Series({"trusted": trusted.max()})])
    return errors.dropna().sort_values(kind="stable")


def headline(metrics: Metrics, regression: dict, *, rate: float) -> dict:
    """The few figures that sum up a run, for ``metrics/summary.json`` and ``dvc exp show``.

    Parameters
    ----------
    metrics
        The run's tables (:func:`labelnoise.metrics.collect`); means are taken over seeds.
    regression
        :func:`regression_report`'s result.
    rate
        The false-label rate the figures are read at (``report.rate``).

    Returns
    -------
    dict
        ``accuracy`` at ``rate`` per arm (``none`` = trained on the noisy labels), the best
        cleaning arm by accuracy, its ``gap_closed`` = (cleaned − noisy) / (clean-label
        ceiling − noisy) (1 = as good as every label true; :func:`ceiling_arm`) and its
        ``recovery`` = (cleaned − noisy) / (oracle − noisy) (1 = as good as dropping exactly the
        false labels), each with its 95% ``_low`` / ``_high`` (:func:`gap_closed`; ``None``
        without the arm that sets the gap), and ``ceiling``, that ceiling's accuracy; its
        ``change`` in accuracy against no cleaning with ``change_low`` / ``change_high``
        (:func:`accuracy_change`: the figure that needs no ceiling, as with your own images);
        the best detection F1, F1 at k = number of flips (the ranking apart from the count rule) and
        AUROC at ``rate`` with their methods; the noise-rate estimator whose largest error over
        the rates is smallest, and that error; the baseline's accuracy slope at rate 0 (per unit
        rate). Higher is better for every figure but the slope and the noise-rate error.
    """
    runs = metrics.runs[np.isclose(metrics.runs["rate"], rate)]
    accuracy = runs.groupby("method")["accuracy"].mean()
    cleaned = accuracy.drop([m for m in accuracy.index if is_reference(m)])
    best_method, _ = _best(cleaned)
    shares: dict[str, tuple | None] = {"gap_closed": None, "recovery": None}
    ceiling = ceiling_arm(metrics.runs, rate)
    targets = {"gap_closed": ceiling, "recovery": (rate, CEILING)}
    for key, target in targets.items():
        if best_method is not None and target is not None:
            shares[key] = gap_closed(metrics.runs, rate=rate, method=best_method, target=target)
    change = (
        None
        if best_method is None
        else accuracy_change(metrics.runs, rate=rate, method=best_method)
    )
    ceiling_accuracy = None
    if ceiling is not None:
        at = metrics.runs[np.isclose(metrics.runs["rate"], ceiling[0])]
        ceiling_accuracy = float(at.loc[at["method"] == ceiling[1], "accuracy"].mean())
    detect = metrics.detect[np.isclose(metrics.detect["rate"], rate)]
    detect = detect[~detect["method"].map(is_reference)].groupby("method")
    f1_method, f1 = _best(detect["f1"].mean())
    f1k_method, f1k = _best(detect["f1_at_k"].mean())
    auroc_method, auroc = _best(detect["auroc"].mean())
    estimators = noise_rate_errors(metrics.detect[~metrics.detect["method"].map(is_reference)])
    return {
        "rate": float(rate),
        "accuracy": {name: float(value) for name, value in accuracy.items()},
        "best_method": best_method,
        "ceiling": ceiling_accuracy,
        **{
            f"change{suffix}": None if change is None else change[i]
            for i, suffix in enumerate(("", "_low", "_high"))
        },
        **{
            f"{key}{suffix}": None if share is None else share[i]
            for key, share in shares.items()
            for i, suffix in enumerate(("", "_low", "_high"))
        },
        "detection": {
            "best_f1": f1,
            "best_f1_method": f1_method,
            "best_f1_at_k": f1k,
            "best_f1_at_k_method": f1k_method,
            "best_auroc": auroc,
            "best_auroc_method": auroc_method,
        },
        "noise_rate": {
            "best_estimator": None if estimators.empty else str(estimators.index[0]),
            "max_error": None if estimators.empty else float(estimators.iloc[0]),
        },
        "noisy_slope": regression["accuracy"]["methods"][BASELINE]["slope"],
        "n_seeds": regression["n_runs"],
    }
