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
    at_chance_level, detrended_noise, divergence, flat_tail, frozen_fraction, is_frozen, material_rise, oscillation,
    plateau, robust_level, tail_trend, training_progress, up_successive_strips,
)
from .context import DiagnosisThresholds, Finding, RunView, Series

_LR_ADVICE = "Lower the learning rate, add warm-up and gradient clipping (in mixed precision, check the loss scaler)."


def _g(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.4g}"


def _label(s: Series, run: RunView) -> str:
    split = "training" if s is run.train_loss or s is run.train_acc else "validation"
    return f"{split} {s.name}"


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


def _material_rise(run: RunView, th: DiagnosisThresholds) -> dict | None:
    ev = run.eval_loss
    if ev is None or ev.finite() < th.min_evals:
        return None
    return material_rise(ev.v, th.material_k, th.rel_floor)


def _train_after(run: RunView, i: int, th: DiagnosisThresholds) -> dict:
    """Training loss (running median at the evaluations) at the onset and at the end, whether it
    rose materially in between (against the noise of the logged training loss, and by at least
    half the validation loss's rise), and the generalization gap (validation minus training
    loss) at the end."""
    t = run.train_at_eval
    if t is None:
        return dict(train_at_onset=None, train_final=None, train_rising=False, gap_final=None)
    noise = run.train_loss.noise  # of the logged points: a smoothed, interpolated curve would understate it
    thr = max(th.material_k * (noise if np.isfinite(noise) else 0.0), th.rel_floor * abs(t[i]))
    e_end, t_end = robust_level(run.eval_loss.v, "end", 2), robust_level(t, "end", 2)
    # "rising" only when the training loss rises materially *and* by at least half as much as the
    # validation loss: a small rise of a low training loss under a validation loss that shoots up
    # is still a widening generalization gap
    rise_t, rise_e = t_end - t[i], e_end - run.eval_loss.v[i]
    return dict(train_at_onset=float(t[i]), train_final=float(t[-1]), gap_final=float(e_end - t_end),
                train_rising=bool(rise_t > thr and rise_t >= 0.5 * rise_e))


def _prechelt(run: RunView, r: dict) -> dict:
    v = run.eval_loss.v
    strip = max(2, min(5, len(v) // 3))
    pk = training_progress(run.train_at_eval, strip)[-1] if run.train_at_eval is not None and len(v) >= strip \
        else np.nan
    pq = r["gl_percent"] / pk if np.isfinite(pk) and pk > 0 else np.nan
    return dict(gl_percent=r["gl_percent"], pq=pq, up_rises=up_successive_strips(v, strip), strip=strip)


def check_overfitting(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``overfitting``: the evaluation loss rises materially above its minimum and stays there
    (:func:`~overfit_forecast.criteria.material_rise`: the last 2 evaluations more than
    ``material_k`` x noise above it -- the minimum being the lowest running median of 3, so a
    single dip does not count -- or a trend ``material_k`` standard errors up that ends
    ``material_k`` x noise above it) while the training loss falls or stays low: it does not rise
    materially, and it ends below the validation loss by more than the rise threshold (a
    generalization gap; a validation loss wandering at the training loss's level is noise)."""
    r = _material_rise(run, th)
    if not r or not r["material"]:
        return []
    i = r["min_index"]
    tr = _train_after(run, i, th)
    if tr["train_rising"] or (tr["gap_final"] is not None and not tr["gap_final"] > r["threshold"]):
        return []
    ev = run.eval_loss
    evidence = dict(onset_x=ev.x[i], onset_step=ev.step[i], onset_epoch=ev.epoch[i], eval_loss_min=r["minimum"],
                    eval_loss_final=ev.v[-1], rise=r["rise"], noise=r["noise"], threshold=r["threshold"],
                    rise_in_noise_units=r["rise"] / r["noise"] if r["noise"] else None, sustained_trend=r["sustained"],
                    train_loss_at_onset=tr["train_at_onset"], train_loss_final=tr["train_final"], **_prechelt(run, r))
    train_txt = (f" while training loss goes {_g(tr['train_at_onset'])} -> {_g(tr['train_final'])}"
                 if tr["train_at_onset"] is not None else " (no training loss logged)")
    msg = (f"Overfitting: validation loss is lowest at {run.by} {ev.x[i]:g} ({_g(r['minimum'])}) and ends "
           f"{_g(r['rise'])} above it over its last 2 evaluations (GL = {_g(r['gl_percent'])} %; "
           f"{_g(evidence['rise_in_noise_units'])}x "
           f"the evaluation noise {_g(r['noise'])}){train_txt}.")
    return [Finding("overfitting", "warning", msg, evidence,
                    f"Keep the checkpoint from around {run.by} {ev.x[i]:g} (see best checkpoint), stop earlier "
                    "(early stopping), or regularize: more data or augmentation, weight decay, dropout.")]


def check_overconfidence(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``overconfidence`` (a qualifier of ``overfitting``): the task metric still improves by more
    than its noise after the evaluation-loss minimum."""
    tm = run.task
    if tm is None or tm.finite() < 3 or not check_overfitting(run, th):
        return []
    r = _material_rise(run, th)
    x_on = run.eval_loss.x[r["min_index"]]
    ok = np.isfinite(tm.v)
    at_onset = float(np.interp(x_on, tm.x[ok], tm.v[ok]))
    final = robust_level(tm.v, "end", 2)
    gain = (at_onset - final) if tm.lower else (final - at_onset)
    noise = tm.noise if np.isfinite(tm.noise) else 0.0
    if not gain > noise:
        return []
    ev = dict(metric=tm.name, at_loss_minimum=at_onset, final=final, gain=gain, noise=noise)
    return [Finding("overconfidence", "warning",
                    f"Over-confident as well as overfitting: validation {tm.name} still improves after the loss "
                    f"minimum ({_g(at_onset)} -> {_g(final)}, more than its noise {_g(noise)}): the model grows "
                    "over-confident on the examples it gets wrong while its decisions still improve.", ev,
                    f"Choose the checkpoint by {tm.name} (metric_for_best_model), not by the loss; label "
                    "smoothing or temperature scaling address the over-confidence itself.")]


def check_degrading(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``degrading``: the evaluation loss rises materially but the training loss rises too: an
    optimization problem, not overfitting."""
    r = _material_rise(run, th)
    if not r or not r["material"]:
        return []
    tr = _train_after(run, r["min_index"], th)
    if not tr["train_rising"]:
        return []
    x = run.eval_loss.x[r["min_index"]]
    return [Finding("degrading", "warning",
                    f"Degrading: validation loss rises after {run.by} {x:g} (GL = {_g(r['gl_percent'])} %) but "
                    f"training loss rises too ({_g(tr['train_at_onset'])} -> {_g(tr['train_final'])}): an "
                    "optimization problem, not overfitting.", dict(onset_x=x, rise=r["rise"], **tr), _LR_ADVICE)]


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
    # one value per x (the last logged there): a checkpoint evaluated again at the same step or
    # epoch (a final evaluate()) is not a later evaluation
    one = np.r_[s.x[1:] != s.x[:-1], True]
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
    """``eval_below_train`` / ``loss_scale_mismatch``: the training loss is at least
    ``leakage_ratio`` x the evaluation loss at 90 % of the evaluations (the evaluation loss stays
    well below the training loss: overlap of the sets, or regularization only active in
    training); with a median ratio of ``loss_scale_ratio`` or more, rather a logging-scale
    artifact."""
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
        return [Finding("eval_below_train", "warning",
                        f"Evaluation loss stays well below training loss: the training loss is at least "
                        f"{th.leakage_ratio:g}x it at {above:.0%} of the evaluations (median {med:.2f}x).", evidence,
                        "Check the evaluation set for overlap with the training set (duplicates, leaked labels); "
                        "dropout or augmentation active only in training explain smaller gaps.")]
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


def check_generalization_gap(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``generalization_gap``: at the end the evaluation loss is at least ``gap_ratio`` x the
    training loss and no longer improves (its last ``tail_fraction`` improves on the best before
    by no more than ``plateau_k`` x noise, :func:`~overfit_forecast.criteria.plateau`)."""
    ev, t = run.eval_loss, run.train_at_eval
    if ev is None or t is None or ev.finite() < 6:
        return []
    e_end, t_end = robust_level(ev.v, "end"), robust_level(t, "end")
    p = plateau(ev.v, "min", th.tail_fraction, th.plateau_k, th.plateau_rel)
    if not (t_end > 0 and e_end / t_end >= th.gap_ratio and not p["improvement"] > th.plateau_k * p["noise"]):
        return []
    evidence = dict(eval_loss_end=e_end, train_loss_end=t_end, loss_gap=e_end - t_end, ratio=e_end / t_end)
    txt = ""
    if run.train_acc is not None and run.task is not None and run.task.name == "accuracy":
        a_tr, a_ev = robust_level(run.train_acc.v, "end"), robust_level(run.task.v, "end")
        evidence.update(train_accuracy_end=a_tr, eval_accuracy_end=a_ev)
        txt = f"; accuracy {_g(a_tr)} vs {_g(a_ev)}"
    return [Finding("generalization_gap", "warning",
                    f"Large generalization gap: validation loss {_g(e_end)} is {e_end / t_end:.1f}x the training loss "
                    f"{_g(t_end)} at the end (gap {_g(e_end - t_end)}){txt}, and it no longer improves: the model fits "
                    "its training set far better than unseen data.", evidence,
                    "More data or augmentation, stronger regularization (weight decay, dropout), a smaller model; "
                    "more epochs will not help.")]


def check_underfitting(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``underfitting``: the training loss no longer improves (beyond ``plateau_k`` x noise over
    the last ``tail_fraction``) with training accuracy below ``underfit_train_acc``."""
    tr, ta = run.train_loss, run.train_acc
    if tr is None or ta is None or tr.finite() < 6 or not ta.finite():
        return []
    acc = robust_level(ta.v, "end")
    p = plateau(tr.v, "min", th.tail_fraction, th.plateau_k, th.plateau_rel)
    if not (not p["improvement"] > th.plateau_k * p["noise"] and acc < th.underfit_train_acc):
        return []
    return [Finding("underfitting", "warning",
                    f"Underfitting: training loss has stopped improving with training accuracy {_g(acc)} "
                    f"< {th.underfit_train_acc:g}: the model does not fit its own training set.",
                    dict(train_accuracy_end=acc, train_loss_improvement_tail=p["improvement"]),
                    "Make the model fit its training set first: larger model, less regularization, tune the "
                    "learning rate.")]


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
