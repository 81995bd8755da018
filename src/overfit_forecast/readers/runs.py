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

from ._io import Table, parse_numbers, read_table
from ._roles import direction_of
from ._names import Curves, LogFormatError, MultipleRunsError, canonical, finish, split_metric, warn


# --------------------------------------------------------------------------------------
# Delimited tables (a table is handled as {column name: list of cell texts} plus the
# table's row positions, so that file lines can be named after rows were picked)
# --------------------------------------------------------------------------------------

def _run_bounds(epoch_cells) -> list[int]:
    """Row positions where a run starts (0 and every restart of the epoch counter), then the
    row count."""
    e = parse_numbers(epoch_cells)[0]
    idx = np.flatnonzero(np.isfinite(e))  # rows without an epoch (Lightning's lr rows) are skipped
    drops = idx[1:][e[idx[1:]] < e[idx[:-1]]]
    return [0] + [int(i) for i in drops] + [len(e)]


def split_runs(df, epoch_col: str = "epoch") -> list:
    """Split a per-epoch table (a ``pandas.DataFrame``) whose epoch counter restarts (runs
    appended) into runs (a list of DataFrames)."""
    bounds = _run_bounds(df[epoch_col])
    return [df.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _pick_run(tab: Table, cols: dict, rows: np.ndarray, path: Path, run: int | None,
              meta: dict) -> tuple[dict, np.ndarray]:
    """One run of a table whose epoch counter restarts: ``run`` (0-based, negative from the
    end) or, by default, the last one (the newest, as ``CSVLogger(append=True)`` writes),
    with a :class:`LogFormatWarning` and ``meta["runs_in_file"]``, ``meta["run"]``. Returns
    the run's columns and its row positions in the table."""
    if "epoch" not in cols:
        return cols, rows
    bounds = _run_bounds(cols["epoch"])
    if len(bounds) == 2:
        return cols, rows
    n = len(bounds) - 1
    lines = [tab.line_of(rows[b]) for b in bounds[1:-1]]
    if run is None:
        run = n - 1
        warn(f"{path}: the epoch counter restarts at line(s) {lines}: {n} runs appended in one "
             f"file; reading the last one (pick another with run=<0..{n - 1}>, CLI: --run N)")
    elif not -n <= run < n:
        raise MultipleRunsError(f"{path}: run={run} but the file holds {n} runs (epoch counter "
                                f"restarts at line(s) {lines})")
    meta.update(runs_in_file=n, run=run % n, run_starts_at_lines=lines)
    a, b = bounds[run % n], bounds[run % n + 1]
    return {k: v[a:b] for k, v in cols.items()}, rows[a:b]


def _normalize_columns(cols: dict) -> dict:
    """``Epoch``/``EPOCH`` -> ``epoch``, ``Step``/``global_step`` -> ``step``; a pandas index
    column (blank or ``Unnamed: 0`` header) becomes ``epoch`` (0-based) when there is none."""
    ren = {}
    names = {canonical(c): c for c in cols}
    for want, alts in (("epoch", ("epoch", "epochs", "ep")), ("step", ("step", "global_step", "iteration"))):
        if want not in cols:
            src = next((names[a] for a in alts if a in names), None)
            if src is not None:
                ren[src] = want
    cols = _rename(cols, ren)
    idx = next((c for c in cols if c == "" or c.startswith("Unnamed: 0")), None)
    if idx is not None:
        cols = _rename(cols, {idx: "epoch"}) if "epoch" not in cols else {k: v for k, v in cols.items() if k != idx}
    return cols


def _rename(cols: dict, ren: dict) -> dict:
    return {ren.get(k, k): v for k, v in cols.items()}


def _wide_to_tidy(tab: Table, cols: dict, rows: np.ndarray, path: Path, epoch_offset: float,
                  default_split: str = "train", sparse: bool | None = None, meta: dict | None = None) -> dict:
    """Melt a wide table of metric columns into tidy columns.

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
    picked, vals, empties, texts, consts = [], [], [], [], {}
    lower = {str(c).lower() for c in cols}
    n = len(rows)
    for c, cells in cols.items():
        if c in ("epoch", "step") or (c.lower().endswith("_step") and c.lower()[:-5] + "_epoch" in lower):
            continue  # Lightning logs x_step and x_epoch: the epoch-level one is kept
        sm = split_metric(c, default_split)
        if sm is None:
            continue
        v, e, junk = parse_numbers(cells)
        if junk.any():
            if direction_of(c) is None and junk.sum() >= (~e & ~junk).sum():  # a label column (model name...)
                texts.append(c)
                continue
            i = int(np.argmax(junk))
            raise LogFormatError(f"{path}: line {tab.line_of(rows[i])}, column {c!r}: not a number "
                                 f"({cells[i]!r})")
        fin = v[~e]
        if direction_of(c) is None and len(fin) >= 3 and np.isfinite(fin).all() and (fin == fin[0]).all() \
                and e.sum() == 0:
            consts[c] = float(fin[0])  # a configuration value repeated on every row, not a curve
            continue
        picked.append(sm)
        vals.append(v)
        empties.append(e)
    if texts:
        meta["text_columns"] = texts
    if consts:
        meta["constant_columns"] = consts
    if not picked:
        raise LogFormatError(f"{path}: no metric columns among {list(cols)} (expected names like "
                             "loss, val_loss, accuracy, val_accuracy)")
    V, E = np.column_stack(vals), np.column_stack(empties)
    if sparse is None:
        sparse = _complementary(E)
    keep = ~E if sparse else np.broadcast_to(~E.all(axis=1, keepdims=True), E.shape)
    step = parse_numbers(cols["step"])[0] if "step" in cols else np.full(n, np.nan)
    if "epoch" in cols:
        epoch = _epochs_completed(parse_numbers(cols["epoch"])[0], step) + epoch_offset - 1.0
    elif "step" in cols:
        epoch = np.full(n, np.nan)  # per-step log: epochs unknown
    else:
        any_row = keep.any(axis=1)
        epoch = np.where(any_row, np.cumsum(any_row), np.nan).astype(float)
    r, j = np.nonzero(keep)
    return {"step": step[r], "epoch": epoch[r], "split": np.array([sm[0] for sm in picked])[j],
            "metric": np.array([sm[1] for sm in picked])[j], "value": V[r, j]}


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
    e, s = epoch[ok], step[ok]
    epochs, inv = np.unique(e, return_inverse=True)
    last = np.full(len(epochs), -np.inf)
    np.maximum.at(last, inv, s)  # S_e: the last step of each epoch (epochs in increasing order)
    prev = np.concatenate([[np.nan], last[:-1]])
    spe = float(np.nanmedian(np.diff(last))) if len(last) > 1 else float(last[0] + 1)
    s_last, s_prev = last[inv], prev[inv]
    s_prev = np.where(np.isfinite(s_prev), s_prev, s_last - spe if spe > 0 else -1.0)
    span = np.where(s_last - s_prev > 0, s_last - s_prev, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((s - s_prev) / span, 0.0, 1.0)
    mid = s < s_last
    out[np.flatnonzero(ok)[mid]] = e[mid] + np.nan_to_num(frac[mid])
    return out


def _read_wide(path: str | os.PathLike, fmt: str, run: int | None, epoch_offset: float,
               sparse: bool | None = None, column_map: dict | None = None, drop=()) -> Curves:
    path = Path(path)
    tab = read_table(path)
    cols = dict(zip(tab.columns, tab.cells))
    if column_map:
        missing = [k for k in column_map if k not in cols]
        if missing:
            raise LogFormatError(f"{path}: column map names {missing}, not in {list(cols)}")
        cols = _rename(cols, column_map)
    cols = _normalize_columns({k: v for k, v in cols.items() if k not in drop})
    meta: dict = {}
    cols, rows = _pick_run(tab, cols, np.arange(len(tab)), path, run, meta)
    if "epoch" in cols and epoch_offset == 1.0 and fmt != "lightning":
        e = parse_numbers(cols["epoch"])[0]
        e = e[np.isfinite(e)]
        # CSVLogger counts from 0; a log whose first epoch is 1 counts epochs completed (custom
        # loops); a generic log starting higher (a resumed run) is taken as epochs completed too
        if len(e) and (e[0] == 1 or (fmt == "csv" and e.min() >= 1)):
            epoch_offset = 0.0
            meta["epoch_base"] = 1
        else:  # the file counts from 0: its epoch = epochs completed - 1
            meta["epoch_base"] = 0
    t = _wide_to_tidy(tab, cols, rows, path, epoch_offset, sparse=sparse, meta=meta)
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
