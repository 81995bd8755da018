"""Roles of a sweep table's columns: trial id, status, final metrics, objective, curves stored
as lists in cells, hyperparameters (including those packed as dict text in one cell)."""

from __future__ import annotations

import ast
import json
import re

from ._names import canonical, split_metric

#: Final metrics of a trial, in the normalized schema.
METRICS = ["train_loss", "val_loss", "train_acc", "val_acc", "epochs", "runtime_sec"]
#: Names (canonical) that identify a trial.
ID_NAMES = ("trial_id", "trial", "trial_number", "trial_no", "number", "run_id", "run", "run_name", "id",
            "name", "combo", "experiment", "experiment_id", "config_id")
STATUS_NAMES = ("status", "state", "trial_state", "run_status")
RUNTIME_NAMES = ("runtime_sec", "runtime", "runtime_s", "duration", "train_time", "training_time", "time",
                 "time_s", "elapsed", "elapsed_s", "seconds", "train_time_s", "wall_time", "fit_time",
                 "mean_fit_time", "total_time")
EPOCH_NAMES = ("epochs_done", "epochs_trained", "epochs_run", "n_epochs_done", "stopped_epoch")
#: Words that make a column a metric (a measured outcome), with the objective direction.
MINIMIZE = {"loss", "error", "err", "mae", "mse", "rmse", "mape", "smape", "wer", "cer", "perplexity", "ppl",
            "nll", "cost", "regret", "ise", "brier", "logloss", "gap"}
MAXIMIZE = {"accuracy", "acc", "f1", "auc", "roc_auc", "r2", "precision", "recall", "score", "dice", "iou",
            "map", "bleu", "rouge", "kappa", "mcc", "reward", "return", "evs", "k1", "ndcg", "top1", "top5",
            "balanced_accuracy", "specificity", "sensitivity", "ap"}
#: Columns that are neither hyperparameters nor metrics.
BOOKKEEPING = {"datetime_start", "datetime_complete", "date", "datetime", "timestamp", "created", "created_at",
               "updated", "start_time", "end_time", "best_path", "path", "checkpoint", "notes", "note",
               "message", "tags", "user", "hostname", "index", "unnamed_0", ""}


def metric_role(name: str) -> tuple[str, str, str] | None:
    """``(split, metric, direction)`` of a sweep column named like a measured outcome, else None.

    The split is ``val`` when the name has none (a results table's bare ``accuracy`` is a
    held-out one); prefixes ``best_``/``final_``/``mean_``/``cv_``/``avg_`` are dropped;
    direction is "minimize" for losses and errors, "maximize" for accuracies and scores.
    """
    n = canonical(name)
    n = re.sub(r"^(user_attrs|metrics|summary)_", "", n)
    spread = bool(re.match(r"^(std|stdev|var|sem)_", n))
    n = re.sub(r"^(best|final|last|mean|avg|cv|cv_mean|mean_test|std|stdev|var|sem)_", "", n)
    sm = split_metric(n, "val")
    if sm is None:
        return None
    words = set(sm[1].split("_")) | {sm[1]}
    if spread and words & (MINIMIZE | MAXIMIZE):
        return sm[0], "std_" + sm[1], "none"
    if words & MINIMIZE:
        return sm[0], sm[1], "minimize"
    if words & MAXIMIZE:
        return sm[0], sm[1], "maximize"
    return None


def direction_of(name: str) -> str | None:
    """"minimize"/"maximize" from a metric's name (``val_accuracy`` -> maximize), else None."""
    r = metric_role(name)
    return r[2] if r else None


def parse_list_cell(text: str) -> list[float] | None:
    """A list of numbers stored as text in one cell (``"[0.9, 0.7, nan]"``), else None."""
    t = str(text).strip()
    if not (t.startswith("[") and t.endswith("]")) or t.count(",") < 1:
        return None
    body = re.sub(r"\bnan\b|\bNaN\b", "null", t)
    body = re.sub(r"-?\binf(inity)?\b", "null", body, flags=re.I)
    try:
        v = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(v, list) or not v or not all(x is None or isinstance(x, (int, float)) for x in v):
        return None
    return [float("nan") if x is None else float(x) for x in v]


def parse_dict_cell(text: str) -> dict | None:
    """A dict stored as text in one cell (JSON or a Python literal, read with
    :func:`ast.literal_eval`, never ``eval``), else None."""
    t = str(text).strip()
    if not (t.startswith("{") and t.endswith("}")):
        return None
    try:
        v = json.loads(t)
    except json.JSONDecodeError:
        try:
            v = ast.literal_eval(t)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return None
    return v if isinstance(v, dict) else None


def expand_dict_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Replace columns whose non-empty cells are dicts as text (``"{'lr': 0.1, ...}"``) by one
    column per key (prefixed with the column's name when the key already exists). Returns
    the frame and the new columns."""
    new_cols: list[str] = []
    for c in list(df.columns):
        cells = df[c].astype(str)
        filled = cells[~cells.str.lower().isin(["", "none", "nan", "null"])]
        if filled.empty or not filled.str.startswith("{").all():
            continue
        parsed = [parse_dict_cell(x) for x in cells]
        if sum(p is not None for p in parsed) < len(filled):
            continue
        keys = list(dict.fromkeys(k for p in parsed if p for k in p))
        df = df.drop(columns=[c])
        for k in keys:
            name = str(k) if str(k) not in df.columns else f"{c}.{k}"
            df[name] = [_scalar_text(p.get(k)) if p else "" for p in parsed]
            new_cols.append(name)
    return df, new_cols


def _scalar_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v) if not isinstance(v, tuple) else str(v)
    return str(v)


def find_column(columns, names) -> str | None:
    """The first column whose canonical name is in ``names`` (in ``names``' order)."""
    by = {}
    for c in columns:
        by.setdefault(canonical(c), c)
    return next((by[n] for n in names if n in by), None)


def duration_seconds(cells: pd.Series) -> pd.Series:
    """Seconds from durations as text: ``0 days 00:01:02.5``, ``00:01:02``, numbers (seconds)."""
    import pandas as pd  # sweep tables only: run-log reading stays pandas-free

    s = cells.astype(str).str.strip()
    num = pd.to_numeric(s, errors="coerce")
    td = pd.to_timedelta(s.where(num.isna() & s.ne(""), None), errors="coerce").dt.total_seconds()
    return num.fillna(td).astype(float)


def is_identifier_like(values: pd.Series) -> bool:
    """Text values unique per row (paths, run names): not a hyperparameter."""
    import pandas as pd  # sweep tables only: run-log reading stays pandas-free

    v = values.astype(str)
    num = pd.to_numeric(v, errors="coerce")
    return bool(num.isna().all() and v.nunique() == len(v) and len(v) > 3)


def numeric_share(values: pd.Series) -> float:
    """Fraction of non-empty cells that parse as numbers."""
    import pandas as pd  # sweep tables only: run-log reading stays pandas-free

    v = values.astype(str).str.strip()
    filled = v[v.ne("") & ~v.str.lower().isin(["nan", "none", "null"])]
    if filled.empty:
        return 0.0
    return float(pd.to_numeric(filled.str.rstrip("%"), errors="coerce").notna().mean())


def to_seconds_if_duration(values: pd.Series) -> pd.Series | None:
    """Durations read as seconds when every non-empty cell is one, else None."""
    secs = duration_seconds(values)
    filled = values.astype(str).str.strip().ne("")
    return secs if filled.any() and secs[filled].notna().all() else None


