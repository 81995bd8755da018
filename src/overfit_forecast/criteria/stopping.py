"""Early stopping with the Keras/Lightning vocabulary: :func:`improved` and
:func:`early_stopping` (the one early-stopping replay of the project)."""

from __future__ import annotations

import numpy as np

from .prechelt import _as_float


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
