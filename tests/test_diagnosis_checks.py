"""Each diagnosis check on synthetic curves with a known answer (one class of failure of issue 8
per test where it applies)."""

import json

import numpy as np
import pandas as pd
import pytest

from overfit_forecast.criteria import noise_scale, one_per_x
from overfit_forecast.diagnosis import CHECK_IDS, DiagnosisThresholds, diagnose, prepare
from overfit_forecast.diagnosis.bookkeeping import LOG_CHECKS
from overfit_forecast.diagnosis.checks import CURVE_CHECKS, check_overfitting
from overfit_forecast.readers import Curves, read_curves
from test_diagnosis import epoch_curves, ids

RNG = np.random.default_rng(0)


def fast_then_slow(n=30, start=2.3, end=0.3, tau=4.0):
    t = np.arange(n)
    return end + (start - end) * np.exp(-t / tau)


def step_curves(**named) -> Curves:
    """Curves on an optimizer-step axis: name -> (steps, values), names like train_loss, val_loss, train_lr."""
    rows = []
    for key, (steps, values) in named.items():
        split, metric = key.split("_", 1)
        rows += [dict(step=float(s), epoch=float(s) / 100, split=split, metric=metric, value=float(v))
                 for s, v in zip(steps, values)]
    return Curves(pd.DataFrame(rows), "test", "synthetic-steps")


def test_every_check_id_is_documented_and_checks_are_small():
    import inspect

    for check in CURVE_CHECKS + LOG_CHECKS:
        assert check.__doc__ and len(inspect.getsource(check).splitlines()) <= 80
    found_ids = set()
    for check in CURVE_CHECKS + LOG_CHECKS:
        doc = check.__doc__
        found_ids |= {i for i in CHECK_IDS if f"``{i}``" in doc}
    assert found_ids == set(CHECK_IDS)


# --- unstable: oscillation around the trend, not spread of relative changes --------------

@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0, 8.0])
def test_smooth_fast_then_slow_decrease_is_not_unstable(tau):
    vl = fast_then_slow(30, tau=tau)
    d = diagnose(epoch_curves(fast_then_slow(30, tau=tau, end=0.1), vl))
    assert "unstable" not in ids(d) and not d["verdicts"]["overfitting"] and not d["verdicts"]["diverged"]


def test_oscillating_validation_loss_is_unstable():
    trend = fast_then_slow(30, end=0.5)
    vl = trend * (1 + 0.35 * np.where(np.arange(30) % 2, 1, -1) * (np.arange(30) > 5))
    d = diagnose(epoch_curves(fast_then_slow(30, end=0.2), vl))
    f = next(f for f in d["findings"] if f["id"] == "unstable")
    assert f["evidence"]["excursions"] >= 10


def test_healthy_noisy_run_is_not_unstable():
    vl = fast_then_slow(40, end=0.4) * (1 + RNG.normal(0, 0.02, 40))
    assert "unstable" not in ids(diagnose(epoch_curves(fast_then_slow(40, end=0.2), vl)))


# --- diverged: NaN/inf or sustained blow-up vs a robust early level ----------------------

def test_noisy_low_first_point_is_not_divergence():
    train = np.r_[0.7, 2.2, 2.0, fast_then_slow(20, start=1.8, end=0.4)]
    d = diagnose(epoch_curves(train, train[::1] + 0.05))
    assert not d["verdicts"]["diverged"]


def test_sustained_blow_up_is_divergence_and_a_spike_that_recovers_is_not():
    base = fast_then_slow(20, end=0.4)
    blown = np.r_[base[:12], [3.0, 6.0, 7.5, 8.0, 8.2, 8.1, 8.3, 8.0]]
    d = diagnose(epoch_curves(blown, blown + 0.1))
    f = next(f for f in d["findings"] if f["id"] == "diverged")
    assert f["severity"] == "error" and f["evidence"]["ratio"] > 1.5 and d["verdicts"]["status"] == "diverged"
    spike = base.copy()
    spike[10] = 9.0
    assert not diagnose(epoch_curves(spike, base + 0.1))["verdicts"]["diverged"]


def test_nan_training_loss_is_divergence_with_its_step():
    d = diagnose(epoch_curves([2.3, 1.0, 8.0, np.nan, np.nan], [2.3, 1.1, 9.0, np.nan, np.nan]))
    f = next(f for f in d["findings"] if f["id"] == "diverged")
    assert f["evidence"]["first_nonfinite_x"] == 4


def test_nan_only_in_evaluation_is_not_divergence():
    vl = fast_then_slow(12, end=0.5)
    vl[7] = np.nan
    d = diagnose(epoch_curves(fast_then_slow(12, end=0.3), vl))
    assert "nonfinite_eval" in ids(d) and not d["verdicts"]["diverged"]


# --- frozen is its own finding -------------------------------------------------------

def test_frozen_run_is_frozen_not_diverged():
    d = diagnose(epoch_curves(np.full(15, 0.6931), np.full(15, 0.6932)))
    assert d["verdicts"]["frozen"] and not d["verdicts"]["diverged"]
    f = next(f for f in d["findings"] if f["id"] == "frozen")
    assert "learning rate" not in f["recommendation"].split(":")[0].lower() or "optimizer" in f["recommendation"]
    assert "still_improving" not in ids(d) and "unstable" not in ids(d)


def test_loss_at_zero_repeated_is_a_fit_not_frozen():
    train = np.r_[fast_then_slow(8, end=0.0), np.zeros(12)]
    assert not diagnose(epoch_curves(train, fast_then_slow(20, end=0.2)))["verdicts"]["frozen"]


# --- chance level, and never "train longer" for it ------------------------------------

def test_chance_level_ten_classes_in_those_words():
    tl = np.log(10) + RNG.normal(0, 0.003, 20)
    vl = np.log(10) + 0.001 + RNG.normal(0, 0.002, 20)
    d = diagnose(epoch_curves(tl, vl, val_acc=0.1 + RNG.normal(0, 0.005, 20)))
    f = next(f for f in d["findings"] if f["id"] == "chance_level")
    assert f["evidence"]["n_classes"] == 10 and "ln 10" in f["message"]
    assert d["verdicts"]["status"] == "chance_level"
    assert not {"still_improving", "overfitting"} & ids(d)
    assert not any(r.startswith("Train longer") for r in d["recommendations"])


def test_predicting_the_class_prior_is_chance_level():
    # 40 classes with a skewed prior: the loss settles at the prior's entropy (3.1 < ln 40), the
    # accuracy at the majority rate, neither improves
    tl = np.r_[3.9, 3.3, 3.12, 3.1 + RNG.normal(0, 0.001, 12)]
    vl = np.r_[3.5, 3.2, 3.11, 3.1 + RNG.normal(0, 0.001, 12)]
    d = diagnose(epoch_curves(tl, vl, val_acc=np.full(15, 0.06)))
    f = next(f for f in d["findings"] if f["id"] == "chance_level")
    assert f["evidence"]["basis"] == "accuracy" and "class prior" in f["message"]
    learning = diagnose(epoch_curves(tl, vl, val_acc=np.linspace(0.06, 0.3, 15)))
    assert not learning["verdicts"]["chance_level"]


def test_binary_chance_without_accuracy_and_a_learning_run_is_not_chance():
    d = diagnose(epoch_curves(np.log(2) + RNG.normal(0, 0.002, 15), np.log(2) + RNG.normal(0, 0.002, 15)))
    assert d["verdicts"]["chance_level"]
    learning = fast_then_slow(15, start=np.log(10), end=0.3)
    assert not diagnose(epoch_curves(learning, learning + 0.05))["verdicts"]["chance_level"]


# --- still improving: robust tail trend vs noise ---------------------------------------

def test_still_improving_needs_a_tail_trend_beyond_noise():
    n = 30
    falling = 1.5 - 0.03 * np.arange(n) + RNG.normal(0, 0.005, n)
    d = diagnose(epoch_curves(falling - 0.1, falling))
    assert d["verdicts"]["still_improving"] and any("longer" in r for r in d["recommendations"])
    flat_tail = np.r_[fast_then_slow(20, end=0.5), 0.5 + RNG.normal(0, 0.01, 10)]
    d2 = diagnose(epoch_curves(flat_tail - 0.1, flat_tail))
    assert not d2["verdicts"]["still_improving"]
    # a last point that happens to be lower does not make a trend
    wiggle = 0.5 + RNG.normal(0, 0.01, 20)
    wiggle[-1] = 0.47
    assert not diagnose(epoch_curves(wiggle, wiggle + 0.02))["verdicts"]["still_improving"]


def test_plateau_and_underfit_known_curves():
    t = np.arange(30)
    train = np.r_[2.3 - 0.1 * t[:10], np.full(20, 1.4) + RNG.normal(0, 0.003, 20)]
    val = np.r_[2.3 - 0.09 * t[:10], np.full(20, 1.5) + RNG.normal(0, 0.003, 20)]
    d = diagnose(epoch_curves(train, val, train_acc=np.r_[np.linspace(0.1, 0.6, 10), np.full(20, 0.6)],
                              val_acc=np.r_[np.linspace(0.1, 0.55, 10), np.full(20, 0.55)]))
    assert {"plateau", "underfitting"} <= ids(d) and d["verdicts"]["overfitting"] is False



def test_plateau_needs_a_flat_tail_not_a_drift():
    # best value of the tail within the noise of the best before it (the improvement test holds
    # in both cases), but in the second the tail drifts up by 6 % (>> 2x noise and 2 % of its
    # level): degradation in the making, not a plateau
    from overfit_forecast.diagnosis.checks import check_plateau

    t = np.arange(30)
    train = 1.0 * np.exp(-t / 8) + 0.2
    base = np.r_[2.0 - 0.1 * t[:10], np.full(20, 1.0)] + 0.004 * (-1.0) ** t
    th = DiagnosisThresholds()
    assert [f.id for f in check_plateau(prepare(epoch_curves(train, base)), th)] == ["plateau"]
    drift = base.copy()
    drift[20:] += np.linspace(0.0, 0.06, 10)
    assert check_plateau(prepare(epoch_curves(train, drift)), th) == []
    # three evaluations, the last one logged three times at the same step (a final evaluate()):
    # no tail of later evaluations to call flat
    steps = [50, 100, 150, 150, 150]
    val = [0.60, 0.49, 0.451, 0.451, 0.443]
    run = prepare(step_curves(train_loss=(steps, [0.59, 0.39, 0.27, 0.27, 0.27]), val_loss=(steps, val)))
    assert check_plateau(run, th) == []

# --- overfitting materiality judged against the noise ----------------------------------

def test_rise_within_noise_is_not_overfitting_and_above_noise_is():
    n = 40
    base = np.r_[fast_then_slow(20, end=0.5), np.full(20, 0.5)]
    noisy = base + RNG.normal(0, 0.02, n)
    train = fast_then_slow(n, end=0.05)
    within = noisy.copy()
    within[-2:] = noisy[:-2].min() + 0.02  # one noise above the minimum
    assert diagnose(epoch_curves(train, within))["verdicts"]["overfitting"] is False
    rising = noisy + np.r_[np.zeros(20), np.linspace(0, 0.3, 20)]
    d = diagnose(epoch_curves(train, rising))
    assert d["verdicts"]["overfitting"] is True and 18 <= d["verdicts"]["onset_step"] <= 24


def _sub_material_rise(n=30, flat_from=15, units=2.5):
    """A validation loss that falls, wanders +-0.01 around 0.5, and ends with its last 2
    evaluations ``units`` x its noise above the minimum (noise measured on the curve itself)."""
    from overfit_forecast.criteria import material_rise

    v = np.r_[fast_then_slow(flat_from, end=0.5), 0.5 + 0.01 * np.where(np.arange(n - flat_from) % 2, 1.0, -1.0)]
    for _ in range(5):  # the raised end changes the noise a little: settle it
        r = material_rise(v)
        v[-2:] = r["minimum"] + units * r["noise"] + np.array([0.0, 1e-4])
    return v, material_rise(v)


def test_sub_material_rise_is_overfitting_only_when_the_training_loss_keeps_falling():
    vl, r = _sub_material_rise()
    assert not r["material"] and 2.0 < r["rise"] / r["noise"] < 3.0  # the validation curve alone: not material
    falling = fast_then_slow(30, end=0.05, tau=8.0)  # falls by more than half after epoch 15
    d = diagnose(epoch_curves(falling, vl))
    f = next(f for f in d["findings"] if f["id"] == "overfitting")
    assert d["verdicts"]["overfitting"] is True and f["evidence"]["corroborated_by_training_loss"] is True
    assert 14 <= d["verdicts"]["onset_step"] <= 17
    flat = np.r_[falling[:15], np.full(15, falling[14])]  # training loss stops falling at the minimum
    assert diagnose(epoch_curves(flat, vl))["verdicts"]["overfitting"] is False
    slightly = np.r_[falling[:15], np.linspace(falling[14], 0.9 * falling[14], 15)]  # falls 10 % < train_fall
    assert diagnose(epoch_curves(slightly, vl))["verdicts"]["overfitting"] is False
    vl_small, _ = _sub_material_rise(units=1.5)  # below corroborated x material_k = 2 noise
    assert diagnose(epoch_curves(falling, vl_small))["verdicts"]["overfitting"] is False


def test_single_high_last_point_is_not_overfitting():
    vl = np.r_[fast_then_slow(19, end=0.5), 0.9]
    assert diagnose(epoch_curves(fast_then_slow(20, end=0.1), vl))["verdicts"]["overfitting"] is False


def test_rise_with_training_loss_rising_too_is_degrading():
    vl = np.r_[fast_then_slow(10, end=0.5), np.linspace(0.6, 1.5, 10)]
    tl = np.r_[fast_then_slow(10, end=0.4), np.linspace(0.5, 1.4, 10)]
    d = diagnose(epoch_curves(tl, vl))
    assert "degrading" in ids(d) and d["verdicts"]["overfitting"] is False


def test_too_few_evaluations_leave_overfitting_unjudged():
    d = diagnose(epoch_curves([2.0, 1.0, 0.5], [2.0, 1.2, 1.5]))
    assert d["verdicts"]["overfitting"] is None and "no_evaluation" in ids(d)


# --- best checkpoint within the noise ---------------------------------------------------

def test_best_checkpoint_and_earliest_within_noise():
    acc = np.r_[np.linspace(0.5, 0.9, 6), 0.9 + np.array([0.001, -0.002, 0.002, 0.0, -0.001, 0.001, 0.002, 0.0])]
    d = diagnose(epoch_curves(fast_then_slow(14, end=0.1), fast_then_slow(14, end=0.35), val_acc=acc))
    b = d["best_checkpoint"]
    expected = 1 + int(np.flatnonzero(np.abs(acc - acc.max()) <= noise_scale(acc))[0])  # epochs are 1-based
    assert b["x"] == 1 + int(np.argmax(acc)) and b["chosen_by"] == "task metric"
    assert b["earliest_within_noise_x"] == expected < b["x"]
    assert "as good within the evaluation noise" in [f for f in d["findings"] if f["id"] == "past_best"][0]["recommendation"]


def test_eval_noise_too_large_to_rank_checkpoints():
    acc = 0.8 + RNG.normal(0, 0.03, 20)
    d = diagnose(epoch_curves(fast_then_slow(20, end=0.3), fast_then_slow(20, end=0.5) * (1 + RNG.normal(0, .01, 20)),
                              val_acc=acc))
    assert "eval_noise_high" in ids(d)


# --- train/eval loss relations ---------------------------------------------------------

def test_eval_loss_well_below_training_loss_all_run():
    vl = fast_then_slow(20, end=0.3)
    d = diagnose(epoch_curves(vl * 2.0, vl))
    assert d["verdicts"]["eval_below_train"] and not d["verdicts"]["loss_scale_mismatch"]
    assert not d["verdicts"]["leakage_signal"]
    f = next(f for f in d["findings"] if f["id"] == "eval_below_train")
    assert f["severity"] == "info" and "not by itself a sign of leakage" in f["message"]
    assert not diagnose(epoch_curves(vl * 1.2, vl))["verdicts"]["eval_below_train"]  # dropout-sized gap


def test_losses_near_zero_at_the_first_evaluation_are_a_leakage_signal():
    tl = np.r_[0.5, 0.005, 0.002 * RNG.random(38)]
    vl = np.r_[0.004, 0.002 + 0.001 * RNG.random(19)]
    curves = Curves(pd.concat([epoch_curves(tl).table.assign(epoch=np.arange(1, 41) / 2),
                               epoch_curves(None, vl).table]), "test", "x")
    d = diagnose(curves)
    f = next(f for f in d["findings"] if f["id"] == "leakage_signal")
    assert f["evidence"]["first_eval_x"] == 1
    normal = epoch_curves(fast_then_slow(20, end=0.001), fast_then_slow(20, end=0.002))
    assert not diagnose(normal)["verdicts"]["leakage_signal"]


def test_training_loss_many_times_eval_loss_is_a_scale_artifact():
    vl = fast_then_slow(20, end=0.3)
    d = diagnose(epoch_curves(vl * 8, vl))
    assert d["verdicts"]["loss_scale_mismatch"] and not d["verdicts"]["leakage_signal"]


def test_large_gap_with_flat_validation_reported_on_losses():
    tl = fast_then_slow(30, end=0.02)
    vl = np.r_[fast_then_slow(10, end=0.9), np.full(20, 0.9) + RNG.normal(0, 0.005, 20)]
    d = diagnose(epoch_curves(tl, vl, train_acc=np.full(30, 0.99), val_acc=np.full(30, 0.7)))
    f = next(f for f in d["findings"] if f["id"] == "generalization_gap")
    assert f["evidence"]["loss_gap"] == pytest.approx(0.9 - 0.02, abs=0.05) and "accuracy" in f["message"]


# --- counters, learning rate ---------------------------------------------------------------

def test_lightning_mid_epoch_steps_are_not_a_resumed_run(tmp_path):
    lines = ["epoch,step,train_loss_step,val_loss,train_loss_epoch"]
    step = 0
    for e in range(6):
        for _ in range(4):
            step += 10
            lines.append(f"{e},{step - 1},{2.0 / (1 + step / 50):.4f},,")
        lines.append(f"{e},{step - 1},,{2.1 / (1 + step / 60):.4f},")
        lines.append(f"{e},{step - 1},,,{2.0 / (1 + step / 55):.4f}")
    p = tmp_path / "metrics.csv"
    p.write_text("\n".join(lines) + "\n")
    assert "step_backwards" not in ids(diagnose(read_curves(p)))


def test_step_counter_going_backwards_is_reported(tmp_path):
    from overfit_forecast.synthetic import trainer_state

    state = trainer_state(steps=600)
    state["log_history"] += trainer_state(steps=300)["log_history"]  # resumed from step 0 into the same file
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(state))
    f = next(f for f in diagnose(read_curves(p))["findings"] if f["id"] == "step_backwards")
    assert f["evidence"]["from_step"] == 600


def test_learning_rate_schedule_checks():
    s = np.arange(1, 101) * 10
    loss = 2.0 / (1 + s / 300)
    zero_tail = np.r_[np.linspace(1e-3, 1e-5, 80), np.zeros(20)]
    d = diagnose(step_curves(train_loss=(s, loss), val_loss=(s[::10], loss[::10] + 0.1), train_lr=(s, zero_tail)))
    assert {"lr_zero_tail", "no_warmup"} <= ids(d)
    restart = np.r_[np.linspace(0, 1e-3, 10), np.linspace(1e-3, 1e-4, 40), np.linspace(1e-3, 1e-4, 50)]
    d2 = diagnose(step_curves(train_loss=(s, loss), val_loss=(s[::10], loss[::10] + 0.1), train_lr=(s, restart)))
    assert "lr_jump" in ids(d2) and not {"lr_zero_tail", "no_warmup"} & ids(d2)
    # a linear decay logged every 100 steps that reaches 0 exactly at the last step (Hugging Face's
    # default schedule): no zero tail, though the last logged value is 0
    s12 = np.arange(1, 13) * 100
    linear = 1e-4 * (1 - s12 / s12[-1])
    d3 = diagnose(step_curves(train_loss=(s12, 2.0 / (1 + s12 / 300)), val_loss=(s12[::2], 2.1 / (1 + s12[::2] / 300)),
                              train_lr=(s12, linear)))
    assert "lr_zero_tail" not in ids(d3)


def test_hf_learning_rate_is_read_as_the_lr_series(tmp_path):
    state = {"log_history": [{"step": 10 * i, "epoch": i / 10, "loss": 1.0 / i, "learning_rate": 1e-3 * (1 - i / 20)}
                             for i in range(1, 21)] + [{"step": 200, "epoch": 2.0, "eval_loss": 0.4}]}
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(state))
    c = read_curves(p)
    assert c.metrics("train") == ["loss", "lr"]
    assert c.series("train", "lr")["value"].iloc[-1] == 0.0 and prepare(c).lr is not None


def test_thresholds_are_the_knobs():
    vl = np.r_[fast_then_slow(10, end=0.5), 0.5 + 0.03 * np.arange(1, 11)]
    curves = epoch_curves(fast_then_slow(20, end=0.1), vl)
    assert diagnose(curves)["verdicts"]["overfitting"] is True
    assert diagnose(curves, th=DiagnosisThresholds(material_k=50))["verdicts"]["overfitting"] is False
    assert prepare(curves).by == "epoch"


def test_final_evaluation_of_the_best_checkpoint_does_not_hide_overfitting():
    # Hugging Face with load_best_model_at_end: after the last evaluation, evaluate() logs the
    # *best* checkpoint's loss again at the same step. It is not a later evaluation: the rise
    # of the trajectory (0.30 -> 0.42, noise ~0.005) is still overfitting, with its onset at the
    # minimum, and the final evaluation loss reported is the trajectory's last one.
    th = DiagnosisThresholds()
    steps = list(range(100, 1300, 100))
    val = [0.80, 0.55, 0.42, 0.35, 0.31, 0.30, 0.31, 0.33, 0.36, 0.38, 0.40, 0.42]
    train = [0.9 * 0.75 ** k for k in range(len(steps))]
    run = prepare(step_curves(train_loss=(steps, train), val_loss=(steps, val)))
    (f,) = check_overfitting(run, th)
    best = prepare(step_curves(train_loss=(steps + [1200], train + [train[-1]]),
                               val_loss=(steps + [1200], val + [0.30])))
    (g,) = check_overfitting(best, th)
    assert g.evidence["onset_x"] == f.evidence["onset_x"] == 600
    assert g.evidence["eval_loss_final"] == pytest.approx(0.42)
    assert g.evidence["rise"] == pytest.approx(f.evidence["rise"])
    # the predicate itself: first / last evaluation per x
    x = [1, 2, 2, 3, 3, 3]
    assert one_per_x(x).tolist() == [0, 1, 3] and one_per_x(x, "last").tolist() == [0, 2, 5]
    with pytest.raises(ValueError, match="keep"):
        one_per_x(x, "best")
