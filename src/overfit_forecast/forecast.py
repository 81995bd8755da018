"""Overfit forecast for a new run and the risk-driven stopping callback (its replay:
:mod:`overfit_forecast.replay`).

Two saved forecasters, each one scikit-learn Pipeline (feature extractor with its window +
classifier) in skops format, so the window travels with the model:

- ``data/meta/forecaster_fraction_f<f>.skops`` (chapter 9): any log with training and
  validation loss, step- or epoch-based (:class:`overfit_forecast.reallogs.FractionFeatures`);
- ``data/meta/forecaster_epochs_k<k>.skops`` (chapter 4): per-epoch logs with training and
  validation accuracy and at least k epochs (:class:`overfit_forecast.features.EarlyCurveFeatures`).

:func:`forecast` uses the epoch model where it applies and the fraction model otherwise;
it refuses, with the reason, logs neither can score.

Caveat printed with every forecast (:data:`CAVEATS`, by model kind): the epoch model's
study measures training accuracy in eval mode over the whole training set after each epoch,
unlike the running averages most frameworks log; the fraction model takes the log for the
whole run, so a run still in progress is judged on the first part of what it has logged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .criteria import early_stopping
from .features import TooFewEpochsError
from .readers import Curves
from .replay import risk_patience

NEEDED = [("train", "loss"), ("val", "loss"), ("train", "accuracy"), ("val", "accuracy")]


class ForecastRefused(ValueError):
    """The log cannot be scored by the meta-model; the message says why."""


#: What a user should know about each model's forecast, printed with it.
CAVEATS = {
    "epochs": ("the study measures training accuracy in eval mode over the whole training set after "
               "each epoch; most frameworks log a running average during the epoch (lower, noisier), so "
               "forecasts on such logs are less reliable."),
    "fraction": ("the log is taken as the whole run: for a run still in progress the window is the first "
                 "part of what has been logged so far, not of the planned run. The target is the diagnosis's "
                 "verdict on the full log; chapter 9 gives the model's grouped-by-repository accuracy."),
}


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


def default_model_path(meta_dir: str | os.PathLike = "data/meta", k: int = 10, kind: str = "epochs",
                       f: float = 0.3) -> Path:
    """``<meta_dir>/forecaster_epochs_k<k>.skops`` (kind "epochs") or
    ``<meta_dir>/forecaster_fraction_f<f>.skops`` (kind "fraction"), from the project root."""
    from .paths import project_path

    name = f"forecaster_epochs_k{k}.skops" if kind == "epochs" else f"forecaster_fraction_f{f:g}.skops"
    return project_path(meta_dir) / name


def _window(model):
    """("epochs", k) or ("fraction", f) from the Pipeline's first step."""
    first = model.steps[0][1] if hasattr(model, "steps") else None
    if first is not None and hasattr(first, "k"):
        return "epochs", first.k
    if first is not None and hasattr(first, "f"):
        return "fraction", first.f
    raise ForecastRefused(f"{type(model).__name__}: not a forecaster Pipeline (feature extractor first)")


def _epoch_input(curves: Curves, k: int):
    log = curves_to_epoch_log(curves)
    ok = log[(log.epoch >= 1) & (log.epoch <= k)]
    if len(ok) < k or not np.isfinite(ok[["train_loss", "val_loss", "train_acc", "val_acc"]].to_numpy(float)).all():
        raise ForecastRefused(f"{curves.source}: the epoch model needs every epoch 1..{k} with finite losses "
                              f"and accuracies; the log has whole epochs {log.epoch.tolist()[:12]}")
    return [log]


def forecast(curves: Curves, model_path: str | os.PathLike | None = None, k: int | None = None) -> dict:
    """Probability that a run ends overfitting, from the start of its log.

    With ``model_path`` that model is used. Without it, the epoch model (``k`` epochs,
    default 10) when the log has per-epoch training and validation accuracy for epochs
    1..k, else the fraction model (first 30 % of the evaluations; the log is taken as the
    whole run).

    Returns
    -------
    dict
        ``probability``, ``label`` (the model's ``predict``: 1 = ends overfitting),
        ``window`` ("k=10 epochs" / "first 30 % of the evaluations"), ``model`` (file
        name), ``features`` (values), ``caveat``.

    Raises
    ------
    ForecastRefused
        No model file, or a log the chosen model cannot score (the message says why).
    """
    from .reallogs import TooShortError
    from .runlog import load_model

    paths = ([Path(model_path)] if model_path else
             [default_model_path(k=k or 10), default_model_path(kind="fraction")])
    reasons = []
    for path in paths:
        if not path.exists():
            reasons.append(f"{path}: no such model (run notebooks 04 and 09, or pass --model)")
            continue
        model = load_model(path)
        kind, window = _window(model)
        try:
            X = _epoch_input(curves, window) if kind == "epochs" else [curves]
            feats = model.steps[0][1].transform(X)
        except (ForecastRefused, TooShortError, TooFewEpochsError) as exc:
            reasons.append(str(exc))
            continue
        proba = float(model.predict_proba(X)[0, list(model.classes_).index(1)])
        label = int(model.predict(X)[0])
        desc = f"k={window} epochs" if kind == "epochs" else f"first {window:.0%} of the evaluations"
        return dict(probability=proba, label=label, window=desc, k=window, model=path.name,
                    features={c: float(v) for c, v in feats.iloc[0].items()},
                    drivers=drivers(model.steps[-1][1], feats, proba),
                    caveat=CAVEATS[kind])
    raise ForecastRefused(f"{curves.source}: cannot forecast: " + "; ".join(reasons))


#: Features that say where the window sits, not what the curves did: the same for every log
#: a saved model scores (its ``f``), so occluding them says nothing about this run.
WINDOW_POSITION = ("f",)


def drivers(clf, feats: pd.DataFrame, proba: float) -> list[dict] | None:
    """Which features drove one forecast, by occlusion: ``contribution`` = the forecast's
    P(overfit) minus the P(overfit) with that feature replaced by its training median (the
    median-imputer's ``statistics_`` inside the classifier Pipeline), largest magnitude
    first; :data:`WINDOW_POSITION` features are left out. None when the classifier has no
    median imputer."""
    prep = getattr(clf, "named_steps", {}).get("prep")
    med = {}
    for _, trans, cols in getattr(prep, "transformers_", []):
        first = trans.steps[0][1] if hasattr(trans, "steps") else None
        if hasattr(first, "statistics_"):
            med.update(zip(cols, first.statistics_))
    if not med:
        return None
    pos = list(clf.classes_).index(1)
    out = []
    for c in feats.columns:
        if c in med and c not in WINDOW_POSITION:
            x = feats.copy()
            x[c] = med[c]
            out.append({"feature": c, "value": float(feats[c].iloc[0]),
                        "contribution": float(proba - clf.predict_proba(x)[0, pos])})
    return sorted(out, key=lambda d: -abs(d["contribution"]))


class RiskDrivenStopping:
    """Training callback: forecast the run at epoch ``k``, then early-stop it on validation
    loss from epoch k with a patience set by the forecast (:func:`overfit_forecast.replay.risk_patience`).

    Use with :func:`overfit_forecast.training.run_training` (``callback=``) or call it from
    any loop as ``stop = cb(epoch, log)`` with the per-epoch log so far (columns ``epoch,
    train_loss, val_loss, train_acc, val_acc``). Before epoch k it never stops; at k it
    forecasts once: :attr:`risk` = ``model.predict_proba([(log, planned_epochs)])[0, 1]``
    (P(overfit), an epoch forecaster Pipeline) and, with ``end_state_model``,
    :attr:`end_state` = its ``predict`` (healthy / overfit / underfit / diverged). Then
    :attr:`patience_now` = ``risk_patience(risk, end_state, threshold, patience, patience_low)``:
    0 stops at k (forecast diverged, or ``patience=0``); None (low risk with
    ``patience_low=None``, the default) never stops; otherwise the run follows
    :func:`overfit_forecast.criteria.early_stopping` with ``start_from_epoch=k`` (Keras
    ``EarlyStopping(patience=..., start_from_epoch=k)``). The kept model is the last one (the
    callback only stops; checkpoint restoring is the training loop's).
    """

    def __init__(self, model, k: int = 10, threshold: float = 0.5, patience: int = 3,
                 planned_epochs: int | None = None, patience_low: int | None = None, end_state_model=None):
        self.model, self.k, self.threshold, self.patience = model, k, threshold, patience
        self.planned_epochs, self.patience_low, self.end_state_model = planned_epochs, patience_low, end_state_model
        self.risk: float | None = None
        self.end_state: str | None = None
        self.patience_now: int | None = None

    def __call__(self, epoch: int, log: pd.DataFrame) -> bool:
        if epoch < self.k:
            return False
        if self.risk is None:
            x = [(log, self.planned_epochs)]
            self.risk = float(self.model.predict_proba(x)[0, 1])
            if self.end_state_model is not None:
                self.end_state = str(self.end_state_model.predict(x)[0])
            self.patience_now = risk_patience(self.risk, self.end_state, self.threshold, self.patience,
                                              self.patience_low)
        if self.patience_now is None:
            return False
        if self.patience_now == 0:
            return True
        vl = log["val_loss"].to_numpy(float)
        return bool(early_stopping(vl, patience=self.patience_now, start_from_epoch=self.k)["stopped"])


def lead_time(log: pd.DataFrame, k: int, gl_alpha: float = 5.0) -> dict:
    """Lead of a forecast made at epoch ``k`` over Prechelt's GL_alpha on the full log.

    Returns ``gl_fires_epoch`` (first epoch with GL > ``gl_alpha`` percent, on validation
    loss; None if it never fires), ``lead`` (``gl_fires_epoch - k``; None if it never fires:
    such runs are counted apart, never as "not before GL") and ``val_acc_peak_epoch``.
    """
    from .criteria import generalization_loss

    gl = generalization_loss(log["val_loss"].to_numpy(float))
    fired = np.flatnonzero(gl > gl_alpha)
    e = int(log["epoch"].iloc[fired[0]]) if fired.size else None
    va = log["val_acc"].to_numpy(float)
    return {"gl_fires_epoch": e, "lead": None if e is None else e - k,
            "val_acc_peak_epoch": int(log["epoch"].iloc[int(np.nanargmax(va))])}
