"""Sweep tables (one row per trial) -> one normalized table.

Formats: any results table (``generic``: grid-search, tuning and trial tables), Optuna
``study.trials_dataframe()`` exports, MLflow ``search_runs()`` tables, W&B runs-table CSV
exports, and our own ``logs/<dataset>/sweep.csv`` (joined with its per-run logs).

Normalized table columns: ``trial_id`` (str, unique), ``status`` (lower-case; ``completed``,
``failed``, ``pruned``, ``running``, ...), the final metrics :data:`METRICS` (float; NaN when
absent or unparsable), ``objective`` (float; the study's objective), further metric columns
(``attrs["other_metrics"]``) and one column per hyperparameter (``attrs["hyperparameters"]``).
``attrs`` also holds ``source``, ``curves`` (per-trial curves: our logs or lists stored in
cells), ``objective`` (``{"column", "direction", "direction_from"}``), ``roles`` (which file
column gave each role) and ``assumptions`` (what was assumed for want of a column: row number as
trial id, every trial completed, ...).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import parse_numbers, read_table, _sep_name
from ._names import LogFormatError, canonical
from ._roles import (BOOKKEEPING, EPOCH_NAMES, ID_NAMES, METRICS, RUNTIME_NAMES, STATUS_NAMES, direction_of,
                     expand_dict_columns, find_column, is_identifier_like, metric_role, numeric_share,
                     parse_list_cell, to_seconds_if_duration)

FORMATS = ("auto", "generic", "optuna", "mlflow", "wandb", "overfit_forecast")
DIRECTIONS = (None, "minimize", "maximize")
#: Status spellings of other tools -> ours.
STATUS_MAP = {"complete": "completed", "finished": "completed", "success": "completed",
              "succeeded": "completed", "ok": "completed", "done": "completed", "fail": "failed",
              "crashed": "failed", "error": "failed", "errored": "failed"}


class SweepInputError(LogFormatError):
    """The sweep file cannot be read as a sweep table; the message says why and where."""


class SweepInputWarning(UserWarning):
    """Data problems that do not stop the inspection (junk values, duplicated ids, separator)."""


def _warn(msg: str) -> None:
    warnings.warn(msg, SweepInputWarning, stacklevel=4)


def detect_sweep_format(columns: list[str], path=None) -> str:
    """Guess the export format from column names (``path`` is accepted for compatibility and
    not used): ``overfit_forecast``, ``optuna``, ``mlflow``, ``wandb`` or ``generic``."""
    cols = set(columns)
    if {"run_id", "group_id", "epochs_done"} <= cols:
        return "overfit_forecast"
    if "number" in cols and ("state" in cols or "value" in cols or any(c.startswith("params_") for c in cols)):
        return "optuna"
    if "run_id" in cols and any(c.startswith(("params.", "metrics.")) for c in cols):
        return "mlflow"
    if ("Name" in cols or "ID" in cols) and "State" in cols:
        return "wandb"
    return "generic"


def read_sweep(path: str | os.PathLike, format: str = "auto", column_map: dict[str, str] | None = None,
               direction: str | None = None) -> pd.DataFrame:
    """Read a sweep table into the normalized form (see module docstring).

    Roles are found by column name (canonical, any case): trial id (``trial_id``, ``trial``,
    ``number``, ``run_id``, ``id``, ``name``, ...; else the row number), status (``status``,
    ``state``; else every trial ``completed``), metrics (names with loss/accuracy/f1/auc/
    rmse/score/...; a bare ``accuracy`` is the held-out one; ``test_*`` stands in for ``val_*``
    when there is none), runtime, epochs; curves stored as lists in metric-named cells
    (``"[0.9, 0.7, ...]"``) become per-trial curves; dicts stored as text in a cell
    (``"{'lr': 0.1}"``) are expanded into hyperparameter columns; every other column that
    varies is a hyperparameter.

    Parameters
    ----------
    path : path
        Delimited text table (separator and title lines sniffed).
    format : {"auto", "generic", "optuna", "mlflow", "wandb", "overfit_forecast"}
        "auto" guesses from the columns (:func:`detect_sweep_format`).
    column_map : dict, optional
        ``{name in the file: role or new name}``, applied first (e.g. ``{"id": "trial_id",
        "value": "val_acc", "score": "objective"}``).
    direction : {"minimize", "maximize"}, optional
        The objective's direction; default from its name (losses and errors are minimized,
        accuracies and scores maximized), "unknown" when the name says nothing (Optuna's
        ``value``).

    Raises
    ------
    SweepInputError
        Unreadable, empty or header-only file, unknown mapped column, no metric column.

    Warns
    -----
    SweepInputWarning
        Non-numeric junk in metric columns (read as NaN), duplicated trial ids, separator other
        than a comma.
    """
    path = Path(path)
    if format not in FORMATS:
        raise SweepInputError(f"unknown format {format!r}; expected one of {FORMATS}")
    if direction not in DIRECTIONS:
        raise SweepInputError(f"unknown direction {direction!r}; expected minimize or maximize")
    try:
        tab = read_table(path)
    except SweepInputError:
        raise
    except LogFormatError as exc:
        raise SweepInputError(str(exc)) from None
    if tab.sep != ",":
        _warn(f"{path}: read as a {_sep_name(tab.sep)}-separated table (delimiter {tab.sep!r})")
    df = tab.frame
    if column_map:
        unknown = [k for k in column_map if k not in df.columns]
        if unknown:
            raise SweepInputError(f"{path}: --column-map names column(s) {unknown} not in the file "
                                  f"(found {list(df.columns)})")
        df = df.rename(columns=column_map)
    fmt = detect_sweep_format(list(df.columns)) if format == "auto" else format
    from .sweep_formats import ADAPTERS, read_ours

    if fmt == "overfit_forecast":
        return read_ours(path)
    adapt = ADAPTERS[fmt]
    try:
        df, hints = adapt(df)
    except KeyError as exc:
        raise SweepInputError(f"{path}: read as {fmt!r} but column {exc} is missing "
                              f"(found {list(df.columns)})") from None
    return assemble(df, str(path), direction=direction, **hints)


def _classify(df: pd.DataFrame, params: list[str] | None):
    """Split columns into roles: ``(metric columns {col: (split, metric, direction)},
    curve columns {col: (split, metric)}, hyperparameter columns)``."""
    metrics, curves, hparams = {}, {}, []
    for c in df.columns:
        if c in ("trial_id", "status", "objective", "runtime_sec", "epochs") or canonical(c) in BOOKKEEPING:
            continue
        if params is not None and c in params and c not in METRICS:
            hparams.append(c)
            continue
        role = metric_role(c)
        if role is not None:
            cells = df[c][df[c].ne("")]
            if len(cells) and all(parse_list_cell(x) is not None for x in cells.head(20)):
                curves[c] = role[:2]
                continue
            if numeric_share(df[c]) >= 0.5 or not len(cells) or c in METRICS:
                metrics[c] = role  # an all-empty metric column is still a metric (all NaN)
                continue
        if params is not None:
            continue
        if c.startswith("datetime") or is_identifier_like(df[c]):
            continue
        hparams.append(c)
    return metrics, curves, hparams


def _pick(metrics: dict, split: str, metric: str) -> str | None:
    """Column for (split, metric); ``test`` stands in for ``val``."""
    for want in ((split,) if split == "train" else (split, "test")):
        for c, (s, m, _) in metrics.items():
            if s == want and m == metric:
                return c
    return None


def assemble(df: pd.DataFrame, source: str, params: list[str] | None = None, direction: str | None = None,
             curves: dict | None = None) -> pd.DataFrame:
    """Normalize a sweep table whose columns carry role names where known (see
    :func:`read_sweep`). ``params`` restricts hyperparameters to those columns."""
    df, expanded = expand_dict_columns(df)
    obj_src = "objective" if "objective" in df else \
        find_column(df.columns, ("value", "objective_value", "values_0", "values"))
    if obj_src is not None:
        df = df.rename(columns={obj_src: "objective"})
    if params is not None:
        params = list(params) + expanded
    assumptions: list[str] = []
    roles: dict[str, str] = {}
    tid = "trial_id" if "trial_id" in df else find_column(df.columns, ID_NAMES)
    if tid is None:
        ids = pd.Series([str(i) for i in range(len(df))], index=df.index)
        assumptions.append("no trial id column: the row number (0-based) is the trial id")
    else:
        ids, roles["trial_id"] = df[tid].astype(str), tid
    st = "status" if "status" in df else find_column(df.columns, STATUS_NAMES)
    if st is None:
        status = pd.Series("completed", index=df.index)
        assumptions.append("no status column: every trial is taken as completed")
    else:
        status, roles["status"] = df[st].str.strip().str.lower().replace(STATUS_MAP), st
    rest = df.drop(columns=[c for c in (tid, st) if c is not None])
    mcols, ccols, hparams = _classify(rest, params)
    out = pd.DataFrame({"trial_id": ids.str.strip(), "status": status.replace({"": "completed"})}, index=df.index)
    out["status"] = out["status"].replace(STATUS_MAP)
    _dedupe_ids(out, source)
    for m, (split, metric) in {"train_loss": ("train", "loss"), "val_loss": ("val", "loss"),
                               "train_acc": ("train", "accuracy"), "val_acc": ("val", "accuracy")}.items():
        col = m if m in rest else _pick(mcols, split, metric)
        out[m] = _to_float(rest[col], col, source) if col is not None else np.nan
        if m.endswith("_acc") and 1.0 < out[m].max() <= 100.0:
            out[m] = out[m] / 100.0
            assumptions.append(f"{col!r} holds percentages: read as fractions ({m})")
        if col is not None:
            roles[m] = col
            mcols.pop(col, None)
    out["epochs"] = np.nan
    ep = "epochs" if "epochs" in rest else find_column(rest.columns, EPOCH_NAMES)
    if ep is not None:
        out["epochs"], roles["epochs"] = _to_float(rest[ep], ep, source), ep
        hparams = [h for h in hparams if h != ep]
    rt = "runtime_sec" if "runtime_sec" in rest else find_column(rest.columns, RUNTIME_NAMES)
    secs = to_seconds_if_duration(rest[rt]) if rt is not None else None
    out["runtime_sec"] = secs if secs is not None else np.nan
    if secs is not None:
        roles["runtime_sec"] = rt
        mcols.pop(rt, None)
        hparams = [h for h in hparams if h != rt]
    other = {c: _to_float(rest[c], c, source) for c in mcols}
    obj = _objective(rest, out, mcols, roles, source, direction, assumptions)
    out["objective"] = obj.pop("values")
    if obj_src is not None:
        roles["objective"] = obj_src
    for c, v in other.items():
        out[c] = v
    trial_curves = dict(curves or {})
    trial_curves.update(_list_curves(rest, ccols, out["trial_id"], out, roles))
    for h in hparams:
        out[h] = _coerce_param(rest[h])
    out = out.reset_index(drop=True)
    out.attrs.update(hyperparameters=list(hparams), source=_display_path(source), curves=trial_curves,
                     objective=obj, roles=roles, assumptions=assumptions, other_metrics=list(other))
    if not (roles.keys() & {"train_loss", "val_loss", "train_acc", "val_acc", "objective"}) and not other \
            and not trial_curves:
        raise SweepInputError(
            f"{source}: no metric column found among {list(df.columns)}; expected names like val_loss, "
            "val_acc, accuracy, loss, f1, rmse, score or Optuna's value. Map one with --column-map OLD=val_acc.")
    return out


def _objective(rest, out, mcols, roles, source, direction, assumptions) -> dict:
    """The study's objective: the ``objective`` column (Optuna's value) or else the first of
    val_acc, val_loss, other metrics; its direction from ``direction`` or its name."""
    if "objective" in rest:
        col, values = "objective", _to_float(rest["objective"], "objective", source)
        name = _same_values_as(values, out, mcols, rest)
    else:
        col = next((m for m in ("val_acc", "val_loss", "train_acc", "train_loss") if m in roles), None)
        ranked = sorted(mcols.items(), key=lambda kv: {"val": 0, "test": 1}.get(kv[1][0], 2))
        col = col or next((c for c, r in ranked if r[2] in ("minimize", "maximize")), None)
        values = out[col] if col in out else (_to_float(rest[col], col, source) if col else np.nan)
        name = col
    roles["objective"] = roles.get(col, col) if col else None
    if direction:
        how = "given"
    else:
        direction = direction_of(name) if name else None
        how = "from the name" if direction else "unknown"
        if not direction and col:
            assumptions.append(f"objective {col!r}: direction unknown (say --direction minimize|maximize)")
    if roles["objective"] is None:
        roles.pop("objective")
    return {"column": col, "direction": direction or "unknown", "direction_from": how, "values": values}


def _same_values_as(values: pd.Series, out: pd.DataFrame, mcols: dict, rest: pd.DataFrame) -> str | None:
    """Name of a metric column holding the same values as the objective (Optuna exports often
    store the objective again as a named user attribute), else None."""
    v = values.to_numpy(float)
    ok = np.isfinite(v)
    if ok.sum() < 2:
        return None
    cands = {m: out[m].to_numpy(float) for m in ("val_acc", "val_loss", "train_acc", "train_loss")}
    cands.update({c: parse_numbers(rest[c])[0] for c in mcols})
    for name, w in cands.items():
        if np.isfinite(w[ok]).all() and np.allclose(w[ok], v[ok], rtol=1e-6, atol=1e-9):
            return name
    return None


def _list_curves(rest, ccols, ids, out, roles) -> dict:
    """Per-trial curves from list cells: ``{trial_id: DataFrame(train_loss, val_loss, ...)}``;
    a final metric missing from the table is the curve's last value."""
    from ._roles import parse_list_cell as parse

    canon = {("train", "loss"): "train_loss", ("val", "loss"): "val_loss", ("train", "accuracy"): "train_acc",
             ("val", "accuracy"): "val_acc", ("test", "loss"): "val_loss", ("test", "accuracy"): "val_acc"}
    curves: dict = {}
    for c, (split, metric) in ccols.items():
        metric = re.sub(r"_(history|hist|curve|curves|list|values|per_epoch|log|series|trace)$", "", metric)
        metric = {"losses": "loss", "accs": "accuracy", "accuracies": "accuracy", "acc": "accuracy"}.get(metric, metric)
        name = canon.get((split, metric), f"{split}_{metric}")
        roles.setdefault(f"curve:{name}", c)
        for i, (tid, cell) in enumerate(zip(ids, rest[c])):
            vals = parse(cell) if cell else None
            if vals is None:
                continue
            log = curves.setdefault(tid, {})
            log[name] = vals
            if name in out and np.isnan(out.at[out.index[i], name]):
                out.at[out.index[i], name] = vals[-1]
    return {t: pd.DataFrame({k: pd.Series(v, dtype=float) for k, v in log.items()}) for t, log in curves.items()}


def _dedupe_ids(out: pd.DataFrame, source: str) -> None:
    dup = out["trial_id"].duplicated(keep=False)
    if dup.any():
        ids = sorted(out.loc[dup, "trial_id"].unique())[:5]
        _warn(f"{source}: duplicated trial ids {ids}; later copies renamed id#2, id#3, ...")
        n = out.groupby("trial_id").cumcount()
        out.loc[n > 0, "trial_id"] = out.loc[n > 0, "trial_id"] + "#" + (n[n > 0] + 1).astype(str)


def _to_float(series: pd.Series, column: str, source: str) -> pd.Series:
    """Parse a metric column (see :func:`parse_numbers`); junk -> NaN + a warning naming lines."""
    vals, _, junk = parse_numbers(series)
    if junk.any():
        rows = [int(i) + 2 for i in np.flatnonzero(junk)[:5]]  # +2: header line and 1-based lines
        bad = list(pd.unique(series.astype(str)[junk]))[:3]
        _warn(f"{source}: column {column!r} has non-numeric values {bad} (lines {rows}); read as NaN")
    return pd.Series(vals, index=series.index, dtype=float)


def _coerce_param(series: pd.Series) -> pd.Series:
    num = pd.to_numeric(series, errors="coerce")
    nonblank = series.astype(str).str.strip().ne("") & series.notna()
    if nonblank.any() and num[nonblank].notna().all():
        return num
    return series.astype(str)


def _display_path(p: str) -> str:
    """``p`` relative to the working directory when it lies below it (reports stay portable)."""
    try:
        return str(Path(p).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


__all__ = ["FORMATS", "METRICS", "STATUS_MAP", "SweepInputError", "SweepInputWarning", "assemble",
           "detect_sweep_format", "read_sweep"]
