"""The tidy curve table every run reader returns, its errors, and metric-name canonicalization."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TIDY_COLUMNS = ["step", "epoch", "split", "metric", "value"]


class LogFormatError(ValueError):
    """The log cannot be read; the message names the file and, where known, line/column/key."""


class MultipleRunsError(LogFormatError):
    """A CSV holds several runs appended one after the other and the requested run is not there."""


class LogFormatWarning(UserWarning):
    """The log was read, but a choice was made for the user (e.g. which of several appended runs)."""


@dataclass
class Curves:
    """A run's curves in tidy form.

    ``table`` has columns ``step`` (float, NaN when the format has none), ``epoch`` (epochs
    completed when the value was measured; fractional inside an epoch; NaN when unknown),
    ``split`` (``"train"`` or ``"val"``), ``metric`` (canonical name: ``loss``, ``accuracy`` or
    the format's own) and ``value`` (float; NaN/inf kept: they are evidence). ``format`` is the
    reader used, ``source`` the file read, ``meta`` what the format says about the run.
    """

    table: pd.DataFrame
    format: str
    source: str
    meta: dict = field(default_factory=dict)

    def series(self, split: str, metric: str, by: str = "auto") -> pd.DataFrame:
        """Rows of one curve, sorted, with columns ``x`` (step or epoch), ``step``, ``epoch``,
        ``value``. ``by``: "step", "epoch" or "auto" (step when the curve has steps)."""
        t = self.table[(self.table.split == split) & (self.table.metric == metric)].copy()
        if by == "auto":
            by = "step" if t["step"].notna().all() and len(t) else "epoch"
        t["x"] = t[by]
        return t.sort_values(["x"], kind="stable").reset_index(drop=True)[["x", "step", "epoch", "value"]]

    def metrics(self, split: str) -> list[str]:
        """Sorted metric names logged for ``split`` ("train" or "val")."""
        return sorted(self.table.loc[self.table.split == split, "metric"].unique())


_SPLITS = {"train": "train", "training": "train", "tr": "train", "trn": "train",
           "val": "val", "valid": "val", "validation": "val", "eval": "val", "dev": "val",
           "test": "test", "tst": "test"}
#: Split words also recognized inside a name (``reg_val_loss``); short ones only at either end.
_MIDDLE_SPLITS = {"train", "training", "val", "valid", "validation", "test"}
_METRIC_ALIASES = {"acc": "accuracy", "categorical_accuracy": "accuracy",
                   "sparse_categorical_accuracy": "accuracy", "binary_accuracy": "accuracy",
                   "top1": "accuracy", "top_1_accuracy": "accuracy", "nll": "loss", "cross_entropy": "loss",
                   "ce": "loss"}
#: Names that are bookkeeping, not metrics (after canonicalization).
_NOT_METRICS = {"epoch", "epochs", "step", "steps", "global_step", "iteration", "iter", "lr", "learning_rate",
                "learning_rates", "runtime", "samples_per_second", "steps_per_second", "total_flos", "time",
                "timestamp", "wall_time", "walltime", "grad_norm", "created_at", "date", "datetime",
                "duration", "seconds", "elapsed", "epoch_time", "time_s", "momentum", "weight_decay",
                "batch_size", "index", "unnamed_0", "phase", "mode", "stage", "action", "note", "notes"}
_BOOKKEEPING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "lr", "learning_rate",
                         "time", "seconds", "timestamp")
#: YOLO (ultralytics) ``results.csv`` logs its validation metrics as ``metrics/mAP50(B)``, ...
_VAL_PREFIXES = ("metrics_",)


def canonical(name: str) -> str:
    """Lower-case snake form of a column/tag name (``"Validation Loss"`` -> ``validation_loss``,
    ``"ValLoss"`` -> ``val_loss``, ``"val/loss"`` -> ``val_loss``)."""
    n = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    n = re.sub(r"[^0-9a-zA-Z]+", "_", n.lower())
    return n.strip("_")


def split_metric(name: str, default_split: str = "train") -> tuple[str, str] | None:
    """Canonical ``(split, metric)`` of a column/tag name, or ``None`` for bookkeeping.

    Examples: ``val_loss``/``valid_loss``/``eval_loss``/``val/loss``/``loss/val``/``ValLoss``/
    ``Validation Loss`` -> ``("val", "loss")``; ``train_loss_epoch`` -> ``("train", "loss")``;
    ``loss`` -> ``(default_split, "loss")``; ``val_acc`` -> ``("val", "accuracy")``;
    ``reg_val_mae`` -> ``("val", "reg_mae")``; ``test_acc`` -> ``("test", "accuracy")``;
    YOLO's ``metrics/mAP50-95(B)`` -> ``("val", "map50_95")``; ``lr`` -> None (a learning-rate
    column is not a metric; readers that keep the schedule add it as ``("train", "lr")``).
    """
    n = canonical(name)
    n = re.sub(r"_(epoch|step)$", "", n)
    n = re.sub(r"^epoch_(?=.)", "", n)  # Keras TensorBoard tags: epoch_loss, epoch_accuracy
    if n.startswith(_VAL_PREFIXES) and len(n) > len("metrics_"):  # YOLO: metrics/mAP50-95(B)
        m = re.sub(r"_b$", "", n[len("metrics_"):]).replace("m_ap", "map")  # (B): box metrics
        return ("val", _METRIC_ALIASES.get(m, m))
    if not n or n in _NOT_METRICS or n.startswith("unnamed") or \
            any(n.endswith("_" + x) for x in _BOOKKEEPING_SUFFIXES):
        return None
    parts = n.split("_")
    split = None
    for i, p in enumerate(parts):
        edge = i in (0, len(parts) - 1)
        if len(parts) > 1 and p in _SPLITS and (edge or p in _MIDDLE_SPLITS):
            split, parts = _SPLITS[p], parts[:i] + parts[i + 1:]
            break
    metric = "_".join(parts)
    if not metric or metric in _NOT_METRICS:
        return None
    metric = _METRIC_ALIASES.get(metric, metric)
    return (split or default_split, metric)


def finish(rows: pd.DataFrame | list, fmt: str, source: str, meta: dict | None = None) -> Curves:
    """Build the :class:`Curves`: types, held-out ``test`` series read as the evaluation split
    when there is no ``val`` series (``meta["eval_split"] = "test"``), other test series
    dropped (names kept in ``meta["test_metrics"]``).

    Raises
    ------
    LogFormatError
        No training or validation metric at all.
    """
    t = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=TIDY_COLUMNS)
    t = t[TIDY_COLUMNS].copy()
    meta = dict(meta or {})
    for c in ("step", "epoch", "value"):
        t[c] = pd.to_numeric(t[c], errors="coerce").astype(float)
    if len(t) and not (t.split == "val").any() and (t.split == "test").any():
        t.loc[t.split == "test", "split"] = "val"
        meta["eval_split"] = "test"
    elif (t.split == "test").any():
        meta["test_metrics"] = sorted(t.loc[t.split == "test", "metric"].unique())
    t = t[t.split.isin(["train", "val"])].reset_index(drop=True)
    if t.empty:
        raise LogFormatError(f"{source}: no training or validation metrics found (expected names like "
                             "loss, val_loss, accuracy, val_accuracy, eval_loss)")
    st = t["step"].to_numpy(float)
    st = st[np.isfinite(st)]
    if st.size > 1 and fmt == "hf_trainer" and (np.diff(st) < 0).any():
        meta["step_went_backwards"] = True
    return Curves(t, fmt, source, meta)


def warn(message: str) -> None:
    """Issue a :class:`LogFormatWarning` attributed to the caller of the public reader."""
    warnings.warn(message, LogFormatWarning, stacklevel=4)
