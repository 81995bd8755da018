"""Features of a run computed from its first k epochs only.

Epochs 1..k of the log are used (epoch 0, before any update, is excluded; a log needs
rows for every epoch 1..k). Slopes are ordinary least-squares slopes per epoch over those
k points (:func:`overfit_forecast.criteria.least_squares_slope`).

The nine features of the seed study, plus two of Prechelt's quantities:

==================  =====================================================================
``gap_mean``        mean generalization gap (train_acc - val_acc) over epochs 1..k
``gap_max``         maximum gap over epochs 1..k
``gap_slope``       slope of the gap (per epoch)
``train_acc_slope`` slope of training accuracy
``val_acc_slope``   slope of validation accuracy
``train_loss_slope`` slope of training loss
``val_loss_slope``  slope of validation loss
``train_acc_at_k``  training accuracy at epoch k
``val_acc_at_k``    validation accuracy at epoch k
``gl_at_k``         Prechelt's generalization loss GL(k), percent, on validation loss
``progress_at_k``   Prechelt's training progress P_5(k), per mille, on training loss
==================  =====================================================================

Richer features of the same window (:data:`EXTRA_FEATURES`, issue 9):

=========================  ==========================================================
``val_loss_slope_last``    slope of validation loss over the last ``LAST`` epochs of the window
``train_loss_slope_last``  slope of training loss over the same epochs
``gap_slope_last``         slope of the accuracy gap over the same epochs
``val_loss_argmin_frac``   epoch of the window's validation-loss minimum divided by k
``epochs_since_val_min``   epochs since that minimum (the patience counter at k)
``val_loss_rise``          validation loss at k minus its minimum so far (nats)
``loss_log_ratio``         ``log(val_loss / train_loss)`` at k
``loss_gap``               ``val_loss - train_loss`` at k (nats)
``train_err_log10``        ``log10(1 - train_acc)`` at k (clipped at 1e-4)
``projected_gap``          gap at k + ``gap_slope_last`` x epochs remaining (linear extrapolation)
``fraction_observed``      k / planned epochs (NaN when the plan is unknown)
``epochs_remaining``       planned epochs - k (NaN when the plan is unknown)
=========================  ==========================================================

Rows after epoch k are never read, so the features of a log truncated after epoch k equal
those of the full log.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .criteria import generalization_loss, least_squares_slope, training_progress
from .labels import LabelThresholds, apply_rules, rule_values
from .runlog import read_log

FEATURES = [
    "gap_mean", "gap_max", "gap_slope",
    "train_acc_slope", "val_acc_slope", "train_loss_slope", "val_loss_slope",
    "train_acc_at_k", "val_acc_at_k",
    "gl_at_k", "progress_at_k",
]
EXTRA_FEATURES = [
    "val_loss_slope_last", "train_loss_slope_last", "gap_slope_last", "val_loss_argmin_frac",
    "epochs_since_val_min", "val_loss_rise", "loss_log_ratio", "loss_gap", "train_err_log10",
    "projected_gap", "fraction_observed", "epochs_remaining",
]
#: Every curve feature of a window: the seed study's, Prechelt's and the richer ones.
CURVE_FEATURES = FEATURES + EXTRA_FEATURES
#: Hyperparameters of the study's sweeps used as features (log-scaled where they span decades).
HPARAMS = ["lr", "n_train", "epochs", "weight_decay", "dropout", "batch_size", "label_noise", "width"]
LOG_HPARAMS = ["lr", "n_train", "batch_size", "width"]
CURVES = ["train_loss", "val_loss", "train_acc", "val_acc"]
#: Strip length of Prechelt's training progress P_k.
PROGRESS_STRIP = 5
#: Epochs at the end of the window over which the "last" slopes are taken.
LAST = 4


class TooFewEpochsError(ValueError):
    """The log does not cover epochs 1..k."""


def first_k_epochs(log: pd.DataFrame, k: int) -> pd.DataFrame:
    """Rows for epochs 1..k of a per-epoch log, checked to be complete.

    Raises
    ------
    ValueError
        ``k < 2`` (slopes need two points).
    TooFewEpochsError
        Some epoch in 1..k is missing.
    """
    if k < 2:
        raise ValueError(f"k must be >= 2 (slopes need two epochs), got {k}")
    early = log[(log["epoch"] >= 1) & (log["epoch"] <= k)]
    if len(early) != k or list(early["epoch"]) != list(range(1, k + 1)):
        raise TooFewEpochsError(f"log has epochs {list(log['epoch'])[:3]}..; need every epoch 1..{k}")
    return early


def early_features(log: pd.DataFrame, k: int = 10) -> dict:
    """The :data:`FEATURES` of one run from epochs 1..k of its log.

    Parameters
    ----------
    log : DataFrame
        Columns ``epoch, train_loss, val_loss, train_acc, val_acc`` (``gap`` is recomputed
        as ``train_acc - val_acc``); accuracies as fractions, losses in nats.
    k : int
        Observed window in epochs.

    Returns
    -------
    dict
        ``{feature: float}``; NaN where a curve is not finite.

    Raises
    ------
    TooFewEpochsError
        The log stops before epoch k.
    """
    e = first_k_epochs(log, k)
    x = e["epoch"].to_numpy(float)
    tr_acc, va_acc = e["train_acc"].to_numpy(float), e["val_acc"].to_numpy(float)
    tr_loss, va_loss = e["train_loss"].to_numpy(float), e["val_loss"].to_numpy(float)
    gap = tr_acc - va_acc
    return {
        "gap_mean": float(np.mean(gap)),
        "gap_max": float(np.max(gap)),
        "gap_slope": least_squares_slope(gap, x),
        "train_acc_slope": least_squares_slope(tr_acc, x),
        "val_acc_slope": least_squares_slope(va_acc, x),
        "train_loss_slope": least_squares_slope(tr_loss, x),
        "val_loss_slope": least_squares_slope(va_loss, x),
        "train_acc_at_k": float(tr_acc[-1]),
        "val_acc_at_k": float(va_acc[-1]),
        "gl_at_k": float(generalization_loss(va_loss)[-1]),
        "progress_at_k": float(training_progress(tr_loss, min(PROGRESS_STRIP, k))[-1]),
    }


def window_features(log: pd.DataFrame, k: int = 10, planned_epochs: float | None = None) -> dict:
    """All :data:`CURVE_FEATURES` of one run from epochs 1..k of its log.

    Parameters
    ----------
    log : DataFrame
        As for :func:`early_features`.
    k : int
        Observed window in epochs.
    planned_epochs : float, optional
        Epochs the run is planned to train (for ``fraction_observed``, ``epochs_remaining``
        and ``projected_gap``); NaN features when unknown.

    Returns
    -------
    dict
        ``{feature: float}`` in :data:`CURVE_FEATURES` order.

    Raises
    ------
    TooFewEpochsError
        The log stops before epoch k.
    """
    out = early_features(log, k)
    e = first_k_epochs(log, k)
    vl, tl = e["val_loss"].to_numpy(float), e["train_loss"].to_numpy(float)
    ta, va = e["train_acc"].to_numpy(float), e["val_acc"].to_numpy(float)
    gap = ta - va
    w = min(LAST, k)
    i_min = int(np.argmin(np.where(np.isfinite(vl), vl, np.inf)))
    plan = float(planned_epochs) if planned_epochs is not None else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        out.update(
            val_loss_slope_last=least_squares_slope(vl[-w:]),
            train_loss_slope_last=least_squares_slope(tl[-w:]),
            gap_slope_last=least_squares_slope(gap[-w:]),
            val_loss_argmin_frac=(i_min + 1) / k,
            epochs_since_val_min=float(k - 1 - i_min),
            val_loss_rise=float(vl[-1] - vl[i_min]),
            loss_log_ratio=float(np.log(vl[-1] / tl[-1])),
            loss_gap=float(vl[-1] - tl[-1]),
            train_err_log10=float(np.log10(max(1.0 - ta[-1], 1e-4))),
        )
        out["projected_gap"] = float(gap[-1] + out["gap_slope_last"] * (plan - k))
    out["fraction_observed"] = k / plan
    out["epochs_remaining"] = plan - k
    return {f: float(out[f]) for f in CURVE_FEATURES}


def rules_at_k(log: pd.DataFrame, k: int = 10, th: LabelThresholds = LabelThresholds()) -> dict:
    """The labelling rules applied to epochs 0..k only (the "rules at k" baseline).

    Returns ``{"rules_any_at_k": 0/1, "rule_<name>_at_k": bool ...}``.
    """
    fired = apply_rules(rule_values(log[log["epoch"] <= k]), th)
    out = {f"rule_{r}_at_k": v for r, v in fired.items()}
    out["rules_any_at_k"] = int(any(fired.values()))
    return out


def _log_and_plan(item):
    if isinstance(item, tuple):
        return item[0], item[1]
    return item, None


class EarlyCurveFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: per-epoch logs -> the curve-feature table of window ``k``.

    Stateless (``fit`` learns nothing), so it sits first in a Pipeline whose input is raw
    logs and the window travels with the saved model, e.g. ``make_pipeline(
    EarlyCurveFeatures(k=10), HistGradientBoostingClassifier())``.

    Parameters
    ----------
    k : int
        Observed window in epochs.
    features : {"all", "seed"}
        :data:`CURVE_FEATURES` (default) or the seed study's :data:`FEATURES`.

    Input ``X``: an iterable of log DataFrames, or of ``(log, planned_epochs)`` tuples.
    """

    def __init__(self, k: int = 10, features: str = "all"):
        self.k = k
        self.features = features

    def _names(self) -> list[str]:
        if self.features not in ("all", "seed"):
            raise ValueError(f"features must be 'all' or 'seed', got {self.features!r}")
        return CURVE_FEATURES if self.features == "all" else FEATURES

    def fit(self, X, y=None):
        """Nothing to learn; returns self."""
        self.n_features_in_ = len(self._names())
        return self

    def transform(self, X) -> pd.DataFrame:
        """X: iterable of logs (or ``(log, planned_epochs)``). Returns DataFrame (n_logs, n_features).

        Raises TooFewEpochsError when a log stops before epoch k."""
        names = self._names()
        rows = []
        for item in X:
            log, plan = _log_and_plan(item)
            f = window_features(log, self.k, plan)
            rows.append({n: f[n] for n in names})
        return pd.DataFrame(rows, columns=names)

    def get_feature_names_out(self, input_features=None):
        """The feature names."""
        return np.asarray(self._names(), dtype=object)


def reached(log: pd.DataFrame, k: int) -> bool:
    """Whether the run reached epoch ``k``: every epoch 1..k logged with finite losses and accuracies."""
    try:
        e = first_k_epochs(log, k)
    except TooFewEpochsError:
        return False
    return bool(np.isfinite(e[CURVES].to_numpy(float)).all())


def build_feature_table(log_dir: str | os.PathLike, meta: pd.DataFrame, ks=(10,),
                        th: LabelThresholds = LabelThresholds(), raw: bool = False) -> pd.DataFrame:
    """One row per (run, window k) for every run of the meta-dataset and every k in ``ks``.

    Parameters
    ----------
    log_dir : path
        Folder with ``<run_id>.csv`` logs.
    meta : DataFrame
        From :func:`overfit_forecast.labels.build_meta_dataset` (``pathology`` is the run's
        end state: healthy / overfit / underfit / diverged / failed).
    ks : int or iterable of int
        Windows (epochs observed).
    th : LabelThresholds
        Thresholds of the rules-at-k baseline (the same as the labels').
    raw : bool
        Also add the raw first-k curves ``<curve>_e<epoch>`` (single-window tables only).

    Returns
    -------
    DataFrame
        ``run_id, group_id, k, end_state, overfit`` (1 for overfit, 0 for every other end
        state), ``reached_k`` (:func:`reached`), the :data:`HPARAMS`, ``final_gap``, the
        :data:`CURVE_FEATURES`, ``val_loss_at_k`` and the rules-at-k columns. Runs that did
        not reach k keep a row with ``reached_k=False`` and NaN features, so they are
        counted, not silently dropped.
    """
    ks = [int(ks)] if np.isscalar(ks) else [int(k) for k in ks]
    log_dir = Path(log_dir)
    rows = []
    for rec in meta.to_dict("records"):
        log = read_log(log_dir / f"{rec['run_id']}.csv")
        base = {"run_id": rec["run_id"], "group_id": rec["group_id"], "end_state": rec["pathology"],
                "overfit": int(rec["pathology"] == "overfit"), **{h: rec.get(h, np.nan) for h in HPARAMS},
                "final_gap": rec.get("final_gap", np.nan)}
        for k in ks:
            row = {**base, "k": k, "reached_k": reached(log, k)}
            if row["reached_k"]:
                row.update(window_features(log, k, rec.get("epochs")), **rules_at_k(log, k, th))
                row["val_loss_at_k"] = float(log.loc[log.epoch == k, "val_loss"].iloc[0])
                if raw:
                    e = first_k_epochs(log, k)
                    for c in CURVES:
                        row.update({f"{c}_e{i}": v for i, v in zip(range(1, k + 1), e[c].to_numpy(float))})
            rows.append(row)
    return pd.DataFrame(rows)
