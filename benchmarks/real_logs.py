"""Real-log benchmark (issue 8): ``overfit-forecast diagnose`` (and ``inspect`` on the sweep
tables) against five peer tools on the public training logs of ``shared/data/public_logs``,
scored against the hand labels of ``benchmarks/real_logs/labels.csv`` (``PROTOCOL.md``).

Every tool runs as a fresh process per file (timed, ``--jobs`` at a time), the peers from
their own virtual environment ``benchmarks/.peers-venv`` (created with pinned versions by
``--setup-peers``, or on first use). Raw outputs are cached in ``_build/real_logs/raw/``, so
scoring is redone without re-running (``--rerun`` forces it). Printed and written: per tool
and pathology n, accuracy, precision, recall, false-alarm rate, onset and best-step error
(median |error| / run length), unreadable files, crashes, median seconds per call;
``_build/real_logs/results.json`` and ``benchmarks/real_logs/results.md``. Without
``labels.csv`` only readability and speed are reported.

Which finding of each tool means which pathology (details and reasons in
``benchmarks/real_logs/PEERS.md``; the dicts are in ``real_logs/tools.py``):

| pathology | overfit-forecast | runmedic 0.1.1 | trainproof 0.22.0 | trainspotter 0.2.6 | losslint 0.4.1 | finetune-doctor 0.2.2 |
|---|---|---|---|---|---|---|
| overfitting | `overfitting`, `overconfident`/`overconfidence` (status or finding id; `verdicts.overfitting`) | `overfitting` (warning or info) | `TP-OVERFIT` | `overfitting` (warning; not the `info` it downgrades to when it blames divergence) | `overfit_onset` | `overfitting` WARNING/CRITICAL (not INFO "slightly worse") |
| diverged | `diverged` | `divergence`, `non_finite` | `TP-DIVERGE`, `TP-NAN`, `TP-NAN-GRAD` | `divergence` | `divergence`, `nan_inf` | `loss_degenerate` "NaN loss" |
| chance_level | `chance_level` | `no_learning` | `TP-DEAD-RUN` | -- | -- | `not_learning` "Not learning" |
| frozen | `frozen` | -- | `TP-FLAT`, `TP-ZERO-LOSS(-ONSET)` | -- | -- | `loss_degenerate` "exactly zero" |
| plateau | `plateau` | `constant_lr_plateau` | -- | `plateau` | `stagnation` | `stopped_improving` |
| leakage_signal | `leakage_signal` | `val_below_train` | -- | `loss_floor` | -- | `eval_below_train` |
| onset step | `verdicts.onset_step` / `validation.onset.x` | overfitting `step` | `@stepN` in TP-OVERFIT | overfitting `step_start` | `details.since_step` | overfitting `metrics.best_step` |
| best step | `verdicts.best_step` / `best_checkpoint.x` | overfitting `step` | "best checkpoint was near step N" | overfitting `step_start` | -- | `pick.best_step` |

Usage::

    python benchmarks/real_logs.py --setup-peers         # create/refresh the peers' venv
    python benchmarks/real_logs.py                       # everything, 2 processes at a time
    python benchmarks/real_logs.py --limit 3 --kind hf   # quick look
    python benchmarks/real_logs.py --score-only          # re-score the cache

Run with the project's Python and ``PYTHONPATH=src`` (the log readers give run lengths).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_logs import corpus, runner, scoring  # noqa: E402  (the package beside this script)
from real_logs.tools import TOOLS  # noqa: E402

LABELS = Path(__file__).resolve().parent / "real_logs" / "labels.csv"
RESULTS_MD = Path(__file__).resolve().parent / "real_logs" / "results.md"
ROOT_README = Path(__file__).resolve().parents[1] / "README.md"
README_START, README_END = "<!-- real_logs headline: written by benchmarks/real_logs.py -->", "<!-- /real_logs headline -->"
#: Columns of the per-pathology tables (onset/best errors, unreadable files, crashes and seconds
#: per call are tool-level and stand in the headline and readability tables).
SHOW = ["tool", "pathology", "n", "positives", "unclear", "accuracy", "precision", "recall", "false_alarm_rate"]


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=2, help="processes at a time (default 2)")
    p.add_argument("--limit", type=int, default=None, help="only the first N files of each kind")
    p.add_argument("--kind", nargs="*", default=None, help="only these INDEX kinds (hf lightning keras ...)")
    p.add_argument("--tools", nargs="*", default=list(TOOLS), choices=list(TOOLS), metavar="TOOL")
    p.add_argument("--labels", default=str(LABELS), help=f"labels file (default {LABELS.name} beside PROTOCOL.md)")
    p.add_argument("--setup-peers", action="store_true", help="(re)install the peers' venv and exit")
    p.add_argument("--rerun", action="store_true", help="ignore the cache of raw outputs")
    p.add_argument("--score-only", action="store_true", help="score the cached outputs, run nothing")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS_MD.name}")
    return p.parse_args(argv)


def _fmt(df, cols):
    df = df[[c for c in cols if c in df.columns]].copy()
    for c in ("accuracy", "precision", "recall", "false_alarm_rate", "onset_error", "best_error"):
        if c in df:
            df[c] = df[c].map(lambda x: "" if x is None or x != x else f"{100 * x:.0f} %")
    for c in ("onset_n", "best_n", "positives", "reported"):
        if c in df:
            df[c] = df[c].map(lambda x: "" if x is None or x != x else f"{int(x)}")
    if "median_s" in df:
        df["median_s"] = df["median_s"].map(lambda x: "" if x is None or x != x else f"{x:.2f}")
    return df.rename(columns={"false_alarm_rate": "false alarms", "median_s": "s / call",
                              "onset_error": "onset err", "best_error": "best err",
                              "onset_n": "onset n", "best_n": "best n"})


def _records(raws: dict) -> dict:
    return {tool: {lp: {**runner.parse(tool, raw), "seconds": raw["seconds"]} for lp, raw in by_file.items()}
            for tool, by_file in raws.items()}


def _by_kind(records, rows) -> "scoring.pd.DataFrame":
    kind = {r["local_path"]: r["kind"] for r in rows}
    out = []
    for tool, recs in records.items():
        for k in sorted({kind[f] for f in recs}):
            sub = [r for f, r in recs.items() if kind[f] == k]
            out.append(dict(tool=tool, kind=k, files=len(sub), unreadable=sum(not r["readable"] for r in sub),
                            crashes=sum(r["crashed"] for r in sub)))
    return scoring.pd.DataFrame(out)


def headline(table, summary, versions: dict):
    """The overfitting row of every tool in the shape of the issue's table: verdict right
    (accuracy), precision, recall, false alarms, onset/best error, unreadable of files run,
    crashes, median seconds per call."""
    o = table[table.pathology == "overfitting"].set_index("tool")
    s = summary.set_index("tool")
    rows = []
    for tool in o.index:
        r = o.loc[tool]
        rows.append({"tool (version)": f"{tool} {versions.get(tool, '')}".strip(),
                     "verdict right": r.accuracy, "precision": r.precision, "recall": r.recall,
                     "false alarms": r.false_alarm_rate, "onset err": r.onset_error, "best err": r.best_error,
                     "unreadable": f"{int(s.loc[tool].unreadable)} of {int(s.loc[tool].files)}",
                     "crashes": int(s.loc[tool].crashes), "s / call": s.loc[tool].median_s})
    out = scoring.pd.DataFrame(rows)
    for c in ("verdict right", "precision", "recall", "false alarms", "onset err", "best err"):
        out[c] = out[c].map(lambda x: "" if x is None or x != x else f"{100 * x:.0f} %")
    out["s / call"] = out["s / call"].map(lambda x: f"{x:.2f}")
    return out


def _load_cached(tools, rows) -> dict:
    raws = {t: {} for t in tools}
    for t in tools:
        for r in rows:
            p = runner.cache_path(t, r)
            if r["kind"] in TOOLS[t].kinds and p.exists():
                raws[t][r["local_path"]] = json.loads(p.read_text())["raw"]
    return raws


def main(argv=None) -> int:
    a = _args(argv)
    peers = [t for t in a.tools if TOOLS[t].requirement]
    if a.setup_peers or (peers and not a.score_only):
        corpus.setup_peers(force=a.setup_peers)
        if a.setup_peers:
            print(json.dumps(corpus.peer_versions(), indent=1))
            return 0
    rows = corpus.read_index(a.kind, a.limit)
    t0 = time.perf_counter()
    if a.score_only:
        raws = _load_cached(a.tools, rows)
    else:
        print(f"{len(rows)} files, tools {', '.join(a.tools)}, {a.jobs} jobs", flush=True)
        raws = runner.run_all(a.tools, rows, a.jobs, a.rerun)
    elapsed = time.perf_counter() - t0
    last = _last_run(a, argv, elapsed, rows)
    records = _records(raws)
    from overfit_forecast import __version__

    versions = {"overfit-forecast": __version__, **(corpus.peer_versions() if corpus.peers_bin().exists() else {})}
    out = dict(summary=scoring.tool_summary(records), by_kind=_by_kind(records, rows))
    print("\n" + _fmt(out["summary"], list(out["summary"].columns)).to_markdown(index=False))
    if Path(a.labels).exists():
        labels = scoring.load_labels(a.labels, {r["local_path"] for r in corpus.read_index()})
        labelled = [r for r in rows if r["local_path"] in set(labels.local_path)]
        lengths = {r["local_path"]: corpus.run_length(r) for r in labelled if r["kind"] != "sweeps"}
        out["table"] = scoring.score(records, labels, lengths)
        hf = {t: {f: x for f, x in recs.items() if f.startswith("hf/")} for t, recs in records.items()
              if "hf" in TOOLS[t].kinds}
        out["hf_table"] = scoring.score(hf, labels, lengths)
        out["headline"] = headline(out["table"], out["summary"], versions)
        print("\n" + _fmt(out["table"], SHOW).to_markdown(index=False))
        print("\n" + out["headline"].to_markdown(index=False))
    else:
        print(f"\n(no labels at {a.labels}: readability and speed only)")
    print(f"\nwall time of the tool calls: {elapsed:.0f} s")
    _write(a, records, out, versions, last)
    return 0


def _last_run(a, argv, elapsed, rows) -> dict:
    """Date, command and wall time of the last full run that ran every call afresh
    (``--rerun`` over every file and tool), kept in ``_build/real_logs/last_full_run.json``
    so that a re-scoring still reports how long the measurement took."""
    from overfit_forecast.runlog import write_json

    path = runner.BUILD / "last_full_run.json"
    this = dict(date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), seconds=round(elapsed),
                jobs=a.jobs, files=len(rows), tools=len(a.tools), load_average_15min=round(os.getloadavg()[2], 1),
                command="python benchmarks/real_logs.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    if a.rerun and a.limit is None and not a.kind and set(a.tools) == set(TOOLS):
        write_json(this, path)
        return this
    return json.loads(path.read_text()) if path.exists() else this


def _write(a, records, out, versions, last):
    from overfit_forecast.runlog import atomic_write_text, write_json

    write_json(dict(meta=dict(last, versions=versions), **{k: v.to_dict("records") for k, v in out.items()},
                    records=records), runner.BUILD / "results.json")
    if a.no_write or a.limit is not None or a.kind:
        return
    lines = ["# Real-log benchmark: results as measured", "",
             f"`{last['command'].strip()}` on {last['date']}: {last['files']} files, {last['tools']} tools, "
             f"{last['jobs']} processes at a time, {last['seconds'] / 60:.0f} min of wall time"
             + (f" (load average {last['load_average_15min']:g} at the end)" if "load_average_15min" in last else "")
             + ". Versions: "
             + ", ".join(f"{k} {v}" for k, v in versions.items()) + ". Labels: `labels.csv` "
             "(`PROTOCOL.md`); metrics defined in `real_logs/scoring.py`; finding maps in `PEERS.md`. "
             "Percentages of labelled files; errors are median |error| / run length.", ""]
    if "table" in out:
        lines += ["## Overfitting, every tool", "", out["headline"].to_markdown(index=False), "",
                  "## Per tool and pathology (all labelled run files)", "",
                  _fmt(out["table"], SHOW).to_markdown(index=False), "",
                  "## Hugging Face `trainer_state.json` files only", "",
                  _fmt(out["hf_table"], SHOW).to_markdown(index=False), ""]
    lines += ["## Readability and speed (every file each tool was run on)", "",
              _fmt(out["summary"], list(out["summary"].columns)).to_markdown(index=False), "",
              "### Unreadable files by kind", "", out["by_kind"].to_markdown(index=False), ""]
    atomic_write_text(RESULTS_MD, "\n".join(lines))
    if "headline" in out:
        _update_readme(out["headline"].to_markdown(index=False) + f"\n\nMeasured by `{last['command'].strip()}` on "
                       f"{last['date']}, {last['seconds'] / 60:.0f} min at {last['jobs']} processes at a time"
                       + (f", load average {last['load_average_15min']:g}" if "load_average_15min" in last else "")
                       + ".")


def _update_readme(text: str, readme: Path = ROOT_README) -> None:
    """Replace what stands between the README's ``real_logs headline`` markers with ``text``
    (nothing happens when the markers are missing)."""
    from overfit_forecast.runlog import atomic_write_text

    s = readme.read_text()
    i, j = s.find(README_START), s.find(README_END)
    if i < 0 or j < i:
        return
    atomic_write_text(readme, s[: i + len(README_START)] + "\n" + text + "\n" + s[j:])


if __name__ == "__main__":
    sys.exit(main())
