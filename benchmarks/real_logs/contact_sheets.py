"""Contact sheets of the public training logs, for labelling them by eye (see PROTOCOL.md).

Reads every run file of ``../shared/data/public_logs`` directly (json / pandas / tbparse) --
deliberately *not* through ``overfit_forecast``'s readers or detectors, so that the labels made
from these sheets stay independent of the tool they judge.

Each run gets one panel: training loss (thin, grey-blue) and evaluation loss (thick, orange, with
markers) against the log's own x-axis (optimizer step for hf / lightning / tensorboard, epoch for
keras-style epoch logs), log-scaled y when the losses span more than a decade; the main task
metric is drawn on a twin axis (green, dashed).  Under each panel the protocol's numbers are
printed: minimum evaluation loss and its x, the rise at the end above that minimum (last eval, in
% of |min|), the median absolute successive change of the eval loss (``mad``), the same rise in
units of ``mad`` (``k``), the number of evaluations and the last x.  Sweep tables get one panel
each: objective per trial (in file order) and the sorted objective.

Usage::

    python benchmarks/real_logs/contact_sheets.py --kind hf --out _build/real_logs/sheets
    python benchmarks/real_logs/contact_sheets.py --kind all --stats   # numbers only, as CSV

Writes ``<out>/<kind>_NN.png`` (3 x 3 runs per sheet) and ``<out>/<kind>_stats.csv``.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / ".." / "shared" / "data" / "public_logs").resolve()

KINDS = ("hf", "lightning", "keras", "tensorboard", "sweeps")
# Metrics worth showing as "task metric", most preferred first (matched on a lower-cased name).
METRIC_PREF = ("accuracy", "acc", "f1", "auc", "iou", "dice", "map50-95", "map50", "map", "wer",
               "cer", "bleu", "rouge", "jaccard", "r2", "pearson", "spearman", "mae", "rmse", "mape", "mse",
               "score")
LOSS_WORDS = ("loss", "cross_entropy", "nll", "mse", "rmse", "mae")
SKIP_WORDS = ("runtime", "per_second", "samples", "steps_per", "epoch", "lr", "learning_rate",
              "grad_norm", "flos", "loss", "time", "gen_len", "step", "per_category")


@dataclass
class Series:
    name: str
    x: np.ndarray
    y: np.ndarray


@dataclass
class Run:
    """One run: training loss, evaluation loss and task metric, each as (x, y) arrays."""
    local_path: str
    kind: str
    xlabel: str
    train: Series | None = None
    evals: Series | None = None
    metric: Series | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- readers
def _series(df: pd.DataFrame, col: str | None, xcol: str) -> Series | None:
    if col is None or col not in df:
        return None
    sub = df[[xcol, col]].copy()
    sub[col] = pd.to_numeric(sub[col], errors="coerce")
    sub[xcol] = pd.to_numeric(sub[xcol], errors="coerce")
    # keep NaN/inf values of the metric (they matter for "diverged"), but need a row marker:
    raw = df[col]
    keep = raw.notna() & sub[xcol].notna()
    sub = sub[keep]
    if sub.empty:
        return None
    sub = sub.groupby(xcol, sort=True, as_index=False).last()
    return Series(col, sub[xcol].to_numpy(float), sub[col].to_numpy(float))


def _pick(cols, exact, must=(), avoid=()):
    low = {c.lower().strip(): c for c in cols}
    for e in exact:
        if e in low:
            return low[e]
    for c in cols:
        lc = c.lower()
        if all(m in lc for m in must) and not any(a in lc for a in avoid):
            return c
    return None


def pick_columns(cols, heldout_test: bool = False):
    """Choose (train loss, eval loss, task metric) column names among ``cols``."""
    train = _pick(cols, ("train_loss_epoch", "train_loss", "loss", "training_loss", "train/loss",
                         "epoch_loss", "tr_loss", "train loss", "trainloss", "train/box_loss"),
                  ("train", "loss"), ("val", "test", "eval", "step"))
    if train is None:
        train = _pick(cols, (), ("train", "loss"), ("val", "test", "eval"))
    ev = _pick(cols, ("val_loss_epoch", "val_loss", "validation_loss", "valid_loss", "eval_loss",
                      "eval/loss", "val/loss", "val loss", "valloss", "val/box_loss"),
               ("val", "loss"), ("step", "train"))
    if ev is None:
        ev = _pick(cols, ("test_loss", "test/loss"), ("test", "loss"), ("step", "train"))
    if ev is None:
        ev = _pick(cols, (), ("eval", "loss"), ("train",))
    held = ("val", "test", "eval")
    for word in LOSS_WORDS:  # fallbacks: cross_entropy / nll / regression errors, *_step last
        if train is None:
            train = _pick(cols, (), (word,), held + ("_step",))
        if ev is None:
            ev = next((c for c in cols if word in c.lower() and "_step" not in c.lower()
                       and any(h in c.lower() for h in ("val", "eval"))), None)
    if ev is None and heldout_test:
        ev = _pick(cols, (), ("test", "loss"), ("_step",))
    cands = [c for c in cols if any(p in c.lower() for p in ("val", "eval", "test", "metrics/"))
             and "interval" not in c.lower()]
    cands += [c for c in cols if c not in cands]
    metric = None
    for pref in METRIC_PREF:
        for c in cands:
            lc = c.lower().removesuffix("_epoch")  # Lightning's epoch aggregate is wanted
            if pref in lc and not any(s in lc for s in SKIP_WORDS if s not in pref) \
                    and not lc.startswith("train") and not lc.endswith("_step"):
                metric = c
                break
        if metric:
            break
    return train, ev, metric


def read_hf(path: Path, rel: str) -> Run:
    state = json.loads(path.read_text())
    hist = state.get("log_history", [])
    df = pd.DataFrame(hist)
    run = Run(rel, "hf", "step")
    if df.empty or "step" not in df:
        run.note = "empty log_history"
        return run
    run.train = _series(df, "loss" if "loss" in df else None, "step")
    run.evals = _series(df, "eval_loss" if "eval_loss" in df else None, "step")
    evcols = [c for c in df.columns if c.startswith("eval_") and c != "eval_loss"]
    _, _, metric = pick_columns(evcols)
    run.metric = _series(df, metric, "step")
    run.extra = {k: state.get(k) for k in ("best_metric", "best_model_checkpoint", "max_steps",
                                           "num_train_epochs", "global_step")}
    return run


def _read_table(path: Path) -> pd.DataFrame:
    suf = path.suffix.lower()
    if suf == ".json":
        obj = json.loads(path.read_text())
        if isinstance(obj, list):
            return pd.json_normalize(obj)
        if isinstance(obj, dict):
            # a history dict of lists, maybe wrapped ({"history": {...}}) or with nested dicts
            for key in ("history", "train_history", "logs"):
                if isinstance(obj.get(key), (dict, list)):
                    obj = obj[key]
                    if isinstance(obj, list):
                        return pd.json_normalize(obj)
            lists, records = {}, None
            for k, v in obj.items():
                if isinstance(v, list) and v and not isinstance(v[0], (dict, list)):
                    lists[k] = v
                elif isinstance(v, dict):
                    for k2, v2 in v.items():
                        if isinstance(v2, list) and v2 and not isinstance(v2[0], (dict, list)):
                            lists[f"{k}.{k2}"] = v2
                elif isinstance(v, list) and v and isinstance(v[0], dict) and records is None:
                    records = v
            if not lists and records is not None:  # only per-epoch records: use them
                return pd.json_normalize(records)
            n = max((len(v) for v in lists.values()), default=0)
            return pd.DataFrame({k: pd.Series(v) for k, v in lists.items() if len(v) >= n // 2})
        raise ValueError(f"{path}: unexpected JSON top level {type(obj).__name__}")
    df = pd.read_csv(path, sep=None, engine="python")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_table_run(path: Path, rel: str, kind: str, notes: str = "") -> Run:
    """Lightning ``metrics.csv`` (x = step) or an epoch log (x = epoch column, else row index)."""
    df = _read_table(path)
    df = df.loc[:, ~df.columns.duplicated()]
    if kind == "lightning" and "step" in df:
        xcol, xlabel = "step", "step"
    else:
        ecol = _pick(df.columns, ("epoch", "epochs", "ep"), ("epoch",), ("time", "lr"))
        if ecol is not None and pd.to_numeric(df[ecol], errors="coerce").notna().mean() > 0.9:
            xcol = ecol
        else:
            df = df.reset_index(drop=True)
            df["_row"] = np.arange(len(df), dtype=float)
            xcol = "_row"
        xlabel = "epoch"
    cols = [c for c in df.columns if c not in (xcol, "step", "epoch", "_row")]
    tr, ev, met = pick_columns(cols, heldout_test="heldout_cols=test" in str(notes))
    run = Run(rel, kind, xlabel)
    run.train, run.evals, run.metric = (_series(df, c, xcol) for c in (tr, ev, met))
    return run


def read_tensorboard(path: Path, rel: str) -> Run:
    """One events file, or a folder (a Keras ``train/`` + ``validation/`` pair)."""
    from tbparse import SummaryReader

    folder = path if path.is_dir() else path.parent
    has_pair = (folder / "train").is_dir() or (folder / "validation").is_dir()
    reader = SummaryReader(str(folder if has_pair else path), extra_columns={"dir_name"})
    sc = reader.scalars
    if sc.empty:  # tf.summary written as tensors
        sc = reader.tensors
    if "dir_name" in sc and sc["dir_name"].astype(str).str.len().gt(0).any():
        sc = sc.assign(tag=[f"{d}/{t}" if d else t for d, t in zip(sc["dir_name"], sc["tag"])])
    wide = sc.pivot_table(index="step", columns="tag", values="value", aggfunc="last")
    wide = wide.reset_index()
    cols = [c for c in wide.columns if c != "step"]
    tr, ev, met = pick_columns(cols)
    if has_pair:
        tr = _pick(cols, ("train/epoch_loss",), ("train", "loss")) or tr
        ev = _pick(cols, ("validation/epoch_loss",), ("validation", "loss")) or ev
    run = Run(rel, "tensorboard", "step")
    run.train, run.evals, run.metric = (_series(wide, c, "step") for c in (tr, ev, met))
    return run


def load_run(row) -> Run:
    rel = row.local_path
    path = DATA / rel
    if row.kind == "hf":
        return read_hf(path, rel)
    if row.kind == "tensorboard":
        return read_tensorboard(path, rel)
    return read_table_run(path, rel, row.kind, str(row.format_notes))


# ----------------------------------------------------------------------------- numbers
def run_numbers(run: Run) -> dict:
    """The protocol's numbers for one run (NaN where there is no evaluation loss)."""
    out = {"local_path": run.local_path, "n_train": 0, "n_evals": 0}
    if run.train is not None:
        y = run.train.y
        fin = y[np.isfinite(y)]
        out.update(n_train=len(y), train_nonfinite=int((~np.isfinite(y)).sum()),
                   train_first=fin[0] if len(fin) else math.nan,
                   train_last=fin[-1] if len(fin) else math.nan,
                   train_min=fin.min() if len(fin) else math.nan,
                   train_distinct=len(np.unique(np.round(fin, 6))))
    if run.evals is not None:
        x, y = run.evals.x, run.evals.y
        ok = np.isfinite(y)
        x, y = x[ok], y[ok]
        if len(y):
            i = int(np.argmin(y))
            d = np.abs(np.diff(y))
            mad = float(np.median(d)) if len(d) else math.nan
            out.update(n_evals=len(y), eval_first=y[0], eval_min=y[i], eval_min_x=x[i],
                       eval_last=y[-1], last_x=x[-1], first_x=x[0],
                       rise_pct=100 * (y[-1] - y[i]) / abs(y[i]) if y[i] else math.nan,
                       mad=mad, k_last=(y[-1] - y[i]) / mad if mad else math.nan,
                       n_after_min=len(y) - 1 - i)
    if run.metric is not None and len(run.metric.y):
        m = run.metric
        name = m.name.lower()
        lower_better = any(s in name for s in ("wer", "cer", "mae", "rmse", "mape", "mse"))
        fin = np.isfinite(m.y)
        j = int(np.nanargmin(m.y) if lower_better else np.nanargmax(m.y)) if fin.any() else 0
        out.update(metric=m.name, metric_best=m.y[j], metric_best_x=m.x[j],
                   metric_last=m.y[-1], metric_first=m.y[0])
    return out


def _fmt(v, nd=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "nan"
    return f"{v:.{nd}g}"


def caption(n: dict) -> str:
    if n.get("n_evals", 0) == 0:
        lines = ["no eval loss"]
    else:
        lines = [f"min {_fmt(n['eval_min'])} @x={_fmt(n['eval_min_x'], 6)}  rise {n['rise_pct']:.1f}%"
                 f"  k={_fmt(n['k_last'], 3)}",
                 f"mad {_fmt(n['mad'], 3)}  n_eval {n['n_evals']} (after min {n['n_after_min']})"
                 f"  last x {_fmt(n['last_x'], 6)}"]
    if n.get("n_train"):
        lines.append(f"train {_fmt(n['train_first'], 3)}->{_fmt(n['train_last'], 3)} "
                     f"(min {_fmt(n['train_min'], 3)}, n {n['n_train']}, nonfin "
                     f"{n['train_nonfinite']}, distinct {n['train_distinct']})")
    if "metric" in n:
        lines.append(f"{n['metric'][:18]} best {_fmt(n['metric_best'])} @x="
                     f"{_fmt(n['metric_best_x'], 6)} last {_fmt(n['metric_last'])}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- drawing
def draw_run(ax, run: Run, sid: str) -> dict:
    n = run_numbers(run)
    ys = []
    if run.train is not None:
        ax.plot(run.train.x, run.train.y, color="tab:blue", lw=0.8, alpha=0.7, label="train")
        ys.append(run.train.y)
    if run.evals is not None:
        ax.plot(run.evals.x, run.evals.y, color="tab:orange", lw=1.8, marker="o", ms=3,
                label="eval")
        ys.append(run.evals.y)
        if n.get("n_evals"):
            ax.axvline(n["eval_min_x"], color="tab:orange", ls=":", lw=0.8)
    allv = np.concatenate(ys) if ys else np.array([])
    allv = allv[np.isfinite(allv)]
    if len(allv) and allv.min() > 0 and allv.max() / allv.min() > 10:
        ax.set_yscale("log")
    if run.metric is not None:
        ax2 = ax.twinx()
        ax2.plot(run.metric.x, run.metric.y, color="tab:green", ls="--", lw=1, marker=".",
                 ms=3)
        ax2.tick_params(axis="y", labelsize=6, colors="tab:green")
    ax.set_title(f"{sid} {run.local_path.split('/')[1][:40]}", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_xlabel(run.xlabel + ("   " + run.note if run.note else ""), fontsize=6, labelpad=1)
    ax.text(0.0, -0.2, caption(n), transform=ax.transAxes, fontsize=6, va="top",
            family="monospace")
    return n


def sweep_panel(ax, rel: str, sid: str) -> dict:
    df = _read_table(DATA / rel)
    num = df.select_dtypes("number")
    low = {c.lower(): c for c in num.columns}
    obj = next((low[k] for k in ("value", "loss", "score", "accuracy", "val_acc", "auc")
                if k in low), None)
    if obj is None:  # first metric-like column that is not a hyperparameter or a train score
        words = ("val", "test", "score", "acc", "auc", "f1", "loss", "rmse", "mae", "mse", "r2",
                 "mape")
        obj = next((c for c in num.columns if any(w in c.lower() for w in words)
                    and not c.lower().startswith(("params", "user_attrs", "train"))),
                   num.columns[0] if len(num.columns) else None)
    info = {"local_path": rel, "rows": len(df), "objective": obj}
    if obj is not None:
        v = num[obj].to_numpy(float)
        ax.plot(v, ".", ms=3, color="tab:purple")
        ax.plot(np.sort(v[np.isfinite(v)]), lw=1, color="grey")
        info.update(obj_min=np.nanmin(v), obj_max=np.nanmax(v), obj_median=np.nanmedian(v))
    if "state" in df:
        info["states"] = {k: int(v) for k, v in df["state"].value_counts().items()}
    ax.set_title(f"{sid} {rel.split('/')[1][:40]}", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.text(0.0, -0.12, "\n".join(f"{k}: {v}" for k, v in info.items() if k != "local_path")
            + "\ncols: " + ", ".join(map(str, df.columns[:8])), transform=ax.transAxes,
            fontsize=6, va="top", family="monospace", wrap=True)
    return info


def make_sheets(kind: str, out: Path, per_sheet: int = 9, draw: bool = True) -> pd.DataFrame:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = pd.read_csv(DATA / "INDEX.csv")
    rows = index[index.kind == kind].sort_values("local_path", key=lambda s: s.str.lower())
    out.mkdir(parents=True, exist_ok=True)
    records = []
    rows = list(rows.itertuples())
    for s in range(0, len(rows), per_sheet):
        chunk = rows[s:s + per_sheet]
        fig, axes = plt.subplots(3, 3, figsize=(15, 13)) if draw else (None, [None] * 9)
        axes = np.ravel(axes)
        for j, row in enumerate(chunk):
            sid = f"{kind[:2]}{s + j:03d}"
            try:
                if kind == "sweeps":
                    rec = sweep_panel(axes[j], row.local_path, sid) if draw else {}
                else:
                    run = load_run(row)
                    rec = draw_run(axes[j], run, sid) if draw else run_numbers(run)
            except Exception as exc:  # keep the sheet; show the failure in the panel
                rec = {"local_path": row.local_path, "error": repr(exc)[:200]}
                if draw:
                    axes[j].text(0.05, 0.5, rec["error"], fontsize=6, wrap=True)
            rec["id"] = sid
            rec["local_path"] = row.local_path
            records.append(rec)
        if draw:
            for ax in axes[len(chunk):]:
                ax.axis("off")
            fig.subplots_adjust(hspace=0.75, wspace=0.35, top=0.97, bottom=0.09)
            fig.savefig(out / f"{kind}_{s // per_sheet:02d}.png", dpi=80)
            plt.close(fig)
    table = pd.DataFrame(records)
    table.to_csv(out / f"{kind}_stats.csv", index=False)
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", default="all", choices=KINDS + ("all",))
    ap.add_argument("--out", type=Path, default=ROOT / "_build" / "real_logs" / "sheets")
    ap.add_argument("--stats", action="store_true", help="numbers only (no PNG)")
    args = ap.parse_args(argv)
    for kind in KINDS if args.kind == "all" else (args.kind,):
        t = make_sheets(kind, args.out, draw=not args.stats)
        bad = t["error"].notna().sum() if "error" in t else 0
        print(f"{kind}: {len(t)} files, {bad} unreadable -> {args.out}")


if __name__ == "__main__":
    main()
