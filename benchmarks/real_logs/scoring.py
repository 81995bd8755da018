"""``labels.csv`` validation and the benchmark's metrics per tool and pathology.

Definitions (``PROTOCOL.md``, "Scoring"): on the labelled files a tool was run on, a file is
*positive* for a pathology when its label is ``yes`` (no row: ``no``) and *predicted* when
the tool's findings map to it (:func:`real_logs.tools.pathologies_of`); an unreadable or
crashed file predicts nothing. ``unclear`` labels are left out and counted apart.

- accuracy = (TP + TN) / n, precision = TP / (TP + FP), recall = TP / (TP + FN),
  false-alarm rate = FP / (FP + TN) (the false-positive rate), n = TP + FP + FN + TN;
- onset error: median over true positives with both steps of |tool onset - labelled onset|
  / run length; best-step error: the same over files with a labelled ``best_step``;
  run length = last x-value minus first (``corpus.run_length``);
- unreadable, crashes and the median wall seconds per call are over every file the tool
  was run on, labelled or not.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from statistics import median

import pandas as pd

from .tools import PATHOLOGIES, SWEEP_PATHOLOGIES, TOOLS, pathologies_of

LABEL_COLUMNS = ["local_path", "pathology", "value", "onset_step", "best_step", "notes"]
VALUES = {**{p: ("yes", "no", "unclear") for p in PATHOLOGIES}, "sweep_chance": ("yes", "no", "unclear"),
          "objective_direction": ("min", "max", "unclear")}


class LabelError(ValueError):
    """``labels.csv`` breaks the protocol; the message names the file and line."""


def load_labels(path: str | Path, known_paths=None) -> pd.DataFrame:
    """Read and validate ``labels.csv`` (columns of ``PROTOCOL.md``).

    Parameters
    ----------
    path : path
        The CSV file.
    known_paths : collection of str, optional
        ``local_path`` values of ``INDEX.csv``; a label for any other path is an error.

    Returns
    -------
    DataFrame
        One row per (file, pathology), ``onset_step``/``best_step`` as floats (NaN when
        empty), plus ``line`` (the CSV line number).

    Raises
    ------
    LabelError
        Wrong header, unknown pathology or value, non-numeric step, unknown file, or a
        (file, pathology) pair given twice -- naming ``path:line``.
    """
    path = Path(path)
    rows, seen = [], {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != LABEL_COLUMNS:
            raise LabelError(f"{path}:1: header is {reader.fieldnames}, expected {LABEL_COLUMNS}")
        for line, r in enumerate(reader, start=2):
            where = f"{path}:{line}"
            p, v = (r["pathology"] or "").strip(), (r["value"] or "").strip()
            if p not in VALUES:
                raise LabelError(f"{where}: unknown pathology {p!r}; expected one of {sorted(VALUES)}")
            if v not in VALUES[p]:
                raise LabelError(f"{where}: value {v!r} is not allowed for {p}; expected one of {VALUES[p]}")
            if known_paths is not None and r["local_path"] not in known_paths:
                raise LabelError(f"{where}: {r['local_path']!r} is not a local_path of INDEX.csv")
            key = (r["local_path"], p)
            if key in seen:
                raise LabelError(f"{where}: {p} of {r['local_path']} is already labelled on line {seen[key]}")
            seen[key] = line
            steps = {}
            for col in ("onset_step", "best_step"):
                s = (r[col] or "").strip()
                try:
                    steps[col] = float(s) if s else math.nan
                except ValueError:
                    raise LabelError(f"{where}: {col} {s!r} is not a number") from None
            rows.append(dict(local_path=r["local_path"], pathology=p, value=v, **steps,
                             notes=r["notes"], line=line))
    return pd.DataFrame(rows, columns=LABEL_COLUMNS + ["line"])


def confusion(truth, predicted) -> dict:
    """Counts and rates of one binary judgement.

    ``truth``: labels ``yes``/``no``/``unclear``; ``predicted``: booleans, same length.
    Returns ``n, unclear, tp, fp, fn, tn, accuracy, precision, recall, false_alarm_rate``
    (a rate is None when its denominator is 0)."""
    c = dict(tp=0, fp=0, fn=0, tn=0, unclear=0)
    for t, p in zip(truth, predicted, strict=True):
        if t == "unclear":
            c["unclear"] += 1
        else:
            c[("t" if (t == "yes") == bool(p) else "f") + ("p" if p else "n")] += 1
    n = c["tp"] + c["fp"] + c["fn"] + c["tn"]

    def rate(a, b):
        return a / b if b else None

    return dict(n=n, positives=c["tp"] + c["fn"], **c, accuracy=rate(c["tp"] + c["tn"], n),
                precision=rate(c["tp"], c["tp"] + c["fp"]), recall=rate(c["tp"], c["tp"] + c["fn"]),
                false_alarm_rate=rate(c["fp"], c["fp"] + c["tn"]))


def step_error(pairs) -> tuple[float | None, int]:
    """Median of |predicted - labelled| / run length over ``(predicted, labelled, length)``
    triples with all three known and length > 0; returns (median or None, count)."""
    errs = [abs(p - t) / L for p, t, L in pairs
            if p is not None and t is not None and L and not math.isnan(t) and L > 0]
    return (median(errs) if errs else None), len(errs)


def tool_summary(records: dict) -> pd.DataFrame:
    """Per tool: files run, readable, unreadable, crashes, median seconds per call."""
    out = []
    for tool, recs in records.items():
        if not recs:
            continue
        secs = [r["seconds"] for r in recs.values() if r.get("seconds") is not None]
        out.append(dict(tool=tool, files=len(recs), readable=sum(r["readable"] for r in recs.values()),
                        unreadable=sum(not r["readable"] for r in recs.values()),
                        crashes=sum(r["crashed"] for r in recs.values()),
                        median_s=median(secs) if secs else None))
    return pd.DataFrame(out)


def _truth(labels: pd.DataFrame, files, pathology: str) -> list[str]:
    lab = labels[labels.pathology == pathology].set_index("local_path")["value"]
    return [lab.get(f, "no") for f in files]


def score(records: dict, labels: pd.DataFrame, lengths: dict) -> pd.DataFrame:
    """Metrics per tool and pathology (module docstring).

    Parameters
    ----------
    records : dict
        ``{tool: {local_path: parsed record + "seconds"}}`` (:func:`real_logs.runner.parse`).
    labels : DataFrame
        From :func:`load_labels`.
    lengths : dict
        ``{local_path: run length or None}``.

    Returns
    -------
    DataFrame
        One row per tool and pathology the tool can report (its finding map reaches it).
    """
    summary = tool_summary(records).set_index("tool") if records else pd.DataFrame()
    run_files = set(labels.loc[labels.pathology == "overfitting", "local_path"])
    sweep_files = set(labels.loc[labels.pathology.isin(SWEEP_PATHOLOGIES), "local_path"])
    best = labels[labels.pathology == "overfitting"].set_index("local_path")
    onset = best["onset_step"]
    rows = []
    for tool, recs in records.items():
        if not recs:
            continue
        sweep = "sweeps" in TOOLS[tool].kinds
        files = sorted(f for f in recs if f in (sweep_files if sweep else run_files))
        reach = set(TOOLS[tool].findings.values())
        for pathology in (SWEEP_PATHOLOGIES if sweep else PATHOLOGIES):
            if pathology not in reach and pathology != "objective_direction":
                continue
            if pathology == "objective_direction":
                row = _direction(labels, files, recs)
                if row is None:
                    continue
            else:
                truth = _truth(labels, files, pathology)
                pred = [pathology in pathologies_of(tool, recs[f]) for f in files]
                row = confusion(truth, pred)
                if pathology == "overfitting":
                    tp = [f for f, t, p in zip(files, truth, pred) if t == "yes" and p]
                    row["onset_error"], row["onset_n"] = step_error(
                        (recs[f]["onset"], onset.get(f), lengths.get(f)) for f in tp)
                    row["best_error"], row["best_n"] = step_error(
                        (recs[f]["best"], best["best_step"].get(f), lengths.get(f)) for f in files
                        if recs[f]["readable"])
            s = summary.loc[tool]
            rows.append(dict(tool=tool, pathology=pathology, **row, files=int(s.files),
                             unreadable=int(s.unreadable), crashes=int(s.crashes), median_s=s.median_s))
    return pd.DataFrame(rows)


def _direction(labels, files, recs) -> dict | None:
    lab = labels[labels.pathology == "objective_direction"].set_index("local_path")["value"]
    judged = [(lab[f], recs[f]["extra"].get("objective_direction")) for f in files if f in lab.index]
    if not judged:
        return None
    clear = [(t, p) for t, p in judged if t != "unclear"]
    right = sum(t == p for t, p in clear)
    reported = sum(p is not None for _, p in clear)
    return dict(n=len(clear), unclear=len(judged) - len(clear), reported=reported,
                accuracy=right / len(clear) if clear and reported else None)
