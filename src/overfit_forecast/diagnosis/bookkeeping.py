"""Checks on what a log says about the run's bookkeeping: evaluations, the best checkpoint and
the one saved, step/epoch counters, the learning-rate schedule. Each ``check_*`` returns a list
of :class:`~overfit_forecast.diagnosis.context.Finding`; :func:`best_checkpoint`,
:func:`early_stopping_table` and :func:`accounting` give the sections of the report."""

from __future__ import annotations

import math
import re

import numpy as np

from ..criteria import best_within_noise, early_stopping
from .context import DiagnosisThresholds, Finding, RunView, Series, num


def _checkpoint_step(path) -> int | None:
    m = re.search(r"checkpoint-(\d+)", str(path)) if path else None
    return int(m.group(1)) if m else None


def _best_index(s: Series) -> int:
    return best_within_noise(s.v, s.mode, 0.0)[0]


def best_checkpoint(run: RunView, th: DiagnosisThresholds | None = None) -> dict:
    """The checkpoint to keep: the best evaluation of the selection metric (``x``, ``value``),
    and the earliest evaluation equal to it within the evaluation noise
    (``earliest_within_noise_x``, :func:`~overfit_forecast.criteria.best_within_noise`: a
    cheaper checkpoint the log cannot tell apart from it); how far the run went past the best;
    and the checkpoint the log says was saved (Hugging Face ``best_model_checkpoint``) compared
    with the best evaluation of the metric it was judged by. x-values are in the run's x-axis
    unit."""
    if "best" not in run.cache:
        run.cache["best"] = _best_checkpoint(run)
    return run.cache["best"]


def _best_checkpoint(run: RunView) -> dict:
    s = run.select
    if not np.isfinite(s.v).any():
        return dict(metric=s.name, chosen_by=run.chosen_by, x=None, step=None, epoch=None, value=None)
    b, e = best_within_noise(s.v, s.mode, s.noise)
    last = float(s.x[-1])
    out = dict(metric=s.name, chosen_by=run.chosen_by, noise=num(s.noise), x=num(s.x[b]), step=num(s.step[b]),
               epoch=num(s.epoch[b]), value=num(s.v[b]), earliest_within_noise_x=num(s.x[e]),
               earliest_within_noise_value=num(s.v[e]), final_value=num(s.v[-1]),
               evaluations_past_best=int(len(s.v) - 1 - b), x_past_best=num(last - s.x[b]),
               fraction_of_run_past_best=num((last - s.x[b]) / last) if last > 0 else 0.0)
    saved = run.meta.get("best_model_checkpoint")
    if saved is not None or run.meta.get("best_metric") is not None:
        step = _checkpoint_step(saved)
        ref = s
        if run.declared and run.declared != s.name:
            ref = run.series.get(("val", run.declared)) or s
        bx = ref.x[_best_index(ref)]
        out.update(saved_best_checkpoint=saved, saved_best_step=step, saved_best_metric=num(run.meta.get("best_metric")),
                   saved_judged_by=ref.name, saved_agrees_with_log=bool(step is not None and run.by == "step"
                                                                         and np.isclose(step, bx)),
                   log_best_x_by_saved_metric=num(bx))
    return out


def early_stopping_table(run: RunView, th: DiagnosisThresholds) -> list[dict]:
    """Replays of :func:`overfit_forecast.criteria.early_stopping` on the selection metric
    (``min_delta=0``, ``restore_best``) for each patience of ``th.patiences``: where it stops,
    the checkpoint kept, and the fraction of the run (x) not spent."""
    s = run.select
    if s.finite() < 2:
        return []
    last = float(s.x[-1])
    rows = []
    for p in th.patiences:
        r = early_stopping(s.v, mode=s.mode, patience=p)
        kept = r["kept_index"]
        rows.append(dict(patience=p, stopped=r["stopped"], stop_x=num(s.x[r["stop_index"]]),
                         kept_x=num(s.x[kept]) if kept is not None else None,
                         kept_value=num(s.v[kept]) if kept is not None else None,
                         fraction_saved=num((last - s.x[r["stop_index"]]) / last) if last > 0 else 0.0))
    return rows


def accounting(run: RunView) -> dict:
    """Step/epoch bookkeeping: optimizer steps per epoch implied by the log (median of
    step / epoch), global step, final epoch, the fraction of the last epoch run, and the examples
    per epoch implied by batch size x gradient accumulation when the log gives them."""
    c = run.curves
    ok = (c.step > 0) & (c.epoch > 0)  # NaN compares False: rows with both a step and an epoch
    step, epoch = c.step[ok], c.epoch[ok]
    if step.size < 2:
        return dict(note="the log does not carry both steps and epochs: no accounting")
    spe = float(np.median(step / epoch))
    meta = run.meta
    ep = float(meta.get("epoch", epoch.max()))
    out = dict(steps_per_epoch=num(spe), global_step=num(meta.get("global_step", step.max())), final_epoch=num(ep),
               fraction_of_last_epoch=num(ep - math.floor(ep)))
    bs, ga = meta.get("train_batch_size"), meta.get("gradient_accumulation_steps") or 1
    if bs:
        out["examples_per_epoch_implied"] = num(spe * bs * ga)
    return out


def check_no_evaluation(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``no_evaluation``: no validation loss (or fewer than ``min_evals`` finite points of it):
    overfitting cannot be judged."""
    ev = run.eval_loss
    n = ev.finite() if ev is not None else 0
    if n >= th.min_evals:
        return []
    what = "no validation loss" if ev is None else f"only {n} finite evaluation(s) of the validation loss"
    return [Finding("no_evaluation", "warning",
                    f"The log has {what}: overfitting (validation loss rising while training loss falls) cannot be "
                    "judged.", dict(evaluations=n, min_evals=th.min_evals),
                    "Evaluate the loss on a held-out set during training, several times (e.g. eval_strategy='steps' "
                    "in Hugging Face, a validation loop in Lightning, validation_data in Keras).")]


def check_nonfinite_eval(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``nonfinite_eval``: the evaluation loss has NaN/inf values while the training loss stays
    finite (training did not diverge: evaluation overflows, e.g. fp16, or empty batches)."""
    ev, tr = run.eval_loss, run.train_loss
    if ev is None or tr is None or np.isfinite(ev.v).all() or not np.isfinite(tr.v).all():
        return []
    i = int(np.flatnonzero(~np.isfinite(ev.v))[0])
    return [Finding("nonfinite_eval", "warning",
                    f"Validation loss is {ev.v[i]} at {run.by} {ev.x[i]:g} while training loss stays finite.",
                    dict(first_x=ev.x[i], count=int((~np.isfinite(ev.v)).sum())),
                    "Check evaluation in reduced precision (fp16 overflow), empty evaluation batches, or "
                    "log(0) in the metric.")]


def check_few_evaluations(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``few_evaluations``: fewer than ``few_evals`` evaluations of the selection metric."""
    n = len(run.select.v)
    if n >= th.few_evals or run.select is run.train_loss:
        return []
    return [Finding("few_evaluations", "info", f"Only {n} evaluations: the onset and the best checkpoint are located "
                    f"only to within one evaluation interval.", dict(evaluations=n),
                    f"Evaluate more often (>= {th.few_evals} evaluations per run).")]


def check_past_best(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``past_best``: the run went on for more than ``past_best_fraction`` of its length after the
    best checkpoint; gives the early-stopping replay that keeps it."""
    b = best_checkpoint(run, th)
    if b.get("x") is None or run.select is run.train_loss or not b["fraction_of_run_past_best"] > th.past_best_fraction:
        return []
    es = early_stopping_table(run, th)
    keeps = [r for r in es if r["stopped"] and r["kept_x"] == b["x"]]
    ckpt = b.get("saved_best_checkpoint") if b.get("saved_agrees_with_log") else None
    rec = f"Use the checkpoint at {run.by} {b['x']:g} ({b['metric']} = {b['value']:.4g})" + (
        f": {ckpt}." if ckpt else "; save checkpoints at every evaluation so that it exists.")
    if b["earliest_within_noise_x"] < b["x"]:
        rec += (f" The one at {run.by} {b['earliest_within_noise_x']:g} ({b['earliest_within_noise_value']:.4g}) is "
                f"as good within the evaluation noise ({b['noise']:.3g}) and cheaper.")
    if keeps:
        k = keeps[0]
        rec += (f" Early stopping on {b['metric']} with patience {k['patience']} would have stopped at {run.by} "
                f"{k['stop_x']:g}, kept that checkpoint and saved {k['fraction_saved']:.0%} of the run.")
    return [Finding("past_best", "info",
                    f"Best checkpoint by {b['metric']} ({run.chosen_by}): {run.by} {b['x']:g} ({b['value']:.4g}); the "
                    f"run went on {b['evaluations_past_best']} evaluations ({b['fraction_of_run_past_best']:.0%} of the "
                    f"run) past it.", dict(best_x=b["x"], earliest_within_noise_x=b["earliest_within_noise_x"],
                                          evaluations_past_best=b["evaluations_past_best"],
                                          fraction_of_run_past_best=b["fraction_of_run_past_best"]), rec)]


def check_checkpoint_mismatch(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``checkpoint_mismatch``: the saved best checkpoint (``best_model_checkpoint``) is not the
    best evaluation in the log by the metric it was judged by."""
    b = best_checkpoint(run, th)
    if b.get("saved_best_step") is None or b.get("saved_agrees_with_log") or run.by != "step":
        return []
    return [Finding("checkpoint_mismatch", "info",
                    f"The saved best checkpoint (step {b['saved_best_step']}) is not the best evaluation in the log by "
                    f"{b['saved_judged_by']} (step {b['log_best_x_by_saved_metric']:g}): checkpoints are saved only "
                    "every save_steps, or the best was judged by another metric.",
                    dict(saved_best_step=b["saved_best_step"], log_best_step=b["log_best_x_by_saved_metric"]),
                    "Save a checkpoint at every evaluation (save_steps = eval_steps) with load_best_model_at_end.")]


def check_step_backwards(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``step_backwards``: the step counter of a curve goes backwards in the file (a resumed run
    logging into the same file, or several runs in one log)."""
    c = run.curves
    for split, metric in c.keys():
        st = c.step[c.mask(split, metric)]
        st = st[~np.isnan(st)]
        back = np.flatnonzero(np.diff(st) < 0)
        if back.size:
            i = int(back[0])
            return [Finding("step_backwards", "warning",
                            f"The step counter goes backwards ({split} {metric}: step {st[i]:g} is followed by "
                            f"{st[i + 1]:g}; {back.size} time(s)): a resumed run, or several runs in one log.",
                            dict(curve=f"{split} {metric}", from_step=st[i], to_step=st[i + 1], times=int(back.size)),
                            "Diagnose each run separately (or keep only the resumed run's entries after the "
                            "restart step).")]
    return []


def check_partial_epoch(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``partial_epoch``: the run's final epoch (Hugging Face ``epoch``) stops part-way through an
    epoch: ``max_steps``, not ``num_train_epochs``, ended it."""
    ep = run.meta.get("epoch")
    if not isinstance(ep, (int, float)):
        return []
    frac = ep - math.floor(ep)
    if not 0.01 < frac < 0.99:
        return []
    gs = run.meta.get("global_step")
    return [Finding("partial_epoch", "info",
                    f"The run stopped {frac:.0%} into epoch {math.floor(ep) + 1} (global step {gs}, epoch {ep:.3g}): "
                    "max_steps, not num_train_epochs, ended it.", dict(final_epoch=ep, fraction=frac, global_step=gs),
                    None)]


def check_lr_schedule(run: RunView, th: DiagnosisThresholds) -> list[Finding]:
    """``lr_zero_tail``, ``lr_jump``, ``no_warmup``: on a logged learning-rate curve, a tail of at
    least ``lr_zero_tail`` of the run at learning rate 0; an increase by more than ``lr_jump`` x
    after the peak (a restarted scheduler); a schedule that starts at its peak (no warm-up)."""
    lr = run.lr
    if lr is None or lr.finite() < 5:
        return []
    x, v = lr.x[np.isfinite(lr.v)], lr.v[np.isfinite(lr.v)]
    span, out = float(x[-1] - x[0]), []
    nz = np.flatnonzero(v > 0)
    # the zero tail runs from the first logged 0 after the last positive value (a linear decay
    # that reaches 0 exactly at its last logged step has no zero tail)
    z0 = x[nz[-1] + 1] if nz.size and nz[-1] + 1 < v.size else x[-1]
    if span > 0 and nz.size and (x[-1] - z0) / span >= th.lr_zero_tail:
        out.append(Finding("lr_zero_tail", "warning",
                           f"The learning rate is 0 from {run.by} {z0:g} to the end "
                           f"({(x[-1] - z0) / span:.0%} of the run): those steps cannot change the model.",
                           dict(zero_from_x=z0), "Shorten the run or fix the schedule's length."))
    peak = int(np.argmax(v))
    with np.errstate(divide="ignore", invalid="ignore"):
        jumps = np.flatnonzero((v[peak + 1:][1:] > th.lr_jump * v[peak + 1:][:-1]) & (v[peak + 1:][:-1] > 0))
    if jumps.size:
        i = peak + 1 + int(jumps[0])
        out.append(Finding("lr_jump", "warning",
                           f"The learning rate jumps from {v[i]:.3g} to {v[i + 1]:.3g} at {run.by} {x[i + 1]:g}, after "
                           "its schedule had peaked: a restarted scheduler (resumed run?) or a changed schedule.",
                           dict(at_x=x[i + 1], before=v[i], after=v[i + 1]),
                           "On resume, restore the scheduler state with the optimizer state."))
    if v[0] >= 0.99 * v.max() and span > 0 and (x[0] - 0) <= 0.02 * x[-1] and v[-1] < v[0]:
        out.append(Finding("no_warmup", "info",
                           f"The learning rate starts at its peak ({v[0]:.3g}) with no warm-up.",
                           dict(first_lr=v[0], peak_lr=v.max()),
                           "Add a warm-up (e.g. 5-10 % of the steps), especially for transformers and large batches."))
    return out


#: The bookkeeping checks, in report order.
LOG_CHECKS = (check_no_evaluation, check_nonfinite_eval, check_past_best, check_checkpoint_mismatch,
              check_few_evaluations, check_step_backwards, check_partial_epoch, check_lr_schedule)
