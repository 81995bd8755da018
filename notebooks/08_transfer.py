# %% [markdown]
# # How general is the forecast? Another dataset, another architecture
#
# The same sweep space run on **Fashion-MNIST** with the same CNN, and on **MNIST with an MLP**
# (`configs/sweep_fashion_mnist.yaml`, `configs/sweep_mnist_mlp.yaml`); the same logs, labels
# and early features. Within each sweep the forecast is evaluated by grouped leave-one-out as
# in chapter 4; across sweeps, a meta-model fit on every labelled run of one sweep predicts
# every run of another (**transfer**), and the drop against the target's own leave-one-out
# says how far the forecast travels.

# %% tags=["parameters"]
sweeps = {"mnist_cnn": "_build/smoke/logs/mnist", "copy_of_mnist_cnn": "_build/smoke/logs/mnist"}  # name -> log folder
sweep_spaces = {}  # name -> space YAML: these sweeps are run (or resumed) first, like notebook 01
workers = 1  # parallel training processes for those sweeps
meta_dir = "_build/smoke/meta"  # evaluation_transfer.json goes here
k = 3  # observed window (the study: 10)

# %%
import numpy as np
import pandas as pd
from sklearn.base import clone

from overfit_forecast.beyond import build_table, make_models
from overfit_forecast.evaluation import classification_metrics, labelled_rows, loo_predictions, write_json
from overfit_forecast.labels import build_meta_dataset
from overfit_forecast.paths import project_path

from overfit_forecast.sweep import load_space, run_sweep, sample_configs

for name, space in sweep_spaces.items():  # resumable: complete runs are skipped
    run_sweep(sample_configs(load_space(project_path(space))), project_path(sweeps[name]), workers=workers,
              progress=False)

MODELS = ["logistic_regression", "random_forest", "hyperparameters_and_features"]
models = {m: make_models(k)[m] for m in MODELS}
data, metas = {}, {}
for name, folder in sweeps.items():
    path = project_path(folder)
    if not (path / "sweep.csv").exists():
        print(f"{name}: no sweep at {folder}; skipped")
        continue
    metas[name] = build_meta_dataset(path)
    data[name] = labelled_rows(build_table(path, metas[name], k))
summary = pd.DataFrame({n: {"runs": len(metas[n]), "labelled": len(d), "overfit rate": d.overfit.mean(),
                            "diverged": int((metas[n].pathology == "diverged").sum())}
                        for n, d in data.items()}, index=["runs", "labelled", "overfit rate", "diverged"]).T
summary

# %% [markdown]
# ## Within each sweep (grouped leave-one-out)

# %%
rows = []
for name, d in data.items():
    y = d.overfit.astype(int).to_numpy()
    for m, est in models.items():
        if len(np.unique(y)) < 2:
            continue
        p = loo_predictions(est, d, y, d.group_id.to_numpy())
        met = classification_metrics(y, p["pred"], p["score"], p["proba"])
        rows.append(dict(train=name, test=name, model=m, **{k_: v for k_, v in met.items() if k_ != "confusion_matrix"}))
within = pd.DataFrame(rows, columns=["train", "test", "model", "roc_auc", "pr_auc", "balanced_accuracy",
                                     "precision", "recall", "brier"])
within.set_index(["test", "model"])[["roc_auc", "balanced_accuracy", "recall"]].round(3)

# %% [markdown]
# ## Across sweeps (fit on one, test on another)

# %%
rows = []
for src, ds in data.items():
    for tgt, dt in data.items():
        if src == tgt or ds.overfit.nunique() < 2:
            continue
        y = dt.overfit.astype(int).to_numpy()
        for m, est in models.items():
            fitted = clone(est).fit(ds, ds.overfit.astype(int))
            proba = fitted.predict_proba(dt)[:, 1]
            met = classification_metrics(y, (proba >= 0.5).astype(int), proba, proba)
            rows.append(dict(train=src, test=tgt, model=m, **{k_: v for k_, v in met.items() if k_ != "confusion_matrix"}))
transfer = pd.DataFrame(rows)
if len(transfer) and len(within):
    ref = within.set_index(["test", "model"]).balanced_accuracy
    transfer["within_loo_balanced_accuracy"] = [ref.get((t, m), np.nan) for t, m in zip(transfer.test, transfer.model)]
    transfer["drop"] = transfer.within_loo_balanced_accuracy - transfer.balanced_accuracy
transfer.round(3) if len(transfer) else "fewer than two sweeps"

# %%
write_json({"k": k, "sweeps": {n: str(f) for n, f in sweeps.items()},
            "summary": summary.reset_index(names="sweep").to_dict("records"),
            "within": within.to_dict("records"), "transfer": transfer.to_dict("records")},
           project_path(meta_dir) / "evaluation_transfer.json")
