import numpy as np
import pandas as pd
import pytest
from conftest import make_log

from overfit_forecast.forecast import RiskDrivenStopping
from overfit_forecast.replay import median_pruner_stops, replay_policies, replay_summary, risk_patience

# An overfitting run of 20 epochs: validation loss best at epoch 6, then rising.
VL = np.r_[2.3, np.linspace(1.0, 0.5, 6), np.linspace(0.55, 1.0, 14)]
VA = np.r_[0.1, np.linspace(0.8, 0.95, 6), np.linspace(0.94, 0.90, 14)]
# A healthy run of 20 epochs: validation loss falls every epoch, accuracy rises to the end.
HL = np.r_[2.3, np.linspace(1.0, 0.2, 20)]
HA = np.r_[0.1, np.linspace(0.8, 0.99, 20)]
# A slow starter: validation loss stalls on epochs 5..8 (no strict improvement), then falls again.
SL = np.r_[2.3, np.linspace(1.0, 0.6, 5), [0.6, 0.6, 0.6], np.linspace(0.55, 0.2, 12)]
SA = np.r_[0.1, np.linspace(0.7, 0.8, 5), [0.8, 0.8, 0.8], np.linspace(0.82, 0.98, 12)]


def logs():
    return [make_log(np.linspace(0.1, 1.0, 21), a, val_loss=v) for v, a in ((VL, VA), (HL, HA), (SL, SA))]


def test_replay_known_stops():
    log = logs()[0]
    r = replay_policies([log, log], [True, False], k=10, patience=3).iloc[0]
    assert r.full_epochs == 20 and r.patience_epochs == 9 and r.risk_epochs == 13
    assert r.full_acc == pytest.approx(0.90) and r.patience_acc == pytest.approx(VA[9])
    calm = replay_policies([log, log], [False, False], k=10, patience=3).iloc[0]
    assert calm.risk_epochs == 20
    s = replay_summary(replay_policies([log], [True], k=10))
    assert s.loc["full", "compute_share"] == 1.0 and s.loc["risk", "false_kills"] == 0


@pytest.mark.parametrize("p, state, expected", [
    (0.9, None, 2), (0.5, None, 2), (0.49, None, 5),            # binary risk at the threshold
    (0.1, "diverged", 0), (0.9, "diverged", 0),               # forecast diverged: stop at k
    (0.1, "overfit", 2), (0.1, "underfit", 2), (0.1, "healthy", 5), (None, "healthy", 5),
])
def test_risk_patience_rule(p, state, expected):
    assert risk_patience(p, state, threshold=0.5, patience_high=2, patience_low=5) == expected


def test_risk_patience_low_none_never_stops():
    assert risk_patience(0.1, "healthy", patience_low=None) is None


def test_tiered_replay_known_stops():
    # overfit run: from epoch 5, best 0.5 at 6; patience 2 -> stop at 8; patience 5 -> 11; 0 -> 5
    tiered = {"hi": (5, [2, 2, 2]), "lo": (5, [5, 5, 5]), "now": (5, [0, 0, 0]), "never": (5, [None] * 3)}
    r = replay_policies(logs(), [False] * 3, k=10, tiered=tiered)
    assert r.hi_epochs.tolist() == [8, 20, 7]
    assert r.lo_epochs.tolist() == [11, 20, 20]  # the 3-epoch stall outlasts patience 2, not 5
    assert r.now_epochs.tolist() == [5, 5, 5] and r.never_epochs.tolist() == [20, 20, 20]
    assert r.hi_acc[0] == pytest.approx(VA[8]) and r.hi_kept[0] == 8  # no restore: the model at the stop
    s = replay_summary(r)
    assert s.loc["hi", "compute_share"] == pytest.approx((8 + 20 + 7) / 60)
    # the slow starter stopped at 7 would have ended 18 points better: the one false kill
    assert s.loc["hi", "false_kills"] == 1 and s.loc["hi", "runs_stopped"] == 2
    assert s.loc["hi", "mean_acc_lost_points"] == pytest.approx(100 * ((0.90 - VA[8]) + 0 + (0.98 - 0.8)) / 3)
    assert s.loc["never", "false_kills"] == 0 and s.loc["never", "compute_share"] == 1.0


def test_tiered_replay_restore_best():
    tiered = {"hi": (5, [2, 2, 2]), "now": (5, [0, 0, 0])}
    r = replay_policies(logs(), [True] * 3, k=10, tiered=tiered, restore_best=True)
    assert r.hi_kept.tolist() == [6, 20, 5]  # best val_loss since epoch 5 (Keras restore_best_weights)
    assert r.hi_acc[0] == pytest.approx(VA[6]) and r.now_kept.tolist() == [5, 5, 5]
    assert r.full_kept.tolist() == [6, 20, 20] and r.full_acc[0] == pytest.approx(VA[6])
    assert r.patience_epochs[0] == 9 and r.patience_kept[0] == 6


def test_tiered_k_beyond_a_short_log_stops_at_its_end():
    short = make_log(np.linspace(0.1, 1.0, 4), VA[:4], val_loss=VL[:4])
    r = replay_policies([short], [True], k=10, tiered={"t": (5, [0])})
    assert r.t_epochs[0] == 3 and r.risk_epochs[0] == 3


class Fixed:
    """A stand-in forecaster: fixed P(overfit), fixed end state."""

    def __init__(self, p=0.1, state="healthy"):
        self.p, self.state = p, state

    def predict_proba(self, X):
        return np.array([[1 - self.p, self.p]] * len(X))

    def predict(self, X):
        return np.array([self.state] * len(X))


def first_stop(cb, log):
    for e in range(1, len(log)):
        if cb(e, log.iloc[: e + 1]):
            return e
    return len(log) - 1


@pytest.mark.parametrize("p, state, expected", [(0.9, "overfit", [8, 20, 7]), (0.1, "healthy", [11, 20, 20]),
                                                (0.1, "diverged", [5, 5, 5])])
def test_callback_stops_where_the_replay_does(p, state, expected):
    got = []
    for log in logs():
        cb = RiskDrivenStopping(Fixed(p), k=5, patience=2, patience_low=5, end_state_model=Fixed(state=state))
        got.append(first_stop(cb, log))
        assert cb.end_state == state and cb.patience_now == risk_patience(p, state, 0.5, 2, 5)
    pats = [risk_patience(p, state, 0.5, 2, 5)] * 3
    assert got == expected == replay_policies(logs(), [False] * 3, k=10, tiered={"t": (5, pats)}).t_epochs.tolist()


def test_callback_default_never_stops_low_risk():
    cb = RiskDrivenStopping(Fixed(0.1), k=5, patience=2)
    assert first_stop(cb, logs()[0]) == 20 and cb.patience_now is None


def test_median_pruner_known_answer():
    v = np.array([[3.0, 1.0, 0.9, 0.8, 0.7, 0.6],
                  [3.0, 1.0, 0.9, 0.8, 0.7, 0.6],
                  [3.0, 2.0, 2.1, 2.2, 2.3, 2.4]])  # the third run is worse than the median from epoch 1
    assert median_pruner_stops(v, warmup=2).tolist() == [5, 5, 2]
    # PatientPruner(patience=2): only once the best (2.0, epoch 1) is older than the last 3 values
    assert median_pruner_stops(v, warmup=2, patience=2).tolist() == [5, 5, 4]


def test_replay_reads_the_kept_models_test_accuracy_where_decisions_use_validation_loss():
    log = logs()[0].assign(test_acc=np.linspace(0.5, 0.7, 21))  # a run with RunConfig.log_test
    r = replay_policies([log], [True], k=10, patience=3, accuracy="test_acc").iloc[0]
    v = replay_policies([log], [True], k=10, patience=3).iloc[0]
    assert r.patience_epochs == v.patience_epochs == 9  # same stops: decided on val_loss
    assert r.patience_acc == pytest.approx(log.test_acc[9]) and r.full_acc == pytest.approx(0.7)
    with pytest.raises(KeyError):
        replay_policies([logs()[1]], [False], k=10, accuracy="test_acc")  # a log without the test split
