"""Every file of the public-log corpus (``../shared/data/public_logs``, 313 real logs) reads
and is diagnosed (runs) or inspected (sweeps) without a traceback and without being refused.

The corpus lives beside the repository (see its README.md and INDEX.csv); the test is skipped
when it is absent.
"""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "public_logs"
INDEX = ROOT / "INDEX.csv"
pytestmark = pytest.mark.skipif(not INDEX.exists(), reason=f"public log corpus not found at {ROOT}")


def _rows(kinds):
    if not INDEX.exists():
        return []
    with open(INDEX, encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["kind"] in kinds]


RUNS = _rows({"hf", "lightning", "keras", "tensorboard"})
SWEEPS = _rows({"sweeps"})


def test_corpus_is_complete():
    assert len(RUNS) + len(SWEEPS) == 313


@pytest.mark.parametrize("row", RUNS, ids=lambda r: r["local_path"][:80])
def test_every_run_log_reads_and_is_diagnosed(row):
    from overfit_forecast.diagnosis import diagnose
    from overfit_forecast.readers import read_curves

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "several runs appended: reading the last one"
        c = read_curves(ROOT / row["local_path"])
        diagnose(c)
    val = c.table[c.table.split == "val"]
    assert len(val), "no evaluation series"
    # the index counts evaluation points; sparse rows must not inflate them (Lightning) and
    # appended runs are read one at a time, so we never see more than the file holds
    n_eval = int(row["n_eval_points"])
    assert val.groupby("metric").size().max() <= n_eval
    if row["kind"] == "keras" and "runs_in_file" not in c.meta:
        assert val.groupby("metric").size().max() == n_eval
    if row["kind"] == "lightning":  # empty cells were once read as NaN evaluations
        assert all(np.isfinite(c.series("val", m).value.iloc[-1]) for m in c.metrics("val"))


@pytest.mark.parametrize("row", SWEEPS, ids=lambda r: r["local_path"][:80])
def test_every_sweep_table_is_inspected(row):
    from overfit_forecast.inspector import inspect_sweep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report, df, flags, patterns = inspect_sweep(ROOT / row["local_path"])
    assert len(df) == int(row["n_eval_points"])  # every trial row kept
    assert report["overview"]["trials"] == len(df)
    assert df["trial_id"].is_unique
