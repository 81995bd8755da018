"""One evaluation stack for every forecaster and baseline (chapters 4, 7, 8, 9).

:func:`evaluate` takes a feature table (one row per run and window), a dict of
scikit-learn estimators and a grouped cross-validation splitter, and returns tidy metric
rows ``(estimator, k, metric, value)`` plus the out-of-fold predictions. Each fold's
estimator is fit on the training groups only (``cross_validate(..., return_estimator=True,
return_indices=True)`` with ``groups`` routed by scikit-learn metadata routing, so a nested
selector such as :class:`overfit_forecast.models.GroupedModelSelection` receives the
training fold's groups for its inner split). Labels come from the fold estimator's
``predict``; scores from its ``predict_proba`` (or ``decision_function``).

A table with several windows per run is *augmentation by truncation*: the rows of a run at
every window sit in the same group, so they are always on the same side of the outer fold
boundary; metrics are reported per window.

Metrics (scikit-learn): ROC-AUC, PR-AUC (average precision), balanced accuracy,
precision and recall of the positive class, Brier score; for a multi-class target also
one-vs-rest macro ROC-AUC and per-class precision and recall.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.model_selection import BaseCrossValidator, GroupKFold, LeaveOneGroupOut, PredefinedSplit, cross_validate

from .runlog import load_model as load_meta_model  # noqa: F401 (re-exported)
from .runlog import save_model as save_meta_model  # noqa: F401
from .runlog import write_json  # noqa: F401

POSITIVE = "overfit"


class HoldoutSplit(PredefinedSplit):
    """One split: train on every row where ``holdout`` is false, test on the others (new runs
    that no fold or selection ever saw). scikit-learn's ``PredefinedSplit`` with test fold 0
    for the holdout rows and -1 for the rest, declared a consumer of ``groups`` (as the group
    splitters are) so that metadata routing passes them on to a nested selector's inner
    ``GroupKFold``."""

    __metadata_request__split = {"groups": True}

    def __init__(self, holdout):
        self.holdout = np.asarray(holdout, bool)
        super().__init__(np.where(self.holdout, 0, -1))

    def split(self, X=None, y=None, groups=None):
        """The one (train, holdout) pair of index arrays; ``groups`` is accepted and ignored."""
        return super().split(X, y, groups)


def outer_cv(outer_folds: int, n_groups: int):
    """The outer grouped splitter: ``LeaveOneGroupOut()`` when ``outer_folds`` is 0 (each
    configuration, with its seed twins, predicted by a model fit on all the others), else
    ``GroupKFold(min(outer_folds, n_groups))``. Raises ValueError for a negative count."""
    if outer_folds < 0:
        raise ValueError(f"outer_folds must be 0 (leave-one-group-out) or a fold count, got {outer_folds}")
    return LeaveOneGroupOut() if outer_folds == 0 else GroupKFold(min(outer_folds, n_groups))


def cv_name(cv) -> str:
    """``"LeaveOneGroupOut"`` or ``"GroupKFold(10)"``: the splitter as the chapters report it."""
    n = getattr(cv, "n_splits", None)
    return type(cv).__name__ + (f"({n})" if isinstance(n, int) else "")


class EvaluatedGroupKFold(BaseCrossValidator):
    """``GroupKFold(n_splits)`` over the rows to score, with extra training rows: a table
    augmented by truncation (rows of each log at more windows than are scored) keeps exactly
    the folds that ``GroupKFold`` gives on the scored rows alone.

    Test fold: the ``evaluated`` rows of the fold's groups. Training fold: every row, scored
    or not, of every other group (a group of the test fold never trains, whatever its rows),
    so a log's rows never cross the fold boundary. Declared a consumer of ``groups`` so
    metadata routing passes them on to a nested selector's inner ``GroupKFold``.

    Parameters
    ----------
    n_splits : int
    evaluated : array of bool, shape (n,), or ``(column, values)``
        Rows that are scored (e.g. ``table.f.isin(fractions)``), aligned with the ``X`` of
        :meth:`split`; or a column of ``X`` and the values whose rows are scored, e.g.
        ``("f", (0.2, 0.3, 0.5))``, so the same splitter works on any subset of the table (the
        inner CV of a nested selector scores the rows the outer one scores).
    shuffle, random_state
        Passed to ``GroupKFold`` (scikit-learn >= 1.6): with ``shuffle=True`` the groups are
        dealt to folds at random, seeded by ``random_state`` (an int gives the same folds
        on every call), instead of by size; repeated with several seeds this is repeated
        grouped K-fold, which shows how much a score moves with the split alone.

    Raises
    ------
    ValueError
        From :meth:`split`: ``groups`` missing or not of length n.
    """

    __metadata_request__split = {"groups": True}

    def __init__(self, n_splits: int = 5, evaluated=None, shuffle: bool = False, random_state=None):
        self.n_splits = n_splits
        self.evaluated = evaluated
        self.shuffle, self.random_state = shuffle, random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """``n_splits``."""
        return self.n_splits

    def split(self, X=None, y=None, groups=None):
        """Yields (train, test) index arrays, ``n_splits`` times."""
        if isinstance(self.evaluated, tuple):
            column, values = self.evaluated
            ev = np.isin(np.asarray(X[column]), list(values))
        else:
            ev = np.asarray(self.evaluated, bool)
        if groups is None or len(groups) != len(ev):
            raise ValueError(f"EvaluatedGroupKFold needs groups of length {len(ev)}")
        g = np.asarray(groups)
        kfold = GroupKFold(self.n_splits, shuffle=self.shuffle, random_state=self.random_state)
        for _, test in kfold.split(np.zeros(ev.sum()), groups=g[ev]):
            in_test = np.isin(g, np.unique(g[ev][test]))
            yield np.flatnonzero(~in_test), np.flatnonzero(in_test & ev)


def forecastable(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of runs that reached their window (``reached_k``) and have a known end state.

    Every such run is forecast, whatever its end state (diverged runs included)."""
    ok = table["reached_k"].astype(bool) & table["end_state"].notna() & (table["end_state"] != "failed")
    return table[ok].reset_index(drop=True)


def _scores(est, X, classes) -> np.ndarray:
    """(n, n_classes) probabilities, or (n,) decision values for rules without probabilities."""
    if hasattr(est, "predict_proba"):
        return np.asarray(est.predict_proba(X), float)
    return np.asarray(est.decision_function(X), float)


def oof_predictions(est, X: pd.DataFrame, y, groups, cv, n_jobs: int = 1) -> dict:
    """Out-of-fold predictions of ``est`` under grouped cross-validation ``cv``.

    Returns
    -------
    dict
        ``pred`` (n,) labels from each fold estimator's ``predict``; ``score`` (n, n_classes)
        probabilities or (n,) decision values; ``classes`` of the fold estimators;
        ``fold`` (n,) fold index, -1 for rows in no test fold (a :class:`HoldoutSplit`
        predicts the holdout rows only);
        ``selected`` (list, one per fold) for nested selectors.

    Raises
    ------
    ValueError
        From scikit-learn, e.g. a training fold with one class only.
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cvres = cross_validate(clone(est), X, y, cv=cv, params={"groups": groups}, scoring=_dummy_score,
                               return_estimator=True, return_indices=True, n_jobs=n_jobs, error_score="raise")
    classes = np.unique(y)
    pred = np.empty(len(y), dtype=y.dtype)
    score, fold, selected = None, np.full(len(y), -1), []
    for i, (fitted, test) in enumerate(zip(cvres["estimator"], cvres["indices"]["test"])):
        Xt = X.iloc[test]
        pred[test] = fitted.predict(Xt)
        s = _scores(fitted, Xt, classes)
        if s.ndim == 2 and list(fitted.classes_) != list(classes):  # a class absent from a training fold
            full = np.zeros((len(test), len(classes)))
            full[:, np.searchsorted(classes, fitted.classes_)] = s
            s = full
        if score is None:
            score = np.zeros((len(y),) + s.shape[1:])
        score[test] = s
        fold[test] = i
        selected.append(getattr(fitted, "selected_", None))
    return {"pred": pred, "score": score, "classes": classes, "fold": fold, "selected": selected}


def _dummy_score(est, X, y) -> float:
    return 0.0  # cross_validate needs a scorer; the metrics are computed on pooled predictions


def binary_metrics(y_true, y_pred, score, proba=None) -> dict:
    """ROC-AUC, PR-AUC, balanced accuracy, precision, recall, confusion counts (+ Brier).

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1, shape (n,)
    score : array-like, shape (n,)
        Continuous risk score (for the AUCs).
    proba : array-like, shape (n,), optional
        Probability of class 1 (for the Brier score).

    AUCs and balanced accuracy are NaN when ``y_true`` holds one class only.
    """
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    two = len(np.unique(y_true)) == 2
    nan = float("nan")
    p, r, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=[1], zero_division=0)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1])
    out = {"roc_auc": float(roc_auc_score(y_true, score)) if two else nan,
           "pr_auc": float(average_precision_score(y_true, score)) if two else nan,
           "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if two else nan,
           "precision": float(p[0]), "recall": float(r[0]),
           "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp), "n": len(y_true)}
    if proba is not None:
        out["brier"] = float(brier_score_loss(y_true, proba))
    return out


def multiclass_metrics(y_true, y_pred, proba, classes) -> dict:
    """Balanced accuracy, one-vs-rest macro ROC-AUC, per-class precision and recall."""
    y_true = np.asarray(y_true)
    present = [c for c in classes if (y_true == c).any()]
    out = {"balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)), "n": len(y_true)}
    cols = [list(classes).index(c) for c in present]
    if len(present) > 2:
        pr = proba[:, cols] / np.clip(proba[:, cols].sum(axis=1, keepdims=True), 1e-12, None)
        out["roc_auc_ovr"] = float(roc_auc_score(y_true, pr, multi_class="ovr", labels=present))
    p, r, _, sup = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=0)
    for c, pc, rc, s in zip(classes, p, r, sup):
        out[f"precision_{c}"], out[f"recall_{c}"], out[f"support_{c}"] = float(pc), float(rc), int(s)
    return out


def _binary_view(y, oof, positive=POSITIVE):
    """(y01, pred01, score, proba) of the positive-vs-rest view of any estimator's output."""
    classes, s = list(oof["classes"]), oof["score"]
    pos = positive if positive in classes else 1
    y01 = (np.asarray(y) == pos).astype(int)
    pred01 = (oof["pred"] == pos).astype(int)
    if s.ndim == 2:
        p = s[:, classes.index(pos)] if pos in classes else np.zeros(len(y))
        return y01, pred01, p, p
    return y01, pred01, s, None


def evaluate(table: pd.DataFrame, estimators: dict, cv, target: str = "overfit", by: str = "k",
             n_jobs: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grouped cross-validation of every estimator on ``table``; metrics per value of ``by``.

    Parameters
    ----------
    table : DataFrame
        Rows to forecast, with ``group_id``, ``run_id``, the ``target`` column, ``by`` and the
        estimators' input columns (e.g. :func:`forecastable` of a feature table).
    estimators : dict
        ``{name: unfitted scikit-learn classifier}``.
    cv : splitter
        A grouped splitter (``LeaveOneGroupOut``, ``GroupKFold``; groups = ``group_id``), or
        a :class:`HoldoutSplit` that trains on one sweep and tests on new runs. Metrics and
        predictions cover the rows of the test folds only.
    target : str
        ``"overfit"`` (binary, 0/1) or ``"end_state"`` (multi-class; the binary overfit-vs-rest
        view is reported too, from ``P(overfit)`` and ``predict == "overfit"``).

    Returns
    -------
    rows : DataFrame
        Tidy: ``estimator, view, k, metric, value`` (view ``binary`` or ``multiclass``).
    predictions : DataFrame
        ``estimator, run_id, group_id, k, y, pred, score`` (score = P(positive) or the
        decision value), ``fold``, ``selected`` (nested selector's choice in that fold).
    """
    X = table.reset_index(drop=True)
    y = X[target].to_numpy()
    if target == "overfit":
        y = y.astype(int)
    groups = X["group_id"].to_numpy()
    keys = X[by].to_numpy() if by in X else np.zeros(len(X), int)
    rows, preds = [], []
    for name, est in estimators.items():
        try:
            oof = oof_predictions(est, X, y, groups, cv, n_jobs)
        except ValueError as exc:  # e.g. a training fold with one class (tiny sweeps only)
            rows.append(dict(estimator=name, view="binary", k=np.nan, metric="error", value=str(exc)[:300]))
            continue
        y01, pred01, s01, p01 = _binary_view(y, oof)
        covered = oof["fold"] >= 0
        for key in np.unique(keys[covered]):
            m = (keys == key) & covered
            for metric, value in binary_metrics(y01[m], pred01[m], s01[m], None if p01 is None else p01[m]).items():
                rows.append(dict(estimator=name, view="binary", k=key, metric=metric, value=value))
            if target != "overfit":
                mc = multiclass_metrics(y[m], oof["pred"][m], oof["score"][m], oof["classes"])
                rows += [dict(estimator=name, view="multiclass", k=key, metric=a, value=b) for a, b in mc.items()]
        sel = [oof["selected"][f] if f >= 0 else None for f in oof["fold"]]
        preds.append(pd.DataFrame({"estimator": name, "run_id": X["run_id"], "group_id": groups, "k": keys,
                                   "y": y, "pred": oof["pred"], "score": s01, "fold": oof["fold"],
                                   "selected": sel})[covered])
    preds = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(
        columns=["estimator", "run_id", "group_id", "k", "y", "pred", "score", "fold", "selected"])
    return pd.DataFrame(rows), preds


def metric_table(rows: pd.DataFrame, metric: str = "roc_auc", view: str = "binary") -> pd.DataFrame:
    """Estimators x windows table of one metric from :func:`evaluate`'s rows."""
    r = rows[(rows.metric == metric) & (rows.view == view)].astype({"value": float})
    return r.pivot_table(index="estimator", columns="k", values="value", sort=False, dropna=False)


def summary_at(rows: pd.DataFrame, k, view: str = "binary",
               metrics=("roc_auc", "pr_auc", "balanced_accuracy", "precision", "recall", "brier")) -> pd.DataFrame:
    """Estimators x metrics table at window ``k`` from :func:`evaluate`'s rows."""
    r = rows[(rows.k == k) & (rows.view == view) & rows.metric.isin(metrics)].astype({"value": float})
    t = r.pivot_table(index="estimator", columns="metric", values="value", sort=False, dropna=False)
    return t[[m for m in metrics if m in t]]


def bootstrap_ci(pred: pd.DataFrame, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap CI of ROC-AUC and balanced accuracy, resampling *groups*.

    Parameters
    ----------
    pred : DataFrame
        One estimator's predictions at one window (``y`` 0/1 or classes, ``pred``, ``score``,
        ``group_id``); binary view (``y == "overfit"`` when the target is multi-class).

    Returns
    -------
    dict
        ``{metric: {"estimate", "low", "high"}}`` (Efron & Tibshirani 1993, percentile method).
    """
    rng = np.random.default_rng(seed)
    nan = {"estimate": float("nan"), "low": float("nan"), "high": float("nan")}
    if len(pred) == 0 or pred["y"].nunique() < 2:
        return {"roc_auc": dict(nan), "balanced_accuracy": dict(nan)}
    y = pred["y"].to_numpy()
    y = (y == POSITIVE).astype(int) if y.dtype == object else y.astype(int)
    yp = pred["pred"].to_numpy()
    yp = (yp == POSITIVE).astype(int) if yp.dtype == object else yp.astype(int)
    s = pred["score"].to_numpy(float)
    codes, uniques = pd.factorize(pred["group_id"].astype(str))
    idx_by_group = [np.flatnonzero(codes == j) for j in range(len(uniques))]
    fns = {"roc_auc": lambda i: roc_auc_score(y[i], s[i]),
           "balanced_accuracy": lambda i: balanced_accuracy_score(y[i], yp[i])}
    out = {}
    for name, fn in fns.items():
        vals = []
        for _ in range(n_boot):
            i = np.concatenate([idx_by_group[j] for j in rng.integers(0, len(idx_by_group), len(idx_by_group))])
            if len(np.unique(y[i])) == 2:
                vals.append(fn(i))
        a = (1 - level) / 2
        lo, hi = (float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))) if vals else (np.nan, np.nan)
        out[name] = {"estimate": float(fn(np.arange(len(y)))), "low": lo, "high": hi}
    return out


def oof_permutation_importance(est, X: pd.DataFrame, y, groups, cv, columns, n_repeats: int = 5,
                               seed: int = 0) -> pd.DataFrame:
    """Permutation importance measured on held-out folds only: for every outer fold the
    model is fit on the training groups and the drop in ROC-AUC on the *test* groups is
    measured when one column is shuffled (:func:`sklearn.inspection.permutation_importance`
    on the test fold); mean and std over folds. Binary targets only."""
    from sklearn.inspection import permutation_importance

    X = X[list(columns)]
    y = np.asarray(y).astype(int)
    drops = []
    for train, test in cv.split(X, y, groups):
        fitted = clone(est).fit(X.iloc[train], y[train])
        if len(np.unique(y[test])) < 2:
            continue
        r = permutation_importance(fitted, X.iloc[test], y[test], scoring="roc_auc", n_repeats=n_repeats,
                                   random_state=seed)
        drops.append(pd.Series(r.importances_mean, index=X.columns))
    d = pd.concat(drops, axis=1).loc[list(columns)]
    return pd.DataFrame({"mean": d.mean(axis=1), "std": d.std(axis=1)}).sort_values("mean", ascending=False)
