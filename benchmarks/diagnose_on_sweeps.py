"""``diagnose`` on the study's own sweep logs, against the study's end-state labels: a check on
runs that were never looked at while the real-log checks were designed.

The public-log labels (``benchmarks/real_logs/labels.csv``) judge the *validation loss*; the
study's labels (chapter 2, :func:`overfit_forecast.labels.build_meta_dataset` with the
thresholds of ``data/meta/label_thresholds.json``) judge the *accuracy* end state (final gap,
memorization, peak-then-degrade, GL). They differ by design -- a run whose validation loss
rises while its accuracy gap stays small is overfitting to ``diagnose`` and healthy to the
study (over-confidence) -- so this is not a score to maximise. What it shows is where a change
of the diagnosis moves verdicts on runs it was not developed on: new ``overfitting`` verdicts
on runs the study calls healthy, underfit or diverged would be false alarms.

Usage::

    PYTHONPATH=src python benchmarks/diagnose_on_sweeps.py [--sweeps logs/mnist logs/fashion_mnist logs/mnist_mlp]

Prints, per sweep, the crosstab study label x ``verdicts.overfitting`` (true / false / null).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def verdicts(log_dir: Path, run_ids) -> dict:
    """``verdicts.overfitting`` of every run log ``<log_dir>/<run_id>.csv`` (None where the run
    cannot be diagnosed)."""
    from overfit_forecast.diagnosis import diagnose
    from overfit_forecast.readers import read_curves

    out = {}
    for rid in run_ids:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[rid] = diagnose(read_curves(log_dir / f"{rid}.csv"))["verdicts"]["overfitting"]
        except ValueError:  # LogFormatError, DiagnosisError: no verdict
            out[rid] = None
    return out


def main(argv=None) -> int:
    from overfit_forecast.labels import build_meta_dataset, load_thresholds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", nargs="*", default=["logs/mnist", "logs/fashion_mnist", "logs/mnist_mlp"])
    ap.add_argument("--meta-dir", default=str(ROOT / "data" / "meta"), help="where label_thresholds.json is")
    a = ap.parse_args(argv)
    th = load_thresholds(a.meta_dir)
    for sweep in a.sweeps:
        log_dir = ROOT / sweep if not Path(sweep).is_absolute() else Path(sweep)
        meta = build_meta_dataset(log_dir, th)
        v = verdicts(log_dir, meta.run_id)
        table = pd.crosstab(meta.pathology.rename("study label"),
                            meta.run_id.map(lambda r: str(v[r]).lower()).rename("diagnose overfitting"))
        print(f"\n{sweep}: {len(meta)} runs\n{table.to_markdown()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
