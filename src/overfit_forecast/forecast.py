"""Overfit forecast for a new run: the study's meta-model applied to any epoch-based log.

The meta-model (saved with skops by notebook 04 as ``data/meta/meta_model_<name>_k<k>.skops``)
needs the per-epoch training and validation loss and accuracy for epochs 1..k.
:func:`curves_to_epoch_log` turns a :class:`~overfit_forecast.readers.Curves` into that
form; :func:`forecast` refuses, with the reason, logs it cannot score.

Caveat printed with every forecast: the study measures training accuracy in eval mode over
the whole training set after each epoch; most frameworks log a running average during the
epoch (lower, noisier), so forecasts on such logs are less reliable.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .features import FEATURES, TooFewEpochsError, early_features
from .readers import Curves

NEEDED = [("train", "loss"), ("val", "loss"), ("train", "accuracy"), ("val", "accuracy")]


class ForecastRefused(ValueError):
    """The log cannot be scored by the meta-model; the message says why."""


def curves_to_epoch_log(curves: Curves) -> pd.DataFrame:
    """Per-epoch log (``epoch, train_loss, val_loss, train_acc, val_acc, gap``) from curves.

    For each whole epoch e, the last value logged with epoch in (e - 1, e] is used (the
    end-of-epoch evaluation for frameworks that evaluate once per epoch).

    Raises
    ------
    ForecastRefused
        A needed curve is missing (names which), or values carry steps but no epochs.
    """
    t = curves.table
    missing = [f"{s} {m}" for s, m in NEEDED if not ((t.split == s) & (t.metric == m)).any()]
    if missing:
        raise ForecastRefused(f"{curves.source}: the meta-model needs training and validation loss and accuracy "
                              f"per epoch; missing: {', '.join(missing)}")
    sub = t[[((r.split, r.metric) in NEEDED) for r in t.itertuples()]]
    if sub.epoch.isna().all():
        raise ForecastRefused(f"{curves.source}: the log has steps but no epochs; the meta-model works per epoch")
    sub = sub.dropna(subset=["epoch"])
    sub = sub.assign(e=np.ceil(sub.epoch.to_numpy(float) - 1e-6).astype(int))
    last = sub.sort_values(["epoch", "step"], na_position="first").groupby(["e", "split", "metric"]).value.last()
    wide = last.unstack(["split", "metric"])
    wide.columns = [f"{s}_{'acc' if m == 'accuracy' else m}" for s, m in wide.columns]
    wide = wide.reset_index().rename(columns={"e": "epoch"})
    for c in ("train_loss", "val_loss", "train_acc", "val_acc"):
        if c not in wide:
            wide[c] = np.nan
    if wide[["train_acc", "val_acc"]].max().max() > 1.0 + 1e-9:  # percentages
        wide[["train_acc", "val_acc"]] /= 100.0
    wide["gap"] = wide.train_acc - wide.val_acc
    return wide[["epoch", "train_loss", "val_loss", "train_acc", "val_acc", "gap"]].sort_values("epoch").reset_index(drop=True)


def default_model_path(meta_dir: str | os.PathLike = "data/meta", k: int = 10,
                       name: str = "logistic_regression") -> Path:
    """``<meta_dir>/meta_model_<name>_k<k>.skops`` (relative paths from the project root)."""
    from .paths import project_path

    return project_path(meta_dir) / f"meta_model_{name}_k{k}.skops"


def forecast(curves: Curves, model_path: str | os.PathLike | None = None, k: int = 10) -> dict:
    """Overfit probability of a run from its first ``k`` epochs.

    Returns
    -------
    dict
        ``probability`` (of ending overfit, by the study's labels), ``label`` (0/1 at 0.5),
        ``k``, ``model``, ``features`` (values), ``drivers`` (for logistic regression: each
        feature's contribution to the log-odds, largest first), ``caveat``.

    Raises
    ------
    ForecastRefused
        Fewer than k whole epochs, no accuracy metrics, steps without epochs, or no model.
    """
    from .runlog import load_model as load_meta_model

    log = curves_to_epoch_log(curves)
    try:
        feats = early_features(log, k)
    except TooFewEpochsError:
        raise ForecastRefused(f"{curves.source}: the forecast needs every epoch 1..{k}; the log has whole epochs "
                              f"{log.epoch.tolist()[:12]}") from None
    if not all(math.isfinite(v) for v in feats.values()):
        raise ForecastRefused(f"{curves.source}: non-finite values in the first {k} epochs (diverged run?)")
    path = Path(model_path) if model_path else default_model_path(k=k)
    if not path.exists():
        raise ForecastRefused(f"{path}: no meta-model for k={k}; run notebook 04 (make all) or pass --model")
    model = load_meta_model(path)
    X = pd.DataFrame([feats], columns=FEATURES)
    proba = float(model.predict_proba(X)[0, 1])
    drivers = None
    clf = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(clf, "coef_"):
        z = model[:-1].transform(X)[0]
        contrib = pd.Series(clf.coef_[0] * z, index=FEATURES)
        drivers = [{"feature": f, "value": feats[f], "contribution": float(c)}
                   for f, c in contrib.reindex(contrib.abs().sort_values(ascending=False).index).items()]
    elif hasattr(clf, "feature_importances_"):
        imp = pd.Series(clf.feature_importances_, index=FEATURES).sort_values(ascending=False)
        drivers = [{"feature": f, "value": feats[f], "importance": float(i)} for f, i in imp.items()]
    return dict(probability=proba, label=int(proba >= 0.5), k=k, model=str(path.name), features=feats,
                drivers=drivers, caveat=__doc__.split("Caveat printed with every forecast: ")[1].strip())


class RiskDrivenStopping:
    """Training callback: forecast the overfit risk at epoch ``k``; if it is at least
    ``threshold``, switch to patience-based early stopping on validation loss.

    Use with :func:`overfit_forecast.training.run_training` (``callback=``) or call it from
    any loop as ``stop = cb(epoch, log)`` with the per-epoch log so far (columns ``epoch,
    train_loss, val_loss, train_acc, val_acc``). Before epoch k it never stops; at k it
    computes the risk once (:attr:`risk`) with ``model`` (a fitted meta-model, e.g. from
    :func:`overfit_forecast.evaluation.load_meta_model`); a low-risk run is never stopped; a
    high-risk run stops as soon as ``patience`` epochs have passed without a new minimum of
    validation loss (Keras ``EarlyStopping(patience=...)`` semantics, counted from the best
    epoch so far, so it may stop at k itself).
    """

    def __init__(self, model, k: int = 10, threshold: float = 0.5, patience: int = 3):
        self.model, self.k, self.threshold, self.patience = model, k, threshold, patience
        self.risk: float | None = None

    def __call__(self, epoch: int, log: pd.DataFrame) -> bool:
        if epoch < self.k:
            return False
        if self.risk is None:
            X = pd.DataFrame([early_features(log, self.k)], columns=FEATURES)
            self.risk = float(self.model.predict_proba(X)[0, 1])
        if self.risk < self.threshold:
            return False
        vl = log["val_loss"].to_numpy(float)
        best = int(np.argmin(np.where(np.isfinite(vl), vl, np.inf)))
        return int(log["epoch"].iloc[-1]) - int(log["epoch"].iloc[best]) >= self.patience
