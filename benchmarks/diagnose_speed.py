"""Speed of ``overfit-forecast diagnose FILE`` as a fresh process, and what it imports.

Prints the median wall time of ``python -m overfit_forecast.cli diagnose FILE`` over ``--repeat``
fresh processes, next to the median time of ``python -c "import pandas"`` (the floor the readers
set: their curve table is a DataFrame) and of a bare interpreter, and lists heavy modules the
diagnose path must not import (torch, sklearn, scipy.stats, matplotlib).

Usage::

    PYTHONPATH=src python benchmarks/diagnose_speed.py [FILE] [--repeat 15]

Goal (issue 8): median <= 0.3 s on a 2-core machine. Timings on a loaded machine are worth
little; compare the diagnose median with the pandas floor measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "sklearn", "scipy.stats", "matplotlib")


def _median_wall(cmd: list[str], repeat: int, env: dict) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", help="a training log (default: a synthetic trainer_state.json)")
    p.add_argument("--repeat", type=int, default=15)
    a = p.parse_args(argv)
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    path = a.file
    if path is None:
        sys.path.insert(0, src)
        from overfit_forecast.synthetic import trainer_state

        path = str(Path(tempfile.mkdtemp()) / "trainer_state.json")
        Path(path).write_text(json.dumps(trainer_state()))
    py = sys.executable
    diag = _median_wall([py, "-m", "overfit_forecast.cli", "diagnose", path], a.repeat, env)
    floor = _median_wall([py, "-c", "import pandas"], a.repeat, env)
    bare = _median_wall([py, "-c", "pass"], a.repeat, env)
    out = str(Path(tempfile.mkdtemp()) / "report.md")
    probe = ("import sys; from overfit_forecast.cli import main; main(['diagnose', sys.argv[1], '--out', sys.argv[2]]); "
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    heavy = subprocess.run([py, "-c", probe, path, out], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} repeat={a.repeat} file={path}")
    print(f"diagnose median {diag:.3f} s | import pandas {floor:.3f} s | bare python {bare:.3f} s | "
          f"diagnose - pandas floor {diag - floor:.3f} s")
    print(f"heavy modules imported by diagnose: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
