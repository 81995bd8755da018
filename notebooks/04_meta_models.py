# # Meta-models: predicting overfitting from the first k epochs
#
# Every run that reached epoch k is forecast, whatever its end state (diverged runs
# included). Models and baselines go through one evaluation stack
# (`overfit_forecast.evaluation.evaluate`): grouped cross-validation in which runs that share
# a configuration and differ only by seed are held out together; each run's label comes
# from its fold model's `predict`, its score from `predict_proba` (or the rule's value).
#
# - **Seed-study models** on the seed study's 11 features: logistic regression and a random
#   forest, and the forest with its decision threshold tuned by inner grouped CV
#   (`TunedThresholdClassifierCV`; its labels really come from the tuned threshold).
# - **The forecaster**: nested model selection (`GroupedModelSelection`): inside every outer
#   training fold, a logistic regression and a random forest (fixed candidates) on the curve
#   features and the hyperparameters are compared by inner `GroupKFold`, and the winner is
#   refit. The outer score never saw the choice.
# - **Baselines at the same k**: majority class, the labelling rules at k, Prechelt's GL_α,
#   a patience rule, the sign of the validation-loss slope, an Optuna MedianPruner-style rule.

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # per-run logs (to fit the saved epoch forecaster)
meta_dir = "_build/smoke/meta"  # meta_features.csv in; evaluation.json and the model out
k = 3  # observed window in epochs (must be one of notebook 03's windows)
gl_alpha_baseline = 5.0  # Prechelt GL_alpha baseline threshold (percent)
outer_folds = 10  # outer GroupKFold folds (0: leave-one-group-out)
inner_folds = 4  # inner GroupKFold folds of the nested selection
n_jobs = 2

# %%
import pandas as pd
import sklearn
from sklearn.model_selection import GroupKFold, TunedThresholdClassifierCV
from sklearn.pipeline import Pipeline

from overfit_forecast.cache import cached_json, inputs_digest
from overfit_forecast.evaluation import (cv_name, evaluate, forecastable, oof_permutation_importance, outer_cv,
                                         summary_at)
from overfit_forecast.features import CURVE_FEATURES, HPARAMS, EarlyCurveFeatures
from overfit_forecast.models import GroupedModelSelection, baselines, candidates, forecaster
from overfit_forecast.paths import project_path
from overfit_forecast.plots import plot_roc_pr
from overfit_forecast.runlog import read_log, save_model

sklearn.set_config(enable_metadata_routing=True)
meta_path = project_path(meta_dir)
table = pd.read_csv(meta_path / "meta_features.csv")
data = forecastable(table[table.k == k])
n_groups = data.group_id.nunique()
cv = outer_cv(outer_folds, n_groups)


SHOWN = ["forecaster", "seed_random_forest", "seed_logistic_regression", "rules_at_k",
         f"prechelt_gl{gl_alpha_baseline:g}"]  # predictions kept for the figures


def seed_models():
    seed = candidates("seed", names=("logistic_regression", "random_forest"))
    tuned = TunedThresholdClassifierCV(candidates("seed", names=("random_forest",))["random_forest"],
                                       scoring="balanced_accuracy", cv=GroupKFold(min(inner_folds, n_groups)))
    return {"seed_logistic_regression": seed["logistic_regression"], "seed_random_forest": seed["random_forest"],
            "seed_random_forest_tuned_threshold": tuned,
            "forecaster": forecaster("curves+hparams", inner_folds), **baselines(gl_alpha_baseline)}


def compute():
    rows, preds = evaluate(data, seed_models(), cv, n_jobs=n_jobs)
    try:  # permutation importance on held-out folds only (the forest candidate, fixed)
        imp = oof_permutation_importance(candidates()["random_forest"], data, data.overfit, data.group_id, cv,
                                         CURVE_FEATURES + HPARAMS, n_repeats=3).reset_index(names="feature")
    except ValueError:  # one-class folds (tiny sweeps)
        imp = pd.DataFrame(columns=["feature", "mean", "std"])
    return {"importance": imp.to_dict("records"),"k": k, "n_runs": int(table[table.k == k].shape[0]), "n_forecast": int(len(data)),
            "n_groups": int(n_groups), "n_positive": int(data.overfit.sum()),
            "cv": f"outer {cv_name(cv)}" +
                  f" over configurations; nested inner GroupKFold({inner_folds})",
            "rows": rows.to_dict("records"),
            "predictions": preds[preds.estimator.isin(SHOWN)].drop(columns=["group_id"]).to_dict("records")}


digest = inputs_digest([meta_path / "meta_features.csv"], {"k": k, "gl": gl_alpha_baseline, "outer": outer_folds,
                                                          "inner": inner_folds, "nb": "04"})
res = cached_json(meta_path / "evaluation.json", digest, compute)
rows = pd.DataFrame(res["rows"])
preds = pd.DataFrame(res["predictions"]) if res["predictions"] else pd.DataFrame(columns=["estimator", "run_id", "group_id", "k", "y", "pred", "score", "fold", "selected"])
print(f"k={k}: {res['n_forecast']} of {res['n_runs']} runs forecast (every run that reached epoch {k}), "
      f"{res['n_groups']} configurations, {res['n_positive']} overfit; {res['cv']}")

# %% [markdown]
# ## Scores (out-of-fold, binary view: overfit vs rest)

# %%
summary_at(rows, k).round(3)

# %% [markdown]
# Which candidate the nested selection chose in each outer fold:

# %%
preds[preds.estimator == "forecaster"].groupby("fold").selected.first().value_counts().rename("outer folds")

# %% [markdown]
# ## ROC and precision-recall curves

# %% mystnb={"figure": {"caption": "ROC (left) and precision-recall (right) curves of the forecaster, the seed-study models and two baselines, from their out-of-fold scores (grouped cross-validation); dotted: chance.", "name": "fig-roc-pr"}}
shown = SHOWN
wide = preds[preds.estimator.isin(shown)].pivot_table(index="run_id", columns="estimator", values="score")
y = preds.drop_duplicates("run_id").set_index("run_id").y.reindex(wide.index)
if len(wide) and y.nunique() == 2:
    plot_roc_pr(y.astype(int), {c: wide[c] for c in shown if c in wide});

# %% [markdown]
# ## What the forecaster looks at
#
# Permutation importance measured on **held-out folds only**: in every outer fold the
# forest candidate is fit on the training configurations, and the drop in ROC-AUC on the
# test configurations is measured when one column is shuffled (mean and standard deviation
# over folds).

# %% mystnb={"figure": {"caption": "What the forecaster looks at: permutation importance measured on held-out folds only, the drop in ROC-AUC when one column is shuffled (mean and standard deviation over outer folds; the 15 largest).", "name": "fig-importances"}}
imp = pd.DataFrame(res["importance"])
if len(imp) and imp["mean"].notna().any():
    imp = imp.astype({"mean": float, "std": float}).fillna({"std": 0.0})
    from overfit_forecast.plots import plot_importances
    plot_importances(imp.set_index("feature")["mean"].head(15), title="held-out permutation importance (ROC-AUC)",
                     xerr=imp.set_index("feature")["std"].head(15));

# %% [markdown]
# ## The saved epoch forecaster
#
# For `overfit-forecast predict` on per-epoch logs: one scikit-learn Pipeline, the feature
# extractor with its window k followed by the candidate the nested selection picks on every
# run, fit on the curve features only (a user's run has other hyperparameters than this
# sweep; an unknown plan of epochs is imputed with the sweep's median).

# %%
model_path = meta_path / f"forecaster_epochs_k{k}.skops"


def fit_and_save():
    chooser = GroupedModelSelection(candidates("curves"), inner_folds).fit(data, data.overfit, groups=data.group_id)
    logs = [(read_log(project_path(log_dir) / f"{r}.csv"), e) for r, e in zip(data.run_id, data.epochs)]
    epoch_model = Pipeline([("features", EarlyCurveFeatures(k)), ("model", candidates("curves")[chooser.selected_])])
    save_model(epoch_model.fit(logs, data.overfit.to_numpy()), model_path)
    return {"selected": chooser.selected_, "inner_scores": chooser.inner_scores_}


if not model_path.exists():
    (meta_path / f"forecaster_epochs_k{k}.json").unlink(missing_ok=True)
saved = cached_json(meta_path / f"forecaster_epochs_k{k}.json", digest, fit_and_save)
print(f"{model_path.name}: {saved['selected']} (inner ROC-AUC {saved['inner_scores']})")
