"""The files of the benchmark (``shared/data/public_logs/INDEX.csv``), their run lengths, and
the peers' virtual environment.

``shared/`` is found beside the repository root (``<root>/../shared``, the layout of every
checkout of this project) or at ``$OVERFIT_FORECAST_SHARED``; nothing is hard-coded.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import venv
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS_VENV = ROOT / "benchmarks" / ".peers-venv"
REQUIREMENTS = Path(__file__).with_name("peers-requirements.txt")


def shared_dir() -> Path:
    """``$OVERFIT_FORECAST_SHARED`` or ``<repo root>/../shared``; FileNotFoundError naming
    both when neither holds ``data/public_logs/INDEX.csv``."""
    candidates = [Path(os.environ["OVERFIT_FORECAST_SHARED"])] if os.environ.get("OVERFIT_FORECAST_SHARED") else []
    candidates.append(ROOT.parent / "shared")
    for c in candidates:
        if (c / "data" / "public_logs" / "INDEX.csv").is_file():
            return c.resolve()
    raise FileNotFoundError(f"no data/public_logs/INDEX.csv under {', '.join(map(str, candidates))} "
                            "(set OVERFIT_FORECAST_SHARED to the shared folder)")


def logs_dir() -> Path:
    return shared_dir() / "data" / "public_logs"


def read_index(kinds=None, limit: int | None = None) -> list[dict]:
    """Rows of ``INDEX.csv`` (dicts of its columns), optionally only ``kinds`` and the first
    ``limit`` of each kind (in INDEX order, so a quick run sees every kind)."""
    with open(logs_dir() / "INDEX.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if kinds:
        rows = [r for r in rows if r["kind"] in kinds]
    if limit is not None:
        seen: dict[str, int] = {}
        keep = []
        for r in rows:
            seen[r["kind"]] = seen.get(r["kind"], 0) + 1
            if seen[r["kind"]] <= limit:
                keep.append(r)
        rows = keep
    return rows


def target(row: dict) -> Path:
    """What every tool is given: the file, or for TensorBoard the run folder holding the
    event file (what a user passes, and what trainspotter needs to recognise the format)."""
    p = logs_dir() / row["local_path"]
    return p.parent if row["kind"] == "tensorboard" else p


def run_length(row: dict) -> float | None:
    """Last x-value minus first of the run (``PROTOCOL.md``: the optimizer step when the log
    has steps, else the epoch), read with this project's torch-free reader; None when the
    file cannot be read or has no x-axis."""
    from overfit_forecast.readers import read_curves

    try:
        with warnings.catch_warnings():  # format notes (appended runs, ...) are the tools' business
            warnings.simplefilter("ignore")
            t = read_curves(target(row)).table
    except Exception:  # noqa: BLE001 -- any unreadable file just has no length
        return None
    by = "step" if t["step"].notna().any() else "epoch"
    x = t[by].dropna()
    return float(x.max() - x.min()) if len(x) else None


def peers_bin() -> Path:
    return PEERS_VENV / "bin"


def setup_peers(force: bool = False) -> Path:
    """Create ``benchmarks/.peers-venv`` (git-ignored) and install the pinned peer tools of
    ``peers-requirements.txt`` into it with pip; returns its ``bin`` folder. Skipped when
    every console script is already there (``force`` re-installs)."""
    from .tools import PEERS

    b = peers_bin()
    if not force and all((b / name).exists() for name in PEERS):
        return b
    if force or not (b / "python").exists():
        print(f"creating {PEERS_VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=force).create(PEERS_VENV)
    subprocess.run([str(b / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    return b


def peer_versions() -> dict[str, str]:
    """Installed version of every peer package, read from the venv's metadata."""
    from .tools import PEERS

    out = subprocess.run([str(peers_bin() / "python"), "-c",
                          "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) "
                          "for n in sys.argv[1:]}))", *PEERS], capture_output=True, text=True)
    import json

    return json.loads(out.stdout) if out.returncode == 0 else {}
