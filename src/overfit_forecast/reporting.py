"""Text generated from results files (the book's conclusions page), never typed by hand."""

from __future__ import annotations

import pandas as pd

NAMES = {
    "logistic_regression": "logistic regression",
    "random_forest": "random forest",
    "majority_class": "majority class",
    "rules_at_k": "labelling rules at k",
    "gradient_boosting": "gradient boosting",
    "raw_curves": "logistic regression on raw curves",
    "hyperparameters_only": "hyperparameters only",
    "hyperparameters_and_features": "hyperparameters + features (boosting)",
    "random_forest_calibrated": "calibrated random forest",
    "random_forest_tuned_threshold": "random forest, tuned threshold",
    "median_pruner_at_k": "MedianPruner-style rule at k",
}


def _name(key: str) -> str:
    if key.startswith("prechelt_gl"):
        return f"Prechelt GL_{key.removeprefix('prechelt_gl').removesuffix('_at_k')} at k"
    if key.startswith("patience") and key.endswith("_at_k"):
        return f"patience-{key.removeprefix('patience').removesuffix('_at_k')} rule at k"
    return NAMES.get(key, key)


def _f(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def beyond_markdown(b: dict) -> str:
    """Markdown summary of ``evaluation_beyond.json`` (chapter 7)."""
    m = pd.DataFrame(b["metrics"])
    if "balanced_accuracy" not in m:
        return ""
    lines = []
    models = m[m.kind == "model"].dropna(subset=["balanced_accuracy"])
    bases = m[m.kind == "baseline"].dropna(subset=["balanced_accuracy"])
    rows = []
    for k, g in models.groupby("k"):
        best = g.loc[g.balanced_accuracy.idxmax()]
        gb = bases[bases.k == k]
        bb = gb.loc[gb.balanced_accuracy.idxmax()] if len(gb) else None
        rows.append(f"| {k} | {_name(best['name'])} ({best.balanced_accuracy:.3f}) | "
                    + (f"{_name(bb['name'])} ({bb.balanced_accuracy:.3f}) | "
                       f"{'yes' if best.balanced_accuracy > bb.balanced_accuracy else 'no'} |" if bb is not None else "n/a | n/a |"))
    lines.append("**How early.** Best model and best baseline by leave-one-group-out balanced accuracy at "
                 "each window k:\n\n| k | best model | best baseline | model beats baselines |\n|---|---|---|---|\n"
                 + "\n".join(rows))
    cal = b.get("calibration", {})
    if cal:
        lines.append("**How sure.** Brier scores at k = " + str(b["k"]) + ": "
                     + ", ".join(f"{_name(n)} {c['brier']:.3f}" for n, c in cal.items()) + " (lower is better).")
    rs = {r["policy"]: r for r in b.get("risk_stopping", [])}
    if rs:
        lines.append(
            f"**What it saves.** Replayed on the held-out runs, the risk-driven stop trains "
            f"{rs['risk']['share of planned compute']:.0%} of the planned epochs and keeps checkpoints with mean "
            f"validation accuracy {rs['risk']['mean val acc of kept checkpoint']:.4f}, against "
            f"{rs['full']['mean val acc of kept checkpoint']:.4f} when every run trains to its planned epochs and "
            f"{rs['patience']['mean val acc of kept checkpoint']:.4f} with patience-based early stopping from the "
            f"start ({rs['patience']['share of planned compute']:.0%} of the compute).")
    lt = b.get("lead_time", {})
    if lt.get("flagged_overfit_runs"):
        lines.append(f"**Lead time.** Of the overfit runs flagged at k = {b['k']}, "
                     f"{lt['share_before_gl5']:.0%} were flagged before Prechelt's GL_5 fired on the full log "
                     f"(median lead {_f(lt['median_lead_vs_gl5'], 1)} epochs; median lead over the "
                     f"validation-accuracy peak {_f(lt['median_lead_vs_val_acc_peak'], 1)} epochs).")
    return "\n\n".join(lines)


def transfer_markdown(t: dict) -> str:
    """Markdown summary of ``evaluation_transfer.json`` (chapter 8)."""
    tr = pd.DataFrame(t.get("transfer", []))
    if tr.empty or "balanced_accuracy" not in tr:
        return "**How general.** Fewer than two sweeps were available: transfer not measured."
    rows = [f"| {r.train} | {r.test} | {_name(r.model)} | {_f(r.balanced_accuracy)} | "
            f"{_f(r.within_loo_balanced_accuracy)} | {_f(r.drop)} |" for r in tr.itertuples()]
    return ("**How general.** A meta-model fit on one sweep, tested on another (balanced accuracy), against "
            "the target sweep's own leave-one-group-out:\n\n| trained on | tested on | model | transfer | "
            "within LOO | drop |\n|---|---|---|---|---|---|\n" + "\n".join(rows))


def conclusions_markdown(results: dict, meta: pd.DataFrame) -> str:
    """Markdown summary of an ``evaluation.json`` and its meta-dataset.

    Parameters
    ----------
    results : dict
        Content of ``evaluation.json`` (:func:`overfit_forecast.evaluation.evaluate_meta_models`).
    meta : DataFrame
        ``meta_dataset.csv`` (for pathology counts).
    """
    k = results["k"]
    lines = []
    counts = meta["pathology"].value_counts()
    lab = meta[meta["overfit"].notna()]
    lines.append(
        f"**The meta-dataset.** {len(meta)} runs: "
        + ", ".join(f"{int(v)} {p}" for p, v in counts.items())
        + f". Among the {len(lab)} runs that neither diverged nor failed, "
        f"{int(lab['overfit'].sum())} ({lab['overfit'].mean():.0%}) are labelled overfit."
    )
    models, baselines = results.get("models", {}), results.get("baselines", {})
    if not models:
        lines.append("Too few labelled runs to evaluate meta-models.")
        return "\n\n".join(lines)
    rows = []
    for kind, group in (("model", models), ("baseline", baselines)):
        for key, r in group.items():
            loo, ins = r["loo"], r["in_sample"]
            rows.append(f"| {_name(key)} | {kind} | {_f(loo['roc_auc'])} | {_f(loo['pr_auc'])} | "
                        f"{_f(loo['balanced_accuracy'])} | {_f(loo['precision'])} | {_f(loo['recall'])} | "
                        f"{_f(ins['roc_auc'])} | {_f(ins['balanced_accuracy'])} |")
    lines.append(
        f"**Forecast from the first {k} epochs**, leave-one-group-out over "
        f"{results['n_labelled']} runs in {results['n_groups']} configurations "
        f"(positive rate {results['positive_rate']:.0%}):\n\n"
        "| predictor | kind | ROC-AUC | PR-AUC | balanced acc. | precision | recall | in-sample ROC-AUC | in-sample balanced acc. |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    best_key = max(models, key=lambda m: models[m]["loo"]["balanced_accuracy"] or 0)
    best = models[best_key]["loo"]
    base_key = max(baselines, key=lambda b: baselines[b]["loo"]["balanced_accuracy"] or 0)
    base = baselines[base_key]["loo"]
    diff = (best["balanced_accuracy"] or 0) - (base["balanced_accuracy"] or 0)
    verdict = "beats" if diff > 0 else "does not beat"
    lines.append(
        f"**Answer.** The best meta-model under leave-one-group-out, the {_name(best_key)}, reaches "
        f"balanced accuracy {_f(best['balanced_accuracy'])} (ROC-AUC {_f(best['roc_auc'])}, recall of "
        f"the overfit class {_f(best['recall'])}); it {verdict} the strongest baseline, "
        f"{_name(base_key)} ({_f(base['balanced_accuracy'])}), by {diff:+.3f}."
    )
    gaps = [(m, (models[m]["in_sample"]["balanced_accuracy"] or 0) - (models[m]["loo"]["balanced_accuracy"] or 0))
            for m in models]
    lines.append(
        "**Compared with the seed study.** The seed found that both models explain their "
        "training runs perfectly in-sample but struggle under leave-one-out, and blamed the "
        "scarcity of overfitting examples. Here, with a balanced meta-dataset, the in-sample "
        "minus leave-one-group-out balanced accuracy is "
        + ", ".join(f"{d:+.3f} for the {_name(m)}" for m, d in gaps)
        + ". The leave-one-group-out numbers are the honest ones."
    )
    return "\n\n".join(lines)
