"""Time the analysis after training (chapters 2-4, 7-9 and the conclusions) with the study's
parameters, cold (OVERFIT_FORECAST_NO_CACHE=1, every cached result recomputed) or warm.

Usage: ``PYTHONPATH=src python benchmarks/forecast_analysis_time.py [--warm]``. Prints one line
per notebook and the total; the goal is <= ~8 minutes cold on 2 cores and seconds warm.
Executes the notebooks with papermill into a temporary folder; results are written to
``meta_dir`` of ``configs/study.yaml`` exactly as ``make pipeline`` would.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import papermill as pm
import yaml

NOTEBOOKS = ["02_labels", "03_features", "04_meta_models", "07_forecast_beyond", "08_transfer",
             "09_real_logs_forecast", "90_conclusions"]

root = Path(__file__).resolve().parents[1]
params = yaml.safe_load((root / "configs" / "study.yaml").read_text())
params.pop("sweep_spaces", None)  # time the analysis, not the training
if "--warm" not in sys.argv:
    os.environ["OVERFIT_FORECAST_NO_CACHE"] = "1"
os.environ.setdefault("PYTHONPATH", str(root / "src"))
total = 0.0
with tempfile.TemporaryDirectory() as out:
    for name in NOTEBOOKS:
        nb = root / "notebooks" / f"{name}.ipynb"
        declared = pm.inspect_notebook(str(nb))
        t0 = time.perf_counter()
        pm.execute_notebook(str(nb), str(Path(out) / nb.name), cwd=str(root / "notebooks"), progress_bar=False,
                            parameters={k: v for k, v in params.items() if k in declared})
        dt = time.perf_counter() - t0
        total += dt
        print(f"{name:24s} {dt:7.1f} s", flush=True)
print(f"{'total':24s} {total:7.1f} s ({'warm' if '--warm' in sys.argv else 'cold'})")
