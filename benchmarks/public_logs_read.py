"""Read every file of the public-log corpus and count what reads, per kind.

Usage: ``python benchmarks/public_logs_read.py [--root ../shared/data/public_logs] [--diagnose] [-v]``.
Runs (hf, lightning, keras, tensorboard) go through :func:`overfit_forecast.readers.read_curves`
(and :func:`overfit_forecast.diagnosis.diagnose` with ``--diagnose``), sweeps through
:func:`overfit_forecast.inspector.inspect_sweep`. Prints, per kind: files, read, refused
(our error with a message), tracebacks (any other exception), ``eval_ok`` (runs whose longest
evaluation series has as many points as INDEX.csv's ``n_eval_points`` and whose last
evaluation value is finite; Lightning's index also counts per-batch validation rows, so
there only the finite last value is checked) and the slowest file.
"""

from __future__ import annotations

import argparse
import csv
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "public_logs"))
    p.add_argument("--diagnose", action="store_true", help="also run diagnose() on each run")
    p.add_argument("-v", "--verbose", action="store_true", help="print each failure")
    a = p.parse_args(argv)
    from overfit_forecast.inspector import SweepInputError, inspect_sweep
    from overfit_forecast.readers import LogFormatError, read_curves

    ours = (LogFormatError, SweepInputError)
    if a.diagnose:
        from overfit_forecast.diagnosis import DiagnosisError, diagnose
        ours = ours + (DiagnosisError,)
    root = Path(a.root)
    rows = list(csv.DictReader(open(root / "INDEX.csv", encoding="utf-8")))
    counts: dict = defaultdict(Counter)
    slowest: dict = {}
    for r in rows:
        path = root / r["local_path"]
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if r["kind"] == "sweeps":
                    inspect_sweep(path)
                else:
                    c = read_curves(path)
                    if a.diagnose:
                        diagnose(c)
                    counts[r["kind"]]["eval_ok"] += _eval_ok(c, r)
            outcome = "read"
        except ours as exc:
            outcome = "refused"
            if a.verbose:
                print(f"REFUSED {r['local_path']}: {exc}")
        except Exception as exc:  # noqa: BLE001 -- counting tracebacks is the point
            outcome = "traceback"
            if a.verbose:
                print(f"TRACEBACK {r['local_path']}: {type(exc).__name__}: {exc}")
                traceback.print_exc(limit=3)
        dt = time.perf_counter() - t0
        counts[r["kind"]][outcome] += 1
        if dt > slowest.get(r["kind"], (0, ""))[0]:
            slowest[r["kind"]] = (dt, r["local_path"])
    total = Counter()
    print(f"{'kind':<12}{'files':>6}{'read':>6}{'refused':>8}{'traceback':>10}{'eval_ok':>8}  slowest")
    for kind in sorted(counts):
        c = counts[kind]
        total.update(c)
        n = c["read"] + c["refused"] + c["traceback"]
        ok = "-" if kind == "sweeps" else c["eval_ok"]
        print(f"{kind:<12}{n:>6}{c['read']:>6}{c['refused']:>8}{c['traceback']:>10}{ok:>8}  "
              f"{slowest[kind][0]:.2f} s {slowest[kind][1]}")
    n = total["read"] + total["refused"] + total["traceback"]
    print(f"{'total':<12}{n:>6}{total['read']:>6}{total['refused']:>8}{total['traceback']:>10}{total['eval_ok']:>8}")
    return 0


def _eval_ok(c, row) -> int:
    import numpy as np

    val = c.table[c.table.split == "val"]
    if val.empty:
        return 0
    last_ok = all(np.isfinite(c.series("val", m).value.iloc[-1]) for m in c.metrics("val"))
    if row["kind"] == "lightning":
        return int(last_ok)
    return int(last_ok and val.groupby("metric").size().max() == int(row["n_eval_points"]))


if __name__ == "__main__":
    raise SystemExit(main())
