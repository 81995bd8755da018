"""One training run: its config, ``train_one_epoch`` / ``evaluate``, and its per-epoch log.

Follows pytorch/examples ``mnist/main.py`` (``model.train()`` for updates,
``model.eval()`` + ``torch.no_grad()`` for measurement, explicit seeds), with batches
sliced from in-memory tensors instead of a ``DataLoader``.

Files written per run, in the run's log folder:

``<run_id>.csv``
    One row per epoch, epoch 0 (before any update) included. Columns: see
    :data:`LOG_COLUMNS` (and :data:`TEST_COLUMNS` with ``log_test``). Rewritten atomically after every epoch, so a killed run leaves
    a valid but short log.
``<run_id>.json``
    The run's config, plus its ``status`` (``completed`` / ``diverged`` / ``failed``),
    ``epochs_done``, ``runtime_sec``, ``test_acc`` and ``message``. Written atomically
    when the run ends; its presence is what marks a run as done for the resumable sweep.

Devices: ``RunConfig.device`` is ``auto`` (CUDA when available), ``cpu``, ``cuda`` or
``cuda:N``; data and model live there, and every random draw that picks data (subset,
label noise, batch order) is made on the CPU, so a run sees the same batches on every
device. On CUDA, :func:`set_deterministic` makes a run repeatable (same config and seed
-> same log on the same GPU model, driver and library versions); CPU and GPU logs of one
config agree in meaning but not bit for bit.
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
from .runlog import (  # noqa: F401
    LOG_COLUMNS, STATUSES, TEST_COLUMNS, RunConfig, atomic_write_text, log_columns, log_text, read_log, write_log,
)


class DeviceUnavailableError(RuntimeError):
    """A run asks for a device this machine does not have (e.g. ``cuda`` without a GPU)."""


def resolve_device(name: str = "auto") -> torch.device:
    """The ``torch.device`` a run with ``RunConfig.device == name`` trains on.

    ``auto`` is ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``; ``cuda`` is
    the current CUDA device (the one a Dask worker per GPU sees through
    ``CUDA_VISIBLE_DEVICES``), returned with its index.

    Raises
    ------
    DeviceUnavailableError
        CUDA asked for but not available, or ``cuda:N`` beyond the visible devices; the
        message says what torch sees and what to use instead.
    ValueError
        Any other name.
    """
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return resolve_device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if name != "cuda" and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ValueError(f"unknown device {name!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceUnavailableError(
            f"device {name!r} requested but CUDA is not available here (torch {torch.__version__}, "
            f"{build}; no usable NVIDIA GPU/driver, or CUDA_VISIBLE_DEVICES hides them). "
            "Set `device: cpu` (or `auto`) in the sweep file, or run on a machine with a GPU."
        )
    index = int(name[5:]) if ":" in name else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) are visible"
        )
    return torch.device("cuda", index)


def set_deterministic(device: torch.device) -> None:
    """Make CUDA training repeatable; a no-op on the CPU (its kernels are deterministic).

    Sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (needed by deterministic cuBLAS; it must come
    before the process's first cuBLAS call, so a sweep worker calls this before touching
    the GPU), ``torch.use_deterministic_algorithms(True)``, cuDNN deterministic without
    autotuning, and TF32 off so convolutions and matrix products are plain fp32 as on the
    CPU. Source: PyTorch "Reproducibility" notes. Where CUDA has no deterministic kernel
    for an op, torch raises ``RuntimeError`` naming it and the run is recorded ``failed``
    with that message (the default CNN and MLP use none: conv2d, max_pool2d, linear,
    dropout, cross-entropy and SGD/Adam all have deterministic CUDA paths). Bitwise
    equality holds on the same GPU model, driver, CUDA/cuDNN and torch versions only.
    """
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def train_one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> bool:
    """One pass of minibatch updates over ``(x, y)`` in a seeded shuffled order.

    ``generator`` is a CPU generator (the order is drawn there, see
    :func:`~overfit_forecast.data.iterate_minibatches`); ``x``, ``y`` and the model may be
    on any device. Returns ``False`` as soon as a minibatch loss is non-finite (the run
    has diverged), ``True`` otherwise; that check is one host-device synchronisation per
    step on a GPU, kept so a diverged run stops at the same step on every device. No
    metrics are returned on purpose: running averages over an epoch mix many versions of
    the model and dropout noise; see :func:`evaluate`.
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

    Measured in eval mode (dropout off) with gradients disabled, over every row. The
    per-batch sums are added up on the data's device in float64 and read once at the end
    (one synchronisation per pass instead of two per batch); the result is the same number
    as adding the float32 batch sums one by one in Python. Returns ``(nan, acc)`` when the
    loss is non-finite.
    """
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for xb, yb in iterate_minibatches(x, y, batch_size):
        logits = model(xb)
        total_loss += F.cross_entropy(logits, yb, reduction="sum").double()
        correct += (logits.argmax(1) == yb).sum()
    n = len(y)
    loss = total_loss.item() / n
    return (loss if math.isfinite(loss) else float("nan")), correct.item() / n


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    """SGD with momentum or Adam, as named by ``cfg.optimizer``.

    ``foreach=True``: one multi-tensor kernel per step instead of a Python loop over the
    parameters; the same arithmetic, so the same floats as the loop.
    """
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               foreach=True)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)




def result_text(result: dict) -> str:
    """A run's result record as the JSON text of ``<run_id>.json``."""
    return json.dumps(result, indent=2) + "\n"


def run_training(cfg: RunConfig, splits: Splits, log_dir: str | os.PathLike, callback=None) -> dict:
    """Train one run and write its log and result files (see module docstring).

    The log is rewritten after every epoch and the result JSON written at the end, both
    atomically. See :func:`train_run` for what is measured and returned.
    """
    log_dir = Path(log_dir)
    log_path = log_dir / f"{cfg.run_id}.csv"
    result, _ = train_run(cfg, splits, callback, on_epoch=lambda rows: write_log(rows, log_path))
    atomic_write_text(log_dir / f"{cfg.run_id}.json", result_text(result))
    return result


def train_run(cfg: RunConfig, splits: Splits, callback=None, on_epoch=None) -> tuple[dict, list[dict]]:
    """Train one run in memory: its result record and its per-epoch log rows.

    Per epoch t = 0..epochs (0 = before any update), logs ``train_loss``/``train_acc``
    measured in eval mode over the run's whole training subset *with the labels it is
    trained on* (noisy ones included), ``val_loss``/``val_acc`` over the validation split,
    ``gap = train_acc - val_acc`` (the generalization gap in accuracy), the learning rate
    and the epoch's wall-clock seconds (training + measurement); with ``cfg.log_test`` also
    ``test_loss``/``test_acc`` over the test split (measured, never trained or selected on).

    ``splits`` may be on any device; they are moved to ``cfg.device`` (see
    :func:`resolve_device`) if needed. ``cfg.channels_last`` trains in the NHWC memory
    format (``benchmarks/throughput.py``: about 1.3x faster on CPU for the default CNN);
    its floats differ from the default's in the last digits, so it is part of the run's id. ``on_epoch(rows)``, if given, is called after each
    measured epoch with the rows so far. ``callback(epoch, log) -> bool``, if given, is
    called after each epoch >= 1 with the log so far (a DataFrame of :data:`LOG_COLUMNS`);
    returning True stops the run with ``status="early_stopped"`` (e.g.
    :class:`overfit_forecast.forecast.RiskDrivenStopping`).

    A non-finite minibatch or measured loss stops the run with ``status="diverged"``
    (the log keeps every epoch up to and including the one that diverged). Any exception
    once training has started is caught and recorded as ``status="failed"`` with its
    message; it never propagates.

    Raises
    ------
    DeviceUnavailableError
        ``cfg.device`` is not available here (before anything is trained).

    Returns
    -------
    (dict, list of dict)
        The run's result record (config fields + run_id, group_id, status, epochs_done,
        runtime_sec, test_acc, message, and ``trained_on``: the device it trained on, e.g.
        ``cpu`` or ``cuda:0``) and the log rows (dicts keyed by LOG_COLUMNS).
    """
    t_start = time.perf_counter()
    rows: list[dict] = []
    status, message, test_acc = "completed", "", float("nan")
    device = resolve_device(cfg.device)
    try:
        set_deterministic(device)
        splits = splits.to(device)
        torch.manual_seed(cfg.seed)
        x, y = subsample(splits.x_train, splits.y_train, cfg.n_train, cfg.seed)
        y = add_label_noise(y, cfg.label_noise, cfg.seed)
        model = build_model(cfg.arch, cfg.width, cfg.dropout, cfg.hidden).to(device)
        if cfg.channels_last:  # NHWC activations: oneDNN's fast path on CPU, cuDNN's on GPU
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer = make_optimizer(cfg, model.parameters())
        gen = torch.Generator().manual_seed(cfg.seed + 1)

        def measure(epoch: int, t0: float) -> bool:
            tr_loss, tr_acc = evaluate(model, x, y, cfg.eval_batch_size)
            va_loss, va_acc = evaluate(model, splits.x_val, splits.y_val, cfg.eval_batch_size)
            row = dict(epoch=epoch, train_loss=tr_loss, val_loss=va_loss, train_acc=tr_acc, val_acc=va_acc,
                       gap=tr_acc - va_acc, lr=optimizer.param_groups[0]["lr"])
            if cfg.log_test:  # eval mode, no randomness: the training trajectory is unchanged
                row["test_loss"], row["test_acc"] = evaluate(model, splits.x_test, splits.y_test, cfg.eval_batch_size)
            rows.append(dict(row, seconds=round(time.perf_counter() - t0, 4)))
            if on_epoch is not None:
                on_epoch(rows)
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
            elif callback is not None and callback(epoch, pd.DataFrame(rows, columns=log_columns(rows))):
                status, message = "early_stopped", f"stopped by {type(callback).__name__} after epoch {epoch}"
        if status in ("completed", "early_stopped"):
            _, test_acc = evaluate(model, splits.x_test, splits.y_test, cfg.eval_batch_size)
    except Exception as exc:  # one bad run must never stop the sweep
        status = "failed"
        message = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    result = dict(run_id=cfg.run_id, group_id=cfg.group_id, **cfg.to_dict(), status=status,
                  epochs_done=max(0, len(rows) - 1), runtime_sec=round(time.perf_counter() - t_start, 3),
                  test_acc=test_acc, message=message, trained_on=str(device))
    return result, rows
