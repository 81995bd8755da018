"""Run-log readers for delimited text tables -> :class:`~overfit_forecast.readers.Curves`.

PyTorch Lightning CSVLogger ``metrics.csv``, Keras CSVLogger CSV and pandas dumps of
``history.history``, our per-epoch ``logs/`` CSV and any per-epoch CSV. JSON logs (Hugging
Face, Keras history) are in :mod:`.jsonlogs`, TensorBoard and MLflow in :mod:`.stores`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import Table, parse_numbers, read_table
from ._roles import direction_of
from ._names import Curves, LogFormatError, MultipleRunsError, canonical, finish, split_metric, warn


# --------------------------------------------------------------------------------------
# Delimited tables
# --------------------------------------------------------------------------------------

def split_runs(df: pd.DataFrame, epoch_col: str = "epoch") -> list[pd.DataFrame]:
    """Split a per-epoch table whose epoch counter restarts (runs appended) into runs."""
    e = parse_numbers(df[epoch_col])[0]
    idx = np.flatnonzero(np.isfinite(e))  # rows without an epoch (Lightning's lr rows) are skipped
    drops = idx[1:][e[idx[1:]] < e[idx[:-1]]]
    starts = [0] + [int(i) for i in drops]
    bounds = starts + [len(df)]
    return [df.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _pick_run(tab: Table, path: Path, run: int | None, meta: dict) -> pd.DataFrame:
    """One run of a table whose epoch counter restarts: ``run`` (0-based, negative from the
    end) or, by default, the last one (the newest, as ``CSVLogger(append=True)`` writes),
    with a :class:`LogFormatWarning` and ``meta["runs_in_file"]``, ``meta["run"]``."""
    df = tab.frame
    if "epoch" not in df:
        return df
    runs = split_runs(df)
    if len(runs) == 1:
        return df
    lines = [tab.line_of(r.index[0]) for r in runs[1:]]
    if run is None:
        run = len(runs) - 1
        warn(f"{path}: the epoch counter restarts at line(s) {lines}: {len(runs)} runs appended in one "
             f"file; reading the last one (pick another with run=<0..{len(runs) - 1}>, CLI: --run N)")
    elif not -len(runs) <= run < len(runs):
        raise MultipleRunsError(f"{path}: run={run} but the file holds {len(runs)} runs (epoch counter "
                                f"restarts at line(s) {lines})")
    meta.update(runs_in_file=len(runs), run=run % len(runs), run_starts_at_lines=lines)
    return runs[run]


def _normalize_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``Epoch``/``EPOCH`` -> ``epoch``, ``Step``/``global_step`` -> ``step``; a pandas index
    column (blank or ``Unnamed: 0`` header) becomes ``epoch`` (0-based) when there is none."""
    ren = {}
    names = {canonical(c): c for c in df.columns}
    for want, alts in (("epoch", ("epoch", "epochs", "ep")), ("step", ("step", "global_step", "iteration"))):
        if want not in df.columns:
            src = next((names[a] for a in alts if a in names), None)
            if src is not None:
                ren[src] = want
    df = df.rename(columns=ren)
    idx = next((c for c in df.columns if c == "" or c.startswith("Unnamed: 0")), None)
    if idx is not None:
        df = df.rename(columns={idx: "epoch"}) if "epoch" not in df else df.drop(columns=[idx])
    return df


def _wide_to_tidy(tab: Table, df: pd.DataFrame, path: Path, epoch_offset: float,
                  default_split: str = "train", sparse: bool | None = None, meta: dict | None = None) -> pd.DataFrame:
    """Melt a wide table of metric columns into tidy rows.

    An empty cell is "not logged at this row" in a sparse table (Lightning; or any table where
    two metric columns are filled on complementary rows) and NaN otherwise; ``nan`` text is
    always NaN. Text columns not named like a metric (``model``, ``asset``) are skipped
    (``meta["text_columns"]``), and so are columns not named like a metric whose value is the
    same on every row (configuration repeated per epoch: ``meta["constant_columns"]``).
    Without an ``epoch`` or ``step`` column, row i (0-based) of rows carrying a metric is
    epoch i+1; with only ``step``, epochs are unknown (NaN).

    Raises
    ------
    LogFormatError
        No metric column, or a junk cell in a numeric column (file line and column named).
    """
    meta = {} if meta is None else meta
    cols, vals, empties, texts, consts = [], [], [], [], {}
    lower = {str(c).lower() for c in df.columns}
    for c in df.columns:
        if c in ("epoch", "step") or (c.lower().endswith("_step") and c.lower()[:-5] + "_epoch" in lower):
            continue  # Lightning logs x_step and x_epoch: the epoch-level one is kept
        sm = split_metric(c, default_split)
        if sm is None:
            continue
        v, e, junk = parse_numbers(df[c])
        if junk.any():
            if direction_of(c) is None and junk.sum() >= (~e & ~junk).sum():  # a label column (model name...)
                texts.append(c)
                continue
            i = int(np.argmax(junk))
            raise LogFormatError(f"{path}: line {tab.line_of(df.index[i])}, column {c!r}: not a number "
                                 f"({df[c].iloc[i]!r})")
        fin = v[~e]
        if direction_of(c) is None and len(fin) >= 3 and np.isfinite(fin).all() and (fin == fin[0]).all() \
                and e.sum() == 0:
            consts[c] = float(fin[0])  # a configuration value repeated on every row, not a curve
            continue
        cols.append((c, sm))
        vals.append(v)
        empties.append(e)
    if texts:
        meta["text_columns"] = texts
    if consts:
        meta["constant_columns"] = consts
    if not cols:
        raise LogFormatError(f"{path}: no metric columns among {list(df.columns)} (expected names like "
                             "loss, val_loss, accuracy, val_accuracy)")
    V, E = np.column_stack(vals), np.column_stack(empties)
    if sparse is None:
        sparse = _complementary(E)
    keep = ~E if sparse else np.broadcast_to(~E.all(axis=1, keepdims=True), E.shape)
    step = parse_numbers(df["step"])[0] if "step" in df else np.full(len(df), np.nan)
    if "epoch" in df:
        epoch = _epochs_completed(parse_numbers(df["epoch"])[0], step) + epoch_offset - 1.0
    elif "step" in df:
        epoch = np.full(len(df), np.nan)  # per-step log: epochs unknown
    else:
        any_row = keep.any(axis=1)
        epoch = np.where(any_row, np.cumsum(any_row), np.nan).astype(float)
    r, j = np.nonzero(keep)
    return pd.DataFrame({"step": step[r], "epoch": epoch[r], "split": [cols[k][1][0] for k in j],
                         "metric": [cols[k][1][1] for k in j], "value": V[r, j]})


def _complementary(E: np.ndarray) -> bool:
    """True when two columns are each filled on a row where the other is empty (sparse logging)."""
    filled = ~E
    for a in range(E.shape[1]):
        for b in range(a + 1, E.shape[1]):
            if (filled[:, a] & E[:, b]).any() and (filled[:, b] & E[:, a]).any():
                return True
    return False


def _epochs_completed(epoch: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Epochs completed (file epoch + 1 at the epoch's last logged step) for a 0-based epoch
    counter. With steps, rows logged before an epoch's last step (Lightning's per-step rows)
    get the fraction of that epoch done instead of a whole epoch: ``e + (s - S_{e-1}) /
    (S_e - S_{e-1})`` with ``S_e`` the last step logged in epoch ``e``."""
    out = epoch + 1.0
    ok = np.isfinite(epoch) & np.isfinite(step)
    if not ok.any():
        return out
    last = pd.Series(step[ok]).groupby(epoch[ok]).max()
    prev = last.shift(1)
    spe = float(np.nanmedian(np.diff(last.to_numpy()))) if len(last) > 1 else float(last.iloc[0] + 1)
    e, s = epoch[ok], step[ok]
    s_last = last.reindex(e).to_numpy()
    s_prev = prev.reindex(e).to_numpy()
    s_prev = np.where(np.isfinite(s_prev), s_prev, s_last - spe if spe > 0 else -1.0)
    span = np.where(s_last - s_prev > 0, s_last - s_prev, np.nan)
    frac = np.clip((s - s_prev) / span, 0.0, 1.0)
    mid = s < s_last
    out[np.flatnonzero(ok)[mid]] = e[mid] + np.nan_to_num(frac[mid])
    return out


def _read_wide(path: str | os.PathLike, fmt: str, run: int | None, epoch_offset: float,
               sparse: bool | None = None, column_map: dict | None = None, drop=()) -> Curves:
    path = Path(path)
    tab = read_table(path)
    df = tab.frame
    if column_map:
        missing = [k for k in column_map if k not in df.columns]
        if missing:
            raise LogFormatError(f"{path}: column map names {missing}, not in {list(df.columns)}")
        df = df.rename(columns=column_map)
    df = _normalize_columns(df.drop(columns=[c for c in drop if c in df]))
    meta: dict = {}
    tab = Table(df, tab.sep, tab.header_line)
    df = _pick_run(tab, path, run, meta)
    if "epoch" in df and epoch_offset == 1.0 and fmt != "lightning":
        e = parse_numbers(df["epoch"])[0]
        e = e[np.isfinite(e)]
        # CSVLogger counts from 0; a log whose first epoch is 1 counts epochs completed (custom
        # loops); a generic log starting higher (a resumed run) is taken as epochs completed too
        if len(e) and (e[0] == 1 or (fmt == "csv" and e.min() >= 1)):
            epoch_offset = 0.0
            meta["epoch_base"] = 1
        else:  # the file counts from 0: its epoch = epochs completed - 1
            meta["epoch_base"] = 0
    t = _wide_to_tidy(tab, df, path, epoch_offset, sparse=sparse, meta=meta)
    if tab.sep != ",":
        meta["separator"] = tab.sep
    if tab.header_line > 1:
        meta["title_lines"] = tab.header_line - 1
    return finish(t, fmt, str(path), meta)


def read_lightning_csv(path: str | os.PathLike, run: int | None = None) -> Curves:
    """PyTorch Lightning CSVLogger ``metrics.csv``: sparse rows with ``epoch`` (0-based),
    ``step`` (optional) and metric columns (``train_loss_step``, ``train_loss_epoch``,
    ``val_loss``, ...). Empty cells are "not logged here". ``epoch`` counts epochs completed:
    +1 at an epoch's last logged step, a fraction before it (per-step rows)."""
    return _read_wide(path, "lightning", run, 1.0, sparse=True)


def read_keras_csv(path: str | os.PathLike, run: int | None = None) -> Curves:
    """Keras CSVLogger (and pandas dumps of ``history.history``): one row per epoch,
    ``epoch`` 0-based (here +1 = epochs completed) or a pandas index column; ``loss``,
    ``accuracy``, ``val_loss``, ... Unprefixed names are train. A file whose first epoch is 1
    was written by a custom loop counting from 1: taken as is (``meta["epoch_base"] = 1``);
    otherwise ``meta["epoch_base"] = 0`` (the file's epoch is the epochs completed minus 1)."""
    return _read_wide(path, "keras_csv", run, 1.0)


def read_ours(path: str | os.PathLike, run: int | None = None) -> Curves:
    """Our per-epoch log (``logs/<dataset>/<run_id>.csv``): ``epoch`` (0 = before training),
    ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``. The run's ``.json`` beside it,
    if present, goes into ``meta``."""
    path = Path(path)
    c = _read_wide(path, "overfit_forecast", run, 0.0, sparse=False, drop=("gap", "lr", "seconds"))
    side = path.with_suffix(".json")
    if side.exists():
        try:
            c.meta.update(json.loads(side.read_text()))
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            pass
    return c


def read_generic_csv(path: str | os.PathLike, column_map: dict | None = None, run: int | None = None) -> Curves:
    """Any per-epoch (or per-step) table: optional ``epoch``/``step`` columns (any case; a
    pandas index column counts as a 0-based epoch) plus metric columns named like
    ``val_loss``, ``Validation Loss``, ``ValLoss``; ``column_map`` renames columns first
    (``{"my_col": "val_loss"}``). An ``epoch`` counter starting at 0 is 0-based (+1 =
    completed); one starting at 1 is taken as epochs completed; without one, row i is epoch
    i+1. Separator and title lines are sniffed."""
    path = Path(path)
    return _read_wide(path, "csv", run, 1.0, column_map=column_map)
