import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.linear_model import LogisticRegression

from conftest import make_log
from overfit_forecast.features import (
    FEATURES, EarlyCurveFeatures, TooFewEpochsError, early_features, rules_at_k,
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
    X = EarlyCurveFeatures(k=5).fit_transform(logs)
    assert list(X.columns) == FEATURES and X.shape == (6, len(FEATURES))
    pipe = make_pipeline(EarlyCurveFeatures(k=5), LogisticRegression()).fit(logs, [0, 1] * 3)
    assert pipe.predict(logs).shape == (6,)
