"""Readers for training logs in common formats -> one tidy curve table (:class:`Curves`).

Formats (:data:`FORMATS`): Hugging Face ``trainer_state.json`` (a file under any name, a
checkpoint folder or the output folder holding ``checkpoint-*``), PyTorch Lightning CSVLogger
``metrics.csv`` (with or without ``step``), Keras CSVLogger CSV, Keras ``history.history``
dumps (JSON dict of lists, pandas CSV, list-of-records JSON), TensorBoard event files (through
tbparse, imported only then), an MLflow run folder of a local file store (through the mlflow
client, imported only then), our own per-epoch ``logs/`` CSV, and any per-epoch CSV
(separator and title lines sniffed). :func:`read_curves` detects the format from the content.

Sweep tables (one row per trial) are read by :func:`read_sweep` (:mod:`.sweeps`).

Speed: the readers of text and JSON logs use the standard library (:mod:`csv`, :mod:`json`) and
numpy only; :class:`Curves` keeps numpy columns and builds its pandas ``table`` on first use,
and the sweep readers are imported on first use, so that ``overfit-forecast diagnose`` does not
pay for importing pandas (TensorBoard and MLflow logs do: tbparse and mlflow need it).

Problems with the input raise :class:`LogFormatError` (sweeps: :class:`SweepInputError`, a
subclass) naming the file and the line, column or key; choices made for the user (which of
several appended runs was read) are :class:`LogFormatWarning`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._io import detect_format, parse_numbers, read_table, read_text, sniff
from ._names import (TIDY_COLUMNS, Curves, LogFormatError, LogFormatWarning, MultipleRunsError, canonical,
                     split_metric)
from .jsonlogs import read_hf_trainer, read_keras_history
from .runs import read_generic_csv, read_keras_csv, read_lightning_csv, read_ours, split_runs
from .stores import read_mlflow, read_tensorboard

FORMATS = ("auto", "hf_trainer", "lightning", "keras_csv", "keras_history", "tensorboard",
           "mlflow", "overfit_forecast", "csv")

__all__ = ["FORMATS", "TIDY_COLUMNS", "Curves", "LogFormatError", "LogFormatWarning", "MultipleRunsError",
           "SweepInputError", "SweepInputWarning", "canonical", "detect_format", "detect_sweep_format",
           "parse_numbers", "read_curves", "read_generic_csv", "read_hf_trainer", "read_keras_csv",
           "read_keras_history", "read_lightning_csv", "read_mlflow", "read_ours", "read_sweep",
           "read_table", "read_tensorboard", "read_text", "sniff", "split_metric", "split_runs"]


_SWEEP_NAMES = ("SweepInputError", "SweepInputWarning", "detect_sweep_format", "read_sweep")


def __getattr__(name: str):
    """The sweep readers (:mod:`.sweeps`, pandas-based) are imported on first use, so that
    reading a run log imports no pandas."""
    if name in _SWEEP_NAMES:
        from . import sweeps

        return getattr(sweeps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_curves(path: str | os.PathLike, format: str = "auto", column_map: dict | None = None,
                run: int | None = None) -> Curves:
    """Read a training log of any supported format (see module docstring).

    Parameters
    ----------
    path : path
        File or folder.
    format : str
        One of :data:`FORMATS`; "auto" uses :func:`detect_format` (by content).
    column_map : dict, optional
        Column renames for table formats (``{"valid_loss_custom": "val_loss"}``); implies the
        generic table reader.
    run : int, optional
        For tables holding several appended runs: which one (0-based; default the last, with
        a :class:`LogFormatWarning`).

    Raises
    ------
    LogFormatError
        Anything wrong with the input (the message names the file; line, column or key if
        known).
    """
    if format not in FORMATS:
        raise LogFormatError(f"unknown format {format!r}; expected one of {FORMATS}")
    p = Path(path)
    if not p.exists():
        raise LogFormatError(f"{p}: no such file or folder")
    fmt = detect_format(p) if format == "auto" else format
    if fmt == "hf_trainer":
        return read_hf_trainer(p)
    if fmt == "tensorboard":
        return read_tensorboard(p)
    if fmt == "mlflow":
        return read_mlflow(p)
    if p.is_dir():
        if not (p / "metrics.csv").exists():
            raise LogFormatError(f"{p}: a folder, but format {fmt!r} reads one file (no metrics.csv here)")
        p = p / "metrics.csv"
    if fmt == "keras_history":
        return read_keras_history(p)
    if column_map or fmt == "csv":
        return read_generic_csv(p, column_map, run)
    if fmt == "lightning":
        return read_lightning_csv(p, run)
    if fmt == "keras_csv":
        return read_keras_csv(p, run)
    return read_ours(p, run)
