"""Sweep pathology inspector: find the sick trials of a hyperparameter sweep, say why, and
what to try next.

Pipeline: :func:`read_sweep` (any supported format -> one normalized table, plus per-trial
curves when the format has them) -> :func:`run_detectors` (per-trial flags with severity
and evidence) -> :func:`issue_correlations` (issue rate per hyperparameter bucket, Fisher's
exact test, Benjamini-Hochberg q-values) -> :func:`build_report` (JSON-ready dict) ->
:func:`report_markdown` / :func:`plot_issue_heatmap`. :func:`inspect_sweep` runs it all.

Normalized table columns: ``trial_id`` (str, unique), ``status`` (lower-case; ``completed``,
``failed``, ``pruned``, ``running``, ...), the metrics :data:`METRICS` (float; NaN when
absent or unparsable), and one column per hyperparameter (the table's
``attrs["hyperparameters"]`` lists them).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, fisher_exact

#: Final metrics of a trial, in the seed's schema.
METRICS = ["train_loss", "val_loss", "train_acc", "val_acc", "epochs", "runtime_sec"]
REQUIRED = ["trial_id", "status"]
#: At least one of these must be present for the metric detectors to mean anything.
ONE_OF = ["train_loss", "val_loss", "train_acc", "val_acc"]
FAILED_STATUSES = {"failed", "fail", "crashed", "error", "errored", "killed"}
#: Trials not finished yet: their missing metrics are not an issue.
UNFINISHED_STATUSES = {"running", "missing", "pending", "queued", "waiting", "scheduled"}
FORMATS = ("auto", "generic", "optuna", "mlflow", "wandb", "overfit_forecast")

#: Status spellings of other tools -> ours.
_STATUS_MAP = {
    "complete": "completed", "finished": "completed", "success": "completed", "succeeded": "completed",
    "fail": "failed", "crashed": "failed", "error": "failed", "errored": "failed",
}


class SweepInputError(ValueError):
    """The sweep file cannot be read as a sweep table; the message says why and where."""


class SweepInputWarning(UserWarning):
    """Data problems that do not stop the inspection (junk values, duplicated ids)."""


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------

def _read_csv(path: Path) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SweepInputError(f"{path}: not a text file ({exc})") from None
    except OSError as exc:
        raise SweepInputError(f"{path}: cannot read ({exc.strerror})") from None
    if not text.strip():
        raise SweepInputError(f"{path}: file is empty")
    first = text.splitlines()[0]
    sep = ","
    if first.count(",") == 0:
        counts = {s: first.count(s) for s in (";", "\t", "|")}
        best = max(counts, key=counts.get)
        if counts[best] > 0:
            sep = best
            warnings.warn(f"{path}: no commas in the header; reading with delimiter {best!r}",
                          SweepInputWarning, stacklevel=3)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False, na_values=[],
                         dtype=str, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise SweepInputError(f"{path}: not a well-formed CSV table ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise SweepInputError(f"{path}: header only, no trials (columns: {list(df.columns)})")
    return df


def _to_float(series: pd.Series, column: str, source: str) -> pd.Series:
    """Parse a metric column: numbers, 'nan', 'inf', '-inf', '' -> float; junk -> NaN + warning."""
    s = series.astype(str).str.strip()
    lowered = s.str.lower()
    lowered = lowered.replace({"": "nan", "none": "nan", "null": "nan", "na": "nan", "n/a": "nan",
                               "infinity": "inf", "+inf": "inf", "-infinity": "-inf"})
    out = pd.to_numeric(lowered, errors="coerce")
    junk = out.isna() & ~lowered.isin(["nan"])
    if junk.any():
        rows = list(junk[junk].index[:5] + 2)  # +2: header line and 1-based lines
        warnings.warn(f"{source}: column {column!r} has non-numeric values "
                      f"{list(s[junk].unique()[:3])} (lines {rows}); read as NaN",
                      SweepInputWarning, stacklevel=3)
    return out.astype(float)


def _coerce_param(series: pd.Series) -> pd.Series:
    num = pd.to_numeric(series, errors="coerce")
    nonblank = series.astype(str).str.strip().ne("") & series.notna()
    if nonblank.any() and num[nonblank].notna().all():
        return num
    return series.astype(str)


def _normalize(df: pd.DataFrame, params: list[str], source: str,
               curves: dict | None = None) -> pd.DataFrame:
    """Finish a normalized table: types, unique ids, metric parsing, attrs."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing or not any(c in df.columns for c in ONE_OF):
        raise SweepInputError(
            f"{source}: missing required column(s) {missing or []}"
            f"{'' if any(c in df.columns for c in ONE_OF) else f' and none of {ONE_OF}'}; "
            f"expected {REQUIRED} + at least one of {ONE_OF} (optional: {METRICS}); "
            f"found {list(df.columns)}. Map other names with --column-map old=new.")
    out = pd.DataFrame(index=df.index)
    out["trial_id"] = df["trial_id"].astype(str).str.strip()
    dup = out["trial_id"].duplicated(keep=False)
    if dup.any():
        ids = sorted(out.loc[dup, "trial_id"].unique())[:5]
        warnings.warn(f"{source}: duplicated trial ids {ids}; later copies renamed id#2, id#3, ...",
                      SweepInputWarning, stacklevel=3)
        n = out.groupby("trial_id").cumcount()
        out.loc[n > 0, "trial_id"] = out.loc[n > 0, "trial_id"] + "#" + (n[n > 0] + 1).astype(str)
    status = df["status"].astype(str).str.strip().str.lower()
    out["status"] = status.replace(_STATUS_MAP)
    for m in METRICS:
        out[m] = _to_float(df[m], m, source) if m in df.columns else np.nan
    for p in params:
        out[p] = _coerce_param(df[p])
    out.attrs["hyperparameters"] = list(params)
    out.attrs["source"] = _display_path(source)
    out.attrs["curves"] = curves or {}
    return out.reset_index(drop=True)


def _display_path(p: str) -> str:
    """``p`` relative to the working directory when it lies below it (reports stay portable)."""
    try:
        return str(Path(p).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


def _generic(df: pd.DataFrame, source: str) -> pd.DataFrame:
    params = [c for c in df.columns if c not in REQUIRED + METRICS]
    return _normalize(df, params, source)


def _optuna(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Optuna ``study.trials_dataframe()`` export: ``number``, ``state``, ``value``,
    ``params_*``, ``user_attrs_*``, ``duration``. Metrics come from ``user_attrs_<metric>``;
    ``value`` (the objective) stands in for ``val_loss`` when no such attribute exists."""
    d = pd.DataFrame({"trial_id": df["number"] if "number" in df else df.index.astype(str),
                      "status": df.get("state", "completed")})
    for m in METRICS:
        if f"user_attrs_{m}" in df:
            d[m] = df[f"user_attrs_{m}"]
    if "val_loss" not in d and "value" in df:
        d["val_loss"] = df["value"]
    if "runtime_sec" not in d and "duration" in df:
        secs = pd.to_timedelta(df["duration"].replace("", None), errors="coerce").dt.total_seconds()
        d["runtime_sec"] = secs.astype(str)
    params = []
    for c in df.columns:
        if c.startswith("params_"):
            d[c.removeprefix("params_")] = df[c]
            params.append(c.removeprefix("params_"))
    return _normalize(d, params, source)


def _mlflow(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """MLflow ``mlflow.search_runs()`` table written to CSV: ``run_id``, ``status``,
    ``start_time``, ``end_time``, ``params.*``, ``metrics.*``."""
    d = pd.DataFrame({"trial_id": df["run_id"], "status": df.get("status", "completed")})
    for m in METRICS:
        if f"metrics.{m}" in df:
            d[m] = df[f"metrics.{m}"]
    if "epochs" not in d:
        for alt in ("metrics.epoch", "params.epochs"):
            if alt in df:
                d["epochs"] = df[alt]
                break
    if "runtime_sec" not in d and {"start_time", "end_time"} <= set(df.columns):
        start = pd.to_datetime(df["start_time"], errors="coerce", utc=True, format="mixed")
        end = pd.to_datetime(df["end_time"], errors="coerce", utc=True, format="mixed")
        d["runtime_sec"] = (end - start).dt.total_seconds().astype(str)
    params = []
    for c in df.columns:
        if c.startswith("params.") and c.removeprefix("params.") not in d:
            d[c.removeprefix("params.")] = df[c]
            params.append(c.removeprefix("params."))
    return _normalize(d, params, source)


_WANDB_META = {"Name", "ID", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep",
               "Group", "Job Type", "Hostname", "GPU Type", "GPU Count", "Updated", "End Time"}


def _wandb(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """W&B runs-table CSV export: ``Name``, ``State``, ``Runtime`` (s), then config and summary
    columns. Columns named like :data:`METRICS` are metrics, other non-meta columns are
    hyperparameters."""
    d = pd.DataFrame({"trial_id": df["Name"] if "Name" in df else df["ID"],
                      "status": df.get("State", "completed")})
    for m in METRICS:
        if m in df:
            d[m] = df[m]
    if "runtime_sec" not in d and "Runtime" in df:
        d["runtime_sec"] = df["Runtime"]
    params = [c for c in df.columns if c not in _WANDB_META and c not in METRICS]
    for p in params:
        d[p] = df[p]
    return _normalize(d, params, source)


def _ours(path: Path) -> pd.DataFrame:
    """Our own ``logs/<dataset>/sweep.csv`` joined with the per-run logs (final metrics and
    full curves)."""
    from .runlog import RunConfig, read_log

    sweep = pd.read_csv(path, dtype=str, keep_default_na=False)
    constant_or_id = {"run_id", "group_id", "status", "epochs_done", "runtime_sec", "test_acc",
                      "message", "eval_batch_size"}
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    params = [c for c in fields if c in sweep and c not in constant_or_id and sweep[c].nunique() > 1]
    rows, curves = [], {}
    for rec in sweep.to_dict("records"):
        if rec["status"] == "missing":  # planned but not run yet
            continue
        # the planned epochs are a hyperparameter; the "epochs" metric is what was done
        row = {"trial_id": rec["run_id"], "status": rec["status"], "runtime_sec": rec["runtime_sec"],
               **{("planned_epochs" if p == "epochs" else p): rec[p] for p in params},
               "epochs": rec["epochs_done"]}
        log_path = path.parent / f"{rec['run_id']}.csv"
        if log_path.exists():
            log = read_log(log_path)
            curves[rec["run_id"]] = log
            if len(log):
                last = log.iloc[-1]
                row.update({m: str(last[m]) for m in ("train_loss", "val_loss", "train_acc", "val_acc")})
        rows.append(row)
    d = pd.DataFrame(rows)
    for m in ("train_loss", "val_loss", "train_acc", "val_acc"):
        if m not in d:
            d[m] = "nan"
    params = ["planned_epochs" if p == "epochs" else p for p in params]
    return _normalize(d.fillna("nan"), params, str(path), curves)


def detect_format(columns: list[str], path: Path | None = None) -> str:
    """Guess the export format from column names (and a sibling log for our own sweeps)."""
    cols = set(columns)
    if {"run_id", "group_id", "epochs_done"} <= cols:
        return "overfit_forecast"
    if "number" in cols and ("state" in cols or any(c.startswith("params_") for c in cols)):
        return "optuna"
    if "run_id" in cols and any(c.startswith(("params.", "metrics.")) for c in cols):
        return "mlflow"
    if "Name" in cols and "State" in cols:
        return "wandb"
    return "generic"


def read_sweep(path: str | os.PathLike, format: str = "auto",
               column_map: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a sweep table into the normalized form (see module docstring).

    Parameters
    ----------
    path : path
        CSV file (comma, semicolon, tab or pipe delimited).
    format : {"auto", "generic", "optuna", "mlflow", "wandb", "overfit_forecast"}
        "auto" guesses from the columns (:func:`detect_format`).
    column_map : dict, optional
        ``{name in the file: our name}``, applied first (e.g. ``{"id": "trial_id",
        "loss": "train_loss"}``).

    Raises
    ------
    SweepInputError
        Unreadable, empty or header-only file, or required columns missing (the message
        lists expected and found columns).

    Warns
    -----
    SweepInputWarning
        Non-numeric junk in metric columns (read as NaN), duplicated trial ids, unusual
        delimiter.
    """
    path = Path(path)
    if format not in FORMATS:
        raise SweepInputError(f"unknown format {format!r}; expected one of {FORMATS}")
    if not path.exists():
        raise SweepInputError(f"{path}: no such file")
    df = _read_csv(path)
    if column_map:
        unknown = [k for k in column_map if k not in df.columns]
        if unknown:
            raise SweepInputError(f"{path}: --column-map names column(s) {unknown} not in the file "
                                  f"(found {list(df.columns)})")
        df = df.rename(columns=column_map)
    fmt = detect_format(list(df.columns), path) if format == "auto" else format
    try:
        if fmt == "overfit_forecast":
            return _ours(path)
        reader = {"generic": _generic, "optuna": _optuna, "mlflow": _mlflow, "wandb": _wandb}[fmt]
        return reader(df, str(path))
    except KeyError as exc:
        raise SweepInputError(f"{path}: read as {fmt!r} but column {exc} is missing "
                              f"(found {list(df.columns)})") from None


# --------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectorThresholds:
    """Every detector threshold, with its default."""

    divergence_factor: float = 2.0  # curve: loss above this x its first value -> diverged
    divergence_bound: float = 1e3  # curve or final: loss above this -> diverged
    overfit_loss_ratio: float = 2.0  # val_loss / train_loss above this -> overfitting suspect
    overfit_acc_gap: float = 0.10  # train_acc - val_acc above this -> overfitting suspect
    underfit_quantile: float = 0.9  # reference = this quantile of train_acc over completed trials
    underfit_acc_margin: float = 0.10  # underfit if train_acc < reference - margin
    underfit_loss_factor: float = 3.0  # (no accuracy) underfit if train_loss > factor x 10 % quantile
    short_quantile: float = 0.10  # short run: epochs/runtime below this quantile...
    short_ratio: float = 0.5  # ...and below this fraction of the median of completed trials
    unstable_std: float = 0.02  # curve: std of epoch-to-epoch change of val_acc (2nd half) above this
    min_curve_points: int = 10  # curves shorter than this are not judged for instability


SEVERITIES = ("high", "medium", "low")


def _flags(trials: pd.Series, issue: str, severity, evidence) -> pd.DataFrame:
    n = len(trials)
    return pd.DataFrame({
        "trial_id": trials.to_numpy(),
        "issue": issue,
        "severity": severity if not np.isscalar(severity) else [severity] * n,
        "evidence": list(evidence),
    }, columns=["trial_id", "issue", "severity", "evidence"])


def _fmt(x) -> str:
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.4g}"
    return str(x)


def detect_nonfinite(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """NaN / +-Inf in a present final-metric column (loss and accuracy). Severity high for
    Inf or NaN in a completed trial, medium for NaN in a failed one."""
    cols = [c for c in ONE_OF if df[c].notna().any() or np.isinf(df[c]).any()]
    if not cols:
        return _flags(pd.Series([], dtype=str), "non_finite", "high", [])
    vals = df[cols].to_numpy(float)
    bad = ~np.isfinite(vals)
    hit = bad.any(axis=1) & ~df["status"].isin(UNFINISHED_STATUSES).to_numpy()
    ev = [", ".join(f"{c}={_fmt(v)}" for c, v, b in zip(cols, row, brow) if b)
          for row, brow in zip(vals[hit], bad[hit])]
    sev = np.where(np.isinf(vals[hit]).any(axis=1) | ~df["status"][hit].isin(FAILED_STATUSES), "high", "medium")
    return _flags(df["trial_id"][hit], "non_finite", sev, ev)


def detect_failed(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """Trials whose ``status`` says they failed or crashed (severity high)."""
    hit = df["status"].isin(FAILED_STATUSES)
    return _flags(df["trial_id"][hit], "failed", "high", [f"status={s}" for s in df["status"][hit]])


def detect_divergence(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """Loss far above its starting value (curves: max train loss after the first point >
    ``divergence_factor`` x first; a non-finite curve; or a last value no lower than the
    first, i.e. training collapsed), or above ``divergence_bound`` (final train/val loss).
    Severity high."""
    curves = df.attrs.get("curves", {})
    ids, ev = [], []
    for tid, tl, vl in zip(df["trial_id"], df["train_loss"], df["val_loss"]):
        reasons = []
        log = curves.get(tid)
        if log is not None and "train_loss" in log and len(log) > 1:
            loss = log["train_loss"].to_numpy(float)
            later = loss[1:]
            if not np.isfinite(later).all():
                reasons.append(f"non-finite train loss from epoch {int(np.argmax(~np.isfinite(later))) + 1}")
            elif np.isfinite(loss[0]) and loss[0] > 0 and later.max() > th.divergence_factor * loss[0]:
                reasons.append(f"train loss rose to {later.max():.3g} = {later.max() / loss[0]:.1f}x its "
                               f"first value {loss[0]:.3g} (> {th.divergence_factor:g}x)")
            elif np.isfinite(loss[0]) and later[-1] >= loss[0]:
                reasons.append(f"train loss ended at {later[-1]:.3g}, no lower than its first value "
                               f"{loss[0]:.3g} (training collapsed)")
        for name, v in (("train_loss", tl), ("val_loss", vl)):
            if np.isfinite(v) and v > th.divergence_bound:
                reasons.append(f"final {name}={v:.3g} > bound {th.divergence_bound:g}")
        if reasons:
            ids.append(tid)
            ev.append("; ".join(reasons))
    return _flags(pd.Series(ids, dtype=str), "diverged", "high", ev)


def detect_overfitting(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """Overfitting suspects among completed trials: ``val_loss / train_loss >
    overfit_loss_ratio`` or ``train_acc - val_acc > overfit_acc_gap``. Severity high when
    both fire, else medium."""
    ok = ~df["status"].isin(FAILED_STATUSES)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = df["val_loss"] / df["train_loss"]
    gap = df["train_acc"] - df["val_acc"]
    r_hit = ok & np.isfinite(ratio) & (ratio > th.overfit_loss_ratio)
    g_hit = ok & np.isfinite(gap) & (gap > th.overfit_acc_gap)
    hit = r_hit | g_hit
    ev = []
    for r, g, rh, gh in zip(ratio[hit], gap[hit], r_hit[hit], g_hit[hit]):
        parts = []
        if rh:
            parts.append(f"val_loss/train_loss={r:.3g} > {th.overfit_loss_ratio:g}")
        if gh:
            parts.append(f"train_acc-val_acc={g:.3g} > {th.overfit_acc_gap:g}")
        ev.append("; ".join(parts))
    sev = np.where(r_hit[hit] & g_hit[hit], "high", "medium")
    return _flags(df["trial_id"][hit], "overfitting", sev, ev)


def detect_underfitting(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """Trials that cannot fit their own training set, relative to what the sweep's best
    completed trials reach: ``train_acc < q_underfit_quantile(train_acc) -
    underfit_acc_margin``; without accuracies, ``train_loss > underfit_loss_factor x
    q_0.1(train_loss)``. Failed and non-finite trials are left to their own detectors.
    Severity high if more than twice the margin below, else medium."""
    present = [c for c in ONE_OF if df[c].notna().any()]
    finite = np.isfinite(df[present].to_numpy(float)).all(axis=1)
    ok = ~df["status"].isin(FAILED_STATUSES | {"diverged"}) & finite
    done = df[ok & (df["status"] == "completed")]
    if df["train_acc"].notna().any():
        acc = done["train_acc"][np.isfinite(done["train_acc"])]
        if acc.empty:
            return _flags(pd.Series([], dtype=str), "underfitting", "medium", [])
        ref = float(acc.quantile(th.underfit_quantile))
        short = ref - df["train_acc"]
        hit = ok & np.isfinite(df["train_acc"]) & (short > th.underfit_acc_margin)
        ev = [f"train_acc={a:.3g} vs {th.underfit_quantile:.0%} quantile {ref:.3g} of completed trials "
              f"(margin {th.underfit_acc_margin:g})" for a in df["train_acc"][hit]]
        sev = np.where(short[hit] > 2 * th.underfit_acc_margin, "high", "medium")
    else:
        loss = done["train_loss"][np.isfinite(done["train_loss"])]
        if loss.empty:
            return _flags(pd.Series([], dtype=str), "underfitting", "medium", [])
        ref = float(loss.quantile(0.1))
        hit = ok & (df["train_loss"] > th.underfit_loss_factor * ref)
        ev = [f"train_loss={v:.3g} > {th.underfit_loss_factor:g} x 10 % quantile {ref:.3g}"
              for v in df["train_loss"][hit]]
        sev = "medium"
    return _flags(df["trial_id"][hit], "underfitting", sev, ev)


def detect_short_runs(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """Epochs below the ``short_quantile`` of completed trials *and* below ``short_ratio`` x
    their median (a sweep that varies epochs on purpose is not flagged wholesale); runtime
    is judged the same way only when the table has no epochs (a cheap configuration is not a
    short run). Severity low (medium for failed trials)."""
    done = df[df["status"] == "completed"]
    ids, ev, sev = [], [], []
    has_epochs = np.isfinite(done["epochs"]).sum() >= 3
    for col in ("epochs",) if has_epochs else ("runtime_sec",):
        ref = done[col][np.isfinite(done[col])]
        if len(ref) < 3:
            continue
        q, med = ref.quantile(th.short_quantile), ref.median()
        cut = min(q, th.short_ratio * med)
        hit = np.isfinite(df[col]) & (df[col] < cut)
        for tid, v, st in zip(df["trial_id"][hit], df[col][hit], df["status"][hit]):
            ids.append(tid)
            ev.append(f"{col}={_fmt(float(v))} < {_fmt(float(cut))} (min of {th.short_quantile:.0%} quantile "
                      f"{_fmt(float(q))} and {th.short_ratio:g} x median {_fmt(float(med))})")
            sev.append("medium" if st in FAILED_STATUSES else "low")
    out = _flags(pd.Series(ids, dtype=str), "short_run", sev, ev)
    return out.groupby("trial_id", as_index=False, sort=False).agg(
        issue=("issue", "first"), severity=("severity", "first"), evidence=("evidence", "; ".join))


def detect_unstable(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """Unstable curves (curves only): standard deviation of the epoch-to-epoch change of
    validation accuracy over the second half of training above ``unstable_std``. Severity
    medium."""
    curves = df.attrs.get("curves", {})
    ids, ev = [], []
    for tid in df["trial_id"]:
        log = curves.get(tid)
        if log is None or "val_acc" not in log or len(log) < th.min_curve_points:
            continue
        v = log["val_acc"].to_numpy(float)
        half = v[len(v) // 2:]
        d = np.diff(half[np.isfinite(half)])
        if d.size >= 2 and d.std() > th.unstable_std:
            ids.append(tid)
            ev.append(f"std of epoch-to-epoch val_acc change (2nd half) = {d.std():.3g} > {th.unstable_std:g}")
    return _flags(pd.Series(ids, dtype=str), "unstable", "medium", ev)


DETECTORS = {
    "non_finite": detect_nonfinite,
    "failed": detect_failed,
    "diverged": detect_divergence,
    "overfitting": detect_overfitting,
    "underfitting": detect_underfitting,
    "short_run": detect_short_runs,
    "unstable": detect_unstable,
}


def run_detectors(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """All :data:`DETECTORS` on a normalized table.

    Returns
    -------
    DataFrame
        One row per (trial, issue): ``trial_id, issue, severity, evidence``.
    """
    parts = [f(df, th) for f in DETECTORS.values()]
    return pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)


# --------------------------------------------------------------------------------------
# Hyperparameter-issue correlations
# --------------------------------------------------------------------------------------

def bucketize(values: pd.Series, n_buckets: int = 4, max_categories: int = 8) -> pd.Series:
    """Bucket labels for one hyperparameter.

    - Non-numeric, or at most ``max_categories`` distinct values: one bucket per value.
    - Numeric, all values >= 0, spanning at least two decades among positive values:
      ``n_buckets`` equal-width bins of log10 (zeros get their own bucket "0").
    - Other numeric: quantile bins (``pandas.qcut``).

    Labels read like ``[0.01, 0.1)``; missing values get "missing".
    """
    if not pd.api.types.is_numeric_dtype(values) or values.nunique() <= max_categories:
        return values.map(lambda v: "missing" if pd.isna(v) else _fmt(v)).astype(str)
    v = values.astype(float)
    pos = v[v > 0]
    labels = pd.Series("missing", index=v.index, dtype=object)
    if (v.dropna() >= 0).all() and len(pos) and pos.max() / pos.min() >= 100:
        edges = np.linspace(np.log10(pos.min()), np.log10(pos.max()), n_buckets + 1)
        idx = np.clip(np.searchsorted(edges, np.log10(pos), side="right") - 1, 0, n_buckets - 1)
        for i in range(n_buckets):
            lo, hi = 10 ** edges[i], 10 ** edges[i + 1]
            close = "]" if i == n_buckets - 1 else ")"
            labels[pos.index[idx == i]] = f"[{_fmt(lo)}, {_fmt(hi)}{close}"
        labels[v == 0] = "0"
        return labels
    cats = pd.qcut(v, n_buckets, duplicates="drop")
    for iv in cats.cat.categories:
        labels[cats == iv] = f"({_fmt(float(iv.left))}, {_fmt(float(iv.right))}]"
    return labels


def _bucket_order(labels: pd.Series) -> list[str]:
    def key(s):
        m = re.match(r"[\[(]?(-?[\d.e+-]+)", s)
        try:
            return (0, float(m.group(1))) if m else (1, s)
        except ValueError:
            return (1, s)
    return sorted(labels.unique(), key=key)


def issue_correlations(df: pd.DataFrame, flags: pd.DataFrame, n_buckets: int = 4,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Issue rate per hyperparameter bucket, with Fisher's exact test and BH q-values.

    For every hyperparameter (``df.attrs["hyperparameters"]``), bucket (:func:`bucketize`)
    and issue: trials in the bucket (``n``), trials with the issue there (``k``), the rate
    elsewhere, the risk difference, the odds ratio and the two-sided p-value of Fisher's
    exact test of bucket vs the rest (:func:`scipy.stats.fisher_exact`). q-values:
    Benjamini-Hochberg over every test of the table
    (:func:`scipy.stats.false_discovery_control`).

    Returns
    -------
    DataFrame
        Columns ``hyperparameter, bucket, issue, n, k, rate, n_else, k_else, rate_else,
        risk_difference, odds_ratio, p_value, q_value, significant, trial_ids``; sorted
        with significant risk-raising patterns first (by q, then risk difference).
    """
    params = df.attrs.get("hyperparameters", [])
    issues = sorted(flags["issue"].unique()) if len(flags) else []
    has = {i: df["trial_id"].isin(set(flags.loc[flags.issue == i, "trial_id"])).to_numpy() for i in issues}
    rows = []
    cache: dict = {}
    for p in params:
        b = bucketize(df[p], n_buckets)
        if b.nunique() < 2:
            continue
        for bucket in _bucket_order(b):
            inb = (b == bucket).to_numpy()
            n, n_else = int(inb.sum()), int((~inb).sum())
            for i in issues:
                k = int(has[i][inb].sum())
                k_else = int(has[i][~inb].sum())
                table = ((k, n - k), (k_else, n_else - k_else))
                if table not in cache:
                    cache[table] = fisher_exact(table)
                odds, pval = cache[table]
                ids = df["trial_id"][inb & has[i]].head(5).tolist()
                rows.append(dict(hyperparameter=p, bucket=bucket, issue=i, n=n, k=k, rate=k / n,
                                 n_else=n_else, k_else=k_else,
                                 rate_else=k_else / n_else if n_else else float("nan"),
                                 odds_ratio=float(odds), p_value=float(pval), trial_ids=ids))
    cols = ["hyperparameter", "bucket", "issue", "n", "k", "rate", "n_else", "k_else", "rate_else",
            "risk_difference", "odds_ratio", "p_value", "q_value", "significant", "trial_ids"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out["risk_difference"] = out["rate"] - out["rate_else"]
    out["q_value"] = false_discovery_control(out["p_value"].to_numpy(), method="bh")
    out["significant"] = out["q_value"] < alpha
    out["_rank"] = ~(out["significant"] & (out["risk_difference"] > 0))
    out = out.sort_values(["_rank", "q_value", "risk_difference"], ascending=[True, True, False])
    return out.drop(columns="_rank")[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

ISSUE_VERBS = {
    "non_finite": "had NaN/Inf metrics",
    "failed": "failed",
    "diverged": "diverged",
    "overfitting": "were overfitting suspects",
    "underfitting": "underfit (could not fit their training set)",
    "short_run": "were cut short",
    "unstable": "had unstable validation curves",
}
ISSUE_EXPLANATIONS = {
    "non_finite": "Losses or accuracies became NaN or infinite: the optimization blew up numerically.",
    "failed": "The trials crashed or were marked failed by the sweep runner.",
    "diverged": "The loss rose far above its starting value: the step size is too large for this model.",
    "overfitting": "Validation loss or accuracy lags far behind training: the model memorizes its training set.",
    "underfitting": "Training accuracy stays far below what the sweep's best trials reach: too little signal, capacity or training.",
    "short_run": "The trials stopped well before the others, by crash, pruning or budget.",
    "unstable": "Validation accuracy jumps from epoch to epoch late in training: noisy optimization.",
}

_LR_NAMES = ("lr", "learning_rate", "learning-rate", "eta", "step_size")


def _is(param: str, names) -> bool:
    p = param.lower()
    return any(p == n or p.endswith(n) or n in p for n in names)


def recommend(pattern: dict) -> str | None:
    """A concrete recommendation for one risk-raising pattern (dict row of
    :func:`issue_correlations`), or ``None`` if no rule applies."""
    p, b, i = pattern["hyperparameter"], pattern["bucket"], pattern["issue"]
    low_end = _bucket_edge(b, 0)
    high = pattern.get("is_high_bucket", False)
    if i in ("non_finite", "diverged", "unstable") and _is(p, _LR_NAMES) and high:
        return (f"Lower the upper bound of {p} below {_fmt(low_end)} (trials with {p} in {b} "
                f"{ISSUE_VERBS[i]}); add gradient clipping or a warm-up if high rates are needed.")
    if i == "overfitting":
        if _is(p, ("weight_decay", "wd", "l2")) and not high:
            return f"Add weight decay: trials with {p} in {b} overfit most; search {p} >= 1e-4."
        if _is(p, ("dropout",)) and not high:
            return f"Add dropout: trials with {p} in {b} overfit most."
        if _is(p, ("n_train", "train_size", "dataset_size", "num_samples", "subset")) and not high:
            return f"Grow the training set (or augment): trials with {p} in {b} overfit most."
        if _is(p, ("epoch", "steps", "iterations")) and high:
            return f"Use early stopping on validation loss: long trials ({p} in {b}) overfit most."
        if _is(p, ("label_noise", "noise")) and high:
            return f"Clean the labels or use a noise-robust loss: trials with {p} in {b} overfit most."
        if _is(p, ("width", "hidden", "units", "channels", "layers", "depth")) and high:
            return f"Reduce model size or regularize the wide models ({p} in {b})."
    if i == "underfitting":
        if _is(p, _LR_NAMES) and not high:
            return f"Raise the lower bound of {p} above {_fmt(_bucket_edge(b, 1))} or train longer: trials with {p} in {b} underfit."
        if _is(p, _LR_NAMES) and high:
            return (f"Lower the upper bound of {p} below {_fmt(low_end)}: trials with {p} in {b} "
                    "stop learning (units die or the loss plateaus at chance).")
        if _is(p, ("epoch", "steps", "iterations")) and not high:
            return f"Train longer: trials with {p} in {b} underfit."
        if _is(p, ("width", "hidden", "units", "channels", "layers", "depth")) and not high:
            return f"Use a larger model: trials with {p} in {b} underfit."
        if _is(p, ("weight_decay", "dropout")) and high:
            return f"Regularize less: trials with {p} in {b} underfit."
    if i in ("failed", "short_run"):
        return f"Check the logs of trials with {p} in {b}: they {ISSUE_VERBS[i]} more often than others."
    return None


def _bucket_edge(b: str, which: int) -> float:
    """Lower (``which=0``) or upper (1) edge of a bucket label like ``[0.01, 0.1)``; a
    single-value bucket is both; NaN for categories."""
    m = re.fullmatch(r"[\[(]\s*(-?[\d.e+-]+),\s*(-?[\d.e+-]+)[\])]", b.strip())
    try:
        return float(m.group(which + 1)) if m else float(b)
    except ValueError:
        return float("nan")


def pattern_sentence(row: dict) -> str:
    """E.g. "lr in [0.3, 2]: 9 of 10 trials diverged (3 % elsewhere, q = 0.001)"."""
    return (f"{row['hyperparameter']} in {row['bucket']}: {row['k']} of {row['n']} trials "
            f"{ISSUE_VERBS.get(row['issue'], row['issue'])} ({row['rate_else']:.0%} elsewhere, "
            f"q = {row['q_value']:.2g})")


def build_report(df: pd.DataFrame, flags: pd.DataFrame, patterns: pd.DataFrame,
                 th: DetectorThresholds = DetectorThresholds(), top: int = 10) -> dict:
    """The report's content as a JSON-ready dict: ``overview``, ``issues`` (breakdown),
    ``patterns`` (significant risk-raising ones, at most ``top``, each with title,
    explanation, evidence), ``recommendations``, ``flags`` (every trial-level flag) and
    ``thresholds``."""
    sev_counts = {s: int((flags["severity"] == s).sum()) for s in SEVERITIES}
    issues = []
    for issue, g in flags.groupby("issue", sort=False):
        issues.append({"issue": issue, "count": int(len(g)), "example_trial_ids": g["trial_id"].head(5).tolist()})
    issues.sort(key=lambda d: -d["count"])
    sig = patterns[patterns["significant"] & (patterns["risk_difference"] > 0)].copy()
    out_patterns, recs = [], []
    per_param_buckets = {p: _bucket_order(bucketize(df[p])) for p in sig["hyperparameter"].unique()}
    for row in sig.head(top).to_dict("records"):
        order = per_param_buckets[row["hyperparameter"]]
        row["is_high_bucket"] = order.index(row["bucket"]) >= len(order) / 2 if row["bucket"] in order else False
        out_patterns.append({
            "title": f"{row['hyperparameter']} in {row['bucket']} -> {row['issue']}",
            "explanation": ISSUE_EXPLANATIONS.get(row["issue"], ""),
            "evidence": pattern_sentence(row),
            "hyperparameter": row["hyperparameter"], "bucket": row["bucket"], "issue": row["issue"],
            "n": row["n"], "k": row["k"], "rate": row["rate"], "rate_else": row["rate_else"],
            "odds_ratio": row["odds_ratio"], "p_value": row["p_value"], "q_value": row["q_value"],
            "example_trial_ids": row["trial_ids"],
        })
        r = recommend(row)
        if r and r not in recs:
            recs.append(r)
    if not recs and len(flags):
        recs.append("No hyperparameter range stands out significantly; inspect the flagged trials one by one.")
    return {
        "overview": {
            "source": df.attrs.get("source", ""),
            "trials": int(len(df)),
            "hyperparameters": df.attrs.get("hyperparameters", []),
            "issues": int(len(flags)),
            "trials_affected": int(flags["trial_id"].nunique()) if len(flags) else 0,
            "severity_counts": sev_counts,
            "status_counts": {str(k): int(v) for k, v in df["status"].value_counts().items()},
        },
        "issues": issues,
        "patterns": out_patterns,
        "recommendations": recs,
        "flags": flags.to_dict("records"),
        "thresholds": dataclasses.asdict(th),
    }


def report_markdown(report: dict) -> str:
    """``hparam_report.md``: Overview, Issue breakdown, Hyperparameter pathologies,
    Recommendations (the seed's sections), deterministic."""
    o = report["overview"]
    lines = ["# Hyperparameter Sweep Pathology Report", "", "## Overview", ""]
    lines.append(f"- Source: `{o['source']}`")
    lines.append(f"- {o['trials']} trials over {len(o['hyperparameters'])} hyperparameters "
                 f"({', '.join(o['hyperparameters']) or 'none'}).")
    lines.append(f"- This sweep had a total of {o['issues']} issues, with {o['trials_affected']} trials "
                 f"experiencing at least one issue.")
    lines.append("- Severity: " + ", ".join(f"{k} {v}" for k, v in o["severity_counts"].items()) + ".")
    lines.append("- Status: " + ", ".join(f"{k} {v}" for k, v in o["status_counts"].items()) + ".")
    lines += ["", "## Issue breakdown", ""]
    if report["issues"]:
        lines += ["| issue | count | example trial ids |", "|---|---|---|"]
        for d in report["issues"]:
            lines.append(f"| {d['issue']} | {d['count']} | {', '.join(map(str, d['example_trial_ids']))} |")
    else:
        lines.append("No issues detected.")
    lines += ["", "## Hyperparameter pathologies", ""]
    if report["patterns"]:
        for p in report["patterns"]:
            lines += [f"### {p['title']}", "", p["explanation"], "",
                      f"Evidence: {p['evidence']}; odds ratio {p['odds_ratio']:.3g}, Fisher p = "
                      f"{p['p_value']:.2g}. Examples: {', '.join(map(str, p['example_trial_ids']))}.", ""]
    else:
        lines += ["No hyperparameter bucket has a significantly higher issue rate than the rest "
                  "(Fisher's exact test, Benjamini-Hochberg q < 0.05).", ""]
    lines += ["## Recommendations", ""]
    lines += [f"- {r}" for r in report["recommendations"]] or ["- None."]
    return "\n".join(lines) + "\n"


def llm_rewrite(markdown: str, model: str | None = None) -> str:
    """Optionally rewrite the report's prose with an LLM through litellm.

    Off unless ``model`` (or the ``OVERFIT_FORECAST_LLM_MODEL`` environment variable) is set
    and litellm is installed; the provider's token comes from the environment as litellm
    expects. Any failure returns ``markdown`` unchanged (with a warning): the deterministic
    report is always complete on its own.
    """
    model = model or os.environ.get("OVERFIT_FORECAST_LLM_MODEL")
    if not model:
        return markdown
    try:
        import litellm

        resp = litellm.completion(model=model, timeout=60, messages=[
            {"role": "system", "content": "Rewrite this hyperparameter sweep report to read well. Keep "
             "every number, trial id, heading and recommendation; add nothing that is not in it."},
            {"role": "user", "content": markdown}])
        text = resp.choices[0].message.content
        return text if text and text.strip() else markdown
    except Exception as exc:  # network, auth, missing package: fall back
        warnings.warn(f"LLM rewrite failed ({type(exc).__name__}: {exc}); using the deterministic report")
        return markdown


def plot_issue_heatmap(patterns: pd.DataFrame, ax=None, max_rows: int = 40):
    """Heatmap of issue rate per (hyperparameter, bucket) row and issue column; significant
    risk-raising cells are marked with '*'."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if patterns.empty:
        raise ValueError("no hyperparameter buckets to plot")
    pv = patterns.pivot_table(index=["hyperparameter", "bucket"], columns="issue", values="rate", sort=False)
    sig = patterns.assign(mark=np.where(patterns.significant & (patterns.risk_difference > 0), "*", "")) \
        .pivot_table(index=["hyperparameter", "bucket"], columns="issue", values="mark", aggfunc="first", sort=False)
    order = patterns.drop_duplicates(["hyperparameter", "bucket"])[["hyperparameter", "bucket"]]
    order = order.sort_values("hyperparameter", kind="stable")
    idx = pd.MultiIndex.from_frame(order).intersection(pv.index, sort=False)[:max_rows]
    pv, sig = pv.loc[idx], sig.reindex(index=idx, columns=pv.columns)
    annot = pv.map(lambda v: f"{v:.0%}") + sig.fillna("")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * pv.shape[1] + 3, 0.32 * len(pv) + 1.5))
    sns.heatmap(pv, annot=annot, fmt="", cmap="Reds", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "issue rate"},
                annot_kws={"size": 7})
    ax.set_yticklabels([f"{h} {b}" for h, b in pv.index], fontsize=7)
    ax.set_ylabel("")
    ax.set_title("issue rate per hyperparameter bucket (* = significant, BH q < 0.05)", fontsize=9)
    return ax


def inspect_sweep(path: str | os.PathLike, format: str = "auto", column_map: dict | None = None,
                  th: DetectorThresholds = DetectorThresholds(), n_buckets: int = 4,
                  alpha: float = 0.05) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read, detect, correlate, report. Returns ``(report, table, flags, patterns)``."""
    df = read_sweep(path, format, column_map)
    flags = run_detectors(df, th)
    patterns = issue_correlations(df, flags, n_buckets, alpha)
    return build_report(df, flags, patterns, th), df, flags, patterns


def write_report_files(report: dict, md_path=None, json_path=None, llm_model: str | None = None) -> None:
    """Write the markdown and/or JSON report atomically."""
    from .runlog import write_json
    from .runlog import atomic_write_text

    if md_path:
        atomic_write_text(md_path, llm_rewrite(report_markdown(report), llm_model))
    if json_path:
        write_json(report, json_path)
