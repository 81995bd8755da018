"""Adapters from tool-specific sweep exports to role-named columns for
:func:`overfit_forecast.readers.sweeps.assemble`: Optuna, MLflow, W&B, and our own
``sweep.csv`` (joined with its per-run logs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from .sweeps import assemble

_WANDB_META = {"Name", "ID", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep", "Group",
               "Job Type", "Hostname", "GPU Type", "GPU Count", "Updated", "End Time"}


def _optuna(df: pd.DataFrame):
    """Optuna ``trials_dataframe()``: ``number``, ``state``, ``value`` (or ``values_0``...),
    ``params_*`` (hyperparameters), ``user_attrs_*`` (metrics), ``duration``."""
    ren = {"number": "trial_id", "state": "status", "duration": "runtime_sec"}
    params = []
    for c in df.columns:
        if c.startswith("params_"):
            ren[c] = c.removeprefix("params_")
            params.append(ren[c])
        elif c.startswith("user_attrs_"):
            ren[c] = c.removeprefix("user_attrs_")
    drop = [c for c in df.columns if c.startswith("system_attrs_") or c in ("datetime_start", "datetime_complete")]
    # a hand-made table with Optuna's number/value but bare parameter names: classify by name
    return df.drop(columns=drop).rename(columns=ren), {"params": params or None}


def _mlflow(df: pd.DataFrame):
    """MLflow ``search_runs()`` table: ``run_id``, ``status``, ``start_time``, ``end_time``,
    ``params.*`` (hyperparameters), ``metrics.*`` (metrics)."""
    d = df.copy()
    if "runtime_sec" not in d and {"start_time", "end_time"} <= set(d.columns):
        start = pd.to_datetime(d["start_time"], errors="coerce", utc=True, format="mixed")
        end = pd.to_datetime(d["end_time"], errors="coerce", utc=True, format="mixed")
        d["runtime_sec"] = (end - start).dt.total_seconds().astype(str)
    ren = {"run_id": "trial_id"}
    params = []
    for c in d.columns:
        if c.startswith("params."):
            name = c.removeprefix("params.")
            ren[c] = name if name != "epochs" else "planned_epochs"
            params.append(ren[c])
        elif c.startswith("metrics."):
            ren[c] = "epochs" if c == "metrics.epoch" else c.removeprefix("metrics.")
    d = d.rename(columns=ren)
    if "epochs" not in d and "planned_epochs" in d:
        d["epochs"] = d["planned_epochs"]
    keep = [c for c in d.columns if not c.startswith(("tags.", "artifact_uri", "experiment_id"))]
    return d[keep], {"params": params}


def _wandb(df: pd.DataFrame):
    """W&B runs-table export: ``Name``/``ID``, ``State``, ``Runtime`` (s), then config and
    summary columns (metric-named ones are metrics, the rest hyperparameters)."""
    d = df.rename(columns={"Name" if "Name" in df else "ID": "trial_id", "State": "status", "Runtime": "runtime_sec"})
    return d.drop(columns=[c for c in d.columns if c in _WANDB_META]), {}


def read_ours(path: Path) -> pd.DataFrame:
    """Our own ``logs/<dataset>/sweep.csv`` joined with the per-run logs (final metrics and
    full curves); planned epochs are the hyperparameter ``planned_epochs``."""
    from ..runlog import RunConfig, read_log

    sweep = pd.read_csv(path, dtype=str, keep_default_na=False)
    constant_or_id = {"run_id", "group_id", "status", "epochs_done", "runtime_sec", "test_acc",
                      "message", "eval_batch_size"}
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    params = [c for c in fields if c in sweep and c not in constant_or_id and sweep[c].nunique() > 1]
    rows, curves = [], {}
    for rec in sweep.to_dict("records"):
        if rec["status"] == "missing":  # planned but not run yet
            continue
        row = {"trial_id": rec["run_id"], "status": rec["status"], "runtime_sec": rec["runtime_sec"],
               **{("planned_epochs" if p == "epochs" else p): rec[p] for p in params},
               "epochs": rec["epochs_done"]}
        log_path = path.parent / f"{rec['run_id']}.csv"
        if log_path.exists():
            log = read_log(log_path)
            curves[rec["run_id"]] = log
            if len(log):
                last = log.iloc[-1]
                row.update({m: str(last[m]) for m in ("train_loss", "val_loss", "train_acc", "val_acc")})
        rows.append(row)
    d = pd.DataFrame(rows)
    for m in ("train_loss", "val_loss", "train_acc", "val_acc"):
        if m not in d:
            d[m] = "nan"
    params = ["planned_epochs" if p == "epochs" else p for p in params]
    return assemble(d.fillna("nan").astype(str), str(path), params=params, curves=curves)


ADAPTERS = {"generic": lambda d: (d, {}), "optuna": _optuna, "mlflow": _mlflow, "wandb": _wandb}
