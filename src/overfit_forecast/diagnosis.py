"""Diagnose one training run from its curves: overfitting onset, best checkpoint, steps past
best, underfitting, divergence, plateau, instability, step/epoch accounting, and what to do.

Input: a :class:`overfit_forecast.readers.Curves`. Output: a JSON-ready dict
(:func:`diagnose`), rendered by :func:`diagnosis_markdown` and :func:`plot_diagnosis`.

Conventions: the x-axis is the optimizer step when the log has steps, else epochs. "Loss"
is the validation loss; the "task metric" is the first other validation metric (accuracy,
F1, WER, ...), with lower-is-better for error-type names (:data:`LOWER_IS_BETTER`).
Prechelt's GL, PQ and UP are from L. Prechelt, "Early Stopping -- But When?" (1998), computed
on evaluation points (a strip is ``strip`` evaluations).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .criteria import generalization_loss, least_squares_slope, training_progress, up_successive_strips
from .readers import Curves

LOWER_IS_BETTER = ("loss", "wer", "cer", "error", "perplexity", "ppl", "mae", "mse", "rmse")


class DiagnosisError(ValueError):
    """The curves cannot support a diagnosis (no evaluation points, a single point, ...)."""


@dataclass(frozen=True)
class DiagnosisThresholds:
    """Thresholds of the diagnosis, with defaults."""

    gl_alpha: float = 5.0  # Prechelt GL_alpha (percent) above which validation loss "has risen"
    pq_alpha: float = 0.5  # Prechelt PQ_alpha
    up_strips: int = 3  # Prechelt UP_s: rises in this many successive strips
    strip: int = 5  # strip length in evaluations for P_k and UP (shortened to n_evals // 3, min 2)
    divergence_factor: float = 2.0  # loss above this x its first value -> diverged
    plateau_fraction: float = 0.3  # last fraction of the run judged for plateaus
    plateau_rel_change: float = 0.01  # < 1 % relative improvement over that part -> plateau
    fit_train_acc: float = 0.99  # training accuracy at which the run "fits its training set"
    underfit_train_acc: float = 0.90  # below this at a plateau -> underfit
    unstable_cv: float = 0.10  # std of relative val-loss changes above this -> unstable
    few_evals: int = 10  # fewer evaluations than this -> evaluate more often
    patiences: tuple = (1, 2, 3, 5, 10)  # early-stopping patiences (in evaluations) replayed


def _lower_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(m == x or m.endswith(x) or m.startswith(x) for x in LOWER_IS_BETTER)


def _best_index(values: np.ndarray, lower: bool) -> int:
    v = np.where(np.isfinite(values), values, np.inf if lower else -np.inf)
    return int(np.argmin(v) if lower else np.argmax(v))


def _num(x):
    if x is None:
        return None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def _task_metric(curves: Curves, declared: str | None) -> str | None:
    val = [m for m in curves.metrics("val") if m != "loss"]
    if declared:
        d = declared.lower().removeprefix("eval_").removeprefix("val_")
        d = {"acc": "accuracy"}.get(d, d)
        if d in val or d == "loss":
            return None if d == "loss" else d
    for pref in ("accuracy", "f1", "exact_match", "bleu", "rouge1", "wer", "cer", "matthews_correlation"):
        if pref in val:
            return pref
    return val[0] if val else None


def _declared_metric(curves: Curves, override: str | None) -> str | None:
    """metric_for_best_model: given, in meta, or inferred from best_metric matching an eval
    value exactly (Hugging Face does not store the argument in trainer_state.json)."""
    if override:
        return override
    if curves.meta.get("metric_for_best_model"):
        return curves.meta["metric_for_best_model"]
    best = curves.meta.get("best_metric")
    if isinstance(best, (int, float)):
        val = curves.table[curves.table.split == "val"]
        hit = val[np.isclose(val.value, best, rtol=1e-9, atol=0)]
        if len(hit):
            return str(hit.metric.iloc[0])
    return None


def _checkpoint_step(path) -> int | None:
    if not path:
        return None
    m = re.search(r"checkpoint-(\d+)", str(path))
    return int(m.group(1)) if m else None


def early_stopping_replay(values: np.ndarray, x: np.ndarray, patience: int, lower: bool = True,
                          start: int = 0) -> dict:
    """Replay Keras/Lightning-style early stopping on an evaluation curve.

    Stops at the first evaluation that is ``patience`` evaluations after the best so far
    with no improvement (strict). With ``start > 0`` the rule is switched on at index
    ``start`` (evaluations before it count towards the wait, so it may stop at ``start``).
    Returns ``stop_index``, ``stop_x``, ``best_index``, ``best_x`` (best up to the stop)
    and ``fraction_saved`` = (x_last - x_stop) / x_last (compute not spent, if x is steps or
    epochs from 0)."""
    values = np.asarray(values, float)
    head = values[: start + 1]
    best_i = _best_index(head, lower) if np.isfinite(head).any() else 0
    wait = start - best_i
    if wait >= patience:
        return _replay_result(x, patience, start, best_i)
    stop = len(values) - 1
    for i in range(start + 1, len(values)):
        v, b = values[i], values[best_i]
        better = np.isfinite(v) and (not np.isfinite(b) or (v < b if lower else v > b))
        if better:
            best_i, wait = i, 0
        else:
            wait += 1
            if wait >= patience:
                stop = i
                break
    return _replay_result(x, patience, stop, best_i)


def _replay_result(x, patience: int, stop: int, best_i: int) -> dict:
    last = float(x[-1])
    return dict(patience=patience, stop_index=stop, stop_x=_num(float(x[stop])), best_index=best_i,
                best_x=_num(float(x[best_i])),
                fraction_saved=_num((last - float(x[stop])) / last) if last > 0 else 0.0)


def diagnose(curves: Curves, metric_for_best_model: str | None = None,
             th: DiagnosisThresholds = DiagnosisThresholds()) -> dict:
    """Diagnose one run (see module docstring).

    Parameters
    ----------
    curves : Curves
        From :func:`overfit_forecast.readers.read_curves`.
    metric_for_best_model : str, optional
        Overrides the metric the run declares for its best checkpoint (``eval_accuracy``,
        ``loss``, ...).

    Returns
    -------
    dict
        Sections ``run``, ``validation``, ``best_checkpoint``, ``training_fit``,
        ``pathologies``, ``accounting``, ``early_stopping``, ``verdicts`` (one-line
        findings) and ``recommendations``.

    Raises
    ------
    DiagnosisError
        No validation loss or task metric, or fewer than 2 evaluation points.
    """
    val_metrics = curves.metrics("val")
    if not val_metrics:
        raise DiagnosisError(f"{curves.source}: the log has no evaluation points (no validation metrics): "
                             "overfitting cannot be judged without them. Evaluate during training "
                             "(e.g. eval_strategy='steps' in Hugging Face).")
    primary = "loss" if "loss" in val_metrics else val_metrics[0]
    vl = curves.series("val", primary)
    if len(vl) < 2 or vl.value.notna().sum() < 1:
        raise DiagnosisError(f"{curves.source}: only {int(vl.value.notna().sum())} evaluation point(s) of "
                             f"validation {primary}; a diagnosis needs at least 2 (non-finite values count: "
                             "they are evidence of divergence).")
    by = "step" if vl.step.notna().all() else "epoch"
    vl = curves.series("val", primary, by)
    x, v = vl.x.to_numpy(float), vl.value.to_numpy(float)
    tl = curves.series("train", "loss", by) if "loss" in curves.metrics("train") else None
    task = _task_metric(curves, metric_for_best_model or curves.meta.get("metric_for_best_model"))
    tm = curves.series("val", task, by) if task else None
    declared = _declared_metric(curves, metric_for_best_model)
    verdicts, recs = [], []
    lower_primary = _lower_is_better(primary)

    # --- validation trend, onset, Prechelt ---------------------------------------------
    gl = generalization_loss(v) if lower_primary else np.full(len(v), np.nan)
    i_min = _best_index(v, lower_primary)
    tail = slice(max(0, len(v) - max(3, len(v) // 3)), len(v))
    slope_tail = least_squares_slope(v[tail], x[tail])
    tr_at_eval = None
    if tl is not None and len(tl):
        tx, tv = tl.x.to_numpy(float), tl.value.to_numpy(float)
        ok = np.isfinite(tx) & np.isfinite(tv)
        if ok.sum() >= 2:
            tr_at_eval = np.interp(x, tx[ok], tv[ok])
    onset = None
    rising = lower_primary and np.isfinite(gl[-1]) and gl[-1] > th.gl_alpha and i_min < len(v) - 1
    train_falling = tr_at_eval is not None and tr_at_eval[-1] < tr_at_eval[i_min]
    if rising:
        onset = dict(index=i_min, x=_num(x[i_min]), step=_num(vl.step[i_min]), epoch=_num(vl.epoch[i_min]),
                     val_loss_at_onset=_num(v[i_min]), val_loss_final=_num(v[-1]),
                     train_loss_falling_after=bool(train_falling) if tr_at_eval is not None else None)
    strip = max(2, min(th.strip, len(v) // 3))
    pk = training_progress(tr_at_eval, strip) if tr_at_eval is not None and len(v) >= strip else None
    pq = None
    if pk is not None and np.isfinite(pk[-1]) and pk[-1] > 0 and np.isfinite(gl[-1]):
        pq = float(gl[-1] / pk[-1])
    up = up_successive_strips(v, strip) if lower_primary else None
    validation = dict(
        metric=primary, x_axis=by, evaluations=int(len(v)), first=_num(v[0]), min=_num(v[i_min]),
        final=_num(v[-1]), slope_last_third=_num(slope_tail), gl_final=_num(gl[-1]),
        gl_fires=bool(np.isfinite(gl[-1]) and gl[-1] > th.gl_alpha),
        pq_final=_num(pq), pq_fires=bool(pq is not None and pq > th.pq_alpha),
        up_rises=up, up_fires=bool(up is not None and up >= th.up_strips), strip=strip, onset=onset,
    )

    # --- task metric vs loss: overfitting or overconfidence ------------------------------
    task_info = None
    if tm is not None and tm.value.notna().sum() >= 2:
        tv_ = tm.value.to_numpy(float)
        lower_t = _lower_is_better(task)
        at_onset = np.interp(x[i_min], tm.x.to_numpy(float), tv_) if onset else None
        improving = (tv_[-1] < at_onset if lower_t else tv_[-1] > at_onset) if onset else None
        j = _best_index(tv_, lower_t)
        task_info = dict(metric=task, lower_is_better=lower_t, final=_num(tv_[-1]), best=_num(tv_[j]),
                         best_x=_num(tm.x[j]), at_loss_minimum=_num(at_onset),
                         improving_after_loss_minimum=improving)
    if onset and task_info and task_info["improving_after_loss_minimum"]:
        verdicts.append(
            f"Validation loss rises from {v[i_min]:.4g} at {by} {x[i_min]:g} to {v[-1]:.4g} (GL = {gl[-1]:.1f} %), "
            f"but validation {task} keeps improving ({task_info['at_loss_minimum']:.4g} -> {task_info['final']:.4g}): "
            "the model grows over-confident on the examples it gets wrong; accuracy is not lost. "
            "Choose the checkpoint by the task metric.")
        status = "overconfident"
    elif onset and (tr_at_eval is None or train_falling):
        verdicts.append(
            f"Overfitting: validation loss is lowest at {by} {x[i_min]:g} ({v[i_min]:.4g}) and rises to "
            f"{v[-1]:.4g} (GL = {gl[-1]:.1f} % > {th.gl_alpha:g}) while training loss keeps falling"
            + (f"; validation {task} also worsens ({task_info['at_loss_minimum']:.4g} -> {task_info['final']:.4g})"
               if task_info and task_info["improving_after_loss_minimum"] is False else "") + ".")
        status = "overfitting"
    elif onset:
        verdicts.append(f"Validation loss rises after {by} {x[i_min]:g} (GL = {gl[-1]:.1f} %) but training loss "
                        "rises too: an optimization problem, not overfitting.")
        status = "degrading"
    else:
        status = "no_overfitting"
        verdicts.append(f"No overfitting: validation {primary} at the end is within {th.gl_alpha:g} % of its "
                        f"best (GL = {gl[-1]:.2f} %)." if lower_primary and np.isfinite(gl[-1]) else
                        f"No rise of validation {primary} detected.")
    validation["status"] = status

    # --- best checkpoint --------------------------------------------------------------
    sel_metric = (declared or "").lower().removeprefix("eval_").removeprefix("val_") or None
    sel_metric = {"acc": "accuracy"}.get(sel_metric, sel_metric)
    if sel_metric and sel_metric in val_metrics:
        sel = curves.series("val", sel_metric, by)
        sel_source = "declared (metric_for_best_model)" if (metric_for_best_model or curves.meta.get(
            "metric_for_best_model")) else "inferred from best_metric"
    elif status == "overconfident" and task:
        sel_metric, sel, sel_source = task, tm, "task metric (validation loss is misleading here)"
    else:
        sel_metric, sel, sel_source = primary, vl, "validation loss (no metric declared)"
    sv, sx = sel.value.to_numpy(float), sel.x.to_numpy(float)
    lower_sel = _lower_is_better(sel_metric)
    jb = _best_index(sv, lower_sel)
    last_x = float(sx[-1])
    best = dict(metric=sel_metric, chosen_by=sel_source, x=_num(sx[jb]), step=_num(sel.step[jb]),
                epoch=_num(sel.epoch[jb]), value=_num(sv[jb]), final_value=_num(sv[-1]),
                evaluations_past_best=int(len(sv) - 1 - jb), x_past_best=_num(last_x - sx[jb]),
                fraction_of_run_past_best=_num((last_x - sx[jb]) / last_x) if last_x > 0 else 0.0)
    saved_step = _checkpoint_step(curves.meta.get("best_model_checkpoint"))
    if saved_step is not None or curves.meta.get("best_metric") is not None:
        agrees = saved_step is not None and by == "step" and np.isclose(saved_step, sx[jb])
        best["saved_best_checkpoint"] = curves.meta.get("best_model_checkpoint")
        best["saved_best_step"] = saved_step
        best["saved_best_metric"] = _num(curves.meta.get("best_metric"))
        best["saved_agrees_with_log"] = bool(agrees)
        if saved_step is not None and not agrees:
            verdicts.append(f"The saved best checkpoint (step {saved_step}) differs from the best evaluation in the "
                            f"log ({by} {sx[jb]:g}, {sel_metric} = {sv[jb]:.4g}): checkpoints are saved only every "
                            "save_steps, or the best was judged by another metric.")
    if best["evaluations_past_best"] > 0:
        verdicts.append(f"Best checkpoint by {sel_metric}: {by} {sx[jb]:g} ({sv[jb]:.4g}); the run went on "
                        f"{best['x_past_best']:g} {by}s ({best['evaluations_past_best']} evaluations, "
                        f"{best['fraction_of_run_past_best']:.0%} of the run) past it.")
    else:
        verdicts.append(f"Best checkpoint by {sel_metric} is the last evaluation ({by} {sx[jb]:g}): the run may "
                        "still be improving.")

    # --- training fit / underfitting --------------------------------------------------
    fit = dict(verdict=None, reason=None)
    ta = curves.series("train", "accuracy", by) if "accuracy" in curves.metrics("train") else None
    if tl is not None and tl.value.notna().sum() >= 3:
        t_v, t_x = tl.value.to_numpy(float), tl.x.to_numpy(float)
        finite = np.isfinite(t_v)
        n_tail = max(2, int(math.ceil(th.plateau_fraction * finite.sum())))
        tail_v = t_v[finite][-n_tail:]
        rel = (tail_v[0] - tail_v[-1]) / abs(tail_v[0]) if tail_v[0] else 0.0
        still_learning = rel > th.plateau_rel_change
        fit.update(train_loss_first=_num(t_v[finite][0]), train_loss_final=_num(t_v[finite][-1]),
                   relative_improvement_last_part=_num(rel), still_learning=bool(still_learning))
        plateau_x = None
        if not still_learning:
            best_so_far = np.minimum.accumulate(np.where(finite, t_v, np.inf))
            target = best_so_far[-1] * (1 + th.plateau_rel_change)
            k = int(np.argmax(best_so_far <= target))
            plateau_x = _num(t_x[k])
        fit["plateau_from"] = plateau_x
        tr_acc_final = float(ta.value.dropna().iloc[-1]) if ta is not None and ta.value.notna().any() else None
        fit["train_accuracy_final"] = _num(tr_acc_final)
        if tr_acc_final is not None and tr_acc_final >= th.fit_train_acc:
            fit.update(verdict="fits", reason=f"training accuracy {tr_acc_final:.4g} >= {th.fit_train_acc:g}: the "
                       "model can fit its own training set (capacity is sufficient).")
        elif still_learning:
            fit.update(verdict="still_learning", reason=f"training loss still fell {rel:.1%} over the last "
                       f"{th.plateau_fraction:.0%} of the run: it is under-trained, not under-parameterized; train longer.")
        elif tr_acc_final is not None and tr_acc_final < th.underfit_train_acc:
            fit.update(verdict="underfit", reason=f"training loss plateaued from {by} {plateau_x:g} with training "
                       f"accuracy {tr_acc_final:.4g} < {th.underfit_train_acc:g}: the model cannot fit its training set "
                       "(too small, too regularized, or the learning rate is off).")
        elif tr_acc_final is None and tr_at_eval is not None and t_v[finite][-1] >= 0.9 * np.nanmin(v):
            fit.update(verdict="underfit", reason=f"training loss plateaued at {t_v[finite][-1]:.4g} from {by} "
                       f"{plateau_x:g}, no lower than the validation loss ({np.nanmin(v):.4g}): the model does not fit "
                       "its training set better than unseen data.")
        else:
            fit.update(verdict="plateaued", reason=f"training loss plateaued at {t_v[finite][-1]:.4g} from {by} "
                       f"{plateau_x:g}.")
        verdicts.append(f"Training fit: {fit['verdict']} — {fit['reason']}")
    else:
        fit.update(verdict="unknown", reason="no training loss curve with at least 3 points")

    # --- pathologies ------------------------------------------------------------------
    path_ = {}
    all_loss = [s for s in (tl, vl) if s is not None]
    nonfinite = [f"{name} at {by} {float(s.x[~np.isfinite(s.value.to_numpy(float))].iloc[0]):g}"
                 for name, s in zip(("train loss", "validation loss"), all_loss)
                 if (~np.isfinite(s.value.to_numpy(float))).any()]
    blowup = None
    if tl is not None and tl.value.notna().sum() >= 2:
        t_v = tl.value.to_numpy(float)
        fin = t_v[np.isfinite(t_v)]
        if fin.size >= 2 and fin[0] > 0 and fin[1:].max() > th.divergence_factor * fin[0]:
            blowup = f"train loss rose to {fin[1:].max() / fin[0]:.1f}x its first value"
        elif fin.size >= 3 and fin[-1] >= fin[0]:
            blowup = f"train loss ended at {fin[-1]:.4g}, no lower than its first value {fin[0]:.4g} (collapsed)"
    path_["diverged"] = bool(nonfinite or blowup)
    path_["divergence_evidence"] = "; ".join(nonfinite + ([blowup] if blowup else [])) or None
    n_tail = max(2, int(math.ceil(th.plateau_fraction * len(v))))
    sel_tail = sv[-n_tail:]
    prior_best = sv[:-n_tail]
    if prior_best.size and np.isfinite(prior_best).any() and np.isfinite(sel_tail).any():
        ref = np.nanmin(prior_best) if lower_sel else np.nanmax(prior_best)
        improved = (np.nanmin(sel_tail) < ref * (1 - th.plateau_rel_change)) if lower_sel else \
            (np.nanmax(sel_tail) > ref * (1 + th.plateau_rel_change))
        path_["plateau"] = bool(not improved and status == "no_overfitting")
    else:
        path_["plateau"] = False
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_changes = np.diff(v) / np.abs(v[:-1])
    rel_changes = rel_changes[np.isfinite(rel_changes)]
    cv = float(np.std(rel_changes[len(rel_changes) // 2:])) if rel_changes.size >= 4 else None
    path_["unstable"] = bool(cv is not None and cv > th.unstable_cv)
    path_["instability_cv"] = _num(cv)
    if path_["diverged"]:
        verdicts.append(f"Diverged: {path_['divergence_evidence']}.")
    if path_["plateau"]:
        verdicts.append(f"Plateau: validation {sel_metric} did not improve by {th.plateau_rel_change:.0%} over the last "
                        f"{th.plateau_fraction:.0%} of evaluations.")
    if path_["unstable"]:
        verdicts.append(f"Unstable: validation loss changes by {cv:.0%} (std of relative change) between evaluations "
                        "in the second half.")

    # --- step / epoch accounting ------------------------------------------------------
    acc = accounting(curves)
    verdicts += acc.pop("verdicts")

    # --- early stopping replay and recommendations ------------------------------------
    es = [early_stopping_replay(sv, sx, p, lower_sel) for p in th.patiences]
    keeps_best = [e for e in es if e["best_index"] == jb]
    chosen = keeps_best[0] if keeps_best else es[-1]
    if best["evaluations_past_best"] > 0:
        ckpt = best.get("saved_best_checkpoint") if best.get("saved_agrees_with_log") else None
        recs.append(f"Use the checkpoint at {by} {sx[jb]:g} ({sel_metric} = {sv[jb]:.4g})"
                    + (f": {ckpt}." if ckpt else "; save checkpoints at every evaluation so that it exists."))
        if chosen["stop_index"] < len(sv) - 1:
            recs.append(f"Early stopping on {sel_metric} with patience {chosen['patience']} evaluation(s) would have "
                        f"stopped at {by} {chosen['stop_x']:g}, kept the same best checkpoint and saved "
                        f"{chosen['fraction_saved']:.0%} of the compute.")
    if len(v) < th.few_evals:
        recs.append(f"Evaluate more often: only {len(v)} evaluations; with >= {th.few_evals} the onset and the best "
                    "checkpoint are located more precisely.")
    if status == "overfitting":
        recs.append("Regularize: more data or augmentation, weight decay, dropout; or stop earlier.")
    if status == "overconfident":
        recs.append("Select checkpoints by the task metric (metric_for_best_model) rather than the loss; label "
                    "smoothing or temperature scaling address the over-confidence itself.")
    if path_["diverged"] or path_["unstable"]:
        recs.append("Lower the learning rate (or add warm-up and gradient clipping).")
    if fit["verdict"] == "underfit":
        recs.append("Make the model fit its training set first: larger model, less regularization, tune the "
                    "learning rate, train longer.")
    if fit["verdict"] == "still_learning" and status == "no_overfitting":
        recs.append("Train longer: training loss is still falling and validation has not turned.")
    return dict(
        run=dict(source=curves.source, format=curves.format, x_axis=by, last_x=_num(last_x),
                 train_metrics=curves.metrics("train"), val_metrics=val_metrics),
        validation=validation, task_metric=task_info, best_checkpoint=best, training_fit=fit,
        pathologies=path_, accounting=acc, early_stopping=es, verdicts=verdicts, recommendations=recs,
        thresholds=asdict(th),
    )


def accounting(curves: Curves) -> dict:
    """Step/epoch bookkeeping: steps per epoch implied by the log (global_step / epoch), its
    consistency across log entries, the fraction of the last epoch seen, and the examples
    per epoch implied by batch size x gradient accumulation when those are known."""
    t = curves.table.dropna(subset=["step", "epoch"])
    t = t[(t.step > 0) & (t.epoch > 0)].drop_duplicates(["step", "epoch"])
    out = dict(verdicts=[])
    if len(t) < 2:
        out["note"] = "the log does not carry both steps and epochs: no accounting"
        return out
    ratio = (t.step / t.epoch).to_numpy(float)
    spe = float(np.median(ratio))
    spread = float((ratio.max() - ratio.min()) / spe)
    gs = curves.meta.get("global_step", int(t.step.max()))
    ep = curves.meta.get("epoch", float(t.epoch.max()))
    monotone = bool((np.diff(t.sort_values("step").epoch.to_numpy()) >= -1e-9).all())
    out.update(steps_per_epoch=_num(spe), steps_per_epoch_spread=_num(spread), epoch_monotone=monotone,
               global_step=_num(gs), final_epoch=_num(ep), fraction_of_last_epoch=_num(ep - math.floor(ep)))
    bs = curves.meta.get("train_batch_size")
    ga = curves.meta.get("gradient_accumulation_steps", 1)
    if bs:
        out["examples_per_epoch_implied"] = _num(spe * bs * (ga or 1))
        out["verdicts"].append(f"Accounting: {spe:.1f} optimizer steps per epoch x batch {bs}"
                               + (f" x accumulation {ga}" if ga and ga != 1 else "")
                               + f" = ~{spe * bs * (ga or 1):,.0f} training examples per epoch.")
    if not monotone:
        out["verdicts"].append("Accounting: the epoch counter goes backwards: several runs share this log, "
                               "or training was resumed with a different configuration.")
    elif spread > 0.05:
        out["verdicts"].append(f"Accounting: steps per epoch vary by {spread:.0%} across the log (resumed run, "
                               "changed batch size or accumulation?).")
    frac = ep - math.floor(ep)
    if 0.01 < frac < 0.99:
        out["verdicts"].append(f"Accounting: the run stopped {frac:.0%} into epoch {math.floor(ep) + 1} "
                               f"(global step {gs}, epoch {ep:.3g}); max_steps, not num_train_epochs, ended it.")
    return out


def _r(x, digits=3):
    return "n/a" if x is None else f"{x:.{digits}g}"


def diagnosis_markdown(d: dict) -> str:
    """Human-readable report of :func:`diagnose`."""
    r, vd, b = d["run"], d["validation"], d["best_checkpoint"]
    lines = [f"# Training run diagnosis", "", f"- Source: `{r['source']}` ({r['format']}), x-axis: {r['x_axis']}, "
             f"{vd['evaluations']} evaluations.", f"- Status: **{vd['status']}**.", "", "## Findings", ""]
    lines += [f"- {v}" for v in d["verdicts"]]
    lines += ["", "## Prechelt criteria at the end", "",
              f"- GL = {_r(vd['gl_final'])} %" + (" (fires)" if vd["gl_fires"] else ""),
              f"- PQ = {_r(vd['pq_final'])}" + (" (fires)" if vd["pq_fires"] else ""),
              f"- UP: {vd['up_rises']} successive rises over strips of {vd['strip']} evaluations"
              + (" (fires)" if vd["up_fires"] else ""),
              "", "## Early stopping replay", "", "| patience | stops at | best kept at | compute saved |",
              "|---|---|---|---|"]
    for e in d["early_stopping"]:
        lines.append(f"| {e['patience']} | {e['stop_x']:g} | {e['best_x']:g} | {e['fraction_saved']:.0%} |")
    lines += ["", "## Recommendations", ""] + ([f"- {x}" for x in d["recommendations"]] or ["- Nothing to change."])
    return "\n".join(lines) + "\n"


def plot_diagnosis(curves: Curves, d: dict, axes=None):
    """Loss curves (and the task metric) with the overfitting onset and best checkpoint marked."""
    import matplotlib.pyplot as plt

    by = d["run"]["x_axis"]
    task = d["task_metric"]["metric"] if d.get("task_metric") else None
    if axes is None:
        _, axes = plt.subplots(1, 2 if task else 1, figsize=(7.5 if task else 5, 3.2), squeeze=False)
        axes = axes[0]
    ax = axes[0]
    for split in ("train", "val"):
        if "loss" in curves.metrics(split):
            s = curves.series(split, "loss", by)
            ax.plot(s.x, s.value, label=f"{split} loss", marker="." if split == "val" else None)
    ax.set(xlabel=by, ylabel="loss")
    if task and len(axes) > 1:
        for split in ("train", "val"):
            if task in curves.metrics(split):
                s = curves.series(split, task, by)
                axes[1].plot(s.x, s.value, label=f"{split} {task}", marker="." if split == "val" else None)
        axes[1].set(xlabel=by, ylabel=task)
    onset = d["validation"]["onset"]
    b = d["best_checkpoint"]
    for a in axes:
        if onset:
            a.axvline(onset["x"], c="tab:red", ls="--", lw=1, label="overfitting onset")
        a.axvline(b["x"], c="tab:green", ls=":", lw=1.5, label=f"best ({b['metric']})")
        a.legend(fontsize=7)
    ax.set_title(f"{d['validation']['status']}", fontsize=9, loc="left")
    return axes
