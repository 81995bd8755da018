"""Agreement of ``diagnose`` with the real-log labels (benchmarks/real_logs/labels.csv).

The official comparison, with the peer tools, is ``benchmarks/real_logs.py``; this script is
the quick in-process check used while fixing the diagnosis: per kind of log, the overfitting
verdict's accuracy, recall, false-alarm rate and precision (``unclear`` labels left out; a run
that cannot be read or has no verdict counts as "no overfitting"), onset and best-step errors
as a fraction of the run, and precision/recall of every other labelled pathology.

Usage::

    PYTHONPATH=src python benchmarks/diagnose_agreement.py [--kinds hf,lightning,keras,tensorboard] [-v]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "real_logs" / "labels.csv"
OTHER = ("diverged", "frozen", "chance_level", "plateau", "leakage_signal")


def _logs_root() -> Path:
    p = ROOT.parent / "shared" / "data" / "public_logs"
    if not p.exists():
        raise SystemExit(f"public logs not found ({p})")
    return p


def diagnose_all(paths, logs: Path) -> dict:
    from overfit_forecast.diagnosis import diagnose
    from overfit_forecast.readers import read_curves

    out = {}
    for p in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[p] = diagnose(read_curves(logs / p))
        except ValueError as exc:  # LogFormatError, DiagnosisError
            out[p] = exc
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="hf,lightning,keras,tensorboard")
    ap.add_argument("-v", "--verbose", action="store_true", help="list misses and false alarms")
    a = ap.parse_args(argv)
    lab = pd.read_csv(LABELS)
    lab = lab[lab.local_path.str.split("/").str[0].isin(a.kinds.split(","))]
    runs = lab[lab.pathology == "overfitting"]
    res = diagnose_all(runs.local_path, _logs_root())
    ok = {k: d for k, d in res.items() if isinstance(d, dict)}
    print(f"{a.kinds}: {len(runs)} run files, {len(ok)} diagnosed")
    j = runs[runs.value.isin(["yes", "no"])].copy()
    j["pred"] = [bool(ok.get(p, {}).get("verdicts", {}).get("overfitting")) for p in j.local_path]
    y = j.value == "yes"
    tp, fp, fn, tn = (y & j.pred).sum(), (~y & j.pred).sum(), (y & ~j.pred).sum(), (~y & ~j.pred).sum()
    print(f"overfitting: n={len(j)} (unclear left out: {(runs.value == 'unclear').sum()}) accuracy {(tp + tn) / len(j):.3f} "
          f"recall {tp / max(tp + fn, 1):.3f} false alarms {fp / max(fp + tn, 1):.3f} precision {tp / max(tp + fp, 1):.3f} "
          f"(tp {tp} fp {fp} fn {fn} tn {tn})")
    if a.verbose:
        for r in j[y != j.pred].itertuples():
            print("  ", "miss" if r.value == "yes" else "false alarm", r.local_path)
    onset, best = [], []
    for r in runs.itertuples():
        d = ok.get(r.local_path)
        if d is None:
            continue
        v, span = d["verdicts"], (d["run"]["last_x"] or np.nan)
        if r.value == "yes" and v["onset_step"] is not None and np.isfinite(r.onset_step):
            onset.append(abs(v["onset_step"] - r.onset_step) / span)
        if v["best_step"] is not None and np.isfinite(r.best_step):
            best.append(abs(v["best_step"] - r.best_step) / span)
    print(f"onset error / run length: median {np.median(onset):.3f} (n={len(onset)}); best step: median "
          f"{np.median(best):.3f}, exact {np.mean(np.array(best) < 1e-9):.2f} (n={len(best)})")
    for pth in OTHER:
        lp = lab[lab.pathology == pth].set_index("local_path").value
        fired = {k for k, d in ok.items() if d["verdicts"].get(pth)} - set(lp[lp == "unclear"].index)
        yes = set(lp[lp == "yes"].index)
        print(f"{pth:15s} fired {len(fired):3d}  precision {len(fired & yes) / max(len(fired), 1):.2f}  "
              f"recall {len(fired & yes) / max(len(yes), 1):.2f}  (labelled yes {len(yes)})")
        if a.verbose:
            for k in sorted(fired - yes):
                print("   false alarm", k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
