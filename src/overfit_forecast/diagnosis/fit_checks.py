"""The fit checks: overfitting (with its over-confidence qualifier), degrading, the
generalization gap and underfitting -- the checks that compare the validation loss with the
training loss. Every "material" change is judged against the evaluation noise
(:func:`overfit_forecast.criteria.noise_scale`); the curve predicates live in
:mod:`overfit_forecast.criteria`. Composed with the other curve checks in
:data:`overfit_forecast.diagnosis.checks.CURVE_CHECKS`.
"""

from __future__ import annotations

import numpy as np

from ..criteria import material_rise, one_per_x, plateau, robust_level, training_progress, up_successive_strips
from .context import LR_ADVICE as _LR_ADVICE
from .context import DiagnosisThresholds, Finding, RunView
from .context import fmt as _g


def _material_rise(run: RunView, th: DiagnosisThresholds) -> dict | None:
    """:func:`material_rise` of the evaluation loss, one evaluation per x (the first logged there,
    :func:`~overfit_forecast.criteria.one_per_x`);
    ``min_index`` and ``keep`` index the full series."""
    ev = run.eval_loss
    if ev is None or ev.finite() < th.min_evals:
        return None
    keep = one_per_x(ev.x)
    r = material_rise(ev.v[keep], th.material_k, th.rel_floor)
    if r["min_index"] is not None:
        r["min_index"] = int(keep[r["min_index"]])
    return dict(r, keep=keep)


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
    keep = one_per_x(run.eval_loss.x)
    e_end, t_end = robust_level(run.eval_loss.v[keep], "end", 2), robust_level(t[keep], "end", 2)
    # "rising" only when the training loss rises materially *and* by at least half as much as the
    # validation loss: a small rise of a low training loss under a validation loss that shoots up
    # is still a widening generalization gap
    rise_t, rise_e = t_end - t[i], e_end - run.eval_loss.v[i]
    return dict(train_at_onset=float(t[i]), train_final=float(t[-1]), gap_final=float(e_end - t_end),
                train_rising=bool(rise_t > thr and rise_t >= 0.5 * rise_e))


def _prechelt(run: RunView, r: dict) -> dict:
    v, t = run.eval_loss.v[r["keep"]], run.train_at_eval
    strip = max(2, min(5, len(v) // 3))
    pk = training_progress(t[r["keep"]], strip)[-1] if t is not None and len(v) >= strip else np.nan
    pq = r["gl_percent"] / pk if np.isfinite(pk) and pk > 0 else np.nan
    return dict(gl_percent=r["gl_percent"], pq=pq, up_rises=up_successive_strips(v, strip), strip=strip)


def _corroborated(run: RunView, r: dict, tr: dict, th: DiagnosisThresholds) -> bool:
    """A rise too small to be material on the validation curve alone (more than
    ``corroborated`` x ``material_k`` x noise -- 2x by default -- and above ``rel_floor``), with
    each of the last 2 evaluations more than one noise above the minimum, counts as material
    when the training loss (positive) fell by at least ``train_fall`` of its level since the
    minimum: evidence from two curves -- the validation loss leaves its minimum while the
    training loss keeps falling, the generalization gap widening from both sides -- which a
    validation loss wandering within its noise under a flat training loss does not give."""
    t0, t1, noise = tr["train_at_onset"], tr["train_final"], r["noise"]
    if r["material"] or t0 is None or not noise or not (t0 > 0 and np.isfinite(t1)):
        return False
    last = run.eval_loss.v[r["keep"]][-2:]
    floor = max(th.corroborated * th.material_k * noise, th.rel_floor * abs(r["minimum"]))
    return bool(r["rise"] > floor and (last - r["minimum"]).min() > noise and t0 - t1 >= th.train_fall * t0)


def check_overfitting(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``overfitting``: the evaluation loss rises materially above its minimum and stays there
    (:func:`~overfit_forecast.criteria.material_rise`: the last 2 evaluations more than
    ``material_k`` x noise above it -- the minimum being the lowest running median of 3, so a
    single dip does not count -- or a trend ``material_k`` standard errors up that ends
    ``material_k`` x noise above it; or a smaller rise corroborated by the training loss,
    :func:`_corroborated`) while the training loss falls or stays low: it does not rise
    materially, and it ends below the validation loss by more than the rise threshold (a
    generalization gap; a validation loss wandering at the training loss's level is noise)."""
    r = _material_rise(run, th)
    if not r or r["min_index"] is None or not np.isfinite(r["rise"]):
        return []
    i = r["min_index"]
    tr = _train_after(run, i, th)
    corroborated = _corroborated(run, r, tr, th)
    if not (r["material"] or corroborated):
        return []
    if tr["train_rising"] or (tr["gap_final"] is not None and not tr["gap_final"] > r["threshold"]):
        return []
    ev = run.eval_loss
    evidence = dict(onset_x=ev.x[i], onset_step=ev.step[i], onset_epoch=ev.epoch[i], eval_loss_min=r["minimum"],
                    eval_loss_final=ev.v[r["keep"][-1]], rise=r["rise"], noise=r["noise"], threshold=r["threshold"],
                    rise_in_noise_units=r["rise"] / r["noise"] if r["noise"] else None, sustained_trend=r["sustained"],
                    corroborated_by_training_loss=corroborated,
                    train_loss_at_onset=tr["train_at_onset"], train_loss_final=tr["train_final"], **_prechelt(run, r))
    train_txt = (f" while training loss goes {_g(tr['train_at_onset'])} -> {_g(tr['train_final'])}"
                 if tr["train_at_onset"] is not None else " (no training loss logged)")
    msg = (f"Overfitting: validation loss is lowest at {run.by} {ev.x[i]:g} ({_g(r['minimum'])}) and ends "
           f"{_g(r['rise'])} above it over its last 2 evaluations (GL = {_g(r['gl_percent'])} %; "
           f"{_g(evidence['rise_in_noise_units'])}x "
           f"the evaluation noise {_g(r['noise'])}){train_txt}"
           + (" -- a smaller rise, corroborated by the training loss falling "
              f"{(tr['train_at_onset'] - tr['train_final']) / tr['train_at_onset']:.0%} since: the curves part."
              if corroborated else "."))
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
