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
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from .runlog import STATUSES, RunConfig, atomic_write_text
from .training import run_training

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


# --- worker side -----------------------------------------------------------------------
_SPLITS = {}


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGTERM this worker when the sweep process dies, so a killed
    sweep leaves no orphan workers writing logs behind a resumed one."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _init_worker(data_root, threads: int, in_child: bool = True):
    import torch

    if in_child:
        _die_with_parent()
    torch.set_num_threads(threads)
    _SPLITS["data_root"] = data_root


def _get_splits(cfg: RunConfig):
    from .data import load_splits

    key = (cfg.dataset, cfg.val_size, cfg.split_seed)
    if key not in _SPLITS:
        _SPLITS[key] = load_splits(_SPLITS.get("data_root"), cfg.dataset, cfg.val_size, cfg.split_seed)
    return _SPLITS[key]


def _run_one(cfg_dict: dict, log_dir: str) -> dict:
    cfg = RunConfig(**cfg_dict)
    try:
        splits = _get_splits(cfg)
    except Exception as exc:  # data problems are reported per run, never crash the pool
        return {"run_id": cfg.run_id, "status": "failed", "message": f"{type(exc).__name__}: {exc}"}
    return run_training(cfg, splits, log_dir)


def run_sweep(
    configs: list[RunConfig],
    log_dir: str | os.PathLike,
    workers: int = 2,
    data_root: str | os.PathLike | None = None,
    threads_per_worker: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every config whose run is not complete, in parallel, then write ``sweep.csv``.

    Parameters
    ----------
    configs : list of RunConfig
        Usually from :func:`sample_configs`.
    log_dir : path
        Folder of the per-run logs (``logs/mnist`` for the study).
    workers : int
        Worker processes (spawned); 1 runs in this process.
    threads_per_worker : int, optional
        torch intra-op threads per worker; default ``max(1, cpu_count // workers)``.

    Returns
    -------
    pandas.DataFrame
        The sweep table also written to ``<log_dir>/sweep.csv``: one row per run with
        run_id, group_id, every hyperparameter, seed, status, epochs_done, runtime_sec,
        test_acc, message.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    ids = [c.run_id for c in configs]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate configs in the sweep (same config and seed twice)")
    todo = [c for c in configs if not run_is_complete(c, log_dir)]
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // max(1, workers))
    print(f"sweep: {len(configs)} runs, {len(configs) - len(todo)} complete, {len(todo)} to train")
    if todo:
        bar = tqdm(total=len(todo), desc="runs", disable=not progress)
        if workers <= 1:
            _init_worker(data_root, threads, in_child=False)
            for c in todo:
                _run_one(c.to_dict(), str(log_dir))
                bar.update()
        else:
            ctx = get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(data_root, threads)) as pool:
                futures = [pool.submit(_run_one, c.to_dict(), str(log_dir)) for c in todo]
                for f in as_completed(futures):
                    f.result()
                    bar.update()
        bar.close()
    return write_sweep_table(configs, log_dir)


def write_sweep_table(configs: list[RunConfig], log_dir: str | os.PathLike) -> pd.DataFrame:
    """Gather the runs' result JSONs into ``<log_dir>/sweep.csv`` (written atomically).

    Runs without a result file appear with ``status="missing"``.
    """
    log_dir = Path(log_dir)
    rows = []
    for c in configs:
        res = log_dir / f"{c.run_id}.json"
        if res.exists():
            rows.append(json.loads(res.read_text()))
        else:
            rows.append(dict(run_id=c.run_id, group_id=c.group_id, **c.to_dict(), status="missing",
                             epochs_done=0, runtime_sec=float("nan"), test_acc=float("nan"), message=""))
    df = pd.DataFrame(rows)
    atomic_write_text(log_dir / "sweep.csv", df.to_csv(index=False))
    return df


def main(argv=None) -> None:
    """``python -m overfit_forecast.sweep SPACE.yaml LOG_DIR [--workers N]``."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("space")
    p.add_argument("log_dir")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data-root", default=None)
    a = p.parse_args(argv)
    configs = sample_configs(load_space(a.space))
    run_sweep(configs, a.log_dir, a.workers, a.data_root)


if __name__ == "__main__":
    main()
