"""Run logs kept by a tool's own store: TensorBoard event files (through tbparse) and MLflow
runs of a local file store (through the mlflow client). Both libraries are imported only here,
inside the readers, so reading other formats never pays for them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ._names import _SPLITS, Curves, LogFormatError, finish, split_metric


def read_tensorboard(path: str | os.PathLike) -> Curves:
    """TensorBoard event files (a file or a folder, searched recursively) through tbparse.
    Scalar tags are canonicalized (``train/loss``, ``eval/loss``, ``Loss/val``, ...); a
    ``*/epoch`` tag, when logged (Hugging Face does), gives each step its epoch. A Keras run
    (``train/`` and ``validation/`` sub-folders, tags ``epoch_loss``...) takes its split from
    the sub-folder and its epoch from the step (0-based epoch).

    Raises
    ------
    LogFormatError
        tbparse missing, unreadable events, or no scalar training/validation summary.
    """
    path = Path(path)
    try:
        from tbparse import SummaryReader
    except ImportError:
        raise LogFormatError("reading TensorBoard files needs tbparse: pip install tbparse tensorboard") from None
    if not path.exists():
        raise LogFormatError(f"{path}: no such file or folder")
    try:
        df = SummaryReader(str(path), pivot=False, extra_columns={"dir_name"}).scalars
    except (OSError, ValueError, KeyError, IndexError, RuntimeError) as exc:
        # tbparse/tensorboard raise these on truncated or corrupt records (DataLossError is an OSError)
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
        # Keras writes epoch-level scalars as epoch_<metric> with the 0-based epoch as step
        epoch = step + 1.0 if tag.startswith("epoch_") and not step_to_epoch else step_to_epoch.get(step, np.nan)
        rows.append((step, epoch, sm[0], sm[1], value))
    return finish(rows, "tensorboard", str(path))


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
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise LogFormatError("reading MLflow runs needs mlflow: pip install mlflow-skinny") from None
    store = path.parent.parent
    try:
        client = MlflowClient(tracking_uri=store.as_uri())
        run = client.get_run(path.name)
        names = sorted(p.name for p in (path / "metrics").iterdir())
        hist = {n: client.get_metric_history(path.name, n) for n in names}
    except (OSError, ValueError, KeyError, MlflowException) as exc:
        raise LogFormatError(f"{path}: cannot read the MLflow run ({type(exc).__name__}: {exc})") from None
    step_to_epoch = {m.step: m.value for m in hist.get("epoch", [])}
    rows = []
    for n, ms in hist.items():
        sm = split_metric(n)
        if sm is None:
            continue
        for m in ms:
            rows.append((m.step, step_to_epoch.get(m.step, np.nan), sm[0], sm[1], m.value))
    return finish(rows, "mlflow", str(path),
                  {"params": dict(run.data.params), "status": run.info.status})
