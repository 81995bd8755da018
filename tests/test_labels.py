import numpy as np
import pytest
from conftest import make_log

from overfit_forecast.labels import (
    LabelThresholds,
    label_log,
    rule_values,
    sensitivity_table,
)


def healthy_log(n=21):
    t = np.arange(n)
    acc = 0.97 - 0.9 * np.exp(-t / 2)
    return make_log(acc + 0.005, acc, val_loss=0.1 + np.exp(-t / 2))


def test_healthy_run_fires_no_rule():
    lab = label_log(healthy_log())
    assert lab["overfit"] == 0 and lab["pathology"] == "healthy" and lab["rules_fired"] == ""


def test_final_gap_rule():
    log = healthy_log()
    log.loc[log.index[-1], "train_acc"] = 0.97 + 0.06  # gap 6 points > 5
    log["train_acc"] = log["train_acc"].clip(upper=1.0)
    log.loc[log.index[-1], "val_acc"] = 0.93
    lab = label_log(log)
    assert lab["rule_gap"] and lab["overfit"] == 1


def test_memorization_rule_needs_both_conditions():
    log = healthy_log()
    log.loc[log.index[-1], ["train_acc", "val_acc"]] = [0.995, 0.96]  # gap 3.5 > 3
    lab = label_log(log)
    assert lab["rule_memorization"] and not lab["rule_gap"]
    log.loc[log.index[-1], ["train_acc", "val_acc"]] = [0.98, 0.94]  # not near 100 %
    assert not label_log(log)["rule_memorization"]


def test_peak_then_degrade_rule_known_peak():
    t = np.arange(21)
    val = np.r_[np.linspace(0.5, 0.95, 11), np.linspace(0.94, 0.90, 10)]  # peak at epoch 10
    train = np.linspace(0.5, 0.96, 21)
    vals = rule_values(make_log(train, val))
    assert vals["peak_epoch"] == 10
    assert vals["peak_drop"] == pytest.approx(0.05)
    lab = label_log(make_log(train, val))
    assert lab["rule_peak_degrade"]
    # same validation curve, but training accuracy also falls: not this rule
    lab2 = label_log(make_log(np.r_[train[:11], np.linspace(0.72, 0.6, 10)], val))
    assert not lab2["rule_peak_degrade"]


def test_generalization_loss_rule_threshold():
    log = healthy_log()
    vl = log["val_loss"].to_numpy().copy()
    vl[-1] = vl.min() * 1.6  # GL = 60 %
    log["val_loss"] = vl
    assert label_log(log, th=LabelThresholds(gl_alpha=50))["rule_generalization_loss"]
    assert not label_log(log, th=LabelThresholds(gl_alpha=70))["rule_generalization_loss"]


def test_diverged_is_not_overfit_failed_unlabelled_and_underfit_detected():
    assert label_log(healthy_log(), status="diverged")["overfit"] == 0  # overfit-vs-rest: diverged is "rest"
    failed = label_log(healthy_log(), status="failed")
    assert failed["pathology"] == "failed" and np.isnan(failed["overfit"])
    flat = make_log(np.full(21, 0.11), np.full(21, 0.10), train_loss=np.linspace(2.3, 2.2, 21))
    lab = label_log(flat)
    assert lab["pathology"] == "underfit" and lab["overfit"] == 0


def test_sensitivity_rate_is_monotone_in_gap_threshold():
    logs = {}
    for i, g in enumerate([0.0, 0.02, 0.04, 0.06, 0.08]):
        log = healthy_log()
        log.loc[log.index[-1], "val_acc"] = log["train_acc"].iloc[-1] - g
        logs[f"r{i}"] = log
    tab = sensitivity_table(logs, {"gap_threshold": [0.01, 0.03, 0.05, 0.07]},
                            base=LabelThresholds(memorization_gap=1, peak_drop=1, gl_alpha=1e9))
    assert list(tab["n_overfit"]) == [4, 3, 2, 1]
    assert tab["is_default"].sum() == 1


def test_loss_blowup_is_diverged_even_without_nan():
    log = healthy_log()
    log["train_loss"] = np.linspace(2.3, 1.0, len(log))
    log.loc[3, "train_loss"] = 7.0  # 3x the starting loss, then back near chance
    lab = label_log(log)
    assert lab["pathology"] == "diverged" and lab["overfit"] == 0
    assert lab["loss_blowup"] == pytest.approx(7.0 / 2.3)
    log.loc[3, "train_loss"] = 4.0  # 1.7x: below the default factor 2
    assert label_log(log)["pathology"] != "diverged"


def test_collapsed_run_is_diverged_slow_run_is_underfit():
    flat = make_log(np.full(21, 0.11), np.full(21, 0.10), train_loss=np.r_[2.30, np.full(20, 2.31)])
    assert label_log(flat)["pathology"] == "diverged"  # ended above its starting loss
    slow = make_log(np.full(21, 0.11), np.full(21, 0.10), train_loss=np.linspace(2.30, 2.2, 21))
    assert label_log(slow)["pathology"] == "underfit"


def test_gl_rule_needs_training_loss_to_keep_falling():
    log = healthy_log()
    vl = log["val_loss"].to_numpy().copy()
    vl[-1] = vl.min() * 1.6
    log["val_loss"] = vl
    assert label_log(log)["rule_generalization_loss"]
    i_min = int(np.argmin(vl))
    tl = log["train_loss"].to_numpy().copy()
    tl[-1] = tl[i_min] + 0.1  # training loss rose too: instability, not overfitting
    log["train_loss"] = tl
    assert not label_log(log)["rule_generalization_loss"]


def test_smoothed_label_ignores_one_noisy_last_epoch():
    log = healthy_log()
    va = log["val_acc"].to_numpy().copy()
    va[-1] -= 0.08  # one bad last epoch: the raw gap rule fires
    log["val_acc"] = va
    log["gap"] = log.train_acc - log.val_acc
    assert label_log(log)["rule_gap"]
    assert not label_log(log, smooth=3)["rule_gap"]  # mean of the last two epochs: gap below 5 points


def test_thresholds_round_trip(tmp_path):
    from overfit_forecast.labels import load_thresholds, save_thresholds
    th = LabelThresholds(gl_alpha=20.0)
    save_thresholds(th, tmp_path)
    assert load_thresholds(tmp_path) == th
    (tmp_path / "label_thresholds.json").write_text('{"gl_alpa": 20}')
    with pytest.raises(ValueError, match="gl_alpa"):
        load_thresholds(tmp_path)
