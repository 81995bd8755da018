"""Prechelt's early-stopping quantities, on per-epoch loss curves (and a least-squares slope).

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
    default): ``cov(x, y) / var(x)`` over the finite pairs, the closed-form simple linear
    regression estimate (Wasserman 2004, *All of Statistics*, sec. 13.1) (the same value as
    :func:`scipy.stats.linregress`, without importing scipy.stats). NaN if fewer than 2
    finite points or ``x`` constant."""
    y = _as_float(y, "y")
    x = np.arange(y.size, dtype=float) if x is None else _as_float(x, "x")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return float("nan")
    xc = x[ok] - x[ok].mean()
    return float(np.dot(xc, y[ok] - y[ok].mean()) / np.dot(xc, xc))
