"""Words for the report: what each issue means, and a concrete recommendation for a
risk-raising (hyperparameter bucket, issue) pattern."""

from __future__ import annotations

import re

from .detectors import _fmt


ISSUE_VERBS = {
    "non_finite": "had NaN/Inf metrics",
    "failed": "failed",
    "diverged": "diverged",
    "overfitting": "were overfitting suspects",
    "underfitting": "underfit (could not fit their training set)",
    "short_run": "were cut short",
    "unstable": "had unstable validation curves",
    "chance_level": "stayed at chance level",
}
ISSUE_EXPLANATIONS = {
    "non_finite": "Losses or accuracies became NaN or infinite: the optimization blew up numerically.",
    "failed": "The trials crashed or were marked failed by the sweep runner.",
    "diverged": "The loss rose far above its starting value: the step size is too large for this model.",
    "overfitting": "Validation loss or accuracy lags far behind training: the model memorizes its training set.",
    "underfitting": "Training accuracy stays far below what the sweep's best trials reach: too little signal, capacity or training.",
    "short_run": "The trials stopped well before the others, by crash, pruning or budget.",
    "unstable": "Validation accuracy jumps from epoch to epoch late in training: noisy optimization.",
    "chance_level": "No trial did better than guessing: the sweep as a whole learned nothing, whatever the hyperparameters.",
}
#: Recommendations for sweep-level findings (they do not depend on one hyperparameter range).
SWEEP_RECOMMENDATIONS = {
    "chance_level": ("Every trial is at chance level: check the pipeline before the hyperparameters "
                     "(labels aligned with inputs, inputs normalized and not constant, loss matching the "
                     "output layer, learning rate range not all too small); overfit one small batch first."),
}

_LR_NAMES = ("lr", "learning_rate", "learning-rate", "eta", "step_size")


def _is(param: str, names) -> bool:
    p = param.lower()
    return any(p == n or p.endswith(n) or n in p for n in names)


def recommend(pattern: dict) -> str | None:
    """A concrete recommendation for one risk-raising pattern (dict row of
    :func:`issue_correlations`), or ``None`` if no rule applies."""
    p, b, i = pattern["hyperparameter"], pattern["bucket"], pattern["issue"]
    low_end = _bucket_edge(b, 0)
    high = pattern.get("is_high_bucket", False)
    if i in ("non_finite", "diverged", "unstable") and _is(p, _LR_NAMES) and high:
        return (f"Lower the upper bound of {p} below {_fmt(low_end)} (trials with {p} in {b} "
                f"{ISSUE_VERBS[i]}); add gradient clipping or a warm-up if high rates are needed.")
    if i == "overfitting":
        if _is(p, ("weight_decay", "wd", "l2")) and not high:
            return f"Add weight decay: trials with {p} in {b} overfit most; search {p} >= 1e-4."
        if _is(p, ("dropout",)) and not high:
            return f"Add dropout: trials with {p} in {b} overfit most."
        if _is(p, ("n_train", "train_size", "dataset_size", "num_samples", "subset")) and not high:
            return f"Grow the training set (or augment): trials with {p} in {b} overfit most."
        if _is(p, ("epoch", "steps", "iterations")) and high:
            return f"Use early stopping on validation loss: long trials ({p} in {b}) overfit most."
        if _is(p, ("label_noise", "noise")) and high:
            return f"Clean the labels or use a noise-robust loss: trials with {p} in {b} overfit most."
        if _is(p, ("width", "hidden", "units", "channels", "layers", "depth")) and high:
            return f"Reduce model size or regularize the wide models ({p} in {b})."
    if i == "underfitting":
        if _is(p, _LR_NAMES) and not high:
            return f"Raise the lower bound of {p} above {_fmt(_bucket_edge(b, 1))} or train longer: trials with {p} in {b} underfit."
        if _is(p, _LR_NAMES) and high:
            return (f"Lower the upper bound of {p} below {_fmt(low_end)}: trials with {p} in {b} "
                    "stop learning (units die or the loss plateaus at chance).")
        if _is(p, ("epoch", "steps", "iterations")) and not high:
            return f"Train longer: trials with {p} in {b} underfit."
        if _is(p, ("width", "hidden", "units", "channels", "layers", "depth")) and not high:
            return f"Use a larger model: trials with {p} in {b} underfit."
        if _is(p, ("weight_decay", "dropout")) and high:
            return f"Regularize less: trials with {p} in {b} underfit."
    if i in ("failed", "short_run"):
        return f"Check the logs of trials with {p} in {b}: they {ISSUE_VERBS[i]} more often than others."
    return None


def _bucket_edge(b: str, which: int) -> float:
    """Lower (``which=0``) or upper (1) edge of a bucket label like ``[0.01, 0.1)``; a
    single-value bucket is both; NaN for categories."""
    m = re.fullmatch(r"[\[(]\s*(-?[\d.e+-]+),\s*(-?[\d.e+-]+)[\])]", b.strip())
    try:
        return float(m.group(which + 1)) if m else float(b)
    except ValueError:
        return float("nan")


def pattern_sentence(row: dict) -> str:
    """E.g. "lr in [0.3, 2]: 9 of 10 trials diverged (3 % elsewhere, q = 0.001)"."""
    return (f"{row['hyperparameter']} in {row['bucket']}: {row['k']} of {row['n']} trials "
            f"{ISSUE_VERBS.get(row['issue'], row['issue'])} ({row['rate_else']:.0%} elsewhere, "
            f"q = {row['q_value']:.2g})")


