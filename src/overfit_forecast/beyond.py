"""The forecast pushed further: how early, how sure, stronger models, practitioners'
baselines, and what a risk-driven early stop saves (issue 5, within one sweep).

All evaluation goes through :func:`overfit_forecast.evaluation.loo_predictions` (grouped
leave-one-out) unless a function says otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from .criteria import early_stopping, generalization_loss
from .evaluation import ThresholdRule, classification_metrics, labelled_rows, loo_predictions
from .features import FEATURES, TooFewEpochsError, early_features, first_k_epochs, rules_at_k
from .runlog import read_log

#: Hyperparameters the config-only models see (log-scaled where they span decades).
HPARAMS = ["lr", "n_train", "epochs", "weight_decay", "dropout", "batch_size", "label_noise", "width"]
_LOG_HPARAMS = ["lr", "n_train", "batch_size", "width"]
CURVES = ["train_loss", "val_loss", "train_acc", "val_acc"]


def raw_curve_columns(k: int) -> list[str]:
    """Column names of the raw first-k curves: ``<curve>_e<epoch>`` for epochs 1..k."""
    return [f"{c}_e{e}" for c in CURVES for e in range(1, k + 1)]


def build_table(log_dir, meta: pd.DataFrame, k: int) -> pd.DataFrame:
    """Everything the models and baselines of this module need at window ``k``, one row per
    run: ids and label, hyperparameters, the :data:`FEATURES`, the rules at k, the raw
    first-k curves, and ``val_loss_at_k`` / ``epochs_since_best_val_loss_at_k`` for the
    practitioners' baselines. Runs with fewer than k epochs get ``has_k_epochs=False``."""
    rows = []
    for rec in meta.to_dict("records"):
        log = read_log(f"{log_dir}/{rec['run_id']}.csv")
        row = {c: rec[c] for c in ["run_id", "group_id", "overfit", "pathology", *HPARAMS]}
        try:
            early = first_k_epochs(log, k)
            row.update(**early_features(log, k), **rules_at_k(log, k), has_k_epochs=True)
            for c in CURVES:
                row.update({f"{c}_e{e}": v for e, v in zip(range(1, k + 1), early[c].to_numpy(float))})
            vl = log.loc[log.epoch <= k, "val_loss"].to_numpy(float)
            best = int(np.nanargmin(vl)) if np.isfinite(vl).any() else 0
            row.update(val_loss_at_k=float(vl[-1]), epochs_since_best_val_loss_at_k=len(vl) - 1 - best)
        except TooFewEpochsError:
            row.update(has_k_epochs=False)
        rows.append(row)
    return pd.DataFrame(rows)


class MedianPrunerRule(ClassifierMixin, BaseEstimator):
    """Optuna ``MedianPruner``-style cross-run rule as a classifier: a run is flagged when its
    validation loss at epoch k is worse than the median of the *training folds'* runs at k
    (the median is learnt in ``fit``, so leave-one-out never sees the evaluated run).
    ``decision_function`` = val_loss_at_k - median."""

    def __init__(self, column: str = "val_loss_at_k"):
        self.column = column

    def fit(self, X, y):
        """Learn the median of ``X[column]`` over the training runs."""
        self.median_ = float(np.nanmedian(X[self.column].to_numpy(float)))
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        """``X[column] - median``, shape (n,)."""
        return X[self.column].to_numpy(float) - self.median_

    def predict(self, X):
        """1 where the run is worse than the median at k."""
        return (self.decision_function(X) > 0).astype(int)


def _hparam_transformer() -> ColumnTransformer:
    log1p = FunctionTransformer(np.log10, feature_names_out="one-to-one")
    return ColumnTransformer([
        ("log", Pipeline([("log", log1p), ("scale", StandardScaler())]), _LOG_HPARAMS),
        ("lin", StandardScaler(), [h for h in HPARAMS if h not in _LOG_HPARAMS]),
    ])


def make_models(k: int, random_state: int = 0) -> dict[str, BaseEstimator]:
    """The stronger and fairer models, all scikit-learn estimators over the table of
    :func:`build_table`:

    - ``logistic_regression`` / ``random_forest``: the chapter-4 models (features);
    - ``gradient_boosting``: HistGradientBoostingClassifier on the features;
    - ``raw_curves``: logistic regression on the standardized raw first-k curves;
    - ``hyperparameters_only``: logistic regression on the run's config only;
    - ``hyperparameters_and_features``: gradient boosting on both;
    - ``random_forest_calibrated``: the forest with sigmoid (Platt) calibration
      (``CalibratedClassifierCV``, 3 inner folds);
    - ``random_forest_tuned_threshold``: the forest with its decision threshold chosen by
      inner 3-fold CV for balanced accuracy (``TunedThresholdClassifierCV``), i.e. inside
      each training fold, never on the evaluated run.

    The forests here have 100 trees (chapter 4: 300) to keep the many refits affordable.
    """
    feats = ColumnTransformer([("f", StandardScaler(), FEATURES)])
    rf = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, class_weight="balanced",
                                random_state=random_state, n_jobs=-1)
    rf_pipe = Pipeline([("select", ColumnTransformer([("f", "passthrough", FEATURES)])), ("clf", rf)])
    hgb = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_depth=3,
                                         class_weight="balanced", random_state=random_state)
    both = ColumnTransformer([("h", _hparam_transformer(), HPARAMS), ("f", StandardScaler(), FEATURES)])
    return {
        "logistic_regression": Pipeline([("select", feats), ("clf", LogisticRegression(max_iter=5000, class_weight="balanced"))]),
        "random_forest": rf_pipe,
        "gradient_boosting": Pipeline([("select", ColumnTransformer([("f", "passthrough", FEATURES)])), ("clf", clone(hgb))]),
        "raw_curves": Pipeline([("select", ColumnTransformer([("c", StandardScaler(), raw_curve_columns(k))])),
                                ("clf", LogisticRegression(max_iter=5000, C=0.1, class_weight="balanced"))]),
        "hyperparameters_only": Pipeline([("select", _hparam_transformer()),
                                          ("clf", LogisticRegression(max_iter=5000, class_weight="balanced"))]),
        "hyperparameters_and_features": Pipeline([("select", both), ("clf", clone(hgb))]),
        "random_forest_calibrated": CalibratedClassifierCV(clone(rf_pipe), method="sigmoid", cv=3),
        "random_forest_tuned_threshold": TunedThresholdClassifierCV(clone(rf_pipe), scoring="balanced_accuracy",
                                                                    cv=3, random_state=random_state),
    }


def make_baselines(gl_alpha: float = 5.0, patience: int = 3) -> dict[str, BaseEstimator]:
    """Practitioners' baselines at k: a Keras/Lightning-style patience rule (no validation
    loss improvement for ``patience`` epochs by epoch k), an Optuna MedianPruner-style rule,
    the labelling rules at k and Prechelt's GL_alpha at k."""
    return {
        f"patience{patience}_at_k": ThresholdRule("epochs_since_best_val_loss_at_k", patience - 0.5),
        "median_pruner_at_k": MedianPrunerRule(),
        "rules_at_k": ThresholdRule("rules_any_at_k", 0.5),
        f"prechelt_gl{gl_alpha:g}_at_k": ThresholdRule("gl_at_k", gl_alpha),
    }


def evaluate_at_k(table: pd.DataFrame, k: int, models: dict | None = None,
                  baselines: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grouped leave-one-out of every model and baseline on the labelled runs of ``table``.

    Returns ``(metrics, predictions)``: metrics one row per estimator (kind, name, k,
    roc_auc, pr_auc, balanced_accuracy, precision, recall, brier); predictions one column
    ``<name>`` of LOO scores and ``<name>_pred`` per estimator, plus run_id and overfit.
    """
    data = labelled_rows(table)
    data = data[np.isfinite(data[raw_curve_columns(k)].to_numpy(float)).all(axis=1)].reset_index(drop=True)
    y = data.overfit.astype(int).to_numpy()
    groups = data.group_id.to_numpy()
    models = make_models(k) if models is None else models
    baselines = make_baselines() if baselines is None else baselines
    rows, preds = [], data[["run_id", "group_id", "overfit"]].copy()
    for kind, group in (("model", models), ("baseline", baselines)):
        for name, est in group.items():
            try:
                p = loo_predictions(est, data, y, groups)
            except ValueError as exc:  # inner CV of calibrated/tuned models on tiny sweeps
                rows.append(dict(kind=kind, name=name, k=k, n=len(y), error=str(exc)[:200]))
                continue
            m = classification_metrics(y, p["pred"], p["score"], p["proba"])
            m.pop("confusion_matrix")
            rows.append(dict(kind=kind, name=name, k=k, n=len(y), **m))
            preds[name] = p["score"]
            preds[f"{name}_pred"] = p["pred"]
    return pd.DataFrame(rows), preds


def reliability(y, proba, n_bins: int = 8) -> pd.DataFrame:
    """Reliability diagram data (``sklearn.calibration.calibration_curve``, quantile bins):
    mean predicted probability vs observed overfit rate per bin."""
    frac, mean_pred = calibration_curve(np.asarray(y, int), np.asarray(proba, float), n_bins=n_bins,
                                        strategy="quantile")
    return pd.DataFrame({"mean_predicted": mean_pred, "observed_rate": frac})


def overfit_onset_epoch(log: pd.DataFrame, gl_alpha: float = 5.0) -> dict:
    """When overfitting becomes visible in a full log: the first epoch at which Prechelt's
    GL exceeds ``gl_alpha`` (NaN if never) and the epoch of peak validation accuracy."""
    gl = generalization_loss(log.val_loss.to_numpy(float))
    fired = np.flatnonzero(gl > gl_alpha)
    va = log.val_acc.to_numpy(float)
    return dict(gl_fires_epoch=float(log.epoch.iloc[fired[0]]) if fired.size else float("nan"),
                val_acc_peak_epoch=float(log.epoch.iloc[int(np.nanargmax(va))]))


def replay_risk_stopping(log: pd.DataFrame, risk_flag: bool, k: int, patience: int = 3) -> dict:
    """Replay one run's log under three policies; the checkpoint kept is always the epoch
    of lowest validation loss among the epochs trained.

    - ``full``: train the planned epochs;
    - ``patience``: Keras-style early stopping on validation loss from the start;
    - ``risk``: train to epoch k; if the forecast flags the run (``risk_flag``), switch on
      patience-based early stopping from there (Keras ``start_from_epoch=k``: evaluations
      before k are not monitored), else train the planned epochs.

    Returns epochs trained and validation accuracy of the kept checkpoint per policy.
    """
    vl = log.val_loss.to_numpy(float)
    va = log.val_acc.to_numpy(float)
    ep = log.epoch.to_numpy(int)
    last = len(vl) - 1

    def stop_with_patience(start: int) -> int:
        return early_stopping(vl, mode="min", patience=patience, start_from_epoch=start)["stop_index"]

    def kept(stop: int) -> float:
        seg = np.where(np.isfinite(vl[1: stop + 1]), vl[1: stop + 1], np.inf)
        return float(va[1 + int(np.argmin(seg))]) if stop >= 1 else float(va[0])

    stops = {"full": last, "patience": stop_with_patience(0),
             "risk": stop_with_patience(min(k, last)) if risk_flag else last}
    return {f"{p}_{q}": v for p, s in stops.items()
            for q, v in (("epochs", int(ep[s])), ("val_acc", kept(s)))}
