"""Time the sweep pathology inspector on a synthetic 100k-trial table.

Usage: ``python benchmarks/inspector_100k.py [--trials 100000]``. Prints seconds per stage
(read, detectors, correlations, report) and the total. Target: under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, 0, n)
    nan = rng.random(n) < np.where(lr > 0.1, 0.6, 0.02)
    tl = np.where(nan, np.nan, rng.uniform(0.01, 1.0, n))
    return pd.DataFrame({
        "trial_id": np.arange(n), "status": rng.choice(["completed"] * 19 + ["failed"], n),
        "lr": lr, "batch_size": rng.choice([16, 32, 64, 128, 256], n),
        "weight_decay": rng.choice([0, 1e-5, 1e-4, 1e-3], n), "dropout": rng.uniform(0, 0.5, n),
        "optimizer": rng.choice(["adam", "sgd", "adamw"], n), "width": rng.choice([32, 64, 128], n),
        "train_loss": tl, "val_loss": tl * rng.uniform(0.9, 3, n), "train_acc": rng.uniform(0.5, 1, n),
        "val_acc": rng.uniform(0.5, 1, n), "epochs": rng.integers(1, 100, n),
        "runtime_sec": rng.uniform(10, 1000, n),
    })


def main(argv=None):
    from overfit_forecast.inspector import (build_report, issue_correlations, read_sweep,
                                            report_markdown, run_detectors)

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100_000)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.csv"
        synthetic(a.trials).to_csv(path, index=False)
        t = {"start": time.perf_counter()}
        df = read_sweep(path)
        t["read"] = time.perf_counter()
        flags = run_detectors(df)
        t["detectors"] = time.perf_counter()
        patterns = issue_correlations(df, flags)
        t["correlations"] = time.perf_counter()
        report_markdown(build_report(df, flags, patterns))
        t["report"] = time.perf_counter()
    stages = list(t)
    for prev, cur in zip(stages, stages[1:]):
        print(f"{cur:<13} {t[cur] - t[prev]:7.2f} s")
    print(f"{'total':<13} {t['report'] - t['start']:7.2f} s  ({a.trials:,} trials, {len(flags):,} flags, "
          f"{len(patterns):,} bucket x issue tests)")


if __name__ == "__main__":
    main()
