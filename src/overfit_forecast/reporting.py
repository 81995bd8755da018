"""Text generated from results files (the book's conclusions page), never typed by hand."""

from __future__ import annotations

import pandas as pd

NAMES = {
    "logistic_regression": "logistic regression",
    "random_forest": "random forest",
    "majority_class": "majority class",
    "rules_at_k": "labelling rules at k",
}


def _name(key: str) -> str:
    if key.startswith("prechelt_gl"):
        return f"Prechelt GL_{key.removeprefix('prechelt_gl')} at k"
    return NAMES.get(key, key)


def _f(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


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
