# %% [markdown]
# # Labels: which runs overfit, and what else went wrong
#
# Each run gets a deterministic, explainable label from its **full** log
# (`overfit_forecast.labels`). A run is *overfit* when any rule fires:
#
# | rule | fires when | default |
# |---|---|---|
# | (a) `gap` | final generalization gap `train_acc - val_acc` > threshold | 0.05 |
# | (b) `memorization` | final `train_acc` ≥ 0.99 and gap > threshold | 0.03 |
# | (c) `peak_degrade` | validation accuracy ends more than a threshold below its peak while training accuracy ends above its value at the peak | 0.02 |
# | (d) `generalization_loss` | Prechelt's GL(T) = 100·(E_va(T)/E_opt(T) − 1) on validation loss at the last epoch > α | α = 50 |
#
# Runs whose loss became non-finite (or blew up) are `diverged`, runs that raised are
# `failed`. A run that is not overfit and reaches 90 % neither on its training set nor on
# validation is `underfit`. The run's **end state** (healthy / overfit / underfit / diverged)
# is what the forecast predicts; its binary view `overfit` is 1 for overfit runs and 0 for
# every other end state, diverged runs included (at epoch k nobody knows which runs will
# collapse later). The thresholds used here are written to `label_thresholds.json`, and
# every later chapter labels with them.

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # per-run logs and sweep.csv (from notebook 01)
meta_dir = "_build/smoke/meta"  # where meta_dataset.csv goes
gap_threshold = 0.05
memorization_train_acc = 0.99
memorization_gap = 0.03
peak_drop = 0.02
gl_alpha = 50.0
underfit_acc = 0.90

# %%
import matplotlib.pyplot as plt
import pandas as pd

from overfit_forecast.labels import RULES, LabelThresholds, build_meta_dataset, save_thresholds, sensitivity_table
from overfit_forecast.paths import project_path
from overfit_forecast.plots import plot_run
from overfit_forecast.training import atomic_write_text, read_log

log_path, meta_path = project_path(log_dir), project_path(meta_dir)
th = LabelThresholds(gap_threshold, memorization_train_acc, memorization_gap, peak_drop, gl_alpha, underfit_acc)
meta = build_meta_dataset(log_path, th)
atomic_write_text(meta_path / "meta_dataset.csv", meta.to_csv(index=False))
save_thresholds(th, meta_path)
labelled = meta[meta.overfit.notna()]
print(f"{len(meta)} runs, {len(labelled)} with an end state (not failed), "
      f"{int(labelled.overfit.sum())} overfit = {labelled.overfit.mean():.1%}")

# %% [markdown]
# ## Pathologies and rules

# %%
meta.pathology.value_counts().rename("runs").to_frame()

# %%
pd.DataFrame({r: [int(meta[f"rule_{r}"].sum())] for r in RULES}, index=["runs where it fires"]).T

# %% [markdown]
# ## How the positive rate moves with each threshold
#
# One threshold moves at a time, the others stay at their defaults. The study's target was a
# balanced meta-dataset (30-60 % overfit among non-diverged runs); the table shows how much
# of that balance depends on the choice of each threshold.

# %%
grid = {
    "gap_threshold": [0.02, 0.03, 0.05, 0.08, 0.10],
    "memorization_gap": [0.01, 0.02, 0.03, 0.05],
    "peak_drop": [0.005, 0.01, 0.02, 0.05],
    "gl_alpha": [5.0, 10.0, 20.0, 50.0, 100.0, 200.0],
}
sens = sensitivity_table(log_path, grid, base=th)
sens.set_index(["threshold", "value"])[["is_default", "n_labelled", "n_overfit", "overfit_rate"]].round(3)

# %% [markdown]
# ## Example curves
#
# For each rule, a run where it fires (preferring runs where few other rules fire, then the
# strongest case); then one healthy, one underfit and one diverged run, when the sweep has
# them.

# %% mystnb={"figure": {"caption": "Example runs, one per labelling rule and per other pathology: loss (left, log scale) and accuracy (right) on the training subset and the validation hold-out over the full log. Each title gives the run's hyperparameters and the rules that fire.", "name": "fig-label-examples"}}
strength = {"gap": "final_gap", "memorization": "final_gap", "peak_degrade": "peak_drop",
            "generalization_loss": "gl_final"}
examples, shown = [], set()
for r in RULES:
    hit = meta[meta[f"rule_{r}"] & ~meta.run_id.isin(shown)].copy()
    if len(hit):  # prefer runs where fewer other rules fire, then the strongest case
        hit["n_fired"] = hit.rules_fired.str.count(";")
        rec = hit.sort_values(["n_fired", strength[r]], ascending=[True, False]).iloc[0]
        examples.append((f"rule {r}", rec))
        shown.add(rec.run_id)
for p in ("healthy", "underfit", "diverged"):
    hit = meta[meta.pathology == p].sort_values(["epochs_done", "run_id"])
    if len(hit):  # the median run; for diverged ones, the longest log
        examples.append((p, hit.iloc[-1] if p == "diverged" else hit.iloc[len(hit) // 2]))
fig, axes = plt.subplots(len(examples), 2, figsize=(7.5, 2.4 * len(examples)), squeeze=False)
for row, (name, rec) in zip(axes, examples):
    desc = (f"{name}: n_train={rec.n_train}, lr={rec.lr:g}, wd={rec.weight_decay:g}, "
            f"dropout={rec.dropout:g}, noise={rec.label_noise:g} | fired: {rec.rules_fired or '-'}")
    plot_run(read_log(log_path / f"{rec.run_id}.csv"), desc, axes=row)
fig.tight_layout()
