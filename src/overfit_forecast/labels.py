"""Deterministic, explainable labels for each run of the sweep.

A non-diverged, non-failed run is labelled **overfit** (1) if any of four rules fires on
its full per-epoch log (accuracies are fractions in [0, 1]; "final" = last logged epoch):

(a) ``gap``: final generalization gap ``train_acc - val_acc > gap_threshold``.
(b) ``memorization``: final ``train_acc >= memorization_train_acc`` while the final gap
    exceeds ``memorization_gap`` (the net has learnt its training set by heart and
    validation lags; cf. Zhang et al. 2017, "Understanding deep learning requires
    rethinking generalization").
(c) ``peak_degrade``: validation accuracy peaks at some epoch, then ends more than
    ``peak_drop`` below that peak while training accuracy ends above its value at the
    peak epoch (training keeps improving while validation degrades).
(d) ``generalization_loss``: Prechelt's GL at the last epoch, on validation loss,
    exceeds ``gl_alpha`` percent (L. Prechelt, "Early Stopping -- But When?", 1998) while
    the training loss ends below its value at the validation-loss minimum (a validation
    loss that rises together with the training loss is instability, not overfitting).

Other pathologies (column ``pathology``, exactly one per run):

- ``failed``: the run raised an exception (``status="failed"``);
- ``diverged``: a non-finite loss stopped the run (``status="diverged"``), or the training
  loss blew up to more than ``diverge_factor`` times its value before training (epoch 0)
  at some epoch, or ended no lower than before training (with ReLU nets a too-high
  learning rate often explodes the loss and then kills the units, leaving a finite loss at
  chance level instead of a NaN; a run that merely learns slowly still ends lower);
- ``overfit``: any of the rules above;
- ``underfit``: not overfit, and neither the final training accuracy nor the best
  validation accuracy reaches ``underfit_acc`` (the net did not fit even its training
  set; a run stuck at chance after a too-high learning rate lands here);
- ``healthy``: none of the above.

``pathology`` is the run's **end state**, the multi-class target of the forecast; ``overfit``
is its binary view, overfit (1) versus every other end state (0, diverged runs included:
at epoch k nobody knows which runs will collapse later). Only failed runs, which raised
before logging a usable curve, have ``overfit`` NaN.

Smoothed variant (``smooth > 1`` in :func:`label_log`): the rules are judged on the curves
after a centred rolling mean over ``smooth`` epochs (``pandas.Series.rolling(center=True,
min_periods=1)``), so one noisy last epoch does not decide the label.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .criteria import generalization_loss
from .runlog import read_log

RULES = ("gap", "memorization", "peak_degrade", "generalization_loss")


@dataclass(frozen=True)
class LabelThresholds:
    """Thresholds of the labelling rules, with the study's defaults."""

    gap_threshold: float = 0.05  # rule (a): final train_acc - val_acc above this (5 points)
    memorization_train_acc: float = 0.99  # rule (b): final train_acc at least this...
    memorization_gap: float = 0.03  # ...and final gap above this
    peak_drop: float = 0.02  # rule (c): final val_acc this far below its peak
    gl_alpha: float = 50.0  # rule (d): Prechelt GL at the last epoch above this (percent)
    underfit_acc: float = 0.90  # underfit: final train_acc and best val_acc both below this
    diverge_factor: float = 2.0  # diverged: some epoch's train_loss above this x epoch-0 train_loss


def rule_values(log: pd.DataFrame) -> dict:
    """The quantities the rules threshold, from one run's log.

    Parameters
    ----------
    log : DataFrame
        Columns ``train_acc``, ``val_acc``, ``val_loss`` (one row per epoch, in order).

    Returns
    -------
    dict
        ``final_gap``, ``final_train_acc``, ``final_val_acc``, ``peak_val_acc``,
        ``peak_epoch`` (row index of the first maximum), ``train_acc_at_peak``,
        ``peak_drop`` (peak - final val acc), ``gl_final`` (percent), ``loss_blowup``
        (max train loss over epochs >= 1 divided by the epoch-0 train loss),
        ``train_loss_first``, ``train_loss_final``, ``train_loss_at_val_min`` (training loss
        at the epoch of minimum validation loss). NaN when the log is empty or the values
        are not finite.

    Raises
    ------
    ValueError
        Missing columns (named).
    """
    missing = [c for c in ("train_acc", "val_acc", "val_loss") if c not in log.columns]
    if missing:
        raise ValueError(f"log is missing column(s) {missing}")
    nan = float("nan")
    if len(log) == 0:
        return dict(final_gap=nan, final_train_acc=nan, final_val_acc=nan, peak_val_acc=nan,
                    peak_epoch=nan, train_acc_at_peak=nan, peak_drop=nan, gl_final=nan,
                    loss_blowup=nan, train_loss_first=nan, train_loss_final=nan, train_loss_at_val_min=nan)
    tr = log["train_acc"].to_numpy(float)
    va = log["val_acc"].to_numpy(float)
    va_filled = np.where(np.isfinite(va), va, -np.inf)
    peak = int(np.argmax(va_filled))
    gl = generalization_loss(log["val_loss"].to_numpy(float))
    tl = log["train_loss"].to_numpy(float) if "train_loss" in log else np.full(len(log), np.nan)
    later = tl[1:][np.isfinite(tl[1:])]
    blowup = float(later.max() / tl[0]) if later.size and np.isfinite(tl[0]) and tl[0] > 0 else nan
    vl = log["val_loss"].to_numpy(float)
    i_vmin = int(np.argmin(np.where(np.isfinite(vl), vl, np.inf)))
    return dict(
        final_gap=float(tr[-1] - va[-1]),
        final_train_acc=float(tr[-1]),
        final_val_acc=float(va[-1]),
        peak_val_acc=float(va[peak]),
        peak_epoch=int(log["epoch"].iloc[peak]) if "epoch" in log else peak,
        train_acc_at_peak=float(tr[peak]),
        peak_drop=float(va[peak] - va[-1]),
        gl_final=float(gl[-1]),
        loss_blowup=blowup,
        train_loss_first=float(tl[0]),
        train_loss_final=float(tl[-1]),
        train_loss_at_val_min=float(tl[i_vmin]),
    )


def apply_rules(values: dict, th: LabelThresholds = LabelThresholds()) -> dict:
    """Which rules fire, given :func:`rule_values` output. Returns ``{rule: bool}``."""
    v = values
    return {
        "gap": bool(v["final_gap"] > th.gap_threshold),
        "memorization": bool(v["final_train_acc"] >= th.memorization_train_acc
                             and v["final_gap"] > th.memorization_gap),
        "peak_degrade": bool(v["peak_drop"] > th.peak_drop
                             and v["final_train_acc"] > v["train_acc_at_peak"]),
        "generalization_loss": bool(v["gl_final"] > th.gl_alpha
                                    and v["train_loss_final"] < v["train_loss_at_val_min"]),
    }


def _collapsed(v: dict, th: LabelThresholds) -> bool:
    """Loss blew up (> ``diverge_factor`` x start) or ended no lower than at the start."""
    return bool(v["loss_blowup"] > th.diverge_factor or v["train_loss_final"] >= v["train_loss_first"])


def smooth_log(log: pd.DataFrame, window: int = 3) -> pd.DataFrame:
    """The log with loss and accuracy curves replaced by their centred rolling mean over
    ``window`` epochs (``min_periods=1``; epoch 0 is kept as logged). ``window=1``: unchanged."""
    if window <= 1:
        return log
    out = log.copy()
    for c in ("train_loss", "val_loss", "train_acc", "val_acc"):
        if c in out:
            head = out[c].iloc[:1]
            tail = out[c].iloc[1:].rolling(window, center=True, min_periods=1).mean()
            out[c] = pd.concat([head, tail]).to_numpy()
    if "gap" in out:
        out["gap"] = out["train_acc"] - out["val_acc"]
    return out


def label_log(log: pd.DataFrame, status: str = "completed",
              th: LabelThresholds = LabelThresholds(), smooth: int = 1) -> dict:
    """Label one run from its log and status (see module docstring).

    Parameters
    ----------
    smooth : int
        Judge the overfitting rules on curves smoothed over this many epochs
        (:func:`smooth_log`); 1 = raw curves. Divergence is always judged on the raw log.

    Returns
    -------
    dict
        The :func:`rule_values`, one ``rule_<name>`` bool per rule, ``rules_fired``
        (``;``-joined names), ``overfit`` (1 for overfit, 0 for every other end state, NaN
        for failed runs) and ``pathology`` (the end state).
    """
    raw_values = rule_values(log)
    values = rule_values(smooth_log(log, smooth)) if smooth > 1 else raw_values
    if status == "completed" and _collapsed(raw_values, th):
        status = "diverged"
    if status in ("diverged", "failed"):
        fired = {r: False for r in RULES}
        overfit, pathology = (0 if status == "diverged" else float("nan")), status
    else:
        fired = apply_rules(values, th)
        overfit = int(any(fired.values()))
        if overfit:
            pathology = "overfit"
        elif not (values["final_train_acc"] >= th.underfit_acc
                  or values["peak_val_acc"] >= th.underfit_acc):
            pathology = "underfit"
        else:
            pathology = "healthy"
    return {
        **values,
        **{f"rule_{r}": fired[r] for r in RULES},
        "rules_fired": ";".join(r for r in RULES if fired[r]),
        "overfit": overfit,
        "pathology": pathology,
    }


def build_meta_dataset(log_dir: str | os.PathLike,
                       th: LabelThresholds = LabelThresholds(), smooth: int = 1) -> pd.DataFrame:
    """Label every run listed in ``<log_dir>/sweep.csv``.

    Returns
    -------
    DataFrame
        One row per run: the sweep table's columns (run_id, group_id, hyperparameters,
        status, ...) followed by the :func:`label_log` columns.

    Raises
    ------
    FileNotFoundError
        No ``sweep.csv`` in ``log_dir``.
    """
    log_dir = Path(log_dir)
    sweep_path = log_dir / "sweep.csv"
    if not sweep_path.exists():
        raise FileNotFoundError(f"{sweep_path} not found: run the sweep first (notebook 01)")
    sweep = pd.read_csv(sweep_path)
    rows = []
    for rec in sweep.to_dict("records"):
        log_path = log_dir / f"{rec['run_id']}.csv"
        status = rec["status"]
        if status == "missing" or not log_path.exists():
            continue
        rows.append({**rec, **label_log(read_log(log_path), status, th, smooth)})
    return pd.DataFrame(rows)


def sensitivity_table(log_dir_or_logs, grid: dict[str, list[float]],
                      base: LabelThresholds = LabelThresholds(),
                      statuses: dict | None = None) -> pd.DataFrame:
    """Positive (overfit) rate among labelled runs when one threshold moves at a time.

    Parameters
    ----------
    log_dir_or_logs : path or dict
        A log folder (read through ``sweep.csv``) or ``{run_id: log DataFrame}``.
    grid : dict
        ``{threshold field: [values]}``; every other threshold stays at ``base``.
    statuses : dict, optional
        ``{run_id: status}`` when logs are given directly (default: all completed).

    Returns
    -------
    DataFrame
        Columns ``threshold``, ``value``, ``is_default``, ``n_labelled``, ``n_overfit``,
        ``overfit_rate``.
    """
    if isinstance(log_dir_or_logs, dict):
        logs = log_dir_or_logs
        statuses = statuses or {r: "completed" for r in logs}
    else:
        d = Path(log_dir_or_logs)
        sweep = pd.read_csv(d / "sweep.csv")
        sweep = sweep[sweep.status != "missing"]
        logs = {r: read_log(d / f"{r}.csv") for r in sweep.run_id}
        statuses = dict(zip(sweep.run_id, sweep.status))
    values = {}
    for r, log in logs.items():
        if statuses[r] not in ("diverged", "failed"):
            v = rule_values(log)
            if not _collapsed(v, base):
                values[r] = v
    out = []
    for field, vals in grid.items():
        for val in vals:
            th = dataclasses.replace(base, **{field: val})
            n_pos = sum(any(apply_rules(v, th).values()) for v in values.values())
            out.append(dict(threshold=field, value=val, is_default=val == getattr(base, field),
                            n_labelled=len(values), n_overfit=n_pos,
                            overfit_rate=n_pos / len(values) if values else float("nan")))
    return pd.DataFrame(out)


def thresholds_to_json(th: LabelThresholds) -> str:
    """The thresholds as indented JSON (to record them beside results)."""
    return json.dumps(dataclasses.asdict(th), indent=2)


THRESHOLDS_FILE = "label_thresholds.json"


def save_thresholds(th: LabelThresholds, meta_dir: str | os.PathLike) -> Path:
    """Write the thresholds to ``<meta_dir>/label_thresholds.json`` (atomically), so every
    later stage labels with the thresholds chapter 2 used. Returns the path."""
    from .runlog import atomic_write_text

    path = Path(meta_dir) / THRESHOLDS_FILE
    atomic_write_text(path, thresholds_to_json(th))
    return path


def load_thresholds(meta_dir: str | os.PathLike) -> LabelThresholds:
    """The thresholds chapter 2 wrote to ``<meta_dir>/label_thresholds.json``.

    Raises
    ------
    FileNotFoundError
        No such file (run notebook 02 first).
    ValueError
        Unknown field in the file (named).
    """
    path = Path(meta_dir) / THRESHOLDS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run notebook 02 (labels) first")
    d = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(LabelThresholds)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{path}: unknown threshold(s) {unknown}; known: {sorted(known)}")
    return LabelThresholds(**d)
