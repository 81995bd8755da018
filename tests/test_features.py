import numpy as np
import pandas as pd
import pytest
from conftest import make_log
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from overfit_forecast.features import (
    CURVE_FEATURES,
    FEATURES,
    EarlyCurveFeatures,
    TooFewEpochsError,
    build_feature_table,
    early_features,
    rules_at_k,
    window_features,
)


def rng_log(seed, n=31):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    tr = np.clip(0.9 + 0.1 * (1 - np.exp(-t / 4)) + rng.normal(0, 0.005, n), 0, 1)
    va = np.clip(0.9 + 0.05 * (1 - np.exp(-t / 4)) + rng.normal(0, 0.005, n), 0, 1)
    return make_log(tr, va, train_loss=np.exp(-t / 5) + 0.01, val_loss=0.2 + rng.random(n))


@pytest.mark.parametrize("k", [2, 5, 10])
def test_features_of_truncated_log_equal_full_log(k):
    log = rng_log(k)
    full = early_features(log, k)
    cut = early_features(log[log.epoch <= k], k)
    assert full == cut
    assert window_features(log, k, 30) == window_features(log[log.epoch <= k], k, 30)
    assert rules_at_k(log, k) == rules_at_k(log[log.epoch <= k], k)


def test_known_linear_curves():
    t = np.arange(11)
    log = make_log(0.5 + 0.03 * t, 0.5 + 0.01 * t, train_loss=2 - 0.1 * t, val_loss=np.r_[2 - 0.1 * t[:6], 1.5 + 0.1 * np.arange(1, 6)])
    f = early_features(log, 10)
    assert f["gap_slope"] == pytest.approx(0.02)
    assert f["train_acc_slope"] == pytest.approx(0.03)
    assert f["train_loss_slope"] == pytest.approx(-0.1)
    assert f["gap_mean"] == pytest.approx(np.mean(0.02 * np.arange(1, 11)))
    assert f["gap_max"] == pytest.approx(0.2)
    assert f["train_acc_at_k"] == pytest.approx(0.8)
    assert f["gl_at_k"] == pytest.approx(100 * (2.0 / 1.5 - 1))  # minimum 1.5 at epoch 5


def test_too_short_log_refused():
    with pytest.raises(TooFewEpochsError):
        early_features(rng_log(0, n=8), 10)


def test_transformer_in_pipeline():
    logs = [rng_log(s) for s in range(6)]
    X = EarlyCurveFeatures(k=5, features="seed").fit_transform(logs)
    assert list(X.columns) == FEATURES and X.shape == (6, len(FEATURES))
    X = EarlyCurveFeatures(k=5).fit_transform([(g, 30) for g in logs])
    assert list(X.columns) == CURVE_FEATURES and (X.epochs_remaining == 25).all()
    pipe = make_pipeline(EarlyCurveFeatures(k=5, features="seed"), LogisticRegression()).fit(logs, [0, 1] * 3)
    assert pipe.predict(logs).shape == (6,)


def test_richer_features_known_values():
    t = np.arange(11)
    vl = np.r_[2 - 0.1 * t[:6], 1.5 + 0.1 * np.arange(1, 6)]  # minimum 1.5 at epoch 5, then +0.1 per epoch
    log = make_log(0.5 + 0.03 * t, 0.5 + 0.01 * t, train_loss=2 - 0.1 * t, val_loss=vl)
    f = window_features(log, 10, planned_epochs=20)
    assert f["val_loss_slope_last"] == pytest.approx(0.1)
    assert f["epochs_since_val_min"] == 5 and f["val_loss_argmin_frac"] == pytest.approx(0.5)
    assert f["val_loss_rise"] == pytest.approx(0.5)
    assert f["loss_gap"] == pytest.approx(2.0 - 1.0)
    assert f["fraction_observed"] == 0.5 and f["epochs_remaining"] == 10
    assert f["projected_gap"] == pytest.approx(0.2 + 0.02 * 10)


def test_table_counts_every_run(tmp_path):
    logs = {"a": rng_log(1), "b": rng_log(2, n=6)}  # b stops at epoch 5
    b = logs["b"].copy()
    for r, g in logs.items():
        g.to_csv(tmp_path / f"{r}.csv", index=False)
    meta = pd.DataFrame({"run_id": ["a", "b"], "group_id": ["g1", "g2"], "pathology": ["overfit", "diverged"],
                         "epochs": [30, 30]})
    t = build_feature_table(tmp_path, meta, [3, 10])
    assert len(t) == 4 and t.reached_k.tolist() == [True, True, True, False]
    assert t.overfit.tolist() == [1, 1, 0, 0] and not b.empty
