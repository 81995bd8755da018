"""Readers for training logs in common formats -> one tidy curve table.

Every reader returns a :class:`Curves`: a tidy DataFrame with columns

``step``   optimizer step (float; NaN when the format has none)
``epoch``  epochs completed when the value was measured (float; NaN when unknown)
``split``  ``"train"`` or ``"val"``
``metric`` canonical name: ``loss``, ``accuracy``, or the format's own (``f1``, ``wer``, ...)
``value``  float (NaN / inf kept: they are evidence)

plus ``meta`` (what the format says about the run: ``best_metric``,
``best_model_checkpoint``, ``global_step``, ``train_batch_size``, ...), ``format`` and
``source``.

Formats (:data:`FORMATS`): Hugging Face ``trainer_state.json`` (a file, a checkpoint folder
or the output folder holding ``checkpoint-*``), PyTorch Lightning CSVLogger ``metrics.csv``,
Keras CSVLogger CSV, Keras ``history.history`` JSON dump, TensorBoard event files (through
tbparse), an MLflow run folder of a local file store (through the mlflow client), our own
per-epoch ``logs/`` CSV, and a generic per-epoch CSV. :func:`read_curves` detects the format.

Every problem with the input raises :class:`LogFormatError` naming the file (and line or
column where it applies); nothing else escapes a reader.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("auto", "hf_trainer", "lightning", "keras_csv", "keras_history", "tensorboard",
           "mlflow", "overfit_forecast", "csv")
TIDY_COLUMNS = ["step", "epoch", "split", "metric", "value"]


class LogFormatError(ValueError):
    """The log cannot be read; the message names the file and, where known, line/column."""


class MultipleRunsError(LogFormatError):
    """A CSV holds several runs appended one after the other (its epoch counter restarts)."""


@dataclass
class Curves:
    """A run's curves in tidy form (see module docstring)."""

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


# --------------------------------------------------------------------------------------
# Name canonicalization
# --------------------------------------------------------------------------------------

_SPLITS = {"train": "train", "training": "train", "tr": "train",
           "val": "val", "valid": "val", "validation": "val", "eval": "val", "dev": "val",
           "test": "test"}
_METRIC_ALIASES = {"acc": "accuracy", "categorical_accuracy": "accuracy",
                   "sparse_categorical_accuracy": "accuracy", "binary_accuracy": "accuracy",
                   "top1": "accuracy", "top_1_accuracy": "accuracy", "nll": "loss", "cross_entropy": "loss",
                   "ce": "loss"}
#: Columns that are bookkeeping, not metrics.
_NOT_METRICS = {"epoch", "step", "global_step", "lr", "learning_rate", "runtime", "samples_per_second",
                "steps_per_second", "total_flos", "time", "timestamp", "wall_time", "grad_norm",
                "train_runtime", "train_samples_per_second", "train_steps_per_second", "created_at"}


def split_metric(name: str, default_split: str = "train") -> tuple[str, str] | None:
    """Canonical ``(split, metric)`` of a column/tag name, or ``None`` for bookkeeping.

    Examples: ``val_loss``/``valid_loss``/``eval_loss``/``val/loss``/``loss/val`` ->
    ``("val", "loss")``; ``train_loss_epoch`` -> ``("train", "loss")``; ``loss`` ->
    ``(default_split, "loss")``; ``val_acc`` -> ``("val", "accuracy")``; ``lr`` -> None.
    """
    n = name.strip().lower()
    n = re.sub(r"[/.\- ]+", "_", n).strip("_")
    n = re.sub(r"_(epoch|step)$", "", n)
    if n in _NOT_METRICS or any(n.endswith("_" + x) for x in ("runtime", "samples_per_second",
                                                               "steps_per_second", "lr", "learning_rate")):
        return None
    parts = n.split("_")
    split = None
    if parts[0] in _SPLITS:
        split, parts = _SPLITS[parts[0]], parts[1:]
    elif parts[-1] in _SPLITS and len(parts) > 1:
        split, parts = _SPLITS[parts[-1]], parts[:-1]
    metric = "_".join(parts)
    if not metric or metric in _NOT_METRICS:
        return None
    metric = _METRIC_ALIASES.get(metric, metric)
    return (split or default_split, metric)


def _tidy(rows: list[dict]) -> pd.DataFrame:
    t = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    t = t[t.split.isin(["train", "val"])]
    for c in ("step", "epoch", "value"):
        t[c] = pd.to_numeric(t[c], errors="coerce").astype(float)
    return t.reset_index(drop=True)


def _check_nonempty(t: pd.DataFrame, source: str) -> None:
    if t.empty:
        raise LogFormatError(f"{source}: no training or validation metrics found")


# --------------------------------------------------------------------------------------
# Hugging Face Trainer
# --------------------------------------------------------------------------------------

def _find_trainer_state(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / "trainer_state.json").exists():
        return path / "trainer_state.json"
    ckpts = []
    for d in path.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", d.name)
        if m and (d / "trainer_state.json").exists():
            ckpts.append((int(m.group(1)), d))
    if not ckpts:
        raise LogFormatError(f"{path}: no trainer_state.json here or in checkpoint-* subfolders")
    return max(ckpts)[1] / "trainer_state.json"


def _read_text(path: Path) -> str:
    """The file's text (UTF-8, BOM dropped); :class:`LogFormatError` if unreadable or blank."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise LogFormatError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise LogFormatError(f"{path}: cannot read ({exc.strerror})") from None
    if not text.strip():
        raise LogFormatError(f"{path}: file is empty")
    return text


def _load_json(path: Path):
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LogFormatError(f"{path}: invalid or truncated JSON at line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg}") from None


def read_hf_trainer(path: str | os.PathLike) -> Curves:
    """Hugging Face ``trainer_state.json``: ``log_history`` entries with ``loss`` are train
    points, entries with ``eval_*`` keys are validation points; the final summary entry
    (``train_runtime``) is skipped. ``meta`` keeps ``best_metric``, ``best_model_checkpoint``,
    ``best_global_step``, ``global_step``, ``epoch``, ``max_steps``, ``num_train_epochs``,
    ``train_batch_size``, ``logging_steps``, ``eval_steps``, ``save_steps``."""
    f = _find_trainer_state(Path(path))
    state = _load_json(f)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogFormatError(f"{f}: not a trainer_state.json (no 'log_history' list)")
    rows = []
    for i, e in enumerate(state["log_history"]):
        if not isinstance(e, dict):
            raise LogFormatError(f"{f}: log_history[{i}] is not an object")
        if "train_runtime" in e:
            continue
        step, epoch = e.get("step"), e.get("epoch")
        for k, v in e.items():
            if k in ("step", "epoch") or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            sm = split_metric(k)
            if sm is None:
                continue
            rows.append(dict(step=step, epoch=epoch, split=sm[0], metric=sm[1], value=v))
    t = _tidy(rows)
    _check_nonempty(t, str(f))
    keys = ("best_metric", "best_model_checkpoint", "best_global_step", "global_step", "epoch", "max_steps",
            "num_train_epochs", "train_batch_size", "logging_steps", "eval_steps", "save_steps",
            "gradient_accumulation_steps", "metric_for_best_model", "greater_is_better")
    meta = {k: state[k] for k in keys if k in state}
    return Curves(t, "hf_trainer", str(f), meta)


# --------------------------------------------------------------------------------------
# CSV-based formats
# --------------------------------------------------------------------------------------

def _read_csv(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LogFormatError(f"{path}: not a well-formed CSV ({exc})") from None
    if df.empty:
        raise LogFormatError(f"{path}: header only, no rows")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _numeric(df: pd.DataFrame, path: Path, cols) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        s = out[c]
        num = pd.to_numeric(s, errors="coerce")
        junk = num.isna() & s.notna() & ~s.astype(str).str.strip().str.lower().isin(["nan", "", "inf", "-inf"])
        if junk.any():
            line = int(junk.idxmax()) + 2
            raise LogFormatError(f"{path}: column {c!r} line {line}: not a number ({s[junk].iloc[0]!r})")
        out[c] = pd.to_numeric(s.astype(str).str.strip().str.lower().replace({"": "nan"}), errors="coerce")
    return out


def split_runs(df: pd.DataFrame, epoch_col: str = "epoch") -> list[pd.DataFrame]:
    """Split a per-epoch table whose epoch counter restarts (runs appended) into runs."""
    e = pd.to_numeric(df[epoch_col], errors="coerce").to_numpy(float)
    starts = [0] + [i for i in range(1, len(e)) if np.isfinite(e[i]) and np.isfinite(e[i - 1]) and e[i] < e[i - 1]]
    bounds = starts + [len(df)]
    return [df.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds[:-1], bounds[1:])]


def _pick_run(df: pd.DataFrame, path: Path, run: int | None, epoch_col: str = "epoch") -> pd.DataFrame:
    if epoch_col not in df:
        return df
    runs = split_runs(df, epoch_col)
    if len(runs) == 1:
        return df
    if run is None:
        lines = []
        total = 0
        for r in runs[:-1]:
            total += len(r)
            lines.append(total + 2)
        raise MultipleRunsError(
            f"{path}: the epoch counter restarts at line(s) {lines}: {len(runs)} runs appended in one "
            f"file. Pick one with run=<0..{len(runs) - 1}> (CLI: --run N).")
    if not -len(runs) <= run < len(runs):
        raise LogFormatError(f"{path}: run={run} but the file holds {len(runs)} runs")
    return runs[run]


def _wide_to_tidy(df: pd.DataFrame, path: Path, epoch_offset: float, default_split: str = "train",
                  step_col: str | None = None, keep_nan: bool = True) -> pd.DataFrame:
    """Melt a wide table; ``keep_nan=False`` for sparse formats (Lightning) where an empty
    cell means "not logged at this row", not a NaN metric."""
    metric_cols = {c: split_metric(c, default_split) for c in df.columns}
    metric_cols = {c: sm for c, sm in metric_cols.items() if sm is not None}
    # Lightning logs train_loss_step and train_loss_epoch: keep the epoch-level one
    names = {c.lower() for c in df.columns}
    metric_cols = {c: sm for c, sm in metric_cols.items()
                   if not (c.lower().endswith("_step") and c.lower()[:-5] + "_epoch" in names)}
    if not metric_cols:
        raise LogFormatError(f"{path}: no metric columns among {list(df.columns)} (expected names like "
                             "loss, val_loss, accuracy, val_accuracy)")
    num_cols = list(metric_cols) + [c for c in ("epoch", step_col) if c and c in df]
    df = _numeric(df, path, num_cols)
    rows = []
    for rec in df.to_dict("records"):
        ep = rec.get("epoch", np.nan)
        ep = ep + epoch_offset if ep is not None and np.isfinite(ep) else np.nan
        st = rec.get(step_col, np.nan) if step_col else np.nan
        for c, (split, metric) in metric_cols.items():
            v = rec[c]
            if not keep_nan and (v is None or (isinstance(v, float) and math.isnan(v))):
                continue
            rows.append(dict(step=st, epoch=ep, split=split, metric=metric, value=v))
    return _tidy(rows)


def read_lightning_csv(path: str | os.PathLike, run: int | None = None) -> Curves:
    """PyTorch Lightning CSVLogger ``metrics.csv``: sparse rows with ``epoch``, ``step`` and
    metric columns (``train_loss_step``, ``train_loss_epoch``, ``val_loss``, ``val_acc``, ...).
    ``epoch`` is 0-based in the file; here it counts epochs completed (+1)."""
    path = Path(path)
    df = _read_csv(path)
    if "epoch" not in df or "step" not in df:
        raise LogFormatError(f"{path}: a Lightning metrics.csv has 'epoch' and 'step' columns; found {list(df.columns)}")
    df = _pick_run(df, path, run)
    t = _wide_to_tidy(df, path, 1.0, step_col="step", keep_nan=False)
    _check_nonempty(t, str(path))
    return Curves(t, "lightning", str(path))


def read_keras_csv(path: str | os.PathLike, run: int | None = None) -> Curves:
    """Keras CSVLogger: one row per epoch, ``epoch`` (0-based; here +1 = epochs completed),
    ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ... Unprefixed names are train."""
    path = Path(path)
    df = _read_csv(path)
    if "epoch" not in df:
        raise LogFormatError(f"{path}: a Keras CSVLogger file has an 'epoch' column; found {list(df.columns)}")
    df = _pick_run(df, path, run)
    t = _wide_to_tidy(df, path, 1.0)
    _check_nonempty(t, str(path))
    return Curves(t, "keras_csv", str(path))


def read_keras_history(path: str | os.PathLike) -> Curves:
    """A JSON dump of Keras ``model.fit(...).history``: ``{"loss": [...], "val_loss": [...]}``,
    one value per epoch (epoch i+1 for the i-th value)."""
    path = Path(path)
    h = _load_json(path)
    if isinstance(h, dict) and isinstance(h.get("history"), dict):
        h = h["history"]
    if not isinstance(h, dict) or not h or not all(isinstance(v, list) for v in h.values()):
        raise LogFormatError(f"{path}: expected an object of lists, e.g. {{\"loss\": [...], \"val_loss\": [...]}}")
    rows = []
    for k, values in h.items():
        sm = split_metric(k)
        if sm is None:
            continue
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, (int, float)):
                raise LogFormatError(f"{path}: {k}[{i}] is not a number ({v!r})")
            rows.append(dict(step=np.nan, epoch=i + 1, split=sm[0], metric=sm[1],
                             value=np.nan if v is None else v))
    t = _tidy(rows)
    _check_nonempty(t, str(path))
    return Curves(t, "keras_history", str(path))


def read_ours(path: str | os.PathLike, run: int | None = None) -> Curves:
    """Our per-epoch log (``logs/<dataset>/<run_id>.csv``): ``epoch`` (0 = before training),
    ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``. The run's ``.json`` beside it,
    if present, goes into ``meta``."""
    path = Path(path)
    df = _read_csv(path)
    df = _pick_run(df, path, run)
    t = _wide_to_tidy(df[[c for c in df.columns if c not in ("gap", "lr", "seconds")]], path, 0.0)
    _check_nonempty(t, str(path))
    meta = {}
    side = path.with_suffix(".json")
    if side.exists():
        try:
            meta = json.loads(side.read_text())
        except (json.JSONDecodeError, OSError):
            meta = {}
    return Curves(t, "overfit_forecast", str(path), meta)


def read_generic_csv(path: str | os.PathLike, column_map: dict | None = None, run: int | None = None) -> Curves:
    """Any per-epoch (or per-step) CSV: ``epoch`` and/or ``step`` plus metric columns named
    like ``val_loss``; ``column_map`` renames columns first (``{"my_col": "val_loss"}``).
    Epoch values are taken as epochs completed."""
    path = Path(path)
    df = _read_csv(path)
    if column_map:
        missing = [k for k in column_map if k not in df.columns]
        if missing:
            raise LogFormatError(f"{path}: column map names {missing}, not in {list(df.columns)}")
        df = df.rename(columns=column_map)
    if "epoch" not in df and "step" not in df:
        raise LogFormatError(f"{path}: needs an 'epoch' or 'step' column (map one with column_map); "
                             f"found {list(df.columns)}")
    df = _pick_run(df, path, run)
    t = _wide_to_tidy(df, path, 0.0, step_col="step" if "step" in df else None)
    _check_nonempty(t, str(path))
    return Curves(t, "csv", str(path))


# --------------------------------------------------------------------------------------
# TensorBoard, MLflow
# --------------------------------------------------------------------------------------

def read_tensorboard(path: str | os.PathLike) -> Curves:
    """TensorBoard event files (a file or a folder, searched recursively) through tbparse.
    Scalar tags are canonicalized (``train/loss``, ``eval/loss``, ``Loss/val``, ...); a
    ``*/epoch`` tag, when logged (Hugging Face does), gives each step its epoch."""
    path = Path(path)
    try:
        from tbparse import SummaryReader
    except ImportError:
        raise LogFormatError("reading TensorBoard files needs tbparse: pip install tbparse tensorboard") from None
    if not path.exists():
        raise LogFormatError(f"{path}: no such file or folder")
    try:
        df = SummaryReader(str(path), pivot=False, extra_columns={"dir_name"}).scalars
    except Exception as exc:  # corrupt event files raise many kinds of errors
        raise LogFormatError(f"{path}: cannot read TensorBoard events ({type(exc).__name__}: {exc})") from None
    if df is None or df.empty:
        raise LogFormatError(f"{path}: no scalar summaries in TensorBoard event files")
    epoch_tags = [t for t in df.tag.unique() if re.sub(r"[/.\-]", "_", t.lower()).split("_")[-1] == "epoch"]
    step_to_epoch = {}
    if epoch_tags:
        e = df[df.tag == epoch_tags[0]]
        step_to_epoch = dict(zip(e.step, e.value))
    rows = []
    for tag, step, value, d in zip(df.tag, df.step, df.value, df.get("dir_name", [""] * len(df))):
        name = f"{tag}_{d}" if d and split_metric(tag) and split_metric(tag)[0] == "train" and d in _SPLITS else tag
        sm = split_metric(name)
        if sm is None or tag in epoch_tags:
            continue
        rows.append(dict(step=step, epoch=step_to_epoch.get(step, np.nan), split=sm[0], metric=sm[1], value=value))
    t = _tidy(rows)
    _check_nonempty(t, str(path))
    return Curves(t, "tensorboard", str(path))


def read_mlflow(path: str | os.PathLike) -> Curves:
    """One run of a local MLflow file store: the run's folder (``mlruns/<experiment>/<run_id>``,
    holding ``meta.yaml`` and ``metrics/``). Metric histories are read with
    ``MlflowClient.get_metric_history``; an ``epoch`` metric, when logged, gives each step
    its epoch; params go into ``meta``."""
    path = Path(path).resolve()
    if not (path / "meta.yaml").exists() or not (path / "metrics").is_dir():
        raise LogFormatError(f"{path}: not an MLflow run folder (expected meta.yaml and metrics/)")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise LogFormatError("reading MLflow runs needs mlflow: pip install mlflow-skinny") from None
    store = path.parent.parent
    try:
        client = MlflowClient(tracking_uri=store.as_uri())
        run = client.get_run(path.name)
        names = sorted(p.name for p in (path / "metrics").iterdir())
        hist = {n: client.get_metric_history(path.name, n) for n in names}
    except Exception as exc:
        raise LogFormatError(f"{path}: cannot read the MLflow run ({type(exc).__name__}: {exc})") from None
    step_to_epoch = {m.step: m.value for m in hist.get("epoch", [])}
    rows = []
    for n, ms in hist.items():
        sm = split_metric(n)
        if sm is None:
            continue
        for m in ms:
            rows.append(dict(step=m.step, epoch=step_to_epoch.get(m.step, np.nan), split=sm[0],
                             metric=sm[1], value=m.value))
    t = _tidy(rows)
    _check_nonempty(t, str(path))
    return Curves(t, "mlflow", str(path), {"params": dict(run.data.params), "status": run.info.status})


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------

def detect_format(path: str | os.PathLike) -> str:
    """Guess a log's format from its name, folder layout or header.

    Raises
    ------
    LogFormatError
        Path missing or format not recognized.
    """
    p = Path(path)
    if not p.exists():
        raise LogFormatError(f"{p}: no such file or folder")
    if p.is_dir():
        if (p / "trainer_state.json").exists() or any(p.glob("checkpoint-*/trainer_state.json")):
            return "hf_trainer"
        if (p / "meta.yaml").exists() and (p / "metrics").is_dir():
            return "mlflow"
        if any(p.rglob("events.out.tfevents*")):
            return "tensorboard"
        if (p / "metrics.csv").exists():
            return "lightning"
        raise LogFormatError(f"{p}: folder holds no trainer_state.json, checkpoint-*, MLflow run, "
                             "TensorBoard events or metrics.csv")
    if p.name.startswith("events.out.tfevents"):
        return "tensorboard"
    if p.suffix == ".json":
        if p.name == "trainer_state.json":
            return "hf_trainer"
        try:
            head = p.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError as exc:
            raise LogFormatError(f"{p}: cannot read ({exc.strerror})") from None
        return "hf_trainer" if '"log_history"' in head else "keras_history"
    try:
        with open(p, encoding="utf-8", errors="replace") as fh:
            header = fh.readline().strip().lower()
    except OSError as exc:
        raise LogFormatError(f"{p}: cannot read ({exc.strerror})") from None
    cols = [c.strip() for c in header.split(",")]
    if {"epoch", "train_loss", "val_loss", "train_acc", "val_acc", "gap"} <= set(cols):
        return "overfit_forecast"
    if "epoch" in cols and "step" in cols:
        return "lightning"
    if cols and cols[0] == "epoch":
        return "keras_csv"
    return "csv"


def read_curves(path: str | os.PathLike, format: str = "auto", column_map: dict | None = None,
                run: int | None = None) -> Curves:
    """Read a training log of any supported format (see module docstring).

    Parameters
    ----------
    path : path
        File or folder.
    format : str
        One of :data:`FORMATS`; "auto" uses :func:`detect_format`.
    column_map : dict, optional
        Column renames for CSV formats (``{"valid_loss_custom": "val_loss"}``).
    run : int, optional
        For CSVs holding several appended runs: which one (0-based).

    Raises
    ------
    LogFormatError
        Anything wrong with the input (the message names the file; line/column if known).
    """
    if format not in FORMATS:
        raise LogFormatError(f"unknown format {format!r}; expected one of {FORMATS}")
    fmt = detect_format(path) if format == "auto" else format
    p = Path(path)
    try:
        if fmt == "hf_trainer":
            return read_hf_trainer(p)
        if fmt == "tensorboard":
            return read_tensorboard(p)
        if fmt == "mlflow":
            return read_mlflow(p)
        if fmt == "keras_history":
            return read_keras_history(p)
        if p.is_dir():
            p = p / "metrics.csv"
        if column_map:
            fmt = "csv"
        if fmt == "lightning":
            return read_lightning_csv(p, run)
        if fmt == "keras_csv":
            return read_keras_csv(p, run)
        if fmt == "overfit_forecast":
            return read_ours(p, run)
        return read_generic_csv(p, column_map, run)
    except LogFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise LogFormatError(f"{path}: cannot read as {fmt} ({type(exc).__name__}: {exc})") from None
