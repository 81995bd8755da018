"""The sweep: a seeded sample of run configs from a YAML space, run in parallel, resumable.

Space file format (``configs/sweep_mnist.yaml`` is the full study's)::

    dataset: mnist
    sample_seed: 2026        # seed of the sampler: same file -> same configs
    n_configs: 180           # distinct configurations drawn
    repeat_configs: 20       # the first this-many configs are also run with...
    repeat_seeds: [1, 2]     # ...these extra seeds (seed 0 is every config's first run)
    fixed: {optimizer: sgd, momentum: 0.9, val_size: 5000}
    space:
      lr: {log_uniform: [0.002, 1.0]}
      n_train: {log_uniform_int: [256, 16000]}
      epochs: {int_uniform: [20, 45]}
      dropout: {choice: [0.0, 0.25, 0.5]}

Distributions: ``log_uniform`` / ``uniform`` (floats), ``log_uniform_int`` /
``int_uniform`` (inclusive integer bounds), ``choice`` (a list, equal weights; repeat a
value to weight it), ``mixture`` (a list of ``{weight: w, <distribution>: args}``; one
component is drawn by weight, then a value from it), or a plain value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from .data import DataNotFoundError
from .executors import SweepDataError, lost_types, make_executor, preflight
from .runlog import STATUSES, RunConfig, atomic_write_text
from .training import DeviceUnavailableError, result_text

#: Problems found before training: they stop the whole sweep (exit code 2 on the CLI).
FATAL = (DataNotFoundError, SweepDataError, DeviceUnavailableError)

_DISTS = ("log_uniform", "uniform", "log_uniform_int", "int_uniform", "choice", "mixture")


def load_space(path: str | os.PathLike) -> dict:
    """Read a sweep-space YAML file (with ``yaml.safe_load``) and check its keys.

    Raises
    ------
    ValueError
        Not a mapping, unknown config field, or unknown distribution (names the file).
    """
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    fields = set(RunConfig.__dataclass_fields__)
    for section in ("space", "fixed"):
        for key, value in (spec.get(section) or {}).items():
            if key not in fields:
                raise ValueError(f"{path}: {section}.{key} is not a RunConfig field ({sorted(fields)})")
            if section == "space" and isinstance(value, dict):
                if len(value) != 1 or next(iter(value)) not in _DISTS:
                    raise ValueError(f"{path}: space.{key}: expected one of {_DISTS}, got {value}")
    return spec


def _draw(rng: np.random.Generator, dist):
    if not isinstance(dist, dict):
        return dist
    (kind, arg), = dist.items()
    if kind == "mixture":
        weights = np.array([float(c["weight"]) for c in arg])
        comp = arg[int(rng.choice(len(arg), p=weights / weights.sum()))]
        return _draw(rng, {k: v for k, v in comp.items() if k != "weight"})
    if kind == "choice":
        v = arg[int(rng.integers(len(arg)))]
        return v.item() if hasattr(v, "item") else v
    lo, hi = arg
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    if kind == "log_uniform":
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if kind == "int_uniform":
        return int(rng.integers(lo, hi + 1))
    if kind == "log_uniform_int":
        return int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    raise ValueError(f"unknown distribution {kind!r}")


def sample_configs(spec: dict) -> list[RunConfig]:
    """Draw the sweep's run configs from a space spec (see module docstring).

    Deterministic: the same spec gives the same list. Floats are rounded to 4
    significant digits so config files stay readable. Each config's first run has
    ``seed=0``; the first ``repeat_configs`` configs get one more run per ``repeat_seeds``.
    """
    rng = np.random.default_rng(spec.get("sample_seed", 0))
    fixed = dict(spec.get("fixed") or {})
    if "dataset" in spec:
        fixed.setdefault("dataset", spec["dataset"])
    space = spec.get("space") or {}
    configs = []
    for i in range(int(spec.get("n_configs", 1))):
        d = dict(fixed)
        for key in sorted(space):
            v = _draw(rng, space[key])
            d[key] = float(f"{v:.4g}") if isinstance(v, float) else v
        base = RunConfig(**{**d, "seed": 0})
        configs.append(base)
    out = list(configs)
    for cfg in configs[: int(spec.get("repeat_configs", 0))]:
        for s in spec.get("repeat_seeds", []):
            out.append(RunConfig(**{**cfg.to_dict(), "seed": int(s)}))
    return out


def run_is_complete(cfg: RunConfig, log_dir: str | os.PathLike) -> bool:
    """True if the run's result JSON exists with a terminal status and, for a completed
    run, its log has all ``epochs + 1`` rows."""
    log_dir = Path(log_dir)
    res, log = log_dir / f"{cfg.run_id}.json", log_dir / f"{cfg.run_id}.csv"
    if not res.exists():
        return False
    try:
        status = json.loads(res.read_text()).get("status")
    except (json.JSONDecodeError, OSError):
        return False
    if status not in STATUSES:
        return False
    if status == "completed":
        try:
            return log.exists() and len(pd.read_csv(log)) == cfg.epochs + 1
        except Exception:
            return False
    return True


class SweepAborted(RuntimeError):
    """A problem found before training (data not found, device missing) stopped the sweep.

    Its message is the data module's (folders searched, where to put the files) or the
    device check's; nothing was written for any run.
    """


def run_sweep(
    configs: list[RunConfig],
    log_dir: str | os.PathLike,
    workers: int = 2,
    data_root: str | os.PathLike | None = None,
    threads_per_worker: int | None = None,
    progress: bool = True,
    dask=None,
    download: bool = True,
) -> pd.DataFrame:
    """Train every config whose run is not complete, in parallel, then write ``sweep.csv``.

    Parameters
    ----------
    configs : list of RunConfig
        Usually from :func:`sample_configs`.
    log_dir : path
        Folder of the per-run logs (``logs/mnist`` for the study).
    workers : int
        Worker processes of the local pool (spawned); 1 runs in this process.
    data_root : path, optional
        Folder holding ``MNIST/raw``, as seen where the runs train.
    threads_per_worker : int, optional
        torch intra-op threads per run; default ``max(1, cpu_count // workers)``.
    dask : str or distributed.Client, optional
        Train on a Dask cluster instead of the local pool: ``"local[:N]"`` (a
        ``LocalCluster`` of N workers), a scheduler address ``"tcp://HOST:PORT"``, or a
        connected ``Client`` (see :class:`overfit_forecast.executors.DaskExecutor`).
    download : bool
        Let a run's worker download the dataset with torchvision if it is not found.

    Each run trains in memory where it is scheduled and comes back as its log text and
    result record; this process writes them atomically (log first, result JSON last) as
    they return, so a killed sweep or worker loses no finished run and never leaves a
    half-written one. Re-running trains only the runs without a complete result. A run
    whose training raises is recorded ``failed`` with its message; a run lost with its
    executor (a broken process pool, a cancelled task) is not written and appears in the
    table as ``missing`` with the reason in ``message``.

    Returns
    -------
    pandas.DataFrame
        The sweep table also written to ``<log_dir>/sweep.csv``: one row per run with
        run_id, group_id, every hyperparameter, seed, status, epochs_done, runtime_sec,
        test_acc, message, trained_on (the device; empty for runs logged before it existed).

    Raises
    ------
    SweepAborted
        The data is not found or a device is missing, checked where the runs train before
        any of them starts (or raised by the first run that loads its data); no run is
        written, nor ``sweep.csv``.
    ValueError
        The same config and seed twice.
    """
    log_dir = Path(log_dir)
    ids = [c.run_id for c in configs]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate configs in the sweep (same config and seed twice)")
    todo = [c for c in configs if not run_is_complete(c, log_dir)]
    lost: dict[str, str] = {}
    with make_executor(workers, dask, threads_per_worker) as ex:
        print(f"sweep: {len(configs)} runs, {len(configs) - len(todo)} complete, {len(todo)} to train"
              f" ({ex.name})")
        if todo:
            try:
                ex.call(preflight, [c.dataset for c in todo], [c.device for c in todo], data_root, download)
            except FATAL as exc:
                raise SweepAborted(str(exc)) from exc
            log_dir.mkdir(parents=True, exist_ok=True)
            lost = _collect(ex, todo, log_dir, data_root, download, progress)
    return write_sweep_table(configs, log_dir, lost)


def _collect(ex, todo: list[RunConfig], log_dir: Path, data_root, download: bool, progress: bool) -> dict:
    """Submit ``todo`` to executor ``ex`` and store each run as it returns; returns the
    lost runs (run_id -> reason)."""
    futures = ex.submit_runs([c.to_dict() for c in todo], data_root, download)
    by_future = {id(f): c for f, c in zip(futures, todo)}
    lost, fatal = {}, None
    with tqdm(total=len(todo), desc="runs", disable=not progress) as bar:
        for f in ex.as_completed(futures):
            cfg = by_future[id(f)]
            try:
                out = f.result()
            except FATAL as exc:
                fatal = fatal or exc
                ex.cancel(futures)
                continue
            except lost_types() as exc:
                lost[cfg.run_id] = f"not finished ({type(exc).__name__}: {exc}); re-run the sweep to train it"
                continue
            except Exception as exc:  # the run raised outside training (e.g. KilledWorker)
                out = {"run_id": cfg.run_id, "log": None, "result": dict(
                    run_id=cfg.run_id, group_id=cfg.group_id, **cfg.to_dict(), status="failed",
                    epochs_done=0, runtime_sec=float("nan"), test_acc=float("nan"),
                    message=f"{type(exc).__name__}: {exc}")}
            if fatal is None:
                store_run(out, log_dir)
                bar.update()
    if fatal is not None:
        raise SweepAborted(str(fatal)) from fatal
    return lost


def store_run(out: dict, log_dir: str | os.PathLike) -> None:
    """Write a run returned by :func:`~overfit_forecast.executors.train_remote` into
    ``log_dir``: its log CSV, then its result JSON (which marks it complete), atomically."""
    log_dir = Path(log_dir)
    csv = log_dir / f"{out['run_id']}.csv"
    if out["log"] is not None:
        atomic_write_text(csv, out["log"])
    elif csv.exists():  # a stale partial log of an earlier attempt
        csv.unlink()
    atomic_write_text(log_dir / f"{out['run_id']}.json", result_text(out["result"]))


def write_sweep_table(configs: list[RunConfig], log_dir: str | os.PathLike,
                      lost: dict[str, str] | None = None) -> pd.DataFrame:
    """Gather the runs' result JSONs into ``<log_dir>/sweep.csv`` (written atomically).

    Runs without a result file appear with ``status="missing"`` (and the reason from
    ``lost``, run_id -> message, if they were lost with their worker).
    """
    lost = lost or {}
    log_dir = Path(log_dir)
    rows = []
    for c in configs:
        res = log_dir / f"{c.run_id}.json"
        if res.exists():  # fields added since a run was logged take the sweep's values
            rows.append({"run_id": c.run_id, "group_id": c.group_id, **c.to_dict(),
                         **json.loads(res.read_text())})
        else:
            rows.append(dict(run_id=c.run_id, group_id=c.group_id, **c.to_dict(), status="missing",
                             epochs_done=0, runtime_sec=float("nan"), test_acc=float("nan"),
                             message=lost.get(c.run_id, "")))
    df = pd.DataFrame(rows)
    atomic_write_text(log_dir / "sweep.csv", df.to_csv(index=False))
    return df


def command(a) -> int:
    """Run the ``sweep`` command from parsed arguments; returns the exit code.

    0: every run has a terminal status other than ``failed``; 1: some run failed (their
    messages are printed) or was lost with its worker (re-run to train it); 2: bad space
    file, or the sweep stopped before training (data not found, device missing).
    """
    import sys

    try:
        configs = sample_configs(load_space(a.space))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.dask is not None and not (a.dask == "local" or a.dask.startswith("local:")):
        print(f"error: --dask takes local or local:N, got {a.dask!r} (use --scheduler for an address)",
              file=sys.stderr)
        return 2
    try:
        table = run_sweep(configs, a.log_dir, a.workers, a.data_root, a.threads_per_worker,
                          progress=not a.quiet, dask=a.scheduler or a.dask, download=not a.no_download)
    except SweepAborted as exc:
        print(f"error: sweep stopped before training: {exc}", file=sys.stderr)
        return 2
    print("status: " + ", ".join(f"{k} {v}" for k, v in table.status.value_counts().items()))
    bad = table[table.status.isin(["failed", "missing"])]
    for row in bad.itertuples():
        print(f"{row.status}: {row.run_id}: {row.message}", file=sys.stderr)
    return 1 if len(bad) else 0


def main(argv=None) -> None:
    """``python -m overfit_forecast.sweep SPACE.yaml LOG_DIR [--workers N | --dask local:N |
    --scheduler tcp://HOST:PORT]``: the same as ``overfit-forecast sweep``."""
    import sys

    from .cli import main as cli_main

    sys.exit(cli_main(["sweep", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    main()
