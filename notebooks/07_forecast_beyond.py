# %% [markdown]
# # The forecast pushed further: how early, how sure, and what it saves
#
# Chapter 4 answered the seed study's question at k = 10. This chapter asks what a
# practitioner would ask next, on the same MNIST sweep and with the same grouped
# leave-one-out (`overfit_forecast.beyond`):
#
# - **How early?** Every model and baseline at k ∈ {2, 3, 5, 7, 10, 15}, and the lead time
#   over Prechelt's GL₅ and the validation-accuracy peak.
# - **How sure?** Calibrated probabilities (Platt scaling inside each training fold), Brier
#   score and a reliability diagram.
# - **Stronger and fairer models:** gradient boosting, a model on the raw first-k curves, a
#   hyperparameters-only model (does watching the curve add anything?) and hyperparameters +
#   curve features; class imbalance handled inside the folds (balanced class weights, and a
#   decision threshold tuned by inner CV).
# - **Practitioners' baselines:** a Keras/Lightning-style patience rule and an Optuna
#   MedianPruner-style cross-run rule at k, next to the labelling rules and GL₅ at k.
# - **What it saves:** a risk-driven early stop replayed on the held-out runs' logs.
#
# The second dataset (Fashion-MNIST), the second architecture (an MLP) and transfer between
# them are the next chapter.

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # per-run logs (from notebook 01)
meta_dir = "_build/smoke/meta"  # meta_dataset.csv in, evaluation_beyond.json out
ks = [2, 3]  # observed windows (the study: 2, 3, 5, 7, 10, 15)
k = 3  # the window of the detailed analyses (the study: 10)
patience = 3  # epochs, for the patience baseline and the risk-driven stop
curve_models = ["logistic_regression", "random_forest", "gradient_boosting", "raw_curves",
                "hyperparameters_and_features"]  # models evaluated at every k (the config-only model does not depend on k)

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from overfit_forecast.beyond import (build_table, evaluate_at_k, make_baselines, make_models,
                                     overfit_onset_epoch, reliability, replay_risk_stopping)
from overfit_forecast.evaluation import write_json
from overfit_forecast.paths import project_path
from overfit_forecast.training import read_log

log_path, meta_path = project_path(log_dir), project_path(meta_dir)
meta = pd.read_csv(meta_path / "meta_dataset.csv")
tables, metrics, preds = {}, [], {}
for kk in ks:
    tables[kk] = build_table(log_path, meta, kk)
    all_models = make_models(kk)
    chosen = all_models if kk == k else {m: all_models[m] for m in curve_models}
    m, p = evaluate_at_k(tables[kk], kk, chosen, make_baselines(patience=patience))
    metrics.append(m)
    preds[kk] = p
metrics = pd.concat(metrics, ignore_index=True)
hp_only = metrics[(metrics.name == "hyperparameters_only") & (metrics.k == k)]
if len(hp_only):  # does not look at the curves: the same at every k
    metrics = pd.concat([metrics] + [hp_only.assign(k=kk) for kk in ks if kk != k], ignore_index=True)
planned = meta.loc[meta.overfit.notna(), "epochs"].median()
metrics["fraction_of_planned_epochs"] = metrics.k / planned
print(f"{int(meta.overfit.notna().sum())} labelled runs; median planned epochs {planned:g}")

# %% [markdown]
# ## How early can we tell?

# %% mystnb={"figure": {"caption": "Leave-one-group-out ROC-AUC, PR-AUC and balanced accuracy of every model (solid) and baseline (dashed) against the number of epochs observed, k.", "name": "fig-how-early"}}
fig, axes = plt.subplots(3, 1, figsize=(7, 10), sharex=True)
for ax, col in zip(axes, ["roc_auc", "pr_auc", "balanced_accuracy"]):
    for name, g in metrics.dropna(subset=[col]).groupby("name"):
        if len(g) > 1:
            ax.plot(g.k, g[col], marker="o", ls="-" if g.kind.iloc[0] == "model" else "--", label=name)
    ax.set(xlabel="k (epochs observed)", title=col)
axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()

# %%
metrics.pivot_table(index="name", columns="k", values="balanced_accuracy").round(3)

# %% [markdown]
# ## All models and baselines at k

# %%
cols = ["kind", "roc_auc", "pr_auc", "balanced_accuracy", "precision", "recall", "brier"]
at_k = metrics[metrics.k == k].set_index("name")
at_k[[c for c in cols if c in at_k]].round(3)

# %% [markdown]
# ## Lead time
#
# For runs that do overfit and that the calibrated forest flags at k: how many epochs
# before Prechelt's GL₅ fires on the full log (or before the validation accuracy peaks) the
# forecast was made. Positive = the forecast came first.

# %%
p = preds[k]
risk_name = "random_forest_calibrated" if "random_forest_calibrated" in p else "random_forest"
lead = []
for rec in p[(p.overfit == 1) & (p[f"{risk_name}_pred"] == 1)].to_dict("records"):
    o = overfit_onset_epoch(read_log(log_path / f"{rec['run_id']}.csv"))
    lead.append({"run_id": rec["run_id"], "lead_vs_gl5": o["gl_fires_epoch"] - k,
                 "lead_vs_val_acc_peak": o["val_acc_peak_epoch"] - k})
lead = pd.DataFrame(lead, columns=["run_id", "lead_vs_gl5", "lead_vs_val_acc_peak"])
lead_summary = {
    "flagged_overfit_runs": int(len(lead)),
    "median_lead_vs_gl5": float(lead.lead_vs_gl5.median()) if len(lead) else None,
    "share_before_gl5": float((lead.lead_vs_gl5 > 0).mean()) if len(lead) else None,
    "median_lead_vs_val_acc_peak": float(lead.lead_vs_val_acc_peak.median()) if len(lead) else None,
}
lead_summary

# %% [markdown]
# ## How sure? Calibration

# %% mystnb={"figure": {"caption": "Reliability diagram at k: observed overfit rate against the predicted probability, per bin of held-out predictions; the dotted diagonal is perfect calibration.", "name": "fig-reliability"}}
y = p.overfit.astype(int)
cal = {}
fig, ax = plt.subplots(figsize=(5, 4.5))
for name in ("logistic_regression", "random_forest", "gradient_boosting", "random_forest_calibrated"):
    if name in p and y.nunique() == 2:
        rel = reliability(y, p[name], n_bins=min(8, max(2, len(y) // 10)))
        ax.plot(rel.mean_predicted, rel.observed_rate, marker="o", label=name)
        cal[name] = {"brier": float(at_k.loc[name, "brier"]), "reliability": rel.to_dict("list")}
ax.plot([0, 1], [0, 1], ls=":", c="k")
ax.set(xlabel="predicted P(overfit)", ylabel="observed overfit rate", title=f"reliability at k = {k}")
ax.legend(fontsize=8);

# %% [markdown]
# ## What it saves: a risk-driven early stop
#
# Replayed on each labelled run's log with its *held-out* forecast: train to epoch k; if the
# calibrated risk is at least 0.5, switch to early stopping with patience 3 on validation
# loss, else train to the planned epochs. Compared with training every run to its planned
# epochs and with patience-based early stopping from the start; the checkpoint kept is
# always the one with the lowest validation loss seen.

# %%
replay = pd.DataFrame([
    {"run_id": r["run_id"], "overfit": r["overfit"],
     **replay_risk_stopping(read_log(log_path / f"{r['run_id']}.csv"), bool(r[f"{risk_name}_pred"]), k, patience)}
    for r in p.to_dict("records")])
summary = pd.DataFrame({
    pol: {"epochs trained": replay[f"{pol}_epochs"].sum(),
          "share of planned compute": replay[f"{pol}_epochs"].sum() / replay["full_epochs"].sum(),
          "mean val acc of kept checkpoint": replay[f"{pol}_val_acc"].mean()}
    for pol in ("full", "patience", "risk")}).T
summary.round(4)

# %%
write_json({
    "ks": ks, "k": k, "patience": patience, "median_planned_epochs": planned,
    "metrics": metrics.replace({np.nan: None}).to_dict("records"),
    "lead_time": lead_summary, "calibration": cal,
    "risk_stopping": summary.reset_index(names="policy").to_dict("records"),
}, meta_path / "evaluation_beyond.json")
