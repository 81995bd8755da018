"""Per-trial pathology detectors of a normalized sweep table (see
:func:`overfit_forecast.readers.read_sweep`): each returns one row per flagged trial with
``trial_id, issue, severity, evidence``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: At least one of these must be present for the metric detectors to mean anything.
ONE_OF = ["train_loss", "val_loss", "train_acc", "val_acc"]
FAILED_STATUSES = {"failed", "fail", "crashed", "error", "errored", "killed"}
#: Trials not finished yet: their missing metrics are not an issue.
UNFINISHED_STATUSES = {"running", "missing", "pending", "queued", "waiting", "scheduled"}


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
    chance_rel_margin: float = 0.10  # sweep at chance: every accuracy within this fraction of 1/k
    chance_max_classes: int = 1000  # ...for one k in 2..this
    chance_auc_margin: float = 0.03  # ...or every ROC-AUC within this of 0.5
    chance_min_trials: int = 3  # fewer completed trials than this are not judged


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


def detect_chance_level(df: pd.DataFrame, th: DetectorThresholds = DetectorThresholds()) -> pd.DataFrame:
    """A whole sweep at chance level: every completed trial's accuracy (``val_acc``, else
    ``train_acc``; percentages read as fractions) lies within ``chance_rel_margin`` of one
    chance level 1/k, k = 2..``chance_max_classes`` (the accuracy of guessing among k
    balanced classes), or every ROC-AUC (a metric named ``*auc*``) within
    ``chance_auc_margin`` of 0.5. Every such trial is flagged, severity high: no
    hyperparameter setting learned anything, so the cause is upstream (labels, inputs, loss)."""
    done = ~df["status"].isin(FAILED_STATUSES | UNFINISHED_STATUSES)
    for col in ("val_acc", "train_acc"):
        acc = df.loc[done, col]
        acc = acc[np.isfinite(acc)]
        if len(acc) < th.chance_min_trials:
            continue
        if acc.max() > 1.0 and acc.max() <= 100.0:
            acc = acc / 100.0
        lo, hi = float(acc.min()), float(acc.max())
        for k in range(2, th.chance_max_classes + 1):
            c = 1.0 / k
            if c * (1 + th.chance_rel_margin) < lo:
                break
            if c * (1 - th.chance_rel_margin) <= lo and hi <= c * (1 + th.chance_rel_margin):
                ev = (f"every completed trial's {col} lies in [{lo:.3g}, {hi:.3g}], within "
                      f"{th.chance_rel_margin:.0%} of the chance level 1/{k} = {c:.3g}")
                return _flags(df["trial_id"][acc.index], "chance_level", "high", [ev] * len(acc))
        break
    for col in df.attrs.get("other_metrics", []):
        if "auc" not in col.lower() or col.lower().startswith("std"):
            continue
        auc = df.loc[done, col]
        auc = auc[np.isfinite(auc)]
        if len(auc) >= th.chance_min_trials and (abs(auc - 0.5) <= th.chance_auc_margin).all():
            ev = (f"every completed trial's {col} lies in [{auc.min():.3g}, {auc.max():.3g}], within "
                  f"{th.chance_auc_margin:g} of the chance level 0.5")
            return _flags(df["trial_id"][auc.index], "chance_level", "high", [ev] * len(auc))
    return _flags(pd.Series([], dtype=str), "chance_level", "high", [])


DETECTORS = {
    "non_finite": detect_nonfinite,
    "failed": detect_failed,
    "diverged": detect_divergence,
    "overfitting": detect_overfitting,
    "underfitting": detect_underfitting,
    "short_run": detect_short_runs,
    "unstable": detect_unstable,
    "chance_level": detect_chance_level,
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


