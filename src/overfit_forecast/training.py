"""One training run: its config, ``train_one_epoch`` / ``evaluate``, and its per-epoch log.

Follows pytorch/examples ``mnist/main.py`` (``model.train()`` for updates,
``model.eval()`` + ``torch.no_grad()`` for measurement, explicit seeds), with batches
sliced from in-memory tensors instead of a ``DataLoader``.

Files written per run, in the run's log folder:

``<run_id>.csv``
    One row per epoch, epoch 0 (before any update) included. Columns: see
    :data:`LOG_COLUMNS`. Rewritten atomically after every epoch, so a killed run leaves
    a valid but short log.
``<run_id>.json``
    The run's config, plus its ``status`` (``completed`` / ``diverged`` / ``failed``),
    ``epochs_done``, ``runtime_sec``, ``test_acc`` and ``message``. Written atomically
    when the run ends; its presence is what marks a run as done for the resumable sweep.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from .data import Splits, add_label_noise, iterate_minibatches, subsample
from .model import build_model
# The run-log format lives in the torch-free :mod:`overfit_forecast.runlog`; re-exported here.
from .runlog import LOG_COLUMNS, STATUSES, RunConfig, atomic_write_text, read_log, write_log  # noqa: F401

def train_one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> bool:
    """One pass of minibatch updates over ``(x, y)`` in a seeded shuffled order.

    Returns ``False`` as soon as a minibatch loss is non-finite (the run has diverged),
    ``True`` otherwise. No metrics are returned on purpose: running averages over an
    epoch mix many versions of the model and dropout noise; see :func:`evaluate`.
    """
    model.train()
    for xb, yb in iterate_minibatches(x, y, batch_size, generator):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        if not torch.isfinite(loss):
            return False
        loss.backward()
        optimizer.step()
    return True


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256
) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy (fraction in [0, 1]) of ``model`` on ``(x, y)``.

    Measured in eval mode (dropout off) with gradients disabled, over every row.
    Returns ``(nan, acc)`` when the loss is non-finite.
    """
    model.eval()
    total_loss, correct = 0.0, 0
    for xb, yb in iterate_minibatches(x, y, batch_size):
        logits = model(xb)
        total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    n = len(y)
    loss = total_loss / n
    return (loss if math.isfinite(loss) else float("nan")), correct / n


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    """SGD with momentum or Adam, as named by ``cfg.optimizer``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def run_training(cfg: RunConfig, splits: Splits, log_dir: str | os.PathLike, callback=None) -> dict:
    """Train one run and write its log and result files (see module docstring).

    Per epoch t = 0..epochs (0 = before any update), logs ``train_loss``/``train_acc``
    measured in eval mode over the run's whole training subset *with the labels it is
    trained on* (noisy ones included), ``val_loss``/``val_acc`` over the validation split,
    ``gap = train_acc - val_acc`` (the generalization gap in accuracy), the learning rate
    and the epoch's wall-clock seconds (training + measurement).

    ``callback(epoch, log) -> bool``, if given, is called after each epoch >= 1 with the log
    so far (a DataFrame of :data:`LOG_COLUMNS`); returning True stops the run with
    ``status="early_stopped"`` (e.g. :class:`overfit_forecast.forecast.RiskDrivenStopping`).

    A non-finite minibatch or measured loss stops the run with ``status="diverged"``
    (the log keeps every epoch up to and including the one that diverged). Any exception
    is caught and recorded as ``status="failed"`` with its message; it never propagates.

    Returns
    -------
    dict
        The run's result record (config fields + run_id, group_id, status, epochs_done,
        runtime_sec, test_acc, message), also written to ``<run_id>.json``.
    """
    log_dir = Path(log_dir)
    log_path = log_dir / f"{cfg.run_id}.csv"
    t_start = time.perf_counter()
    rows: list[dict] = []
    status, message, test_acc = "completed", "", float("nan")
    try:
        torch.manual_seed(cfg.seed)
        x, y = subsample(splits.x_train, splits.y_train, cfg.n_train, cfg.seed)
        y = add_label_noise(y, cfg.label_noise, cfg.seed)
        model = build_model(cfg.arch, cfg.width, cfg.dropout, cfg.hidden)
        optimizer = make_optimizer(cfg, model.parameters())
        gen = torch.Generator().manual_seed(cfg.seed + 1)

        def measure(epoch: int, t0: float) -> bool:
            tr_loss, tr_acc = evaluate(model, x, y, cfg.eval_batch_size)
            va_loss, va_acc = evaluate(model, splits.x_val, splits.y_val, cfg.eval_batch_size)
            rows.append(
                dict(
                    epoch=epoch,
                    train_loss=tr_loss,
                    val_loss=va_loss,
                    train_acc=tr_acc,
                    val_acc=va_acc,
                    gap=tr_acc - va_acc,
                    lr=optimizer.param_groups[0]["lr"],
                    seconds=round(time.perf_counter() - t0, 4),
                )
            )
            write_log(rows, log_path)
            return math.isfinite(tr_loss) and math.isfinite(va_loss)

        if not measure(0, time.perf_counter()):
            status, message = "diverged", "non-finite loss at initialization"
        for epoch in range(1, cfg.epochs + 1):
            if status != "completed":
                break
            t0 = time.perf_counter()
            finite = train_one_epoch(model, optimizer, x, y, cfg.batch_size, gen)
            if not finite:
                measure(epoch, t0)
                status, message = "diverged", f"non-finite minibatch loss in epoch {epoch}"
            elif not measure(epoch, t0):
                status, message = "diverged", f"non-finite measured loss after epoch {epoch}"
            elif callback is not None and callback(epoch, pd.DataFrame(rows, columns=LOG_COLUMNS)):
                status, message = "early_stopped", f"stopped by {type(callback).__name__} after epoch {epoch}"
        if status in ("completed", "early_stopped"):
            _, test_acc = evaluate(model, splits.x_test, splits.y_test, cfg.eval_batch_size)
    except Exception as exc:  # one bad run must never stop the sweep
        status = "failed"
        message = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    result = dict(
        run_id=cfg.run_id,
        group_id=cfg.group_id,
        **cfg.to_dict(),
        status=status,
        epochs_done=max(0, len(rows) - 1),
        runtime_sec=round(time.perf_counter() - t_start, 3),
        test_acc=test_acc,
        message=message,
    )
    atomic_write_text(log_dir / f"{cfg.run_id}.json", json.dumps(result, indent=2) + "\n")
    return result
