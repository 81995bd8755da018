"""Speed of ``overfit-forecast diagnose FILE --json OUT`` as a fresh process, per kind of public
log, and what it imports.

Usage::

    python benchmarks/diagnose_speed.py [FILE ...] [--root ../shared/data/public_logs]
        [--per-kind 5] [--repeat 3] [--command "overfit-forecast"] [--importtime]

Each call is a new interpreter (what a user or a CI step pays): by default
``<this python> -m overfit_forecast.cli diagnose FILE --json OUT --out /dev/null`` with
``PYTHONPATH`` set to this checkout's ``src`` (the installed ``overfit-forecast`` script runs
the same code; ``--command`` times it instead). Without FILE arguments the files are a
deterministic sample of the public-log corpus (``INDEX.csv``: every n-th run file of each
kind). Prints, per kind, the median wall-clock seconds and the median CPU seconds (user +
system of the child, from :func:`os.wait4`) per call, next to the same figures for
``python -c "import pandas"`` and a bare interpreter; on a loaded machine the CPU figure is the
one to compare. Also lists the heavy modules (torch, sklearn, scipy, pandas, matplotlib) one
diagnose call imports, and with ``--importtime`` its slowest imports (``python -X importtime``).

Goal (issue 8): median wall <= 0.3 s per call on a 2-core machine.
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
HEAVY = ("torch", "sklearn", "scipy", "pandas", "matplotlib")


def sample(root: Path, per_kind: int) -> list[tuple[str, Path]]:
    """``(kind, path)`` of every n-th run file of each kind (n gives ``per_kind`` files), in
    INDEX order."""
    rows = [r for r in csv.DictReader(open(root / "INDEX.csv", encoding="utf-8")) if r["kind"] in RUN_KINDS]
    out = []
    for kind in RUN_KINDS:
        k = [r for r in rows if r["kind"] == kind]
        step = max(1, len(k) // per_kind)
        out += [(kind, root / r["local_path"]) for r in k[::step][:per_kind]]
    return out


def time_call(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """``(wall s, cpu s, exit code)`` of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, proc.returncode


def _row(name: str, files: int, walls: list, cpus: list, fails: int) -> str:
    return (f"{name:<14} {files:>5} {len(walls):>5} {fails:>6} {statistics.median(walls):>7.3f} "
            f"{statistics.median(cpus):>6.3f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", help="logs to time (default: a sample of the public logs)")
    p.add_argument("--root", default=str(REPO / ".." / "shared" / "data" / "public_logs"))
    p.add_argument("--per-kind", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3, help="calls per file")
    p.add_argument("--command", default=None, help='e.g. "overfit-forecast" (default: python -m overfit_forecast.cli)')
    p.add_argument("--importtime", action="store_true", help="print the slowest imports of one call")
    a = p.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = shlex.split(a.command) if a.command else [sys.executable, "-m", "overfit_forecast.cli"]
    files = [("given", Path(f)) for f in a.files] or sample(Path(a.root), a.per_kind)
    walls, cpus, fails = defaultdict(list), defaultdict(list), defaultdict(int)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "d.json")
        for kind, path in files:
            cmd = base + ["diagnose", str(path), "--json", out, "--out", os.devnull]
            for _ in range(a.repeat):
                wall, cpu, rc = time_call(cmd, env)
                walls[kind].append(wall)
                cpus[kind].append(cpu)
                fails[kind] += rc != 0
        for name, code in (("import pandas", "import pandas"), ("bare python", "pass")):
            for _ in range(a.repeat * 3):
                wall, cpu, _ = time_call([sys.executable, "-c", code], env)
                walls[name].append(wall)
                cpus[name].append(cpu)
        print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} repeat={a.repeat} command={' '.join(base)}")
        print(f"{'kind':<14} {'files':>5} {'calls':>5} {'failed':>6} {'wall_s':>7} {'cpu_s':>6}   (medians per call)")
        kinds = list(dict.fromkeys(k for k, _ in files))
        for kind in kinds:
            print(_row(kind, sum(k == kind for k, _ in files), walls[kind], cpus[kind], fails[kind]))
        allw = [w for k in kinds for w in walls[k]]
        allc = [c for k in kinds for c in cpus[k]]
        print(_row("all", len(files), allw, allc, sum(fails.values())))
        for name in ("import pandas", "bare python"):
            print(_row(name, 0, walls[name], cpus[name], 0))
        probe = ("import sys; from overfit_forecast.cli import main; "
                 "main(['diagnose', sys.argv[1], '--json', sys.argv[2], '--out', sys.argv[3]]); "
                 f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
        for kind in kinds:
            path = next(f for k, f in files if k == kind)
            res = subprocess.run([sys.executable, "-c", probe, str(path), out, os.devnull], env=env,
                                 capture_output=True, text=True).stdout
            heavy = [ln[6:] for ln in res.splitlines() if ln.startswith("HEAVY:")]
            print(f"heavy modules imported by diagnose ({kind}): {(heavy[-1] or 'none') if heavy else 'probe failed'}")
        if a.importtime:
            cmd = [sys.executable, "-X", "importtime", "-m", "overfit_forecast.cli", "diagnose",
                   str(files[0][1]), "--json", out, "--out", os.devnull]
            rows = []
            for line in subprocess.run(cmd, env=env, capture_output=True, text=True).stderr.splitlines():
                parts = line.split("|")
                if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
                    rows.append((int(parts[1]), parts[2].rstrip()))
            print("\nslowest imports (cumulative us) of one call:")
            for us, name in sorted(rows, reverse=True)[:15]:
                print(f"{us:>10}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
