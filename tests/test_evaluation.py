import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.metrics import balanced_accuracy_score

from overfit_forecast.evaluation import (
    ThresholdRule, classification_metrics, evaluate_meta_models, labelled_rows, loo_predictions,
    results_table,
)
from overfit_forecast.features import FEATURES


def table(n=60, seed=0, separable=True, copies=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, len(FEATURES)))
    if separable:
        X[:, 0] += 3 * y  # gap_mean carries the label
    t = pd.DataFrame(X, columns=FEATURES)
    t["run_id"] = [f"r{i}" for i in range(n)]
    t["group_id"] = [f"g{i}" for i in range(n)]
    t["overfit"] = y.astype(float)
    t["has_k_epochs"] = True
    t["rules_any_at_k"] = (X[:, 0] > 1.5).astype(int)
    t["gl_at_k"] = np.abs(X[:, 1]) * 10
    if copies > 1:  # runs differing only by seed: identical features, same group
        t = pd.concat([t.assign(run_id=t.run_id + f"s{c}") for c in range(copies)], ignore_index=True)
    return t


def test_models_beat_baselines_on_separable_features():
    res, fitted, preds = evaluate_meta_models(table(), k=10)
    assert res["n_labelled"] == 60 and res["n_groups"] == 60
    for m in ("logistic_regression", "random_forest"):
        assert res["models"][m]["loo"]["roc_auc"] > 0.9
        assert res["models"][m]["in_sample"]["roc_auc"] >= res["models"][m]["loo"]["roc_auc"]
    maj = res["baselines"]["majority_class"]["loo"]
    assert maj["roc_auc"] == 0.5 and maj["balanced_accuracy"] == 0.5  # constant score, no LOO leak
    assert len(preds) == 60 and "random_forest_loo_score" in preds
    assert set(results_table(res).index) >= {"logistic_regression", "rules_at_k", "prechelt_gl5"}


def test_groups_are_left_out_together():
    t = table(n=40, separable=False, copies=2)  # labels are noise; each group has 2 identical runs
    y = t.overfit.astype(int).to_numpy()
    knn = KNeighborsClassifier(n_neighbors=1)
    by_group = loo_predictions(knn, t[FEATURES], y, t.group_id)
    by_run = loo_predictions(knn, t[FEATURES], y, t.run_id)  # plain leave-one-out leaks the twin
    assert balanced_accuracy_score(y, by_run["pred"]) == 1.0
    assert balanced_accuracy_score(y, by_group["pred"]) < 0.75


def test_threshold_rule_and_metrics():
    X = pd.DataFrame({"gl_at_k": [0.0, 4.0, 6.0, 20.0]})
    rule = ThresholdRule("gl_at_k", 5.0).fit(X, [0, 0, 1, 1])
    assert rule.predict(X).tolist() == [0, 0, 1, 1]
    m = classification_metrics([0, 0, 1, 1], rule.predict(X), rule.decision_function(X))
    assert m["roc_auc"] == 1.0 and m["confusion_matrix"] == [[2, 0], [0, 2]]
    assert classification_metrics([1, 1], [1, 0], [0.2, 0.1])["roc_auc"] is None  # one class
    with pytest.raises(KeyError, match="nope"):
        ThresholdRule("nope").decision_function(X)


def test_unlabelled_and_short_runs_are_excluded():
    t = table(n=10)
    t.loc[0, "overfit"] = np.nan  # diverged
    t.loc[1, "has_k_epochs"] = False
    t.loc[2, "gap_max"] = np.inf
    assert len(labelled_rows(t)) == 7
