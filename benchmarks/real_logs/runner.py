"""One fresh process per tool and file: run, time, cache the raw output.

The raw output of each call (exit code, seconds, stdout, stderr, the ``--json`` file) is
cached in ``_build/real_logs/raw/<tool>/<file key>.json`` under a key made of the file's
sha256 (from ``INDEX.csv``), the tool's pinned requirement and, for this project, the hash of
its sources; parsing (:mod:`real_logs.tools`) is redone from the cache at every scoring, so a
changed finding map or parser needs no re-run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .corpus import ROOT, peers_bin, target
from .tools import TOOLS, crash_of, record

BUILD = ROOT / "_build" / "real_logs"
TIMEOUT_S = 120.0


def _source_hash() -> str:
    h = hashlib.sha256()
    for f in sorted((ROOT / "src" / "overfit_forecast").rglob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cache_key(tool: str, row: dict, src_hash: str) -> str:
    t = TOOLS[tool]
    return f"{tool}|{t.requirement or 'src:' + src_hash}|{row['sha256']}"


def cache_path(tool: str, row: dict) -> Path:
    name = hashlib.sha256(row["local_path"].encode()).hexdigest()[:20]
    return BUILD / "raw" / tool.replace(" ", "_") / f"{name}.json"


def run_once(tool: str, row: dict, timeout: float = TIMEOUT_S) -> dict:
    """Run ``tool`` on ``row``'s file as a fresh process in a scratch folder; returns the raw
    output ``{rc, seconds, timed_out, stdout, stderr, out_text, argv}`` (``seconds``: wall
    time of the whole process, start-up included)."""
    env = dict(os.environ, NO_COLOR="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    if TOOLS[tool].requirement:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    with tempfile.TemporaryDirectory(prefix="real_logs_") as tmp:
        out = Path(tmp) / "out.json"
        argv = TOOLS[tool].argv(peers_bin(), target(row), out)
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
            rc, stdout, stderr, timed_out = p.returncode, p.stdout, p.stderr, False
        except subprocess.TimeoutExpired as exc:
            rc, timed_out = None, True
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        seconds = time.perf_counter() - t0
        out_text = out.read_text() if out.exists() else None
    argv = [a.replace(str(ROOT), "<repo>") for a in argv]
    return dict(rc=rc, seconds=seconds, timed_out=timed_out, stdout=stdout, stderr=stderr[-20000:],
                out_text=out_text, argv=argv)


def parse(tool: str, raw: dict) -> dict:
    """The parsed record of a raw output (a crash whatever the output when ``crash_of``)."""
    why = crash_of(raw)
    if why:
        return record(crashed=True, error=why)
    try:
        return TOOLS[tool].parse(raw)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return record(crashed=True, error=f"unexpected output ({type(exc).__name__}: {exc})")


def run_all(tools, rows, jobs: int = 2, rerun: bool = False, progress: bool = True) -> dict:
    """Raw outputs ``{tool: {local_path: raw}}`` for every tool on every row of its kinds,
    from the cache where the key matches, else run (``jobs`` processes at a time)."""
    src_hash = _source_hash()
    todo, out = [], {t: {} for t in tools}
    for row in rows:  # file-major: every tool meets the same machine load, file after file
        for tool in tools:
            if row["kind"] not in TOOLS[tool].kinds:
                continue
            path, key = cache_path(tool, row), cache_key(tool, row, src_hash)
            cached = json.loads(path.read_text()) if path.exists() and not rerun else None
            if cached and cached.get("key") == key:
                out[tool][row["local_path"]] = cached["raw"]
            else:
                todo.append((tool, row, path, key))

    def work(item):
        tool, row, path, key = item
        raw = run_once(tool, row)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(key=key, local_path=row["local_path"], raw=raw)))
        tmp.replace(path)
        return tool, row["local_path"], raw

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for i, (tool, lp, raw) in enumerate(pool.map(work, todo), 1):
            out[tool][lp] = raw
            if progress and (i % 50 == 0 or i == len(todo)):
                print(f"  {i}/{len(todo)} calls run ({time.perf_counter() - t0:.0f} s)", flush=True)
    return out
