"""The tidy curve table every run reader returns, its errors, and metric-name canonicalization."""

from __future__ import annotations

import re
import warnings

import numpy as np

TIDY_COLUMNS = ["step", "epoch", "split", "metric", "value"]


class LogFormatError(ValueError):
    """The log cannot be read; the message names the file and, where known, line/column/key."""


class MultipleRunsError(LogFormatError):
    """A CSV holds several runs appended one after the other and the requested run is not there."""


class LogFormatWarning(UserWarning):
    """The log was read, but a choice was made for the user (e.g. which of several appended runs)."""


class Curves:
    """A run's curves in tidy form: one row per logged value.

    Columns: ``step`` (float, NaN when the format has none), ``epoch`` (epochs completed when
    the value was measured; fractional inside an epoch; NaN when unknown), ``split``
    (``"train"`` or ``"val"``), ``metric`` (canonical name: ``loss``, ``accuracy`` or the
    format's own) and ``value`` (float; NaN/inf kept: they are evidence). ``format`` is the
    reader used, ``source`` the file read, ``meta`` what the format says about the run.

    The columns are kept as numpy arrays (attributes ``step``, ``epoch``, ``value``: float64;
    ``split``, ``metric``: arrays of str) so that reading and diagnosing a log never imports
    pandas; :attr:`table` is the same data as a ``pandas.DataFrame`` with columns
    :data:`TIDY_COLUMNS`, built (and pandas imported) on first use. Constructing from a
    DataFrame (``Curves(df, "fmt", "source")``) keeps working.
    """

    def __init__(self, table=None, format: str = "", source: str = "", meta: dict | None = None, *,
                 columns: dict | None = None):
        if (table is None) == (columns is None):
            raise TypeError("Curves needs either a table (DataFrame) or columns=")
        self.format, self.source, self.meta = format, source, {} if meta is None else meta
        if table is not None:
            self.table = table
        else:
            self._set_columns(columns)
            self._table = None

    def _set_columns(self, columns) -> None:
        self.step = _floats(columns["step"])
        self.epoch = _floats(columns["epoch"])
        self.value = _floats(columns["value"])
        self.split = _strings(columns["split"])
        self.metric = _strings(columns["metric"])

    @property
    def table(self):
        """The curves as a ``pandas.DataFrame`` (columns :data:`TIDY_COLUMNS`, RangeIndex)."""
        if self._table is None:
            import pandas as pd

            self._table = pd.DataFrame({"step": self.step, "epoch": self.epoch,
                                        "split": self.split.astype(object), "metric": self.metric.astype(object),
                                        "value": self.value}, columns=TIDY_COLUMNS)
        return self._table

    @table.setter
    def table(self, df) -> None:
        self._set_columns({c: df[c].to_numpy() if c in df else np.full(len(df), np.nan) for c in TIDY_COLUMNS})
        self._table = df

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"Curves(format={self.format!r}, source={self.source!r}, rows={len(self)}, meta={self.meta!r})"

    def mask(self, split: str, metric: str | None = None) -> np.ndarray:
        """Boolean row mask of ``split`` (and ``metric``, if given)."""
        m = self.split == split
        return m & (self.metric == metric) if metric is not None else m

    def arrays(self, split: str, metric: str, by: str = "auto") -> dict:
        """One curve as numpy arrays ``{"x", "step", "epoch", "value"}`` (float64, equal
        length), sorted by ``x`` like :meth:`series` (stable; NaN last). ``by``: "step",
        "epoch" or "auto" (step when every point of the curve has one)."""
        m = self.mask(split, metric)
        step, epoch, value = self.step[m], self.epoch[m], self.value[m]
        if by == "auto":
            by = "step" if len(step) and not np.isnan(step).any() else "epoch"
        if by not in ("step", "epoch"):
            raise ValueError(f"by must be 'step', 'epoch' or 'auto', not {by!r}")
        x = step if by == "step" else epoch
        order = np.argsort(x, kind="stable")
        return {"x": x[order], "step": step[order], "epoch": epoch[order], "value": value[order]}

    def series(self, split: str, metric: str, by: str = "auto"):
        """Rows of one curve as a ``pandas.DataFrame``, sorted, with columns ``x`` (step or
        epoch), ``step``, ``epoch``, ``value`` (see :meth:`arrays`, which needs no pandas)."""
        import pandas as pd

        return pd.DataFrame(self.arrays(split, metric, by), columns=["x", "step", "epoch", "value"])

    def metrics(self, split: str) -> list[str]:
        """Sorted metric names logged for ``split`` ("train" or "val")."""
        return sorted(set(self.metric[self.split == split].tolist()))

    def keys(self) -> list[tuple[str, str]]:
        """``(split, metric)`` of every curve, sorted."""
        return sorted(set(zip(self.split.tolist(), self.metric.tolist())))


def _floats(values) -> np.ndarray:
    """A float64 array of numbers; anything that is not a number (None, text) is NaN, as
    ``pandas.to_numeric(errors="coerce")`` reads it."""
    try:
        return np.array(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                pass
        return out


def _strings(values) -> np.ndarray:
    a = np.asarray(values, dtype=str).reshape(-1)
    return a if a.size else np.array([], dtype="<U5")


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


def finish(rows, fmt: str, source: str, meta: dict | None = None) -> Curves:
    """Build the :class:`Curves` from tidy rows (a list of ``(step, epoch, split, metric,
    value)`` tuples, a dict of such columns, or a DataFrame): types, held-out ``test`` series
    read as the evaluation split when there is no ``val`` series (``meta["eval_split"] =
    "test"``), other test series dropped (names kept in ``meta["test_metrics"]``).

    Raises
    ------
    LogFormatError
        No training or validation metric at all.
    """
    if isinstance(rows, list):
        cols = dict(zip(TIDY_COLUMNS, map(list, zip(*rows)))) if rows else {c: [] for c in TIDY_COLUMNS}
    elif isinstance(rows, dict):
        cols = rows
    else:  # a DataFrame
        cols = {c: rows[c].to_numpy() for c in TIDY_COLUMNS}
    c = Curves(columns=cols, format=fmt, source=source)
    meta = dict(meta or {})
    is_test = c.split == "test"
    if len(c) and not (c.split == "val").any() and is_test.any():
        c.split = np.where(is_test, "val", c.split)
        meta["eval_split"] = "test"
    elif is_test.any():
        meta["test_metrics"] = sorted(set(c.metric[is_test].tolist()))
    keep = (c.split == "train") | (c.split == "val")
    if not keep.any():
        raise LogFormatError(f"{source}: no training or validation metrics found (expected names like "
                             "loss, val_loss, accuracy, val_accuracy, eval_loss)")
    if not keep.all():
        for name in ("step", "epoch", "value", "split", "metric"):
            setattr(c, name, getattr(c, name)[keep])
    st = c.step[np.isfinite(c.step)]
    if st.size > 1 and fmt == "hf_trainer" and (np.diff(st) < 0).any():
        meta["step_went_backwards"] = True
    c.meta = meta
    return c


def warn(message: str) -> None:
    """Issue a :class:`LogFormatWarning` attributed to the caller of the public reader."""
    warnings.warn(message, LogFormatWarning, stacklevel=4)
