import numpy as np
import pandas as pd
import pytest

from conftest import make_log
from overfit_forecast.beyond import MedianPrunerRule, overfit_onset_epoch, replay_risk_stopping


def overfitting_log():
    # validation loss lowest at epoch 6, then rises; validation accuracy peaks at epoch 6
    vl = np.r_[2.3, np.linspace(1.0, 0.5, 6), np.linspace(0.55, 1.0, 14)]
    va = np.r_[0.1, np.linspace(0.8, 0.95, 6), np.linspace(0.94, 0.90, 14)]
    return make_log(np.linspace(0.1, 1.0, 21), va, val_loss=vl)


def test_replay_policies_known_stops():
    log = overfitting_log()
    r = replay_risk_stopping(log, risk_flag=True, k=10, patience=3)
    assert r["full_epochs"] == 20 and r["full_val_acc"] == pytest.approx(0.95)
    assert r["patience_epochs"] == 9  # best at 6, three epochs without improvement
    # Keras start_from_epoch=10: monitoring starts at index 10 (best so far = index 10), the loss
    # keeps rising, so the third evaluation without improvement (index 13) stops; the kept
    # checkpoint is still the best one trained (epoch 6)
    assert r["risk_epochs"] == 13
    assert r["risk_val_acc"] == pytest.approx(0.95)
    calm = replay_risk_stopping(log, risk_flag=False, k=10, patience=3)
    assert calm["risk_epochs"] == 20


def test_onset_epochs():
    o = overfit_onset_epoch(overfitting_log(), gl_alpha=5.0)
    assert o["val_acc_peak_epoch"] == 6
    assert o["gl_fires_epoch"] == 7  # 0.55 at epoch 7 is 10 % above the minimum 0.5

def test_median_pruner_learns_median_in_fit():
    X = pd.DataFrame({"val_loss_at_k": [0.1, 0.2, 0.3, 0.4, 10.0]})
    rule = MedianPrunerRule().fit(X.iloc[:4], [0, 0, 1, 1])
    assert rule.median_ == pytest.approx(0.25)
    assert rule.predict(X).tolist() == [0, 0, 1, 1, 1]
