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
#: Strip length of Prechelt's training progress P_k.
PROGRESS_STRIP = 5


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


def rules_at_k(log: pd.DataFrame, k: int = 10, th: LabelThresholds = LabelThresholds()) -> dict:
    """The labelling rules applied to epochs 0..k only (the "rules at k" baseline).

    Returns ``{"rules_any_at_k": 0/1, "rule_<name>_at_k": bool ...}``.
    """
    fired = apply_rules(rule_values(log[log["epoch"] <= k]), th)
    out = {f"rule_{r}_at_k": v for r, v in fired.items()}
    out["rules_any_at_k"] = int(any(fired.values()))
    return out


class EarlyCurveFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: a list of per-epoch logs -> the :data:`FEATURES` table.

    Stateless (``fit`` learns nothing), so it can sit first in a Pipeline whose input is
    raw logs, e.g. ``make_pipeline(EarlyCurveFeatures(k=10), StandardScaler(),
    LogisticRegression())``.

    Parameters
    ----------
    k : int
        Observed window in epochs.
    """

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, X, y=None):
        """Nothing to learn; returns self."""
        self.n_features_in_ = len(FEATURES)
        return self

    def transform(self, X) -> pd.DataFrame:
        """X: iterable of log DataFrames. Returns DataFrame (n_logs, 11)."""
        return pd.DataFrame([early_features(log, self.k) for log in X], columns=FEATURES)

    def get_feature_names_out(self, input_features=None):
        """The :data:`FEATURES` names."""
        return np.asarray(FEATURES, dtype=object)


def build_feature_table(log_dir: str | os.PathLike, meta: pd.DataFrame, k: int = 10,
                        th: LabelThresholds = LabelThresholds()) -> pd.DataFrame:
    """Features and rules-at-k for every run of the meta-dataset that has >= k epochs.

    Returns
    -------
    DataFrame
        One row per run: ``run_id``, ``group_id``, ``overfit``, ``has_k_epochs``, the
        :data:`FEATURES` (NaN for runs that stopped before epoch k) and the rules-at-k
        columns.
    """
    log_dir = Path(log_dir)
    rows = []
    for rec in meta.to_dict("records"):
        log = read_log(log_dir / f"{rec['run_id']}.csv")
        row = {"run_id": rec["run_id"], "group_id": rec["group_id"], "overfit": rec["overfit"]}
        try:
            row.update(early_features(log, k), has_k_epochs=True)
            row.update(rules_at_k(log, k, th))
        except TooFewEpochsError:
            row.update({f: np.nan for f in FEATURES}, has_k_epochs=False)
        rows.append(row)
    return pd.DataFrame(rows)
