# %% [markdown]
# # Meta-models: predicting overfitting from the first k epochs
#
# Logistic regression (standardized features) and a random forest, evaluated by
# **leave-one-group-out**: every run is predicted by a model that never saw it, and runs that
# share a configuration and differ only by seed are left out together
# (`sklearn.model_selection.LeaveOneGroupOut`). Baselines at the same k, evaluated the
# same way: the majority class, the labelling rules applied to the first k epochs, and
# Prechelt's GL_α at epoch k. In-sample scores (fit on all runs, predict the same runs) are
# shown next to LOO, as the seed study reported both.

# %% tags=["parameters"]
meta_dir = "_build/smoke/meta"  # meta_features.csv in; evaluation.json and models out
k = 3  # observed window in epochs (must match notebook 03)
gl_alpha_baseline = 5.0  # Prechelt GL_alpha baseline threshold (percent)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from overfit_forecast.evaluation import (
    coefficients, evaluate_meta_models, importances, labelled_rows, results_table,
    save_meta_model, write_json,
)
from overfit_forecast.features import FEATURES
from overfit_forecast.paths import project_path
from overfit_forecast.plots import plot_importances, plot_roc_pr
from overfit_forecast.training import atomic_write_text

meta_path = project_path(meta_dir)
table = pd.read_csv(meta_path / "meta_features.csv")
results, fitted, preds = evaluate_meta_models(table, k, gl_alpha=gl_alpha_baseline)
write_json(results, meta_path / "evaluation.json")
atomic_write_text(meta_path / "loo_predictions.csv", preds.to_csv(index=False))
for name in ("logistic_regression", "random_forest"):
    if name in fitted:
        save_meta_model(fitted[name], meta_path / f"meta_model_{name}_k{k}.skops")
print(f"k={k}: {results['n_labelled']} labelled runs in {results['n_groups']} groups, "
      f"{results['n_positive']} overfit ({results['positive_rate']:.1%})")

# %% [markdown]
# ## Leave-one-group-out vs in-sample

# %%
cols = ["kind", "roc_auc", "pr_auc", "balanced_accuracy", "precision", "recall"]
loo = results_table(results, "loo")
ins = results_table(results, "in_sample")
pd.concat({"leave-one-group-out": loo[cols[1:]], "in-sample": ins[cols[1:]]}, axis=1).round(3) if len(loo) else "too few runs"

# %% [markdown]
# ## Confusion matrices (leave-one-group-out)
#
# Rows: true class (not overfit, overfit); columns: predicted.

# %%
for kind in ("models", "baselines"):
    for name, r in results[kind].items():
        (tn, fp), (fn, tp) = r["loo"]["confusion_matrix"]
        print(f"{name:22s} TN={tn:4d} FP={fp:4d} FN={fn:4d} TP={tp:4d}")

# %% [markdown]
# ## ROC and precision-recall curves

# %% mystnb={"figure": {"caption": "ROC (left) and precision-recall (right) curves of the meta-models and baselines, from their leave-one-group-out scores; dotted: chance.", "name": "fig-roc-pr"}}
y = preds.overfit.astype(int)
if y.nunique() == 2:
    plot_roc_pr(y, {c.removesuffix("_loo_score"): preds[c] for c in preds if c.endswith("_loo_score")
                    and not c.startswith("majority")});

# %% [markdown]
# ## What the models look at
#
# Standardized logistic-regression coefficients (change in log-odds of overfitting per
# standard deviation of the feature), the forest's impurity importances, and permutation
# importances (drop in ROC-AUC when the feature is shuffled), all from the models fit on
# every labelled run.

# %% mystnb={"figure": {"caption": "What the models look at: standardized logistic-regression coefficients (top), the forest's impurity importances (middle) and permutation importances as the drop in ROC-AUC (bottom, with their standard deviation), from the models fit on every labelled run.", "name": "fig-importances"}}
if "random_forest" in fitted:
    data = labelled_rows(table)
    yy = data.overfit.astype(int)
    fig, axes = plt.subplots(3, 1, figsize=(7, 10))
    plot_importances(coefficients(fitted["logistic_regression"]), axes[0], "logistic regression coefficients")
    imp = importances(fitted["random_forest"], data, yy)
    plot_importances(imp["impurity"].sort_values(ascending=False), axes[1], "random forest: impurity importance")
    plot_importances(imp["permutation_mean"], axes[2], "random forest: permutation importance (ROC-AUC)",
                     xerr=imp["permutation_std"])
    fig.tight_layout()
