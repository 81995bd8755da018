# # How general is the forecast? Another dataset, another architecture
#
# The same sweep space run on **Fashion-MNIST** with the same CNN, and on **MNIST with an MLP**
# (`configs/sweep_fashion_mnist.yaml`, `configs/sweep_mnist_mlp.yaml`); the same logs, labels
# (with chapter 2's thresholds, `label_thresholds.json`), features and evaluation stack.
# Within each sweep the forecaster (nested choice, chapter 4) is evaluated by grouped
# cross-validation at window k; across sweeps, a forecaster fit on every run of one sweep
# predicts every run of another (**transfer**), and the drop against the target's own
# cross-validated score says how far the forecast travels. These sweeps were not looked at
# while the features and candidates were designed.

# %% tags=["parameters"]
sweeps = {"mnist_cnn": "_build/smoke/logs/mnist", "copy_of_mnist_cnn": "_build/smoke/logs/mnist"}  # name -> log folder
sweep_spaces = {}  # name -> space YAML: these sweeps are run (or resumed) first, like notebook 01
workers = 1  # parallel training processes for those sweeps
meta_dir = "_build/smoke/meta"  # label_thresholds.json in, evaluation_transfer.json out
k = 3  # observed window (the study: 10)
outer_folds = 10
inner_folds = 4
n_jobs = 2

# %%
import numpy as np
import pandas as pd
import sklearn

from overfit_forecast.cache import cached_json, inputs_digest
from overfit_forecast.evaluation import binary_metrics, evaluate, forecastable, outer_cv
from overfit_forecast.features import build_feature_table
from overfit_forecast.labels import build_meta_dataset, load_thresholds
from overfit_forecast.models import forecaster
from overfit_forecast.paths import project_path
from overfit_forecast.sweep import load_space, run_sweep, sample_configs

sklearn.set_config(enable_metadata_routing=True)
for name, space in sweep_spaces.items():  # resumable: complete runs are skipped
    run_sweep(sample_configs(load_space(project_path(space))), project_path(sweeps[name]), workers=workers,
              progress=False)

meta_path = project_path(meta_dir)
th = load_thresholds(meta_path)
paths = {n: project_path(f) for n, f in sweeps.items() if (project_path(f) / "sweep.csv").exists()}


def compute():
    data, summary, within, transfer = {}, [], [], []
    for name, path in paths.items():
        meta = build_meta_dataset(path, th)
        table = build_feature_table(path, meta, [k], th)
        data[name] = forecastable(table)
        summary.append({"sweep": name, "runs": len(meta), "forecast": len(data[name]),
                        "overfit rate": float(data[name].overfit.mean()),
                        "diverged": int((meta.pathology == "diverged").sum())})
    for name, d in data.items():
        if d.overfit.nunique() < 2:
            continue
        rows, _ = evaluate(d, {"forecaster": forecaster("curves+hparams", inner_folds)},
                           outer_cv(outer_folds, d.group_id.nunique()), n_jobs=n_jobs)
        within += [{"train": name, "test": name, **r} for r in rows.to_dict("records")]
    for src, ds in data.items():
        if ds.overfit.nunique() < 2:
            continue
        model = forecaster("curves+hparams", inner_folds).fit(ds, ds.overfit, groups=ds.group_id)
        for tgt, dt in data.items():
            if tgt == src:
                continue
            proba = model.predict_proba(dt)[:, 1]
            m = binary_metrics(dt.overfit, model.predict(dt), proba, proba)
            transfer += [{"train": src, "test": tgt, "estimator": "forecaster", "view": "binary", "k": k,
                          "metric": a, "value": b} for a, b in m.items()]
    return {"k": k, "sweeps": {n: str(f) for n, f in sweeps.items()}, "summary": summary,
            "within": within, "transfer": transfer}


digest = inputs_digest([*paths.values(), meta_path / "label_thresholds.json"],
                       {"k": k, "o": outer_folds, "i": inner_folds, "nb": "08"})
res = cached_json(meta_path / "evaluation_transfer.json", digest, compute)
pd.DataFrame(res["summary"]).set_index("sweep").round(3)

# %% [markdown]
# ## Within each sweep and across sweeps (ROC-AUC and balanced accuracy, overfit vs rest)

# %%
allr = pd.DataFrame(res["within"] + res["transfer"])
if len(allr):
    t = allr[allr.metric.isin(["roc_auc", "balanced_accuracy"])].pivot_table(
        index=["train", "test"], columns="metric", values="value")
    within = t[[a == b for a, b in t.index]].droplevel("train")
    t = t.join(within.add_prefix("within_"), on="test")
    t["drop_roc_auc"] = t.within_roc_auc - t.roc_auc
    display_table = t.round(3)
else:
    display_table = "fewer than two sweeps"
display_table
