# %% [markdown]
# # Early features: what the first k epochs show
#
# From epochs 1..k of each log only (`overfit_forecast.features`): the nine features of
# the seed study (mean, max and least-squares slope of the generalization gap; slopes of
# training/validation accuracy and loss; training and validation accuracy at k) plus
# Prechelt's generalization loss GL(k) and training progress P_5(k). Rows after epoch k are
# never read (a unit test checks that a log truncated after epoch k gives the same features).

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # per-run logs (from notebook 01)
meta_dir = "_build/smoke/meta"  # meta_dataset.csv in, meta_features.csv out
k = 3  # observed window in epochs (the study uses 10)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from overfit_forecast.features import FEATURES, build_feature_table
from overfit_forecast.paths import project_path
from overfit_forecast.plots import plot_correlation_heatmap, plot_curves_by_label, plot_feature_distributions
from overfit_forecast.training import atomic_write_text

log_path, meta_path = project_path(log_dir), project_path(meta_dir)
meta = pd.read_csv(meta_path / "meta_dataset.csv")
table = build_feature_table(log_path, meta, k)
atomic_write_text(meta_path / "meta_features.csv", table.to_csv(index=False))
print(f"features for {int(table.has_k_epochs.sum())} of {len(table)} runs "
      f"({int((~table.has_k_epochs).sum())} stopped before epoch {k})")

# %% [markdown]
# ## Curves coloured by label
#
# The generalization gap and the validation loss of every run, coloured by its label from
# the full log; the dotted line is epoch k, where the forecast has to be made.

# %% mystnb={"figure": {"caption": "Generalization gap (left) and validation loss (right, log scale) of every completed run, coloured by its label from the full log; the dotted line is epoch k, where the forecast is made.", "name": "fig-curves-by-label"}}
fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
plot_curves_by_label(meta[meta.status == "completed"], log_path, "gap", k=k, ax=axes[0])
plot_curves_by_label(meta[meta.status == "completed"], log_path, "val_loss", k=k, ax=axes[1])
axes[1].set_yscale("log")
fig.tight_layout()

# %% [markdown]
# ## Feature distributions by label

# %% mystnb={"figure": {"caption": "Distribution of each early feature (epochs 1..k) for runs that end overfit and runs that do not (densities, labelled runs only).", "name": "fig-feature-distributions"}}
plot_feature_distributions(table);

# %%
table[table.overfit.notna()].groupby("overfit")[FEATURES].median().T.round(4)

# %% [markdown]
# ## Correlations
#
# Spearman correlations between the early features, the label and the hyperparameters.

# %% mystnb={"figure": {"caption": "Spearman rank correlations between the early features, the overfit label and the hyperparameters (labelled runs with at least k epochs).", "name": "fig-correlations"}}
hparams = ["lr", "n_train", "epochs", "weight_decay", "dropout", "batch_size", "label_noise", "width"]
joined = table.merge(meta[["run_id"] + hparams], on="run_id")
joined = joined[joined.overfit.notna() & joined.has_k_epochs]
plot_correlation_heatmap(joined, FEATURES + ["overfit"] + hparams);
