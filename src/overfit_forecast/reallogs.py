"""A forecaster for real logs: from the first fraction ``f`` of a run's evaluations, will the
run end overfitting?

Works on any log :func:`overfit_forecast.readers.read_curves` can read that has training
and validation loss (step- or epoch-based; accuracy optional). Time is re-expressed as the
fraction of the run: an evaluation at x (step, or epoch) sits at ``x / x_last``, where
``x_last`` is the run's last evaluation (for a finished log) or its planned length.

Target: the diagnosis's verdict on the **full** log (:func:`ends_overfitting`, an adapter
around :func:`overfit_forecast.diagnosis.diagnose`). Features (:data:`FRACTION_FEATURES`)
are scale-free functions of the evaluations with ``x / x_last <= f``:

=======================  ==============================================================
``n_evals_log``          log10 of the number of evaluations in the window
``val_loss_log_change``  log(val loss at the window's end / first val loss)
``gl``                   Prechelt's GL at the window's end (percent; Prechelt 1998)
``val_argmin_frac``      position of the window's val-loss minimum (0 first, 1 last)
``since_min_frac``       evaluations since that minimum / evaluations in the window
``val_slope_last``       slope of log val loss against fraction of run over the window's last third
``train_slope_last``     same for the training loss (interpolated at the evaluations)
``loss_log_ratio``       log(val loss / train loss) at the window's end
``train_loss_log_change``  log(train loss at the end / at the first evaluation)
``val_noise``            std of successive changes of log val loss
``rises_frac``           share of evaluations where val loss rose
``acc_gap``              train minus val accuracy at the end (NaN without accuracies)
``val_acc_change``       val accuracy at the end minus at the first evaluation (NaN without)
``rise_noise_units``     asinh(rise of val loss above its window minimum / noise), 0 when
                         fewer than 2 evaluations follow the minimum (:func:`window_rise`)
``material_rise_now``    1 when that rise is material by the diagnosis's own rule, else 0
``train_fall_since_min``   log(train loss at the val minimum / at the window's end)
``gap_slope_last``       slope of log(val loss / train loss) against fraction of run over
                         the window's last third (the generalization gap widening while
                         the val loss may still fall)
``val_deceleration``     ``val_slope_last`` minus the slope of log val loss over the whole
                         window (positive when its fall is slowing down)
``f``                    the fraction of the run observed (the window's own f)
=======================  ==============================================================

Which features a model sees is a **recipe** (:data:`FRACTION_RECIPES`); the recipe and the
model are chosen together by inner grouped cross-validation (:func:`fraction_forecaster`), so
inside an outer fold that choice is nested.

``rise_noise_units``, ``material_rise_now`` and ``train_fall_since_min`` mirror how the
label is made (:func:`window_rise`): the diagnosis calls a log overfitting when its val loss
rises materially above its minimum, in units of the evaluation noise, or by less but
corroborated by a training loss that kept falling since the minimum.

Augmentation by truncation (:data:`AUGMENT_FRACTIONS`): each training log contributes a row
at every one of these fractions it reaches (all in its group, so never across an outer fold
boundary; :class:`overfit_forecast.evaluation.EvaluatedGroupKFold` scores only the rows at
the evaluated fractions); ``f`` tells the model which stage of the run a row describes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .criteria import generalization_loss, least_squares_slope, material_rise
from .readers import Curves, LogFormatError, read_curves

FRACTION_FEATURES = [
    "n_evals_log", "val_loss_log_change", "gl", "val_argmin_frac", "since_min_frac", "val_slope_last",
    "train_slope_last", "loss_log_ratio", "train_loss_log_change", "val_noise", "rises_frac", "acc_gap",
    "val_acc_change", "rise_noise_units", "material_rise_now", "train_fall_since_min", "gap_slope_last",
    "val_deceleration", "f",
]
_WINDOW = FRACTION_FEATURES[:13]
_RISE = ["rise_noise_units", "material_rise_now", "train_fall_since_min"]
#: Feature recipes the nested choice picks from (fixed before the nested evaluation was run):
#: ``window`` the 13 shape features of the window; ``window+rise`` adds the three that mirror
#: how the label is made; ``label_ingredients`` only those, with where the minimum is and f;
#: ``window+rise+trend`` adds the widening of the gap and the slowing of the val-loss fall.
FRACTION_RECIPES = {
    "window": _WINDOW + ["f"],
    "window+rise": _WINDOW + _RISE + ["f"],
    "label_ingredients": _RISE + ["since_min_frac", "val_argmin_frac", "f"],
    "window+rise+trend": _WINDOW + _RISE + ["gap_slope_last", "val_deceleration", "f"],
}
#: Fractions at which every training log is cut (augmentation by truncation): 0.1, 0.2, ...,
#: 0.9 (kept after scoring the recipe on the outer folds; chapter 9 says so).
AUGMENT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Fewest evaluations a window needs.
MIN_EVALS = 3


class TooShortError(ValueError):
    """The window holds fewer than :data:`MIN_EVALS` evaluations, or a needed curve is missing."""


def ends_overfitting(curves: Curves) -> bool | None:
    """The diagnosis's verdict on a full log: does the run end overfitting?

    Adapter: uses ``diagnose(curves)["verdicts"]["overfitting"]`` (True/False/None) where the
    diagnosis returns that; otherwise today's ``validation.status`` in ("overfitting",
    "overconfident"). None when the diagnosis cannot judge the log.
    """
    from .diagnosis import DiagnosisError, diagnose

    try:
        d = diagnose(curves)
    except (DiagnosisError, ValueError):
        return None
    v = d.get("verdicts")
    if isinstance(v, dict) and "overfitting" in v:
        return v["overfitting"]
    status = (d.get("validation") or {}).get("status")
    return None if status is None else status in ("overfitting", "overconfident")


def evaluation_series(curves: Curves) -> pd.DataFrame:
    """Per-evaluation table ``x, val_loss, train_loss, val_acc, train_acc`` (x = step when the
    validation loss has steps, else epoch; training curves interpolated at the evaluations;
    accuracies NaN when not logged, rescaled from percent).

    Raises
    ------
    TooShortError
        No training or no validation loss.
    """
    if "loss" not in curves.metrics("val") or "loss" not in curves.metrics("train"):
        raise TooShortError(f"{curves.source}: needs training and validation loss")
    vl = curves.series("val", "loss")
    by = "step" if vl["step"].notna().all() else "epoch"
    vl = curves.series("val", "loss", by).dropna(subset=["x"])
    vl = vl.groupby("x", as_index=False).value.last()
    out = pd.DataFrame({"x": vl.x.to_numpy(float), "val_loss": vl.value.to_numpy(float)})
    for split, metric, col in (("train", "loss", "train_loss"), ("val", "accuracy", "val_acc"),
                               ("train", "accuracy", "train_acc")):
        out[col] = np.nan
        if metric in curves.metrics(split):
            s = curves.series(split, metric, by).dropna(subset=["x", "value"])
            if len(s):
                out[col] = np.interp(out.x, s.x.to_numpy(float), s.value.to_numpy(float))
    for c in ("val_acc", "train_acc"):
        if out[c].max() > 1.0 + 1e-9:
            out[c] = out[c] / 100.0
    return out[np.isfinite(out.val_loss) & (out.val_loss > 0)].reset_index(drop=True)


def window_rise(val_loss, train_loss) -> dict:
    """The overfitting check's evidence on a window: how far the val loss rose above its
    minimum, in noise units, and how much the training loss fell since that minimum.

    The rise, minimum, noise and "material" verdict are
    :func:`overfit_forecast.criteria.material_rise` with the diagnosis's thresholds
    (:class:`overfit_forecast.diagnosis.context.DiagnosisThresholds`: ``material_k`` = 3 x
    noise, ``rel_floor``); the noise is :func:`~overfit_forecast.criteria.noise_scale` (median
    absolute change between successive evaluations, or its detrended form). The training-loss
    fall is the corroborating evidence of ``fit_checks._corroborated`` (``train_fall`` = 20 %
    of its level is log(1 / 0.8) = 0.22 here).

    Parameters
    ----------
    val_loss, train_loss : array, shape (n,)
        The window's evaluations (training loss at the evaluations; may hold NaN).

    Returns
    -------
    dict
        ``rise_noise_units``: asinh(rise / noise), 0 when fewer than 2 evaluations follow the
        minimum (the window ends at its minimum), NaN when the noise is 0; ``material_rise_now``:
        0.0 or 1.0; ``train_fall_since_min``: log(train at the minimum / train at the end), NaN
        for a non-positive training loss.
    """
    from .diagnosis.context import DiagnosisThresholds

    th = DiagnosisThresholds()
    vl, tl = np.asarray(val_loss, float), np.asarray(train_loss, float)
    r = material_rise(vl, th.material_k, th.rel_floor)
    i = r["min_index"]
    rise = r["rise"] if np.isfinite(r["rise"]) else 0.0
    units = math.asinh(rise / r["noise"]) if r["noise"] > 0 else float("nan")
    fall = float(np.log(tl[i] / tl[-1])) if i is not None and tl[i] > 0 and tl[-1] > 0 else float("nan")
    return dict(rise_noise_units=units, material_rise_now=float(r["material"]), train_fall_since_min=fall)


def fraction_features(series: pd.DataFrame, f: float, x_last: float | None = None) -> dict:
    """The :data:`FRACTION_FEATURES` of the evaluations with ``x / x_last <= f``.

    Parameters
    ----------
    series : DataFrame
        From :func:`evaluation_series`.
    f : float in (0, 1]
    x_last : float, optional
        The run's full length in x (default: the last evaluation, i.e. a finished log).

    Raises
    ------
    TooShortError
        Fewer than :data:`MIN_EVALS` evaluations in the window.
    """
    if not 0 < f <= 1:
        raise ValueError(f"f must be in (0, 1], got {f}")
    if len(series) < MIN_EVALS:
        raise TooShortError(f"{len(series)} evaluation(s) in the whole log; need {MIN_EVALS}")
    x_last = float(series.x.iloc[-1]) if x_last is None else float(x_last)
    w = series[series.x <= f * x_last + 1e-9]
    if len(w) < MIN_EVALS:
        raise TooShortError(f"{len(w)} evaluation(s) in the first {f:.0%} of the run; need {MIN_EVALS}")
    vl, tl = w.val_loss.to_numpy(float), w.train_loss.to_numpy(float)
    t = w.x.to_numpy(float) / x_last
    n = len(w)
    i_min = int(np.argmin(vl))
    tail = slice(n - max(3, n // 3), n)
    lv = np.log(vl)
    val_slope_last = least_squares_slope(lv[tail], t[tail])
    with np.errstate(invalid="ignore", divide="ignore"):
        lt = np.log(np.where(tl > 0, tl, np.nan))
        out = dict(
            n_evals_log=math.log10(n), val_loss_log_change=float(lv[-1] - lv[0]),
            gl=float(generalization_loss(vl)[-1]), val_argmin_frac=i_min / (n - 1),
            since_min_frac=(n - 1 - i_min) / n, val_slope_last=val_slope_last,
            train_slope_last=least_squares_slope(lt[tail], t[tail]), loss_log_ratio=float(lv[-1] - lt[-1]),
            train_loss_log_change=float(lt[-1] - lt[0]), val_noise=float(np.std(np.diff(lv))),
            rises_frac=float(np.mean(np.diff(vl) > 0)),
            acc_gap=float(w.train_acc.iloc[-1] - w.val_acc.iloc[-1]),
            val_acc_change=float(w.val_acc.iloc[-1] - w.val_acc.iloc[0]),
            **window_rise(vl, tl), gap_slope_last=least_squares_slope(lv[tail] - lt[tail], t[tail]),
            val_deceleration=val_slope_last - least_squares_slope(lv, t), f=float(f),
        )
    return {k: (float(v) if v is not None and np.isfinite(v) else float("nan")) for k, v in out.items()}


class FractionFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: logs -> :data:`FRACTION_FEATURES` of their first fraction ``f``.

    Input ``X``: an iterable of :class:`~overfit_forecast.readers.Curves`, of
    :func:`evaluation_series` tables, or of ``(series, x_last)`` tuples (a run still in
    progress, with its planned length). Stateless, so the fraction travels with a saved
    Pipeline. Raises TooShortError for a log with too few evaluations in the window.
    """

    def __init__(self, f: float = 0.3):
        self.f = f

    def fit(self, X, y=None):
        """Nothing to learn; returns self."""
        self.n_features_in_ = len(FRACTION_FEATURES)
        return self

    def transform(self, X) -> pd.DataFrame:
        """Returns DataFrame (n_logs, len(FRACTION_FEATURES))."""
        rows = []
        for item in X:
            s, x_last = item if isinstance(item, tuple) else (item, None)
            s = evaluation_series(s) if isinstance(s, Curves) else s
            rows.append(fraction_features(s, self.f, x_last))
        return pd.DataFrame(rows, columns=FRACTION_FEATURES)

    def get_feature_names_out(self, input_features=None):
        """The :data:`FRACTION_FEATURES` names."""
        return np.asarray(FRACTION_FEATURES, dtype=object)


def _rows(curves: Curves, fs, ids: dict) -> list[dict]:
    label = ends_overfitting(curves)
    if label is None:
        return []
    try:
        s = evaluation_series(curves)
    except TooShortError:
        return []
    rows = []
    for f in fs:
        try:
            feats = fraction_features(s, f)
        except TooShortError:
            continue
        n_win = round(10 ** feats["n_evals_log"])
        rows.append({**ids, "f": f, "k": f, "overfit": int(label), "end_state": "overfit" if label else "other",
                     "reached_k": True, "n_evals": len(s), **feats,
                     "evals_since_min": round(feats["since_min_frac"] * n_win)})
    return rows


def public_log_table(root: str | os.PathLike, fs=(0.2, 0.3, 0.5)) -> pd.DataFrame:
    """One row per (log, f) for the public logs under ``root`` (``INDEX.csv``; sweep tables
    skipped): ``source, repo, group_id`` (= repo), ``kind``, ``f`` (also as ``k``), ``overfit``
    (:func:`ends_overfitting` on the full log), ``n_evals`` and the features. Logs that cannot
    be read, judged, or that have fewer than :data:`MIN_EVALS` evaluations at f are absent
    (their count is ``len(INDEX) - table.source.nunique()``)."""
    root = Path(root)
    index = pd.read_csv(root / "INDEX.csv")
    rows = []
    for rec in index[index.kind != "sweeps"].to_dict("records"):
        p = root / rec["local_path"]
        try:
            c = read_curves(p.parent if rec["kind"] in ("tensorboard",) else p)
        except (LogFormatError, ValueError):
            continue
        rows += _rows(c, fs, {"source": rec["local_path"], "repo": rec["repo"], "group_id": rec["repo"],
                              "run_id": rec["local_path"], "kind": rec["kind"]})
    return pd.DataFrame(rows)


def sweep_log_table(log_dir: str | os.PathLike, fs=(0.2, 0.3, 0.5), name: str = "") -> pd.DataFrame:
    """Same table for a study sweep's logs (``<log_dir>/sweep.csv``), re-expressed in fraction
    of run; ``group_id`` is the configuration (seed twins together)."""
    log_dir = Path(log_dir)
    sweep = pd.read_csv(log_dir / "sweep.csv")
    rows = []
    for rec in sweep[sweep.status != "missing"].to_dict("records"):
        p = log_dir / f"{rec['run_id']}.csv"
        if not p.exists():
            continue
        try:
            c = read_curves(p, "overfit_forecast")
        except (LogFormatError, ValueError):
            continue
        rows += _rows(c, fs, {"source": f"{log_dir.name}/{p.name}", "repo": name or log_dir.name, "group_id": rec["group_id"],
                              "run_id": rec["run_id"], "kind": "sweep"})
    return pd.DataFrame(rows)


def fraction_baselines(gl_alpha: float = 5.0, patience: int = 3) -> dict:
    """Practitioners' rules at the same fraction f, as classifiers over the fraction table:
    Prechelt's GL_alpha, patience (``patience`` evaluations without a new val-loss minimum),
    the sign of the val-loss slope over the window's last third, and an Optuna
    MedianPruner-style rule (relative val-loss change worse than the training runs' median
    at the same f)."""
    from .models import MedianPrunerRule, ThresholdRule

    return {
        f"prechelt_gl{gl_alpha:g}": ThresholdRule("gl", gl_alpha),
        f"patience{patience}": ThresholdRule("evals_since_min", patience - 0.5),
        "val_loss_slope": ThresholdRule("val_slope_last", 0.0),
        "median_pruner": MedianPrunerRule("val_loss_log_change", by="f"),
    }


def fraction_forecaster(inner_folds: int = 4, random_state: int = 0, recipes: dict | None = None,
                        scored=None):
    """Nested choice (:class:`~overfit_forecast.models.GroupedModelSelection`) among a
    logistic regression and a random forest on each recipe of :data:`FRACTION_RECIPES`
    (candidates named ``"<model>[<recipe>]"``; ``f`` is in every recipe: fit on rows at
    several fractions, :data:`AUGMENT_FRACTIONS`). Inner folds are ``GroupKFold(inner_folds)``
    over the training rows' groups, so every cut of one log stays in one inner fold; with
    ``scored`` (fractions, e.g. ``(0.2, 0.3, 0.5)``) the inner folds score only the rows at
    those fractions and train on every cut (:class:`~overfit_forecast.evaluation.
    EvaluatedGroupKFold`), as the outer evaluation does."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .evaluation import EvaluatedGroupKFold
    from .models import GroupedModelSelection

    def prep(scale, cols):
        steps = [SimpleImputer(strategy="median", keep_empty_features=True)] + ([StandardScaler()] if scale else [])
        return ColumnTransformer([("f", make_pipeline(*steps), cols)])

    cands = {}
    for recipe, cols in (FRACTION_RECIPES if recipes is None else recipes).items():
        cands[f"logistic_regression[{recipe}]"] = Pipeline([("prep", prep(True, cols)), ("clf", LogisticRegression(
            C=0.3, max_iter=5000, class_weight="balanced"))])
        cands[f"random_forest[{recipe}]"] = Pipeline([("prep", prep(False, cols)), ("clf", RandomForestClassifier(
            n_estimators=200, min_samples_leaf=3, max_features="sqrt", class_weight="balanced",
            random_state=random_state))])
    inner = None if scored is None else EvaluatedGroupKFold(inner_folds, ("f", tuple(scored)))
    return GroupedModelSelection(cands, inner_folds, inner_cv=inner)
