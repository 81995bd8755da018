"""Prechelt's early-stopping quantities, on per-epoch loss curves.

All from L. Prechelt, "Early Stopping -- But When?", in *Neural Networks: Tricks of the
Trade*, LNCS 1524, Springer 1998, pp. 55-69 (section 2.2). Prechelt defines them on the
validation *error*; here, as in the labels of this study, the error is the validation
cross-entropy loss. Epochs are rows of the curve, in order.

- ``E_opt(t) = min_{t' <= t} E_va(t')``
- generalization loss ``GL(t) = 100 * (E_va(t) / E_opt(t) - 1)`` (percent)
- training progress over a strip of length k ending at t:
  ``P_k(t) = 1000 * (sum_{t'=t-k+1..t} E_tr(t') / (k * min_{t'=t-k+1..t} E_tr(t')) - 1)``
  (per mille)
- ``PQ(t) = GL(t) / P_k(t)``; the PQ_alpha rule stops when PQ exceeds alpha
- ``UP_s``: stop after the validation error went up in s successive strips (each strip
  is k epochs long; the error is compared at strip ends).
"""

from __future__ import annotations

import numpy as np


def _as_float(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per epoch), got shape {a.shape}")
    return a


def generalization_loss(val_loss) -> np.ndarray:
    """GL(t) for every epoch t, in percent (Prechelt 1998, eq. 2).

    Parameters
    ----------
    val_loss : array-like, shape (T,)
        Validation loss per epoch (positive). Non-finite values propagate as NaN.

    Returns
    -------
    ndarray, shape (T,)
        ``100 * (val_loss[t] / min(val_loss[:t+1]) - 1)``; 0 where the curve is at its
        running minimum.

    Raises
    ------
    ValueError
        Input not 1-D.
    """
    v = _as_float(val_loss, "val_loss")
    if v.size == 0:
        return v
    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.where(np.isfinite(v), v, np.inf)
        e_opt = np.minimum.accumulate(finite)
        gl = 100.0 * (v / e_opt - 1.0)
    gl[~np.isfinite(v)] = np.nan
    return gl


def training_progress(train_loss, k: int = 5) -> np.ndarray:
    """P_k(t) for every epoch t, in per mille (Prechelt 1998, eq. 3).

    Needs a full strip of ``k`` epochs ending at t: the first ``k - 1`` entries are NaN.
    High while training loss still falls fast; tends to 0 when it stalls.

    Raises
    ------
    ValueError
        ``k < 1`` or input not 1-D.
    """
    if k < 1:
        raise ValueError(f"strip length k must be >= 1, got {k}")
    e = _as_float(train_loss, "train_loss")
    out = np.full(e.shape, np.nan)
    for t in range(k - 1, e.size):
        strip = e[t - k + 1 : t + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[t] = 1000.0 * (strip.sum() / (k * strip.min()) - 1.0)
    return out


def progress_quotient(val_loss, train_loss, k: int = 5) -> np.ndarray:
    """PQ(t) = GL(t) / P_k(t) (Prechelt 1998, section 2.2); NaN where P_k is undefined or 0."""
    gl = generalization_loss(val_loss)
    p = training_progress(train_loss, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        pq = gl / p
    pq[~np.isfinite(pq)] = np.nan
    return pq


def up_successive_strips(val_loss, k: int = 5) -> int:
    """Number of successive strip ends, up to the last epoch, at which validation loss rose.

    Prechelt's UP_s criterion fires at the end of the curve when this is >= s. Strip ends
    are taken backwards from the last epoch (T-1, T-1-k, T-1-2k, ...).
    """
    v = _as_float(val_loss, "val_loss")
    ends = list(range(v.size - 1, -1, -k))[::-1]
    count = 0
    for prev, cur in zip(ends[:-1], ends[1:]):
        count = count + 1 if v[cur] > v[prev] else 0
    return count


def least_squares_slope(y, x=None) -> float:
    """Slope of the ordinary least-squares line through ``(x, y)`` (``x`` = 0, 1, ... by
    default), via :func:`scipy.stats.linregress`. NaN if fewer than 2 finite points."""
    from scipy.stats import linregress

    y = _as_float(y, "y")
    x = np.arange(y.size, dtype=float) if x is None else _as_float(x, "x")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return float("nan")
    return float(linregress(x[ok], y[ok]).slope)


def improved(current: float, best: float, mode: str = "min", min_delta: float = 0.0) -> bool:
    """Whether ``current`` improves on ``best`` by more than ``min_delta``.

    Keras ``EarlyStopping``'s test: ``current < best - min_delta`` for ``mode="min"``,
    ``current > best + min_delta`` for ``mode="max"`` (keras.callbacks.EarlyStopping,
    ``_is_improvement``). A non-finite ``current`` never improves; any finite value improves on
    a non-finite ``best``.

    Raises
    ------
    ValueError
        ``mode`` not "min" or "max", or ``min_delta < 0``.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if min_delta < 0:
        raise ValueError(f"min_delta must be >= 0, got {min_delta}")
    if not np.isfinite(current):
        return False
    if not np.isfinite(best):
        return True
    return current < best - min_delta if mode == "min" else current > best + min_delta


def early_stopping(values, *, mode: str = "min", min_delta: float = 0.0, patience: int = 3,
                   start_from_epoch: int = 0, restore_best: bool = True) -> dict:
    """Replay early stopping on a monitored curve, with the Keras/Lightning vocabulary.

    Semantics of ``keras.callbacks.EarlyStopping`` (and Lightning's ``EarlyStopping`` with
    ``check_on_train_epoch_end=False``): evaluations with index ``< start_from_epoch`` are
    not monitored; from there, ``wait`` counts evaluations without an improvement
    (:func:`improved` with ``mode`` and ``min_delta``) and training stops at the first
    evaluation where ``wait >= patience``.

    Parameters
    ----------
    values : array-like, shape (T,)
        The monitored quantity, one value per evaluation (e.g. validation loss per epoch).
    mode, min_delta, patience, start_from_epoch
        As in Keras. ``patience >= 1``.
    restore_best : bool
        Keras ``restore_best_weights``: the kept checkpoint is the best monitored
        evaluation up to the stop; otherwise the one at the stop.

    Returns
    -------
    dict
        ``stopped`` (bool), ``stop_index`` (index of the evaluation at which training stops;
        the last index when it never stops), ``best_index`` (best monitored evaluation up to
        the stop, or None when no finite value was monitored), ``kept_index`` (the checkpoint
        kept: best or stop, per ``restore_best``), ``wait`` at the stop.

    Raises
    ------
    ValueError
        ``patience < 1``, ``start_from_epoch < 0``, bad ``mode``/``min_delta``, input not 1-D.
    """
    v = _as_float(values, "values")
    if patience < 1 or start_from_epoch < 0:
        raise ValueError(f"need patience >= 1 and start_from_epoch >= 0, got {patience}, {start_from_epoch}")
    improved(0.0, 0.0, mode, min_delta)  # validates mode and min_delta
    best_i, wait, stop = None, 0, max(v.size - 1, 0)
    stopped = False
    for i in range(start_from_epoch, v.size):
        if best_i is None or improved(v[i], v[best_i], mode, min_delta):
            if np.isfinite(v[i]):
                best_i, wait = i, 0
                continue
        wait += 1
        if wait >= patience:
            stop, stopped = i, True
            break
    kept = best_i if (restore_best and best_i is not None) else stop
    return dict(stopped=stopped, stop_index=stop, best_index=best_i, kept_index=kept, wait=wait)
