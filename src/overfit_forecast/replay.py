"""Replay of stopping policies on finished per-epoch logs (chapter 7, "What it saves").

Every policy decides on the **validation loss** only and stops through the one early-stopping
function of the project, :func:`overfit_forecast.criteria.early_stopping` (Keras vocabulary:
``monitor``/``mode``/``min_delta``/``patience``/``start_from_epoch``/``restore_best``), or
through Optuna's pruning rules (:func:`median_pruner_stops`) driven by the same curves.

Logs: one DataFrame per run, one row per epoch, epoch 0 (before any update) first, columns
``val_loss`` and ``val_acc`` at least (``overfit_forecast.runlog.read_log``). The number of
epochs trained when a run stops at row index ``s`` is ``s``.

The risk-driven rule, :func:`risk_patience`, is shared by the replay and the training callback
:class:`overfit_forecast.forecast.RiskDrivenStopping`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .criteria import early_stopping

#: Patience that never fires on a run of at most this many epochs (a checkpoint tracker).
_NEVER = 10**6


def risk_patience(p_overfit: float | None, end_state: str | None = None, threshold: float = 0.5,
                  patience_high: int = 2, patience_low: int | None = 5) -> int | None:
    """Early-stopping patience from epoch k, set by a run's forecast at k.

    Parameters
    ----------
    p_overfit : float or None
        Forecast probability that the run ends overfit (binary forecaster), or None.
    end_state : str or None
        Forecast end state (four-class forecaster: ``healthy``/``overfit``/``underfit``/
        ``diverged``), or None.
    threshold, patience_high, patience_low
        High risk = ``p_overfit >= threshold`` or end state ``overfit``/``underfit``.

    Returns
    -------
    int or None
        ``0`` (stop at k) when the end state is ``diverged``; ``patience_high`` for a
        high-risk run; else ``patience_low`` (None: never stop, train every epoch).
    """
    if end_state == "diverged":
        return 0
    if (p_overfit is not None and p_overfit >= threshold) or end_state in ("overfit", "underfit"):
        return patience_high
    return patience_low


def _stop_at(v: np.ndarray, k: int, patience: int | None, restore_best: bool) -> tuple[int, int]:
    """(stop index, kept index) of early stopping from epoch ``k`` with ``patience``
    (0: stop at k; None: train every epoch); ``k`` beyond the log: the last epoch."""
    last = len(v) - 1
    k = min(k, last)
    if patience == 0:
        return k, k
    if patience is None:  # no early stopping; with restore_best a best-checkpoint tracker from k
        return last, _kept(v, last, k, restore_best)
    es = early_stopping(v, patience=patience, start_from_epoch=k, restore_best=restore_best)
    return es["stop_index"], es["kept_index"]


def _kept(v: np.ndarray, stop: int, start: int, restore_best: bool) -> int:
    """The kept checkpoint of a run stopped at ``stop``: the stop itself, or with
    ``restore_best`` the lowest validation loss in ``start..stop`` (Keras
    ``restore_best_weights``; a patience that never fires only tracks the best)."""
    if not restore_best:
        return stop
    kept = early_stopping(v[: stop + 1], patience=_NEVER, start_from_epoch=min(start, stop),
                          restore_best=True)["kept_index"]
    return stop if kept is None else kept


def _patient(values: np.ndarray, patience: int) -> bool:
    """Optuna ``PatientPruner``'s condition (optuna.pruners.PatientPruner.prune, minimize,
    ``min_delta=0``): the best value before the last ``patience + 1`` steps is better than the
    best within them, i.e. no improvement for ``patience`` steps."""
    before, after = values[: -patience - 1], values[-patience - 1:]
    return bool(before.size and np.nanmin(before) < np.nanmin(after))


def median_pruner_stops(val_loss: np.ndarray, warmup: int = 5, patience: int | None = None) -> np.ndarray:
    """Epoch index at which an Optuna ``MedianPruner(n_warmup_steps=warmup)`` (or, with
    ``patience``, ``PatientPruner(MedianPruner, patience)``) would prune each run.

    Parameters
    ----------
    val_loss : ndarray, shape (n_runs, n_epochs)
        Validation loss per run (rows) and epoch (columns, epoch 0 first); NaN after a
        run's last epoch.

    Returns
    -------
    ndarray of int, shape (n_runs,)
        The pruning epoch, or the run's last epoch when it is never pruned. A run is pruned
        at epoch e >= warmup when its best value so far is worse than the median of the
        *other* runs' values at e (Optuna compares with earlier trials; here every other run
        of the sweep plays that role); with ``patience``, only when it also has not improved
        on its best for ``patience`` epochs (Optuna's PatientPruner).
    """
    v = np.asarray(val_loss, float)
    n = v.shape[0]
    last = np.array([np.flatnonzero(np.isfinite(r)).max() if np.isfinite(r).any() else 0 for r in v])
    best = np.fmin.accumulate(np.where(np.isfinite(v), v, np.inf), axis=1)
    stops = last.copy()
    for i in range(n):
        others = np.delete(v, i, axis=0)
        for e in range(warmup, last[i] + 1):
            col = others[:, e][np.isfinite(others[:, e])]
            if not col.size or not best[i, e] > np.median(col):
                continue
            if patience is not None and not _patient(v[i, : e + 1], patience):
                continue
            stops[i] = e
            break
    return stops


def replay_policies(logs: list[pd.DataFrame], flags, k: int, patience: int = 3, warmup: int = 5,
                    tiered: dict | None = None, restore_best: bool = False,
                    accuracy: str = "val_acc") -> pd.DataFrame:
    """Replay stopping policies on finished per-epoch logs (decisions on validation loss only).

    Policies:

    - ``full``: train every planned epoch;
    - ``patience``: early stopping from epoch 1 (``start_from_epoch=1``) with ``patience``;
    - ``risk``: train to k; where ``flags[i]`` (the run's *held-out* forecast) is true, early
      stopping from epoch k with ``patience``, else every epoch;
    - ``median_pruner`` / ``patient_pruner``: :func:`median_pruner_stops` (warm-up ``warmup``,
      PatientPruner's patience ``patience``);
    - one per entry ``name: (k_t, patiences)`` of ``tiered``: train to ``k_t``, then early
      stopping from ``k_t`` with run i's patience ``patiences[i]`` (from :func:`risk_patience`
      on its held-out forecasts at ``k_t``; 0: stop at ``k_t``; None: every epoch).

    Accuracy (``<policy>_acc``): the ``accuracy`` column (``val_acc``; ``test_acc`` for logs of
    runs with ``RunConfig.log_test``, data no decision looks at) of the **kept** model: the model at
    the stop epoch, or with ``restore_best`` (Keras ``restore_best_weights``) the checkpoint
    with the lowest validation loss since the policy started monitoring (epoch 1 for
    ``patience``, k for ``risk``/tiered, epoch 1 for ``full`` and the pruners). Either way no
    epoch is chosen on validation *accuracy*, but it is the same validation set.

    Returns
    -------
    DataFrame
        One row per run: ``<policy>_epochs`` (epochs trained = stop index), ``<policy>_kept``
        (epoch of the kept model) and ``<policy>_acc``.
    """
    t = max(len(g) for g in logs)
    vl = np.full((len(logs), t), np.nan)
    for i, g in enumerate(logs):
        vl[i, : len(g)] = g["val_loss"].to_numpy(float)
    pruned = median_pruner_stops(vl, warmup)
    patient = median_pruner_stops(vl, warmup, patience)
    rows = []
    for i, (g, flag) in enumerate(zip(logs, flags)):
        v, acc, last = g["val_loss"].to_numpy(float), g[accuracy].to_numpy(float), len(g) - 1
        es = early_stopping(v, patience=patience, start_from_epoch=min(1, last), restore_best=restore_best)
        med, pat = int(min(pruned[i], last)), int(min(patient[i], last))
        stops = {"full": (last, _kept(v, last, 1, restore_best)),
                 "patience": (es["stop_index"], es["kept_index"]),
                 "risk": _stop_at(v, k, patience if flag else None, restore_best),
                 "median_pruner": (med, _kept(v, med, 1, restore_best)),
                 "patient_pruner": (pat, _kept(v, pat, 1, restore_best))}
        for name, (k_t, patiences) in (tiered or {}).items():
            stops[name] = _stop_at(v, k_t, patiences[i], restore_best)
        row = {}
        for p, (stop, kept) in stops.items():
            kept = stop if kept is None else kept
            row.update({f"{p}_epochs": int(stop), f"{p}_kept": int(kept), f"{p}_acc": float(acc[kept])})
        rows.append(row)
    return pd.DataFrame(rows)


def replay_summary(replay: pd.DataFrame, tolerance: float = 0.002) -> pd.DataFrame:
    """Per policy (rows, in the replay's order): ``compute_share`` (epochs trained over those
    of ``full``), ``mean_acc`` (of the kept models), ``mean_acc_lost_points`` (against
    ``full``, in accuracy points; negative = gained), ``runs_stopped`` (stopped before their
    last epoch) and ``false_kills``: runs stopped early that would have ended more than
    ``tolerance`` better had they trained every epoch (``full``)."""
    out = {}
    full_e, full_a = replay["full_epochs"], replay["full_acc"]
    for p in [c.removesuffix("_epochs") for c in replay if c.endswith("_epochs")]:
        stopped = replay[f"{p}_epochs"] < full_e
        lost = full_a - replay[f"{p}_acc"]
        out[p] = {"compute_share": float(replay[f"{p}_epochs"].sum() / full_e.sum()),
                  "mean_acc": float(replay[f"{p}_acc"].mean()),
                  "mean_acc_lost_points": float(100 * lost.mean()),
                  "runs_stopped": int(stopped.sum()),
                  "false_kills": int((stopped & (lost > tolerance)).sum())}
    return pd.DataFrame(out).T
