"""The tools compared, how each is called, and which of its findings means which pathology.

Every tool is run as a fresh process on one log (see :mod:`real_logs.runner`); its raw output
(``rc``, ``stdout``, ``stderr``, the ``--json`` file when it writes one) is turned by the
tool's ``parse`` function into one record::

    {"readable": bool, "crashed": bool, "error": str | None,
     "ids": [finding ids as the tool names them], "onset": float | None, "best": float | None,
     "extra": {...}}

and ``FINDINGS[tool]`` maps finding ids to the pathology ids of ``PROTOCOL.md``. An id not
in the map is kept in the raw results but judges no pathology. The mapping, and why, is
documented in ``PEERS.md`` beside this file; change it there and here together.

Conventions, the same for every tool (documented in ``PEERS.md``):

- ``crashed``: a Python traceback on stderr, a timeout, or an exit code the tool does not
  document. A crash also makes the file unreadable for that tool.
- ``readable``: the tool produced its report and found at least one loss series in the file
  (a report on a log whose loss it could not find judges nothing).
- A tool's own "downgrade" of a finding is respected: trainspotter reports an overfitting
  finding at ``info`` when it attributes the rise to divergence, finetune-doctor titles an
  ``INFO`` overfitting finding "Final checkpoint slightly worse"; both get the suffix
  ``/info`` and are not counted as overfitting.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PATHOLOGIES = ("overfitting", "diverged", "chance_level", "frozen", "plateau", "leakage_signal")
SWEEP_PATHOLOGIES = ("sweep_chance", "objective_direction")
RUN_KINDS = ("hf", "lightning", "keras", "tensorboard")

# --- finding id -> protocol pathology (edit here; keep PEERS.md in step) -----------------
FINDINGS: dict[str, dict[str, str]] = {
    "overfit-forecast": {
        # the redesigned diagnosis JSON (findings[].id) and today's (status, pathologies)
        "overfitting": "overfitting", "overconfident": "overfitting",
        "diverged": "diverged", "divergence": "diverged", "non_finite": "diverged",
        "overconfidence": "overfitting",  # the redesign's qualifier of overfitting
        "chance_level": "chance_level", "frozen": "frozen", "plateau": "plateau",
        "leakage_signal": "leakage_signal",  # eval_below_train is info: an observation, no leakage claim
    },
    "runmedic": {
        "overfitting": "overfitting", "divergence": "diverged", "non_finite": "diverged",
        "no_learning": "chance_level", "constant_lr_plateau": "plateau",
        "val_below_train": "leakage_signal",
    },
    "trainproof": {
        "TP-OVERFIT": "overfitting", "TP-DIVERGE": "diverged", "TP-NAN": "diverged",
        "TP-NAN-GRAD": "diverged", "TP-DEAD-RUN": "chance_level", "TP-FLAT": "frozen",
        "TP-ZERO-LOSS": "frozen", "TP-ZERO-LOSS-ONSET": "frozen",
    },
    "trainspotter": {
        "overfitting": "overfitting", "divergence": "diverged", "plateau": "plateau",
        "loss_floor": "leakage_signal",
    },
    "losslint": {
        "overfit_onset": "overfitting", "divergence": "diverged", "nan_inf": "diverged",
        "stagnation": "plateau",
    },
    "finetune-doctor": {
        "overfitting": "overfitting", "loss_degenerate/nan": "diverged",
        "loss_degenerate/zero": "frozen", "not_learning": "chance_level",
        "stopped_improving": "plateau", "eval_below_train": "leakage_signal",
    },
}


@dataclass(frozen=True)
class Tool:
    """One tool: ``argv(bin_dir, target, out_json)`` builds its command line; ``parse(raw)``
    turns the raw output into a record (module docstring); ``kinds`` are the INDEX kinds
    it is run on; ``requirement`` is its pinned pip requirement (None: this project)."""

    name: str
    argv: Callable[[Path, Path, Path], list[str]]
    parse: Callable[[dict], dict]
    kinds: tuple[str, ...] = RUN_KINDS
    requirement: str | None = None
    findings: dict[str, str] = field(default_factory=dict)


def record(readable=False, crashed=False, error=None, ids=(), onset=None, best=None, **extra) -> dict:
    """A parsed result (see module docstring)."""
    return dict(readable=bool(readable and not crashed), crashed=bool(crashed), error=error,
                ids=list(ids), onset=_float(onset), best=_float(best), extra=extra)


def _float(x):
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def _json(text: str):
    try:
        return json.loads(text) if text and text.strip() else None
    except json.JSONDecodeError:
        return None


def _first_line(text: str) -> str | None:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else None


def crash_of(raw: dict) -> str | None:
    """Why the call counts as a crash (timeout, traceback), else None."""
    if raw.get("timed_out"):
        return f"timeout after {raw['seconds']:.0f} s"
    if "Traceback (most recent call last)" in (raw.get("stderr") or ""):
        return _first_line(raw["stderr"])
    return None


def _has_loss(names) -> bool:
    return any("loss" in str(n).lower() for n in names)


# --- peers ----------------------------------------------------------------------------
def parse_runmedic(raw: dict) -> dict:
    """``runmedic diagnose PATH --json``: a JSON list of runs with ``roles`` and
    ``findings[].check``/``.step``; exit 1 with a message when it finds no metrics."""
    data = _json(raw["stdout"])
    if not isinstance(data, list):
        return record(crashed=raw["rc"] not in (0, 1), error=_first_line(raw["stderr"]) or "no JSON")
    ids, onset = [], None
    readable = any(r.get("roles", {}).get("train_loss") or r.get("roles", {}).get("val_loss") for r in data)
    for run in data:
        for f in run.get("findings", []):
            ids.append(f["check"])
            if f["check"] == "overfitting" and onset is None:
                onset = f.get("step")
    return record(readable, ids=ids, onset=onset, best=onset)


_TP_ONSET = re.compile(r"@step(-?\d+(?:\.\d+)?)")
_TP_BEST = re.compile(r"best checkpoint was near step (-?\d+(?:\.\d+)?)")
_TP_UNREADABLE = {"TP-NO-RECORDS", "TP-NO-LOSS"}


def parse_trainproof(raw: dict) -> dict:
    """``trainproof doctor PATH --json``: an envelope with ``reports[].findings[].id`` and
    ``error``; exit 0 PASS, 1 FAIL, 2 could not judge ("internal error: ..." is a crash)."""
    data = _json(raw["stdout"])
    if not isinstance(data, dict):
        return record(crashed=True, error=_first_line(raw["stderr"]) or "no JSON")
    if data.get("error"):
        return record(crashed=str(data["error"]).startswith("internal error"), error=str(data["error"])[:300])
    ids, onset, best, readable = [], None, None, False
    for rep in data.get("reports", []):
        rep_ids = [f.get("id") for f in rep.get("findings", [])]
        readable |= not _TP_UNREADABLE.intersection(rep_ids)
        ids += rep_ids
        for f in rep.get("findings", []):
            if f.get("id") == "TP-OVERFIT":
                m, b = _TP_ONSET.search(f.get("evidence", "")), _TP_BEST.search(f.get("evidence", ""))
                onset = onset if onset is not None else (m and m.group(1))
                best = best if best is not None else (b and b.group(1))
    return record(readable, ids=ids, onset=onset, best=best)


def parse_trainspotter(raw: dict) -> dict:
    """``trainspotter analyze PATH --output json``: ``run.metrics`` and
    ``findings[].detector``/``severity``/``step_start``; exit 2 with a message when it
    cannot read the file."""
    data = _json(raw["stdout"])
    if not isinstance(data, dict):
        return record(crashed=raw["rc"] not in (0, 1, 2), error=_first_line(raw["stderr"]) or "no JSON")
    ids, onset = [], None
    for f in data.get("findings", []):
        fid = f["detector"] + ("/info" if f["detector"] == "overfitting" and f.get("severity") == "info" else "")
        ids.append(fid)
        if fid == "overfitting" and onset is None:
            onset = f.get("step_start")
    return record(_has_loss(data.get("run", {}).get("metrics", {})), ids=ids, onset=onset, best=onset)


def parse_losslint(raw: dict) -> dict:
    """``losslint check PATH --format json``: ``runs[].series`` and ``findings[].check``/
    ``details``; exit 1 for error-level findings, 2 when the file cannot be read."""
    data = _json(raw["stdout"])
    if not isinstance(data, dict):
        return record(crashed=raw["rc"] not in (0, 1, 2), error=_first_line(raw["stderr"]) or "no JSON")
    series = [s for r in data.get("runs", []) for s in r.get("series", [])]
    ids, onset = [], None
    for f in data.get("findings", []):
        ids.append(f["check"])
        if f["check"] == "overfit_onset" and onset is None:
            onset = f.get("details", {}).get("since_step")
    return record(_has_loss(series), ids=ids, onset=onset)


def _ftd_id(f: dict) -> str:
    check, sev, title = f["check"], f.get("severity"), f.get("title", "")
    if check == "overfitting" and sev == "INFO":
        return "overfitting/info"
    if check == "loss_degenerate":
        return "loss_degenerate/nan" if "NaN" in title else "loss_degenerate/zero"
    if check == "not_learning" and "went up" in title:
        return "not_learning/rose"
    return check


def parse_finetune_doctor(raw: dict) -> dict:
    """``finetune-doctor diagnose PATH -f json``: ``pick.best_step`` and
    ``findings[].check``/``severity``/``title``/``metrics``; exit 2 with a message when it
    cannot read the file (it reads Hugging Face ``trainer_state.json`` only)."""
    data = _json(raw["stdout"])
    if not isinstance(data, dict):
        return record(crashed=raw["rc"] not in (0, 1, 2), error=_first_line(raw["stderr"]) or "no JSON")
    ids, onset = [], None
    for f in data.get("findings", []):
        ids.append(_ftd_id(f))
        if ids[-1] == "overfitting":
            onset = f.get("metrics", {}).get("best_step")
    pick = data.get("pick") or {}
    return record(True, ids=ids, onset=onset, best=pick.get("best_step"))


# --- ours -----------------------------------------------------------------------------
def parse_diagnose(raw: dict) -> dict:
    """``overfit-forecast diagnose PATH --json OUT``: exit 2 with ``error: ...`` when the
    log cannot be read or diagnosed. Reads both the redesigned JSON (``findings[].id``,
    ``verdicts.overfitting/onset_step/best_step``) and today's (``validation.status``,
    ``pathologies``, ``validation.onset.x``, ``best_checkpoint.x``)."""
    data = _json(raw.get("out_text") or "")
    if raw["rc"] != 0 or not isinstance(data, dict):
        return record(crashed=raw["rc"] not in (0, 2), error=_first_line(raw["stderr"]) or "no JSON")
    if isinstance(data.get("findings"), list) and isinstance(data.get("verdicts"), dict):
        v = data["verdicts"]
        ids = [f["id"] for f in data["findings"] if isinstance(f, dict) and "id" in f]
        if v.get("overfitting") is True and "overfitting" not in ids:
            ids.append("overfitting")
        return record(True, ids=ids, onset=v.get("onset_step"), best=v.get("best_step"),
                      overfitting=v.get("overfitting"))
    val = data.get("validation", {})
    ids = [val.get("status")] + [k for k, x in data.get("pathologies", {}).items() if x is True]
    ids.append("fit:" + str(data.get("training_fit", {}).get("verdict")))
    onset = (val.get("onset") or {}).get("x") if val.get("status") in ("overfitting", "overconfident") else None
    return record(True, ids=ids, onset=onset, best=data.get("best_checkpoint", {}).get("x"))


def parse_inspect(raw: dict) -> dict:
    """``overfit-forecast inspect TABLE --json OUT``: readable when it wrote its report;
    ``sweep_chance`` and the objective direction are read where the report gives them
    (``overview.sweep_chance`` or an issue named ``sweep_chance``;
    ``overview.objective_direction`` or ``overview.direction``)."""
    data = _json(raw.get("out_text") or "")
    if raw["rc"] != 0 or not isinstance(data, dict):
        return record(crashed=raw["rc"] not in (0, 2), error=_first_line(raw["stderr"]) or "no JSON")
    o = data.get("overview", {})
    issues = [str(i.get("issue")) for i in data.get("issues", []) if isinstance(i, dict)]
    ids = ["sweep_chance"] if o.get("sweep_chance") is True or "sweep_chance" in issues else []
    direction = o.get("objective_direction") or o.get("direction")
    return record(True, ids=ids, objective_direction=direction if direction in ("min", "max") else None)


def _ours(command: str) -> Callable[[Path, Path, Path], list[str]]:
    def argv(_bin: Path, target: Path, out: Path) -> list[str]:
        extra = ["--out", str(out.with_suffix(".md"))] if command == "inspect" else []
        return [sys.executable, "-m", "overfit_forecast.cli", command, str(target), "--json", str(out)] + extra
    return argv


def _peer(name: str, requirement: str, *args: str) -> Tool:
    parse = {"runmedic": parse_runmedic, "trainproof": parse_trainproof, "trainspotter": parse_trainspotter,
             "losslint": parse_losslint, "finetune-doctor": parse_finetune_doctor}[name]
    return Tool(name, lambda b, t, o: [str(b / name), args[0], str(t), *args[1:]], parse,
                requirement=requirement, findings=FINDINGS[name])


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("overfit-forecast", _ours("diagnose"), parse_diagnose, findings=FINDINGS["overfit-forecast"]),
    Tool("overfit-forecast inspect", _ours("inspect"), parse_inspect, kinds=("sweeps",),
         findings={"sweep_chance": "sweep_chance"}),
    _peer("runmedic", "runmedic==0.1.1", "diagnose", "--json"),
    _peer("trainproof", "trainproof==0.22.0", "doctor", "--json"),
    _peer("trainspotter", "trainspotter[tensorboard]==0.2.6", "analyze", "--output", "json"),
    _peer("losslint", "losslint[tb,fast]==0.4.1", "check", "--format", "json"),
    _peer("finetune-doctor", "finetune-doctor==0.2.2", "diagnose", "-f", "json"),
)}
PEERS = tuple(t.name for t in TOOLS.values() if t.requirement)


def pathologies_of(tool: str, rec: dict) -> set[str]:
    """Protocol pathologies a parsed record claims (unreadable or crashed: none)."""
    if not rec.get("readable"):
        return set()
    mapping = TOOLS[tool].findings
    return {mapping[i] for i in rec.get("ids", []) if i in mapping}
