"""The run as the checks see it: the curves of one :class:`~overfit_forecast.readers.Curves`
on one x-axis, the thresholds, and the :class:`Finding` every check returns.

Conventions: the x-axis is the optimizer step when every evaluation carries one, else the
epoch. The "evaluation loss" is the validation loss (``loss``, else the first validation
metric whose name contains ``loss``); the "task metric" the preferred other validation
metric (accuracy, F1, WER, ...; lower-is-better for error-type names, :data:`LOWER_IS_BETTER`).
The "selection metric" chooses the best checkpoint: the declared ``metric_for_best_model``,
else the task metric, else the evaluation loss.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from ..criteria import noise_scale
from ..readers import Curves

LOWER_IS_BETTER = ("loss", "wer", "cer", "error", "err", "perplexity", "ppl", "mae", "mse", "rmse", "nll")
#: Validation "metrics" that are bookkeeping (timings, counts), never a task metric.
_NOT_TASK = re.compile(r"(time|runtime|per_second|samples|steps|flos|mem|gen_len|epoch|lr|learning_rate|grad)")
_TASK_PREFERENCE = ("accuracy", "f1", "macro_f1", "exact_match", "bleu", "rouge1", "rougel", "wer", "cer",
                    "matthews_correlation", "auc", "roc_auc", "map50_95", "map", "map50", "iou", "dice")
SEVERITIES = ("error", "warning", "info")


class DiagnosisError(ValueError):
    """The curves cannot support a diagnosis (no loss or metric curve with 2 points)."""


@dataclass(frozen=True)
class Finding:
    """One result of one check (the shape of the sweep inspector's detector rows).

    ``id``: the check's id (see :data:`overfit_forecast.diagnosis.CHECK_IDS`); ``severity``:
    "error", "warning" or "info"; ``message``: one sentence with the numbers; ``evidence``:
    the numbers (JSON scalars, x-values in the run's x-axis unit); ``recommendation``: what to
    do, or None."""

    id: str
    severity: str
    message: str
    evidence: dict = field(default_factory=dict)
    recommendation: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (numpy scalars and non-finite floats turned into JSON values)."""
        d = asdict(self)
        d["evidence"] = {k: num(v) for k, v in self.evidence.items()}
        return d


@dataclass(frozen=True)
class DiagnosisThresholds:
    """Thresholds of the checks, with defaults. "Noise" is
    :func:`overfit_forecast.criteria.noise_scale` of the curve concerned."""

    material_k: float = 3.0  # a rise is material above this x noise (several times the noise)
    rel_floor: float = 0.01  # ... and above this fraction of the minimum (a rise too small to matter)
    corroborated: float = 2 / 3  # a smaller rise, above this fraction of material_k x noise, is material ...
    train_fall: float = 0.2  # ... when the training loss fell by this fraction of its level since the minimum
    min_evals: int = 4  # fewer finite evaluations -> no overfitting verdict (null)
    divergence_factor: float = 1.5  # end level above this x start level -> diverged
    frozen_fraction: float = 0.8  # this fraction of successive values identical -> frozen
    chance_max_improvement: float = 0.1  # never improved by more than this fraction ...
    chance_tol: float = 0.03  # ... and within this fraction of ln C -> chance level
    tail_fraction: float = 1 / 3  # the "tail" (end region) of a curve
    plateau_k: float = 2.0  # tail improves by no more than this x noise ...
    plateau_rel: float = 0.02  # ... and changes by no more than this fraction of the level -> plateau
    improving_k: float = 2.0  # tail trend falls by more than this x noise -> still improving
    unstable_rel: float = 0.1  # excursion: residual from running median > this x trend
    unstable_fraction: float = 0.2  # this fraction of evaluations are excursions -> unstable
    leakage_ratio: float = 1.5  # train / eval loss above this at almost every evaluation -> leakage signal
    loss_scale_ratio: float = 3.0  # ... above this (median) -> logging-scale artifact
    near_zero_loss: float = 0.01  # training loss this low in the first 10 % of the run -> leakage signal
    gap_ratio: float = 3.0  # eval loss this many times train loss at the end, eval flat -> gap
    underfit_train_acc: float = 0.90  # training accuracy below this at a training plateau -> underfit
    few_evals: int = 10  # fewer evaluations -> evaluate more often
    noisy_fraction: float = 0.5  # this fraction of checkpoints within noise of the best -> cannot rank
    past_best_fraction: float = 0.1  # run went on this fraction past its best -> early-stopping advice
    lr_zero_tail: float = 0.05  # this fraction of the run at learning rate 0 -> wasted steps
    lr_jump: float = 2.0  # learning rate multiplied by more than this after warm-up -> schedule jump
    patiences: tuple = (1, 2, 3, 5, 10)  # early-stopping patiences (evaluations) replayed


@dataclass
class Series:
    """One curve on the run's x-axis: finite x, values (NaN/inf kept), step and epoch."""

    name: str
    x: np.ndarray
    v: np.ndarray
    step: np.ndarray
    epoch: np.ndarray
    lower: bool = True

    @property
    def noise(self) -> float:
        """:func:`~overfit_forecast.criteria.noise_scale` of the values."""
        return noise_scale(self.v)

    @property
    def mode(self) -> str:
        """Keras ``mode``: "min" when lower is better, else "max"."""
        return "min" if self.lower else "max"

    def finite(self) -> int:
        """Number of finite values."""
        return int(np.isfinite(self.v).sum())


@dataclass
class RunView:
    """Everything the checks read (built once by :func:`prepare`)."""

    curves: Curves
    by: str
    eval_loss: Series | None
    train_loss: Series | None
    task: Series | None
    select: Series
    chosen_by: str
    train_acc: Series | None = None
    lr: Series | None = None
    train_at_eval: np.ndarray | None = None  # training loss (running median) at the evaluation x
    declared: str | None = None
    series: dict = field(default_factory=dict)  # every curve: {(split, metric): Series}
    cache: dict = field(default_factory=dict)  # results computed once per run (best checkpoint)

    @property
    def meta(self) -> dict:
        return self.curves.meta


LR_ADVICE = "Lower the learning rate, add warm-up and gradient clipping (in mixed precision, check the loss scaler)."


def fmt(x) -> str:
    """A number in a finding's message: 4 significant digits, ``n/a`` for None/NaN/inf."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.4g}"


def curve_label(s: Series, run: RunView) -> str:
    """``"training loss"``, ``"validation accuracy"``, ...: the curve's split and name."""
    split = "training" if s is run.train_loss or s is run.train_acc else "validation"
    return f"{split} {s.name}"


def num(x):
    """A JSON-ready scalar: numpy numbers to Python, non-finite floats to None."""
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def lower_is_better(metric: str) -> bool:
    """Whether a metric name is an error/loss (lower is better)."""
    m = metric.lower()
    return any(m == x or m.endswith(x) or m.startswith(x) or "loss" in m for x in LOWER_IS_BETTER)


def _canon(name: str | None) -> str | None:
    if not name:
        return None
    d = name.lower().removeprefix("eval_").removeprefix("val_")
    return {"acc": "accuracy"}.get(d, d)


def all_series(curves: Curves, by: str) -> dict:
    """Every curve of the log on one x-axis (``by``: "step" or "epoch"), as
    ``{(split, metric): Series}``, sorted by x (stable), points without an x dropped; built with
    one pass over the curves' numpy columns (curves in order of first appearance)."""
    splits, si = np.unique(curves.split, return_inverse=True)
    metrics, mi = np.unique(curves.metric, return_inverse=True)
    code = si.reshape(-1) * len(metrics) + mi.reshape(-1)
    rows = np.argsort(code, kind="stable")  # rows grouped by curve, file order kept inside a curve
    bounds = np.flatnonzero(np.diff(code[rows])) + 1
    groups = sorted(np.split(rows, bounds), key=lambda g: g[0]) if rows.size else []
    xcol = curves.step if by == "step" else curves.epoch
    out = {}
    for g in groups:
        x = xcol[g]
        order = np.argsort(x, kind="stable")
        order = g[order[np.isfinite(x[order])]]
        if order.size:
            split, metric = str(curves.split[g[0]]), str(curves.metric[g[0]])
            out[(split, metric)] = Series(metric, xcol[order], curves.value[order], curves.step[order],
                                          curves.epoch[order], lower_is_better(metric))
    return out


def _summed_loss(index: dict, split: str, names: list[str]) -> Series | None:
    """The total of component losses logged separately (YOLO's box/cls/dfl losses, multi-task
    heads), summed at the x-values where all of them are logged."""
    parts = [index.get((split, m)) for m in names]
    if any(p is None for p in parts):
        return None
    x = parts[0].x
    for p in parts[1:]:
        x = np.intersect1d(x, p.x)
    if x.size < 2:
        return None
    total = sum(np.interp(x, p.x, p.v) for p in parts)
    first = parts[0]
    idx = np.searchsorted(first.x, x)
    return Series("loss", x, total, first.step[idx], first.epoch[idx], True)


def _declared_metric(curves: Curves, override: str | None) -> str | None:
    """metric_for_best_model: given, in meta, or inferred from best_metric matching an eval
    value exactly (Hugging Face does not store the argument in trainer_state.json)."""
    if override or curves.meta.get("metric_for_best_model"):
        return override or curves.meta["metric_for_best_model"]
    best = curves.meta.get("best_metric")
    if isinstance(best, (int, float)) and not isinstance(best, bool):
        val = curves.split == "val"
        hit = np.flatnonzero(val & np.isclose(curves.value, best, rtol=1e-9, atol=0))
        if hit.size:
            return str(curves.metric[hit[0]])
    return None


def task_metric_name(val_metrics: list[str]) -> str | None:
    """The preferred task metric among validation metric names (not a loss, not bookkeeping)."""
    cands = [m for m in val_metrics if "loss" not in m and not _NOT_TASK.search(m)]
    for pref in _TASK_PREFERENCE:
        if pref in cands:
            return pref
    return cands[0] if cands else None


def _train_at(tr: Series, x: np.ndarray, n_eval: int) -> np.ndarray | None:
    ok = np.isfinite(tr.v)
    if ok.sum() < 2:
        return None
    v, tx = tr.v[ok], tr.x[ok]
    # odd window: the training points per evaluation, and at least 5 % of the run
    w = int(np.clip(round(max(ok.sum() / max(n_eval, 1), ok.sum() / 20)), 1, 51)) | 1
    if w == 1 or v.size < w:
        return np.interp(x, tx, v)
    # the running median is only needed at the training points that bracket an evaluation
    hi = np.clip(np.searchsorted(tx, x), 0, v.size - 1)
    need = np.unique(np.r_[hi, np.clip(hi - 1, 0, v.size - 1)])
    h = w // 2
    padded = np.r_[np.full(h, v[0]), v, np.full(h, v[-1])]
    smooth = np.median(padded[need[:, None] + np.arange(w)], axis=1)
    return np.interp(x, tx[need], smooth)


def prepare(curves: Curves, metric_for_best_model: str | None = None) -> RunView:
    """Build the :class:`RunView` of a run.

    Raises
    ------
    DiagnosisError
        Neither an evaluation curve nor a training loss with at least 2 points.
    """
    val = curves.metrics("val")
    losses = [m for m in val if "loss" in m]
    primary = "loss" if "loss" in val else (losses[0] if losses else None)
    task = task_metric_name(val) or (None if primary else next(iter(val), None))  # else the only curve there is
    anchor = primary or task
    if anchor:
        anchor_steps = curves.step[curves.mask("val", anchor)]
    elif "loss" in curves.metrics("train"):
        anchor_steps = curves.step[curves.mask("train", "loss")]
    else:
        raise DiagnosisError(f"{curves.source}: no curve to diagnose: a diagnosis needs an evaluation curve or a "
                             "training loss.")
    by = "step" if anchor_steps.size and not np.isnan(anchor_steps).any() else "epoch"
    index = all_series(curves, by)
    ev = index.get(("val", primary)) if primary else None
    tr = index.get(("train", "loss"))
    if primary != "loss" and len(losses) >= 2:  # component losses only: judge their total
        ev = _summed_loss(index, "val", losses) or ev
        if tr is None and set(losses) <= set(curves.metrics("train")):
            tr = _summed_loss(index, "train", losses)
    tm = index.get(("val", task)) if task else None
    if (ev is None or len(ev.v) < 2) and (tr is None or len(tr.v) < 2) and (tm is None or len(tm.v) < 2):
        raise DiagnosisError(f"{curves.source}: only one point per curve; a diagnosis needs at least 2 "
                             "(non-finite values count: they are evidence of divergence).")
    declared = _declared_metric(curves, metric_for_best_model)
    explicit = _canon(metric_for_best_model or curves.meta.get("metric_for_best_model"))
    if explicit and index.get(("val", explicit)) is not None:
        sel, chosen_by = index[("val", explicit)], "declared metric_for_best_model"
    elif tm is not None:
        sel, chosen_by = tm, "task metric"
    elif ev is not None:
        sel, chosen_by = ev, "evaluation loss"
    else:
        sel, chosen_by = tr, "training loss (no evaluation curve)"
    lr_name = next((m for (split, m) in sorted(index) if split == "train"
                    and (m in ("lr", "learning_rate") or m.startswith("lr_"))), None)  # lr, lr_adam, lr_pg0, ...
    run = RunView(curves, by, ev, tr, tm, sel, chosen_by, declared=_canon(declared),
                  train_acc=index.get(("train", "accuracy")), lr=index.get(("train", lr_name)), series=index)
    if ev is not None and tr is not None:
        run.train_at_eval = _train_at(tr, ev.x, len(ev.x))
    return run
