"""Meta-models, baselines and their leave-one-group-out evaluation.

Every model and baseline is a scikit-learn classifier taking the feature table of
:func:`overfit_forecast.features.build_feature_table` (a DataFrame) as ``X``, so all are
evaluated by the same code: :class:`sklearn.model_selection.LeaveOneGroupOut` with runs
that share a configuration (``group_id``: same hyperparameters, other seed) held out
together, predictions pooled over folds (``cross_val_predict``), then metrics.

Metrics (scikit-learn): ROC-AUC (``roc_auc_score``), PR-AUC (``average_precision_score``),
balanced accuracy, precision and recall of the overfit class, confusion matrix
``[[TN, FP], [FN, TP]]``, and Brier score for models that output probabilities.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .features import FEATURES
from .runlog import atomic_write_text, write_json  # noqa: F401 (write_json re-exported)
from .runlog import load_model as load_meta_model  # noqa: F401
from .runlog import save_model as save_meta_model  # noqa: F401


class ThresholdRule(ClassifierMixin, BaseEstimator):
    """A fixed rule "overfit if ``X[column] > threshold``" as a scikit-learn classifier.

    Nothing is learnt (``fit`` only records the classes), so leave-one-out and in-sample
    results coincide. ``decision_function`` returns ``X[column] - threshold`` so ranking
    metrics (ROC-AUC, PR-AUC) use the continuous value.

    Parameters
    ----------
    column : str
        Column of the feature table, e.g. ``"gl_at_k"`` (Prechelt's GL_alpha at epoch k)
        or ``"rules_any_at_k"`` (the labelling rules on the first k epochs).
    threshold : float
    """

    def __init__(self, column: str = "gl_at_k", threshold: float = 5.0):
        self.column = column
        self.threshold = threshold

    def fit(self, X, y):
        """Record the classes (0, 1); nothing is learnt."""
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X) -> np.ndarray:
        """``X[column] - threshold``, shape (n,). Raises KeyError naming a missing column."""
        if self.column not in X:
            raise KeyError(f"ThresholdRule: column {self.column!r} not in X ({list(X.columns)})")
        return X[self.column].to_numpy(float) - self.threshold

    def predict(self, X) -> np.ndarray:
        """1 where ``X[column] > threshold``, else 0; shape (n,)."""
        return (self.decision_function(X) > 0).astype(int)


def _select(transformer) -> ColumnTransformer:
    return ColumnTransformer([("features", transformer, FEATURES)])


def make_meta_models(random_state: int = 0) -> dict[str, Pipeline]:
    """The meta-models, as unfitted Pipelines over the :data:`FEATURES` columns.

    - ``logistic_regression``: standardize, then L2 logistic regression
      (``class_weight="balanced"``: the weights come from each training fold's labels).
    - ``random_forest``: 300 trees, ``min_samples_leaf=2``, balanced class weights.
    """
    return {
        "logistic_regression": Pipeline([
            ("select", _select(StandardScaler())),
            ("clf", LogisticRegression(max_iter=5000, class_weight="balanced")),
        ]),
        "random_forest": Pipeline([
            ("select", _select("passthrough")),
            ("clf", RandomForestClassifier(n_estimators=300, min_samples_leaf=2,
                                           class_weight="balanced", random_state=random_state,
                                           n_jobs=-1)),
        ]),
    }


def make_baselines(gl_alpha: float = 5.0) -> dict[str, BaseEstimator]:
    """Baselines at the same k, evaluated like the models.

    - ``majority_class``: always the training folds' most frequent class. Its score is
      constant (``strategy="most_frequent"``): with ``"prior"`` the left-out run's own label
      would shift the training folds' rate and leak into leave-one-out scores (ROC-AUC 0).
    - ``rules_at_k``: the labelling rules applied to epochs 0..k.
    - ``prechelt_gl``: Prechelt's GL_alpha at epoch k (``gl_alpha`` percent, default 5).
    """
    return {
        "majority_class": DummyClassifier(strategy="most_frequent"),
        "rules_at_k": ThresholdRule("rules_any_at_k", 0.5),
        f"prechelt_gl{gl_alpha:g}": ThresholdRule("gl_at_k", gl_alpha),
    }


def labelled_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Runs usable by the meta-models: labelled (not diverged/failed), with >= k epochs
    and finite features."""
    ok = table["overfit"].notna() & table.get("has_k_epochs", True)
    ok &= np.isfinite(table[FEATURES].to_numpy(float)).all(axis=1)
    return table[ok].reset_index(drop=True)


def _nan_to_none(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


def classification_metrics(y_true, y_pred, score=None, proba=None) -> dict:
    """ROC-AUC, PR-AUC, balanced accuracy, precision, recall, confusion matrix (+ Brier).

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1, shape (n,)
    score : array-like, shape (n,), optional
        Continuous score ranking runs by risk (for ROC-AUC / PR-AUC).
    proba : array-like, shape (n,), optional
        Predicted probability of class 1 (for the Brier score).

    AUCs are ``None`` when ``y_true`` holds one class only.
    """
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    two = len(np.unique(y_true)) == 2
    out = {
        "roc_auc": float(roc_auc_score(y_true, score)) if two and score is not None else None,
        "pr_auc": float(average_precision_score(y_true, score)) if two and score is not None else None,
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if two else None,
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist(),
    }
    if proba is not None:
        out["brier"] = float(brier_score_loss(y_true, proba))
    return out


def _score_method(est) -> str:
    return "predict_proba" if hasattr(est, "predict_proba") else "decision_function"


def loo_predictions(est, X: pd.DataFrame, y, groups) -> dict:
    """Leave-one-group-out predictions: each run predicted by a model fit without its group.

    Returns ``{"pred": (n,), "score": (n,), "proba": (n,) or None}``.
    """
    cv = LeaveOneGroupOut()
    method = _score_method(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # single-class training folds in tiny sweeps
        raw = cross_val_predict(clone(est), X, y, groups=groups, cv=cv, method=method)
    if method == "predict_proba":
        proba = raw[:, 1] if raw.ndim == 2 and raw.shape[1] == 2 else np.zeros(len(y))
        # class 1 when its probability is at least 0.5: what predict() returns for these models
        return {"pred": (proba >= 0.5).astype(int), "score": proba, "proba": proba}
    return {"pred": (raw > 0).astype(int), "score": raw, "proba": None}


def in_sample_predictions(est, X: pd.DataFrame, y) -> dict:
    """Fit on all runs, predict the same runs (optimistic; shown next to LOO as the seed did)."""
    fitted = clone(est).fit(X, y)
    method = _score_method(fitted)
    if method == "predict_proba":
        proba = fitted.predict_proba(X)
        proba = proba[:, 1] if proba.shape[1] == 2 else np.zeros(len(y))
        return {"pred": fitted.predict(X), "score": proba, "proba": proba, "model": fitted}
    score = fitted.decision_function(X)
    return {"pred": (score > 0).astype(int), "score": score, "proba": None, "model": fitted}


def evaluate_meta_models(table: pd.DataFrame, k: int, gl_alpha: float = 5.0,
                         random_state: int = 0) -> tuple[dict, dict, pd.DataFrame]:
    """Evaluate every meta-model and baseline by leave-one-group-out and in-sample.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`overfit_forecast.features.build_feature_table` (all runs; the
        labelled ones are selected by :func:`labelled_rows`).
    k : int
        The observed window (recorded in the result).

    Returns
    -------
    results : dict
        JSON-ready: ``k``, counts, ``positive_rate``, and per model / baseline
        ``{"loo": metrics, "in_sample": metrics}`` (see :func:`classification_metrics`).
    fitted : dict
        ``{name: estimator fit on all labelled runs}``.
    predictions : DataFrame
        One row per labelled run: run_id, group_id, overfit, and ``<name>_loo_score``,
        ``<name>_loo_pred`` per model / baseline.
    """
    data = labelled_rows(table)
    y = data["overfit"].astype(int).to_numpy()
    groups = data["group_id"].to_numpy()
    results = {
        "k": k,
        "n_runs": int(len(table)),
        "n_labelled": int(len(data)),
        "n_groups": int(len(np.unique(groups))),
        "n_positive": int(y.sum()),
        "positive_rate": float(y.mean()) if len(y) else None,
        "cv": "LeaveOneGroupOut (runs differing only by seed held out together)",
        "models": {},
        "baselines": {},
    }
    preds = data[["run_id", "group_id", "overfit"]].copy()
    fitted = {}
    estimators = [("models", n, e) for n, e in make_meta_models(random_state).items()]
    estimators += [("baselines", n, e) for n, e in make_baselines(gl_alpha).items()]
    if len(np.unique(groups)) < 2 or len(np.unique(y)) < 2:
        results["note"] = "fewer than two groups or classes among labelled runs: nothing evaluated"
        return results, fitted, preds
    for kind, name, est in estimators:
        try:
            loo = loo_predictions(est, data, y, groups)
        except ValueError as exc:  # e.g. a training fold with one class (tiny sweeps only)
            results[kind][name] = {"error": str(exc)}
            continue
        ins = in_sample_predictions(est, data, y)
        fitted[name] = ins["model"]
        results[kind][name] = {
            "loo": classification_metrics(y, loo["pred"], loo["score"], loo["proba"]),
            "in_sample": classification_metrics(y, ins["pred"], ins["score"], ins["proba"]),
        }
        preds[f"{name}_loo_score"] = loo["score"]
        preds[f"{name}_loo_pred"] = loo["pred"]
    return results, fitted, preds


def coefficients(fitted_lr: Pipeline) -> pd.Series:
    """Standardized logistic-regression coefficients (log-odds per 1 SD of each feature),
    sorted by magnitude."""
    coef = pd.Series(fitted_lr.named_steps["clf"].coef_[0], index=FEATURES)
    return coef.reindex(coef.abs().sort_values(ascending=False).index)


def importances(fitted_rf: Pipeline, X: pd.DataFrame, y, n_repeats: int = 20,
                random_state: int = 0) -> pd.DataFrame:
    """Random-forest impurity importances and permutation importances (drop in ROC-AUC when
    a feature is shuffled, :func:`sklearn.inspection.permutation_importance`, on the
    labelled runs the forest was fit on), sorted by permutation importance."""
    imp = pd.DataFrame({"impurity": fitted_rf.named_steps["clf"].feature_importances_}, index=FEATURES)
    perm = permutation_importance(fitted_rf, X[FEATURES], y, scoring="roc_auc",
                                  n_repeats=n_repeats, random_state=random_state)
    imp["permutation_mean"] = perm.importances_mean
    imp["permutation_std"] = perm.importances_std
    return imp.sort_values("permutation_mean", ascending=False)


def results_table(results: dict, split: str = "loo") -> pd.DataFrame:
    """Models and baselines of an ``evaluation.json`` as one table (rows = estimators)."""
    rows = []
    for kind in ("models", "baselines"):
        for name, r in results.get(kind, {}).items():
            if split not in r:
                continue
            m = {k: v for k, v in r[split].items() if k != "confusion_matrix"}
            rows.append({"kind": kind[:-1], "name": name, **m})
    return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()
