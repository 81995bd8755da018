"""Time ``overfit-forecast diagnose FILE --json OUT`` as a fresh process, per kind of public log.

Usage: ``python benchmarks/diagnose_speed.py [--root ../shared/data/public_logs] [--per-kind 5]
[--repeat 3] [--command "overfit-forecast"] [--importtime]``.

Each call is a new interpreter (what a user or a CI step pays): by default
``<this python> -m overfit_forecast.cli diagnose FILE --json OUT`` with ``PYTHONPATH`` set to
this checkout's ``src`` (the installed ``overfit-forecast`` script runs the same code;
``--command`` times it instead). Files are a deterministic sample of ``INDEX.csv`` (every
n-th run file of each kind). Prints, per kind, the median wall-clock seconds and the median
CPU seconds (user + system of the child, from :func:`os.wait4`) per call; on a loaded machine
the CPU figure is the one to compare. ``--importtime`` also prints the slowest imports of one
call (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_KINDS = ("hf", "lightning", "keras", "tensorboard")


def sample(root: Path, per_kind: int) -> list[dict]:
    """Every n-th run file of each kind (n chosen to give ``per_kind`` files), in INDEX order."""
    rows = [r for r in csv.DictReader(open(root / "INDEX.csv", encoding="utf-8")) if r["kind"] in RUN_KINDS]
    out = []
    for kind in RUN_KINDS:
        k = [r for r in rows if r["kind"] == kind]
        step = max(1, len(k) // per_kind)
        out += k[::step][:per_kind]
    return out


def time_call(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """``(wall s, cpu s, exit code)`` of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, proc.returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO / ".." / "shared" / "data" / "public_logs"))
    p.add_argument("--per-kind", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3, help="calls per file")
    p.add_argument("--command", default=None, help='e.g. "overfit-forecast" (default: python -m overfit_forecast.cli)')
    p.add_argument("--importtime", action="store_true", help="print the slowest imports of one call")
    a = p.parse_args(argv)
    root = Path(a.root)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = shlex.split(a.command) if a.command else [sys.executable, "-m", "overfit_forecast.cli"]
    walls, cpus, fails = defaultdict(list), defaultdict(list), defaultdict(int)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "d.json")
        files = sample(root, a.per_kind)
        for r in files:
            cmd = base + ["diagnose", str(root / r["local_path"]), "--json", out, "--out", os.devnull]
            for _ in range(a.repeat):
                wall, cpu, rc = time_call(cmd, env)
                walls[r["kind"]].append(wall)
                cpus[r["kind"]].append(cpu)
                fails[r["kind"]] += rc != 0
        print(f"{'kind':<12} {'files':>5} {'calls':>5} {'failed':>6} {'wall_s':>7} {'cpu_s':>6}   (medians per call)")
        for kind in RUN_KINDS:
            if walls[kind]:
                print(f"{kind:<12} {len(walls[kind]) // a.repeat:>5} {len(walls[kind]):>5} {fails[kind]:>6} "
                      f"{statistics.median(walls[kind]):>7.3f} {statistics.median(cpus[kind]):>6.3f}")
        allw = [w for k in walls.values() for w in k]
        allc = [c for k in cpus.values() for c in k]
        print(f"{'all':<12} {len(files):>5} {len(allw):>5} {sum(fails.values()):>6} "
              f"{statistics.median(allw):>7.3f} {statistics.median(allc):>6.3f}")
        if a.importtime and files:
            cmd = [sys.executable, "-X", "importtime", "-m", "overfit_forecast.cli", "diagnose",
                   str(root / files[0]["local_path"]), "--json", out, "--out", os.devnull]
            err = subprocess.run(cmd, env=env, capture_output=True, text=True).stderr
            rows = []
            for line in err.splitlines():
                if line.startswith("import time:") and "|" in line:
                    parts = line.split("|")
                    try:
                        rows.append((int(parts[1]), parts[2].rstrip()))
                    except ValueError:
                        pass
            print("\nslowest imports (cumulative us) of one call:")
            for us, name in sorted(rows, reverse=True)[:15]:
                print(f"{us:>10}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
