"""Compose the checks into one diagnosis: findings, the run's verdicts, the best checkpoint.

JSON output of :func:`diagnose` (``schema_version`` 1; stable keys, documented in chapter 6 and
the README):

- ``run``: ``source``, ``format``, ``x_axis`` ("step" or "epoch": the unit of every x-value
  below), ``last_x``, ``evaluations``, ``train_metrics``, ``val_metrics``.
- ``verdicts``: ``status`` (headline: the first of ``diverged``, ``frozen``, ``chance_level``,
  ``overfitting``, ``degrading`` that fired, else ``no_overfitting``, or ``unknown`` when
  overfitting cannot be judged); ``overfitting`` (true / false / null when there is no
  validation loss with at least ``min_evals`` points); ``overconfident``; ``onset_step`` (x of
  the validation-loss minimum after which it rises, null without overfitting); ``best_step``
  (x of the checkpoint to keep) -- these two in the log file's own counter (a Keras CSV's
  0-based epoch column as written; every other x-value is in epochs completed, see
  :func:`file_x`); ``best_metric``; ``x_axis``; and one boolean per pathology
  check id (:data:`PATHOLOGIES`).
- ``findings``: list of ``{id, severity, message, evidence, recommendation}``
  (:data:`CHECK_IDS` lists every id).
- ``best_checkpoint``, ``early_stopping`` (replays per patience), ``accounting``,
  ``evaluation`` (the validation-loss curve's noise, minimum, final value), ``recommendations``
  (the findings' recommendations, in order), ``thresholds``.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..readers import Curves
from .bookkeeping import LOG_CHECKS, accounting, best_checkpoint, early_stopping_table
from .checks import CURVE_CHECKS
from .context import DiagnosisThresholds, Finding, RunView, num, prepare

SCHEMA_VERSION = 1

#: Every finding id: (severity, what it means). Kept in step with the checks (tested).
CHECK_IDS = {
    "diverged": ("error", "training loss NaN/inf, or ends far above its early level and does not come back"),
    "frozen": ("error", "training loss repeats the same value at most successive points"),
    "chance_level": ("error", "loss never improves and sits at ln C (accuracy ~ 1/C): the run never learned"),
    "overfitting": ("warning", "validation loss rises materially (vs. its noise; a smaller rise when training loss "
                               "falls by 20 % meanwhile) above its minimum while training loss falls or stays low"),
    "overconfidence": ("warning", "qualifier of overfitting: the task metric still improves after the loss minimum"),
    "degrading": ("warning", "validation loss rises but training loss rises too: optimization, not overfitting"),
    "plateau": ("warning", "no material improvement of validation loss over the last third of the run"),
    "still_improving": ("info", "robust tail trend still improves by more than the noise: train longer"),
    "unstable": ("warning", "validation loss swings around its trend (jumps > 10 % and back)"),
    "leakage_signal": ("warning", "training and validation loss ~0 already at the first evaluation: too easy"),
    "eval_below_train": ("info", "validation loss below training loss all run: usual with dropout/augmentation; "
                                 "not a leakage claim"),
    "loss_scale_mismatch": ("warning", "training loss many times the validation loss: a logging-scale artifact"),
    "generalization_gap": ("warning", "validation loss several times training loss at the end, and flat"),
    "underfitting": ("warning", "training loss plateaued with low training accuracy"),
    "eval_noise_high": ("info", "evaluation noise too large to rank checkpoints"),
    "no_evaluation": ("warning", "no (or too short a) validation-loss curve: overfitting cannot be judged"),
    "nonfinite_eval": ("warning", "validation loss NaN/inf while training loss is finite"),
    "past_best": ("info", "the run went on well past its best checkpoint (with the early stopping that keeps it)"),
    "checkpoint_mismatch": ("info", "the saved best checkpoint is not the best evaluation in the log"),
    "few_evaluations": ("info", "fewer than 10 evaluations"),
    "step_backwards": ("warning", "the step counter goes backwards: a resumed run or several runs in one log"),
    "partial_epoch": ("info", "the run stopped part-way through an epoch (max_steps ended it)"),
    "lr_zero_tail": ("warning", "a tail of the run at learning rate 0"),
    "lr_jump": ("warning", "the learning rate jumps up after its peak (restarted scheduler)"),
    "no_warmup": ("info", "the learning-rate schedule starts at its peak"),
}
#: Check ids reported as booleans in ``verdicts``.
PATHOLOGIES = ("diverged", "frozen", "chance_level", "degrading", "plateau", "still_improving", "unstable",
               "leakage_signal", "eval_below_train", "loss_scale_mismatch", "generalization_gap", "underfitting")
_BROKEN = ("diverged", "frozen", "chance_level")
#: A finding is dropped when one of these fired (a run that never learned is not "still improving").
SUPPRESSED_BY = {
    "overfitting": _BROKEN, "overconfidence": _BROKEN, "degrading": _BROKEN,
    "plateau": ("diverged", "overfitting", "degrading", "unstable"),
    "still_improving": _BROKEN + ("overfitting", "degrading", "plateau"),
    "unstable": ("diverged", "frozen"), "leakage_signal": _BROKEN, "eval_below_train": _BROKEN,
    "loss_scale_mismatch": ("diverged", "frozen"),
    "generalization_gap": _BROKEN + ("overfitting",), "underfitting": _BROKEN, "eval_noise_high": _BROKEN,
    "past_best": ("diverged", "frozen"),
}


def run_checks(run: RunView, th: DiagnosisThresholds = DiagnosisThresholds()) -> list[Finding]:
    """All checks on a prepared run, with :data:`SUPPRESSED_BY` applied, in report order."""
    found = [f for check in CURVE_CHECKS + LOG_CHECKS for f in check(run, th)]
    ids = {f.id for f in found}
    return [f for f in found if not ids.intersection(SUPPRESSED_BY.get(f.id, ()))]


def file_x(run: RunView, x):
    """An x-value of the run in the log file's own counter: on an epoch axis read from a file
    that counts epochs from 0 (``meta["epoch_base"] == 0``, Keras CSVLogger), the reader's
    epochs completed minus 1; else unchanged. None stays None."""
    if x is None or run.by != "epoch" or run.meta.get("epoch_base") != 0:
        return x
    return x - 1


def _verdicts(run: RunView, findings: list[Finding], best: dict, th: DiagnosisThresholds) -> dict:
    by_id = {f.id: f for f in findings}
    judged = run.eval_loss is not None and run.eval_loss.finite() >= th.min_evals
    over = "overfitting" in by_id
    status = next((i for i in _BROKEN + ("overfitting", "degrading") if i in by_id),
                  "no_overfitting" if judged else "unknown")
    onset = by_id["overfitting"].evidence["onset_x"] if over else None
    return dict(status=status, overfitting=over if judged else None,
                overconfident=("overconfidence" in by_id) if judged and run.task is not None else None,
                onset_step=num(file_x(run, onset)), best_step=num(file_x(run, best.get("x"))),
                best_metric=best.get("metric"), x_axis=run.by,
                **{p: p in by_id for p in PATHOLOGIES})


def _evaluation(run: RunView) -> dict | None:
    ev = run.eval_loss
    if ev is None or not np.isfinite(ev.v).any():
        return None
    i = int(np.nanargmin(np.where(np.isfinite(ev.v), ev.v, np.nan)))
    return dict(metric=ev.name, evaluations=len(ev.v), noise=num(ev.noise), min=num(ev.v[i]), min_x=num(ev.x[i]),
                final=num(ev.v[-1]), first=num(ev.v[0]))


def diagnose(curves: Curves, metric_for_best_model: str | None = None,
             th: DiagnosisThresholds = DiagnosisThresholds()) -> dict:
    """Diagnose one run from its curves (see the module docstring for the JSON layout).

    Parameters
    ----------
    curves : Curves
        From :func:`overfit_forecast.readers.read_curves`.
    metric_for_best_model : str, optional
        The metric that chooses the best checkpoint (``eval_accuracy``, ``loss``, ...);
        default: the run's declared one, else the task metric, else the validation loss.
    th : DiagnosisThresholds
        Thresholds of the checks.

    Returns
    -------
    dict
        JSON-ready (numbers are Python scalars; non-finite values are None).

    Raises
    ------
    DiagnosisError
        Neither an evaluation curve nor a training loss with at least 2 points.
    """
    run = prepare(curves, metric_for_best_model)
    findings = run_checks(run, th)
    best = best_checkpoint(run, th)
    recs = list(dict.fromkeys(f.recommendation for f in findings if f.recommendation))
    ev = run.eval_loss
    return dict(
        schema_version=SCHEMA_VERSION,
        run=dict(source=curves.source, format=curves.format, x_axis=run.by, last_x=num(run.select.x[-1]),
                 evaluations=len(ev.v) if ev is not None else 0, train_metrics=curves.metrics("train"),
                 val_metrics=curves.metrics("val")),
        verdicts=_verdicts(run, findings, best, th),
        findings=[f.to_dict() for f in findings],
        best_checkpoint=best, early_stopping=early_stopping_table(run, th), accounting=accounting(run),
        evaluation=_evaluation(run), recommendations=recs, thresholds=asdict(th),
    )
