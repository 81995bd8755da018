import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import (
    GroupKFold,
    LeaveOneGroupOut,
    TunedThresholdClassifierCV,
)
from sklearn.neighbors import KNeighborsClassifier

from overfit_forecast.evaluation import (
    binary_metrics,
    bootstrap_ci,
    cv_name,
    evaluate,
    forecastable,
    oof_predictions,
    outer_cv,
)
from overfit_forecast.features import CURVE_FEATURES, HPARAMS
from overfit_forecast.models import (
    GroupedModelSelection,
    ThresholdRule,
    baselines,
    candidates,
)


def table(n=60, seed=0, separable=True, copies=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, len(CURVE_FEATURES)))
    if separable:
        X[:, 0] += 5 * y  # gap_mean carries the label
    t = pd.DataFrame(X, columns=CURVE_FEATURES)
    for h in HPARAMS:
        t[h] = rng.uniform(1, 10, n)
    t["run_id"] = [f"r{i}" for i in range(n)]
    t["group_id"] = [f"g{i}" for i in range(n)]
    t["overfit"] = y
    t["end_state"] = np.where(y == 1, "overfit", "healthy")
    t["k"], t["reached_k"] = 10, True
    t["rules_any_at_k"] = (X[:, 0] > 1.5).astype(int)
    t["gl_at_k"] = np.abs(X[:, 1]) * 10
    t["val_loss_at_k"] = X[:, 2]
    if copies > 1:  # runs differing only by seed: identical features, same group
        t = pd.concat([t.assign(run_id=t.run_id + f"s{c}") for c in range(copies)], ignore_index=True)
    return t


def test_forecaster_beats_baselines_on_separable_features():
    rows, preds = evaluate(table(), {"forecaster": GroupedModelSelection(candidates(), 3), **baselines()},
                           GroupKFold(5))
    auc = rows[rows.metric == "roc_auc"].set_index("estimator").value
    assert auc["forecaster"] > 0.9 and auc["majority_class"] <= 0.6  # constant within each fold
    assert set(preds.estimator) >= {"forecaster", "rules_at_k", "median_pruner"}
    assert preds[preds.estimator == "forecaster"].selected.notna().all()


def test_groups_are_left_out_together():
    t = table(n=40, separable=False, copies=2)  # labels are noise; each group has 2 identical runs
    y = t.overfit.to_numpy()
    knn = KNeighborsClassifier(n_neighbors=1)
    X = t[CURVE_FEATURES]
    by_group = oof_predictions(knn, X, y, t.group_id, LeaveOneGroupOut())
    by_run = oof_predictions(knn, X, y, t.run_id, LeaveOneGroupOut())  # plain leave-one-out leaks the twin
    assert balanced_accuracy_score(y, by_run["pred"]) == 1.0
    assert balanced_accuracy_score(y, by_group["pred"]) < 0.75


def test_outer_cv_zero_is_leave_one_group_out():
    t = table(n=12, copies=2)
    logo = outer_cv(0, t.group_id.nunique())
    tests = [t.group_id.iloc[te].unique() for _, te in logo.split(t, t.overfit, t.group_id)]
    assert len(tests) == 12 and all(len(g) == 1 for g in tests)  # one configuration, both seeds, per fold
    assert cv_name(logo) == "LeaveOneGroupOut"
    assert cv_name(outer_cv(10, 4)) == "GroupKFold(4)"  # never more folds than groups
    with pytest.raises(ValueError, match="outer_folds"):
        outer_cv(-1, 12)


def test_tuned_threshold_labels_come_from_its_predict():
    """Issue 9, item 1: the tuned-threshold forest is scored by its own predict, so where its
    labels differ from the plain forest's, its balanced accuracy differs too."""
    t = table(n=120, seed=3)
    rng = np.random.default_rng(1)
    t["overfit"] = ((t.gap_mean + rng.normal(0, 1.5, len(t))) > 3.5).astype(int)  # rare, noisy positives
    forest = candidates(names=("random_forest",))["random_forest"]
    tuned = TunedThresholdClassifierCV(forest, scoring="balanced_accuracy", cv=GroupKFold(3))
    rows, preds = evaluate(t, {"plain": forest, "tuned": tuned}, GroupKFold(5))
    p = preds.pivot_table(index="run_id", columns="estimator", values="pred")
    assert (p.plain != p.tuned).any()
    ba = rows[rows.metric == "balanced_accuracy"].set_index("estimator").value
    assert ba["plain"] != ba["tuned"]


def test_selection_routes_groups_to_inner_folds():
    t = table(n=40, separable=False, copies=2)
    sel = GroupedModelSelection({"knn": KNeighborsClassifier(1), "lr": candidates()["logistic_regression"]}, 4)
    X = t[CURVE_FEATURES + HPARAMS]
    sel.fit(X, t.overfit, groups=t.group_id)
    assert sel.inner_scores_["knn"] < 0.8  # with twins split across inner folds 1-NN would score 1.0
    with pytest.raises(ValueError, match="groups"):
        sel.fit(X, t.overfit)


def test_every_reached_run_is_forecast_and_multiclass_rows():
    t = table(n=30)
    t.loc[0, "end_state"] = "diverged"
    t.loc[0, "overfit"] = 0
    t.loc[1, "reached_k"] = False
    d = forecastable(t)
    assert len(d) == 29 and "diverged" in set(d.end_state)
    rows, _ = evaluate(d, {"lr": candidates()["logistic_regression"]}, GroupKFold(3), target="end_state")
    mc = rows[rows.view == "multiclass"].set_index("metric").value
    assert {"recall_diverged", "precision_overfit", "balanced_accuracy"} <= set(mc.index)


def test_metrics_and_bootstrap():
    m = binary_metrics([0, 0, 1, 1], [0, 0, 1, 1], [0.0, 4.0, 6.0, 20.0])
    assert m["roc_auc"] == 1.0 and (m["tn"], m["tp"]) == (2, 2)
    assert np.isnan(binary_metrics([1, 1], [1, 0], [0.2, 0.1])["roc_auc"])  # one class
    rule = ThresholdRule("gl_at_k", 5.0).fit(None, None)
    assert rule.predict(pd.DataFrame({"gl_at_k": [1.0, 9.0]})).tolist() == [0, 1]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    pred = pd.DataFrame({"y": y, "pred": y, "score": y + rng.normal(0, 0.8, 200), "group_id": np.arange(200) // 2})
    ci = bootstrap_ci(pred, n_boot=200)
    assert ci["roc_auc"]["low"] < ci["roc_auc"]["estimate"] < ci["roc_auc"]["high"]
    assert ci["balanced_accuracy"]["estimate"] == 1.0


def test_train_holdout_split_scores_the_holdout_rows_only():
    t = table(n=80)
    from overfit_forecast.evaluation import HoldoutSplit

    hold = np.arange(60, 80)
    rows, preds = evaluate(t, {"forecaster": GroupedModelSelection(candidates(), 3), **baselines()},
                           HoldoutSplit(np.arange(80) >= 60))
    f = preds[preds.estimator == "forecaster"]
    assert sorted(f.run_id) == sorted(t.run_id.iloc[hold]) and (f.fold == 0).all()
    auc = rows[(rows.metric == "roc_auc") & (rows.estimator == "forecaster")].value.iloc[0]
    from sklearn.metrics import roc_auc_score
    assert auc == pytest.approx(roc_auc_score(f.y, f.score)) and auc > 0.9  # computed on the 20 new runs
    assert int(rows[(rows.metric == "n") & (rows.estimator == "forecaster")].value.iloc[0]) == 20


def test_evaluated_group_kfold_keeps_the_scored_rows_folds_and_trains_on_every_cut():
    from sklearn.model_selection import GroupKFold

    from overfit_forecast.evaluation import EvaluatedGroupKFold
    rng = np.random.default_rng(0)
    groups = np.repeat([f"repo{i}" for i in range(12)], rng.integers(2, 9, 12))
    scored = rng.random(groups.size) < 0.4
    scored[np.unique(groups, return_index=True)[1]] = True  # every group has a scored row
    cv = EvaluatedGroupKFold(4, scored)
    plain = list(GroupKFold(4).split(np.zeros(scored.sum()), groups=groups[scored]))
    idx = np.flatnonzero(scored)
    for (train, test), (_, t) in zip(cv.split(groups=groups), plain, strict=True):
        assert np.array_equal(test, idx[t])  # the same test rows as GroupKFold on the scored rows
        assert not set(groups[train]) & set(groups[test])  # no group on both sides
        assert set(train) == set(np.flatnonzero(~np.isin(groups, groups[test])))  # every cut of the others trains
    with pytest.raises(ValueError, match="groups"):
        next(cv.split())


def test_evaluated_group_kfold_shuffled_is_repeated_grouped_kfold():
    from overfit_forecast.evaluation import EvaluatedGroupKFold
    rng = np.random.default_rng(2)
    groups = np.repeat([f"repo{i}" for i in range(20)], rng.integers(2, 6, 20))
    scored = rng.random(groups.size) < 0.5
    scored[np.unique(groups, return_index=True)[1]] = True

    def fold_groups(cv):
        folds = list(cv.split(groups=groups))
        for train, test in folds:
            assert not set(groups[train]) & set(groups[test]) and scored[test].all()
            assert set(train) == set(np.flatnonzero(~np.isin(groups, groups[test])))
        assert np.array_equal(np.sort(np.concatenate([t for _, t in folds])), np.flatnonzero(scored))
        return sorted(tuple(sorted(set(groups[t]))) for _, t in folds)

    def shuffled(seed):
        return fold_groups(EvaluatedGroupKFold(5, scored, shuffle=True, random_state=seed))

    assert shuffled(0) == shuffled(0)  # seeded: the same folds on every call
    assert len({tuple(shuffled(s)) for s in range(5)}) > 1  # other seeds deal the groups otherwise
    unshuffled = fold_groups(EvaluatedGroupKFold(5, scored))
    assert any(shuffled(s) != unshuffled for s in range(5))


def test_evaluated_group_kfold_by_column_equals_the_mask_form():
    from overfit_forecast.evaluation import EvaluatedGroupKFold
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"f": rng.choice([0.1, 0.3, 0.5, 0.9], 80)})
    groups = np.repeat(np.arange(16), 5)
    by_mask = list(EvaluatedGroupKFold(4, X.f.isin([0.3, 0.5]).to_numpy()).split(X, groups=groups))
    by_column = list(EvaluatedGroupKFold(4, ("f", (0.3, 0.5))).split(X, groups=groups))
    for (a, b), (c, d) in zip(by_mask, by_column, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    assert set(X.f.iloc[np.concatenate([t for _, t in by_column])]) == {0.3, 0.5}
    # a subset of the rows (as a nested selector's inner CV sees them) still splits by its own f
    sub = list(EvaluatedGroupKFold(2, ("f", (0.3,))).split(X.iloc[:40], groups=groups[:40]))
    assert all((X.f.iloc[:40].to_numpy()[t] == 0.3).all() for _, t in sub)
