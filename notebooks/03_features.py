# %% [markdown]
# # Early features: what the first k epochs show
#
# From epochs 1..k of each log only (`overfit_forecast.features`): the nine features of
# the seed study (mean, max and least-squares slope of the generalization gap; slopes of
# training/validation accuracy and loss; training and validation accuracy at k) plus
# Prechelt's generalization loss GL(k) and training progress P_5(k), and richer features of
# the same window: the trend of the validation loss over the window's last epochs, where its
# minimum is and how far it has risen since, the ratio and gap of the losses, the fraction
# of planned epochs observed and the epochs remaining. Rows after epoch k are never read (a
# unit test checks that a log truncated after epoch k gives the same features).
#
# The table holds one row per run **and window** k (every k of the study): chapter 7 trains
# on all windows (augmentation by truncation) and reports each. Every run is counted; a run
# that did not reach epoch k (its loss became non-finite earlier) keeps a row with
# `reached_k = False`. The labelling thresholds are those of chapter 2
# (`label_thresholds.json`), used by the rules-at-k baseline.

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # per-run logs (from notebook 01)
meta_dir = "_build/smoke/meta"  # meta_dataset.csv in, meta_features.csv out
k = 3  # observed window in epochs (the study uses 10)
ks = [2, 3]  # every window of the table (the study: 2, 3, 5, 7, 10, 15)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from overfit_forecast.cache import cached_json, inputs_digest
from overfit_forecast.features import CURVE_FEATURES, FEATURES, HPARAMS, build_feature_table
from overfit_forecast.labels import load_thresholds
from overfit_forecast.paths import project_path
from overfit_forecast.plots import plot_correlation_heatmap, plot_curves_by_label, plot_feature_distributions
from overfit_forecast.runlog import atomic_write_text

log_path, meta_path = project_path(log_dir), project_path(meta_dir)
meta = pd.read_csv(meta_path / "meta_dataset.csv")
th = load_thresholds(meta_path)
windows = sorted(set(ks) | {k})
digest = inputs_digest([log_path, meta_path / "meta_dataset.csv", meta_path / "label_thresholds.json"],
                       {"ks": windows})
csv_path, stamp = meta_path / "meta_features.csv", meta_path / "meta_features.json"


def compute():
    t = build_feature_table(log_path, meta, windows, th)
    atomic_write_text(csv_path, t.to_csv(index=False))
    return {"rows": len(t), "windows": windows}


if not csv_path.exists():
    stamp.unlink(missing_ok=True)  # the stamp alone does not make a table
cached_json(stamp, digest, compute)
all_windows = pd.read_csv(csv_path)
table = all_windows[all_windows.k == k].reset_index(drop=True)
counts = all_windows.groupby("k").reached_k.agg(["size", "sum"]).rename(columns={"size": "runs", "sum": "reached k"})
counts

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
plot_feature_distributions(table[table.reached_k].assign(overfit=lambda t: t.overfit.astype(float)));

# %%
table[table.reached_k].groupby("end_state")[CURVE_FEATURES].median().T.round(4)

# %% [markdown]
# ## Correlations
#
# Spearman correlations between the early features, the label and the hyperparameters.

# %% mystnb={"figure": {"caption": "Spearman rank correlations between the early features, the overfit label and the hyperparameters (labelled runs with at least k epochs).", "name": "fig-correlations"}}
joined = table[table.reached_k]
plot_correlation_heatmap(joined, CURVE_FEATURES + ["overfit"] + HPARAMS);
