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


SWEEP_NAMES = {"mnist_cnn": "MNIST, CNN", "mnist_mlp": "MNIST, MLP", "fashion_mnist_cnn": "Fashion-MNIST, CNN"}


def _name(key: str) -> str:
    """Reader's name of a model, baseline or sweep key (``prechelt_gl5`` -> ``Prechelt GL₅ at k``)."""
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    if key.startswith("prechelt_gl"):
        return f"Prechelt GL{key.removeprefix('prechelt_gl').removesuffix('_at_k').translate(sub)} at k"
    if key.startswith("patience") and key.endswith("_at_k"):
        return f"patience-{key.removeprefix('patience').removesuffix('_at_k')} rule at k"
    return NAMES.get(key, SWEEP_NAMES.get(key, key.replace("_", " ")))


def _f(x, digits=3) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"


def _table(df: pd.DataFrame) -> str:
    """A MyST/GitHub pipe table of ``df`` (cells already formatted as text), blank lines around.

    Uses :meth:`pandas.DataFrame.to_markdown` (tabulate). Columns whose cells all start with
    a number (or are ``n/a``) are right-aligned, the others left-aligned.
    """
    numeric = df.astype(str).apply(lambda c: c.str.match(r"^(n/a|[+-]?\d)").all())
    align = ["right" if numeric[c] else "left" for c in df.columns]
    return "\n\n" + df.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n\n"


def beyond_markdown(b: dict) -> str:
    """Markdown summary of ``evaluation_beyond.json`` (chapter 7).

    Parameters
    ----------
    b : dict
        ``metrics`` (records with ``kind``, ``name``, ``k``, ``balanced_accuracy``), and
        optionally ``calibration`` ({name: {"brier"}}), ``risk_stopping`` (records per
        ``policy``) and ``lead_time``.

    Returns
    -------
    str
        MyST markdown (pipe tables; ``{cite}`` roles), empty if there are no metrics.
    """
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
        rows.append({"k": str(int(k)), "best model": _name(best["name"]),
                     "balanced acc. (model)": _f(best.balanced_accuracy),
                     "best baseline": "n/a" if bb is None else _name(bb["name"]),
                     "balanced acc. (baseline)": "n/a" if bb is None else _f(bb.balanced_accuracy),
                     "difference": "n/a" if bb is None else f"{best.balanced_accuracy - bb.balanced_accuracy:+.3f}"})
    lines.append("**How early.** Best model and best baseline by leave-one-group-out balanced accuracy "
                 "after k observed epochs:" + _table(pd.DataFrame(rows)).rstrip())
    cal = b.get("calibration", {})
    if cal:
        lines.append("**How sure.** Brier scores {cite:p}`brier1950verification` at k = " + str(b["k"]) + ": "
                     + ", ".join(f"{_name(n)} {c['brier']:.3f}" for n, c in cal.items()) + " (lower is better).")
    rs = {r["policy"]: r for r in b.get("risk_stopping", [])}
    if rs:
        lines.append(
            f"**What it saves.** Replayed on the held-out runs, the risk-driven stop trains "
            f"{rs['risk']['share of planned compute']:.0%} of the planned epochs and keeps checkpoints with mean "
            f"validation accuracy {rs['risk']['mean val acc of kept checkpoint']:.3f}, against "
            f"{rs['full']['mean val acc of kept checkpoint']:.3f} when every run trains to its planned epochs and "
            f"{rs['patience']['mean val acc of kept checkpoint']:.3f} with patience-based early stopping from the "
            f"start ({rs['patience']['share of planned compute']:.0%} of the compute).")
    lt = b.get("lead_time", {})
    if lt.get("flagged_overfit_runs"):
        lines.append(f"**Lead time.** Of the {lt['flagged_overfit_runs']} overfit runs flagged at k = {b['k']}, "
                     f"{lt['share_before_gl5']:.0%} were flagged before Prechelt's GL₅ "
                     f"{{cite:p}}`prechelt1998early` fired on the full log (median lead "
                     f"{_f(lt['median_lead_vs_gl5'], 1)} epochs; median lead over the validation-accuracy peak "
                     f"{_f(lt['median_lead_vs_val_acc_peak'], 1)} epochs; negative: the forecast came later).")
    return "\n\n".join(lines)


def transfer_markdown(t: dict) -> str:
    """Markdown summary of ``evaluation_transfer.json`` (chapter 8).

    One row per (training sweep, tested sweep) pair, one column per model; each cell is the
    transfer balanced accuracy and, in parentheses, its difference from the tested sweep's
    own leave-one-group-out balanced accuracy (``-drop``; negative: transfer is worse).
    """
    tr = pd.DataFrame(t.get("transfer", []))
    if tr.empty or "balanced_accuracy" not in tr:
        return "**How general.** Fewer than two sweeps were available: transfer not measured."
    tr["cell"] = [f"{_f(r.balanced_accuracy)} ({'n/a' if r.drop is None or r.drop != r.drop else f'{-r.drop:+.3f}'})"
                  for r in tr.itertuples()]
    rows = {}
    for r in tr.itertuples():  # one row per (train, test) pair, in the order of the results file
        rows.setdefault(f"{_name(r.train)} → {_name(r.test)}", {})[_name(r.model)] = r.cell
    tab = pd.DataFrame.from_dict(rows, orient="index").fillna("n/a")
    tab = tab.rename_axis("trained on → tested on").reset_index()
    return ("**How general.** A meta-model fit on every labelled run of one sweep predicts every run of "
            "another. Each cell: balanced accuracy of the transfer, and in parentheses its difference "
            "from the tested sweep's own leave-one-group-out (negative: the transferred model does worse)."
            + _table(tab).rstrip())


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
            rows.append({"predictor": _name(key) + (" (baseline)" if kind == "baseline" else ""),
                         "ROC-AUC": _f(loo["roc_auc"]), "PR-AUC": _f(loo["pr_auc"]),
                         "balanced acc.": _f(loo["balanced_accuracy"]), "precision": _f(loo["precision"]),
                         "recall": _f(loo["recall"]), "in-sample ROC-AUC": _f(ins["roc_auc"]),
                         "in-sample balanced acc.": _f(ins["balanced_accuracy"])})
    lines.append(
        f"**Forecast from the first {k} epochs**, leave-one-group-out {{cite:p}}`roberts2017cross` over "
        f"{results['n_labelled']} runs in {results['n_groups']} configurations "
        f"(positive rate {results['positive_rate']:.0%}):" + _table(pd.DataFrame(rows)).rstrip()
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
