"""Time the main job after training, from a fresh clone, twice; check that git status stays clean.

    python benchmarks/main_job.py [--repo .] [--rev HEAD] [--parameters configs/study.yaml] [--keep]

Clones ``--repo`` at ``--rev`` into a temporary folder, then runs in that clone (with the
current interpreter, ``PYTHONPATH=<clone>/src``) what ``make all`` runs after setting up the
environment: ``python -m overfit_forecast.pipeline -f configs/study.yaml --out book --no-book``
then ``jupyter-book build . -W -n --keep-going``. It prints the pipeline's progress lines (one
per notebook, with its time), the wall time of each step and of the whole, and the output
of ``git status --porcelain`` after each of two runs. With complete committed logs and the
committed ``book/pipeline_inputs.json`` of the same commit, no notebook should be re-run and
both runs should leave the clone clean. Setting up ``.venv`` (``make setup``) is not timed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if re.match(r"^(\[\d+/\d+\]|total:|book:)", line) or "error" in line.lower():
            print("    " + line.rstrip(), flush=True)
    if proc.wait():
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=".", help="repository to clone (default: this one)")
    ap.add_argument("--rev", default="HEAD", help="commit to time (default: HEAD)")
    ap.add_argument("--parameters", default="configs/study.yaml")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the clone")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="main_job_"))
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(Path(a.repo).resolve()), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", a.rev], cwd=clone, check=True)
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    bindir = Path(sys.executable).parent
    print(f"fresh clone of {a.repo} at {a.rev} in {clone}; {os.cpu_count()} CPUs visible")
    for run in range(1, a.runs + 1):
        print(f"run {run}:")
        t_nb = _timed([sys.executable, "-m", "overfit_forecast.pipeline", "-f", a.parameters, "--out", "book",
                       "--no-book"], clone, env)
        t_book = _timed([str(bindir / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going"], clone, env)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
        print(f"  notebooks {t_nb:.1f} s, book {t_book:.1f} s, total {t_nb + t_book:.1f} s; git status: "
              + ("clean" if not status.strip() else "\n" + status))
    if not a.keep:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
