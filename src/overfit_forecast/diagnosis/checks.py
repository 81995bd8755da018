"""Checks on the shape of a run's curves: one small function per check, each returning a list of
:class:`~overfit_forecast.diagnosis.context.Finding` (empty when the check does not fire).

Every "material" change is judged against the evaluation noise
(:func:`overfit_forecast.criteria.noise_scale`: the median absolute change between successive
evaluations, with a smooth trend removed when that makes it smaller); every curve predicate is a
function of :mod:`overfit_forecast.criteria`.
Which findings silence which is decided by :func:`overfit_forecast.diagnosis.diagnose`.
"""

from __future__ import annotations

import numpy as np

from ..criteria import (
    at_chance_level, detrended_noise, divergence, flat_tail, frozen_fraction, is_frozen, material_rise, one_per_x,
    oscillation, plateau, robust_level, tail_trend, training_progress, up_successive_strips,
)
from .context import LR_ADVICE as _LR_ADVICE
from .context import DiagnosisThresholds, Finding, RunView, Series
from .context import curve_label as _label
from .context import fmt as _g
from .fit_checks import (
    check_degrading, check_generalization_gap, check_overconfidence, check_overfitting, check_underfitting,
)

def check_diverged(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``diverged``: the training loss becomes NaN/inf, or ends above ``divergence_factor`` x its
    early level (:func:`~overfit_forecast.criteria.divergence`). Without a training loss only a
    non-finite evaluation loss counts (a rising evaluation loss alone is not divergence)."""
    s = run.train_loss if run.train_loss is not None and len(run.train_loss.v) >= 2 else None
    if s is None and run.eval_loss is not None and not np.isfinite(run.eval_loss.v).all():
        s = run.eval_loss
    if s is None:
        return []
    d = divergence(s.v, th.divergence_factor)
    if not d["diverged"]:
        return []
    ev = dict(curve=_label(s, run), start_level=d["start_level"], end_level=d["end_level"], ratio=d["ratio"])
    if d["nonfinite_index"] is not None:
        i = d["nonfinite_index"]
        ev.update(first_nonfinite_x=s.x[i], first_nonfinite_value=str(s.v[i]))
        msg = f"Diverged: {_label(s, run)} becomes {s.v[i]} at {run.by} {s.x[i]:g}."
    else:
        msg = (f"Diverged: {_label(s, run)} ends at {_g(d['end_level'])}, {d['ratio']:.1f}x its early level "
               f"{_g(d['start_level'])} (medians of the first and last points), and does not come back.")
    return [Finding("diverged", "error", msg, ev, _LR_ADVICE)]


def check_frozen(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``frozen``: the training loss, or every evaluation curve, repeats the same value for at
    least ``frozen_fraction`` of successive points."""
    val = [s for (split, _), s in run.series.items() if split == "val" and s.finite() >= 4]
    if run.train_loss is not None and is_frozen(run.train_loss.v, th.frozen_fraction):
        s = run.train_loss
    elif val and all(is_frozen(s.v, th.frozen_fraction, ignore_zero=False) for s in val):
        s = run.eval_loss or val[0]
    else:
        return []
    vals, counts = np.unique(s.v[np.isfinite(s.v)], return_counts=True)
    ev = dict(curve=_label(s, run), repeated_fraction=frozen_fraction(s.v), most_common_value=vals[counts.argmax()],
              points=len(s.v))
    return [Finding("frozen", "error",
                    f"Frozen: {_label(s, run)} repeats the same value at {frozen_fraction(s.v):.0%} of successive "
                    f"points (most often {_g(vals[counts.argmax()])}): the model is not being updated, or the "
                    "logged value is stale.", ev,
                    "Check that the optimizer steps: learning rate > 0, parameters require grad and are in the "
                    "optimizer, gradients are not zeroed after backward, and the logged variable is the current loss.")]


def check_chance_level(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``chance_level``: training and evaluation loss never improve by more than
    ``chance_max_improvement`` and sit at ln C for C classes, or the validation accuracy never
    improves from a low level (the class prior) (:func:`~overfit_forecast.criteria.at_chance_level`)."""
    s = run.train_loss if run.train_loss is not None and run.train_loss.finite() >= 3 else run.eval_loss
    if s is None or s.finite() < 3:
        return []
    acc = run.task.v if run.task is not None and run.task.name == "accuracy" else None
    n_classes = run.meta.get("num_classes") or run.meta.get("num_labels")
    c = at_chance_level(s.v, acc, n_classes, th.chance_max_improvement, th.chance_tol)
    if not c["chance"]:
        return []
    if run.eval_loss is not None and s is not run.eval_loss and run.eval_loss.finite() >= 2:
        ce = at_chance_level(run.eval_loss.v, acc, c["n_classes"], th.chance_max_improvement, th.chance_tol)
        if not ce["chance"]:
            return []
    ev = dict(curve=_label(s, run), basis=c["basis"], loss_level=c["level"], n_classes=c["n_classes"],
              ln_c=c["ln_c"], improvement=c["improvement"], accuracy_final=c["accuracy"])
    if c["basis"] == "ln_c":
        acc_txt = f", accuracy {_g(c['accuracy'])} ~ 1/{c['n_classes']}" if acc is not None else ""
        what = (f"{_label(s, run)} stays at {_g(c['level'])} ~ ln {c['n_classes']} = {c['ln_c']:.3f} (the loss of a "
                f"uniform guess over {c['n_classes']} classes){acc_txt}")
    else:
        what = (f"{_label(s, run)} stays at {_g(c['level'])} and validation accuracy at {_g(c['accuracy'])} without "
                "improving (the model predicts the class prior)")
    return [Finding("chance_level", "error",
                    f"At chance level: {what}; the loss never improves by more than {th.chance_max_improvement:.0%}: "
                    "the run never learned.", ev,
                    "Check the labels and the input pipeline (shuffled labels, wrong targets, constant inputs), "
                    "then the learning rate (too high or too low by orders of magnitude) and the loss/output layer "
                    "pairing. Training longer will not help.")]


def _progress_curve(run: RunView) -> Series | None:
    return run.eval_loss if run.eval_loss is not None else run.task if run.task is not None else run.train_loss


def check_plateau(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``plateau``: the evaluation loss (the training loss when the log has no evaluation at all)
    changes by no more than ``plateau_k`` x noise and ``plateau_rel`` of its level over the last
    ``tail_fraction`` of the run (:func:`~overfit_forecast.criteria.plateau`), and the tail has
    no material trend either way (:func:`~overfit_forecast.criteria.flat_tail`, same thresholds:
    a tail trending up is degradation or overfitting in the making, one trending down is still
    improving; neither is a plateau)."""
    s = run.eval_loss if run.eval_loss is not None else run.train_loss if run.task is None else None
    if s is None:
        return []
    one = one_per_x(s.x, "last")  # a checkpoint evaluated again at the same x is not a later evaluation
    x, v = s.x[one], s.v[one]
    p = plateau(v, s.mode, th.tail_fraction, th.plateau_k, th.plateau_rel)
    if not p["plateau"]:
        return []
    if not flat_tail(v, x, th.tail_fraction, th.plateau_k, th.plateau_rel):
        return []
    x0 = x[np.flatnonzero(np.isfinite(v))[p["tail_start"]]]
    return [Finding("plateau", "warning",
                    f"Plateau: {_label(s, run)} changes by {_g(p['improvement'])} ({p['relative']:.1%}) over the last "
                    f"{th.tail_fraction:.0%} of the run (from {run.by} {x0:g}), within {th.plateau_k:g}x its noise "
                    f"{_g(p['noise'])}: that compute bought nothing.",
                    dict(curve=_label(s, run), improvement=p["improvement"], relative=p["relative"], noise=p["noise"],
                         tail_from_x=x0),
                    "Stop earlier (early stopping with min_delta about the noise), or change what limits the run: "
                    "learning-rate decay, capacity, data.")]


def check_still_improving(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``still_improving``: the least-squares trend of the evaluation loss (task metric, training
    loss when none) over the last ``tail_fraction`` improves by more than ``improving_k`` x noise
    (:func:`~overfit_forecast.criteria.tail_trend`)."""
    s = _progress_curve(run)
    if s is None or s.finite() < 4:
        return []
    t = tail_trend(s.v, s.x, th.tail_fraction)
    better = -t["ratio"] if s.lower else t["ratio"]
    if not (np.isfinite(better) and better > th.improving_k):
        return []
    return [Finding("still_improving", "info",
                    f"Still improving: the trend of {_label(s, run)} over the last {th.tail_fraction:.0%} of the run "
                    f"changes it by {_g(t['change'])} ({better:.1f}x its noise {_g(t['noise'])}): the run ended while "
                    "still learning.", dict(curve=_label(s, run), **t),
                    "Train longer (keep evaluating and keep the best checkpoint).")]


def check_unstable(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``unstable``: the evaluation loss (task metric when none) oscillates around its trend: at
    least 2 swings (local extrema that jump by more than ``unstable_rel`` of the level and come
    back, :func:`~overfit_forecast.criteria.oscillation`), at ``unstable_fraction`` of the points."""
    s = run.eval_loss if run.eval_loss is not None else run.task
    if s is None:
        return []
    o = oscillation(s.v, th.unstable_rel)
    if not (o["excursions"] >= 2 and o["fraction"] >= th.unstable_fraction):
        return []
    return [Finding("unstable", "warning",
                    f"Unstable: {_label(s, run)} swings by more than {th.unstable_rel:.0%} of its level and back at "
                    f"{o['excursions']} of {o['points']} evaluations (largest {o['max_relative']:.0%}).",
                    dict(curve=_label(s, run), **o),
                    "Lower the learning rate or raise the batch size; if the validation set is small, evaluate on "
                    "more examples.")]


def check_loss_ratio(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``eval_below_train`` (info) / ``loss_scale_mismatch``: the training loss is at least
    ``leakage_ratio`` x the evaluation loss at 90 % of the evaluations. The Keras FAQ ("Why is my
    training loss much higher than my testing loss?") gives the usual causes -- regularization
    active only in training, and a training loss averaged over an epoch in which the model
    improves -- so this is an observation, not a leakage claim (:func:`check_leakage_signal`
    makes that claim); with a median ratio of ``loss_scale_ratio`` or more, more than those
    causes explain: rather a logging-scale artifact (``warning``)."""
    ev, t = run.eval_loss, run.train_at_eval
    if ev is None or t is None:
        return []
    ok = np.isfinite(ev.v) & (ev.v > 0) & np.isfinite(t)
    if ok.sum() < 3:
        return []
    ratio = t[ok] / ev.v[ok]
    above, med = float(np.mean(ratio >= th.leakage_ratio)), float(np.median(ratio))
    evidence = dict(median_train_eval_ratio=med, fraction_of_evaluations=above)
    if above >= 0.9 and med >= th.loss_scale_ratio:
        return [Finding("loss_scale_mismatch", "warning",
                        f"Training loss is {med:.1f}x the evaluation loss (median over the run): more than "
                        "regularization explains; most likely the two are logged on different scales (summed vs "
                        "averaged, or multiplied by the gradient-accumulation steps).", evidence,
                        "Check how the training loss is logged (reduction, gradient accumulation); if the scales "
                        "match, check the evaluation set for overlap with the training set.")]
    if above >= 0.9:
        return [Finding("eval_below_train", "info",
                        f"Evaluation loss stays below training loss: the training loss is at least "
                        f"{th.leakage_ratio:g}x it at {above:.0%} of the evaluations (median {med:.2f}x). Usual with "
                        "dropout, weight penalties or augmentation (active only in training) and with a training "
                        "loss averaged over the epoch while the model improves; not by itself a sign of leakage.",
                        evidence,
                        "To tell regularization from overlap, evaluate the final model on (a sample of) the training "
                        "set in evaluation mode: if that loss is also far above the evaluation loss, check the "
                        "evaluation set for duplicates of training examples.")]
    return []


def check_leakage_signal(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``leakage_signal``: too easy to be true: at the first evaluation, in the first half of the
    run, the evaluation loss is already within ``[0, 5 x near_zero_loss]`` and the training loss
    (running median) within ``[0, near_zero_loss]``, having fallen there from a first logged
    value more than 10 times higher (so a loss whose scale is simply small does not count)."""
    ev, t, tr = run.eval_loss, run.train_at_eval, run.train_loss
    if ev is None or t is None or not np.isfinite(ev.v[0]) or len(ev.x) < 2:
        return []
    x0, span = ev.x[0], max(float(ev.x[-1]), float(tr.x[-1]))
    first_train = tr.v[np.isfinite(tr.v)][0]
    if not (0 <= ev.v[0] <= 5 * th.near_zero_loss and 0 <= t[0] <= th.near_zero_loss and x0 <= 0.5 * span
            and first_train > 10 * t[0]):
        return []
    return [Finding("leakage_signal", "warning",
                    f"Too easy to be true: at the first evaluation ({run.by} {x0:g}, {x0 / span:.0%} into the run) the "
                    f"evaluation loss is already {_g(ev.v[0])} and the training loss {_g(t[0])}.",
                    dict(first_eval_x=x0, eval_loss_first=ev.v[0], train_loss_at_first_eval=t[0]),
                    "Check the data for train/evaluation overlap (duplicates across splits) and for features that "
                    "leak the label.")]


def check_eval_noise(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``eval_noise_high``: the selection metric's noise with its trend removed
    (:func:`~overfit_forecast.criteria.detrended_noise`) is at least 2 % of its level and its
    tail has no material trend (less than ``material_k`` x that noise): which of the late
    checkpoints is best is decided by noise."""
    s = run.select
    if s.finite() < 6 or s is run.train_loss:
        return []
    noise = detrended_noise(s.v)
    level = abs(robust_level(s.v, "end", max(3, s.finite() // 3)))
    t = tail_trend(s.v, s.x, th.tail_fraction)
    if not (level > 0 and noise >= 0.02 * level and abs(t["change"]) < th.material_k * noise):
        return []
    return [Finding("eval_noise_high", "info",
                    f"Evaluation noise too large to rank checkpoints: {s.name} jitters by {_g(noise)} between "
                    f"evaluations ({noise / level:.0%} of its level) with no trend beyond that at the end.",
                    dict(metric=s.name, noise=noise, relative_noise=noise / level, tail_change=t["change"]),
                    "Evaluate on a larger validation set (or average several evaluations) before choosing a "
                    "checkpoint by it.")]


#: The curve-shape checks, in report order.
CURVE_CHECKS = (check_diverged, check_frozen, check_chance_level, check_overfitting, check_overconfidence,
                check_degrading, check_plateau, check_still_improving, check_unstable, check_loss_ratio, check_leakage_signal,
                check_generalization_gap, check_underfitting, check_eval_noise)
