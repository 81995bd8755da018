"""Diagnosis checks on real public training logs (../shared/data/public_logs), against the labels
of benchmarks/real_logs/labels.csv (made by reading the curves, before any threshold was tuned)
or, for checks the labels do not cover, against what the labellers' notes say about the file."""

from pathlib import Path

import pytest

from overfit_forecast.diagnosis import diagnose
from overfit_forecast.readers import read_curves

ROOT = Path(__file__).resolve().parents[1]
LOGS = next((p for p in (ROOT.parent / "shared" / "data" / "public_logs",) if p.exists()), None)
pytestmark = pytest.mark.skipif(LOGS is None, reason="the public log corpus (../shared/data/public_logs) is absent")


def run(local_path: str) -> dict:
    return diagnose(read_curves(LOGS / local_path))


def ids(d) -> set:
    return {f["id"] for f in d["findings"]}


@pytest.mark.parametrize("path, onset, best", [
    # label: eval min 0.045 at 2814-4221 then +35 % and +48 % while train falls; accuracy still improves
    ("hf/vall-valentine__course-work-4__model/trainer_state.json", 4221, 7035),
    # label: eval min at 1280 then +25 % and +35 % to the end while train falls
    ("hf/atharva-m__Fine-tuning-RoBERTa-for-Sentiment-Analysis__models/trainer_state.json", 1280, 3200),
])
def test_overfitting_with_onset_and_best_step(path, onset, best):
    v = run(path)["verdicts"]
    assert v["overfitting"] is True and v["status"] == "overfitting"
    assert v["onset_step"] == onset and v["best_step"] == best


def test_overconfident_and_overfitting_on_a_real_run():
    # label: overfitting yes; notes: noisy eval min ~0.52 around 1800-2600 then rises to 0.92 while
    # train loss -> 2e-4; accuracy still improves
    d = run("hf/Hahaazaza__Neiro__root/trainer_state.json")
    assert d["verdicts"]["overfitting"] is True and d["verdicts"]["overconfident"] is True
    assert d["best_checkpoint"]["metric"] == "accuracy"


@pytest.mark.parametrize("path", [
    "hf/AI-LAB-AGH__PSL-Translator__translation_models_pretrained_models_allegro_plt5-large_checkpoint/trainer_state.json",
    "hf/anthonyrathe__fixed-whisperv2-flemish__root/trainer_state.json",  # noisy flat eval loss, WER improves
    "lightning/ImaJin14__crypto-forecast-thesis__lightning_logs_version_5/metrics.csv",  # min is an isolated dip
    "hf/selvxhini-10__Finetuned-Sentiment-Analysis__results_checkpoint-7500/trainer_state.json",  # noisy flat
])
def test_no_overfitting_where_labelled_no(path):
    assert run(path)["verdicts"]["overfitting"] is False


def test_chance_level_run_is_never_told_to_train_longer():
    # label: binary task, train/eval loss ~0.69-0.70 = ln 2, accuracy 0.51-0.57 throughout
    d = run("hf/brokolifha__Comment-Analysis-Using-Transformer-Models__results_alberta_checkpoint-1470/trainer_state.json")
    f = next(f for f in d["findings"] if f["id"] == "chance_level")
    assert f["evidence"]["n_classes"] == 2 and "ln 2" in f["message"]
    assert "still_improving" not in ids(d)


def test_nan_training_loss_then_frozen_evaluation_curves():
    # labels: diverged yes (train_loss NaN from step ~4250 to end) and frozen yes (after the NaN all
    # val metrics repeat 3.666/100/0 for 17 of 20 evals)
    d = run("lightning/Rohithmarktricks__ERAv1_Session13__lightning_logs_version_0/metrics.csv")
    assert d["verdicts"]["diverged"] and d["verdicts"]["frozen"] and d["verdicts"]["status"] == "diverged"
    f = next(f for f in d["findings"] if f["id"] == "diverged")
    assert 4200 <= f["evidence"]["first_nonfinite_x"] <= 4300


@pytest.mark.parametrize("path", [
    "hf/amodh-saxena__toxic_message_analyzer__results_checkpoint-500/trainer_state.json",
    "hf/Rodwanbagdadi__BERT_model__fake_news_model_checkpoint-375/trainer_state.json",
])
def test_leakage_signal(path):
    assert run(path)["verdicts"]["leakage_signal"]


def test_plateau_labelled_run():
    # labels: plateau yes (no improvement of eval or train loss after the first eval)
    assert run("hf/vacantfury__CS6140-MUGC-project__results_checkpoint-71792/trainer_state.json")["verdicts"]["plateau"]


def test_eval_loss_far_below_training_loss():
    # notes: "val loss 4-9x below train all run, val_acc > train_acc"
    d = run("lightning/Kamil-Jan__asl_project__lightning_logs_version_0/metrics.csv")
    assert d["verdicts"]["loss_scale_mismatch"] and d["verdicts"]["overfitting"] is False


def test_unstable_only_where_the_curve_swings():
    # notes: "val loss jumps over 2 decades eval to eval, no readable trend"
    assert run("lightning/GajdaMJ__AI-for-Chemistry-Project__lightning_logs_version_25/metrics.csv")["verdicts"]["unstable"]
    # notes: "eval falls to the end" (a smooth fast-then-slow fall)
    smooth = run("hf/AI-LAB-AGH__PSL-Translator__translation_models_pretrained_models_allegro_plt5-large_checkpoint/"
                 "trainer_state.json")
    assert not smooth["verdicts"]["unstable"] and not smooth["verdicts"]["diverged"]


def test_no_false_resumed_run_on_lightning_steps_and_rounded_hf_epochs():
    paths = sorted(p.relative_to(LOGS) for p in (LOGS / "lightning").glob("*/metrics.csv"))[::8]
    paths += sorted(p.relative_to(LOGS) for p in (LOGS / "hf").glob("*/trainer_state.json"))[::8]
    fired = [str(p) for p in paths if "step_backwards" in ids(run(str(p)))]
    assert not fired


def test_saved_checkpoint_and_partial_epoch_on_a_real_hf_run():
    d = run("hf/vivekalex61__summary_creator__model/trainer_state.json")
    assert "checkpoint_mismatch" in ids(d)
    b = d["best_checkpoint"]
    assert b["saved_best_step"] is not None and not b["saved_agrees_with_log"]


def test_learning_rate_schedule_without_warmup_on_a_real_lightning_log():
    # the logged lr_adam_w starts at its peak 1e-4 and decays (cosine) to ~2e-6: no warm-up
    d = run("lightning/LhoWann__trash-project__lightning_logs_version_0/metrics.csv")
    f = next(f for f in d["findings"] if f["id"] == "no_warmup")
    assert f["evidence"]["first_lr"] == pytest.approx(1e-4)
    assert not {"lr_zero_tail", "lr_jump"} & ids(d)


@pytest.mark.parametrize("path, finding", [
    # notes: "val floor ~0.045 until step ~280k, then train and val jump up together"
    ("lightning/LaugeHermansen__DeepLearningProject__experiments_from_bottom_42_log_version_0/metrics.csv", "degrading"),
    # notes: "falls to the end"
    ("hf/HaoKen123__ChuyenDE__checkpoint-1500/trainer_state.json", "still_improving"),
    # val loss identical 0.0873 from epoch 5 (labels: plateau) while the training loss is ~0.015
    ("lightning/DevilMayHide__LSTM-BADE03_Assignment__checkpoints_lightning_logs_version_14/metrics.csv",
     "generalization_gap"),
    # notes: "val_acc 0.2 constant (5 classes)"; training accuracy stays ~0.2 as well
    ("keras/ADITHYADEV2005__Aionos-Diagonostic__training_log.csv", "underfitting"),
    # notes: "val loss jumps over 2 decades eval to eval, no readable trend"
    ("lightning/GajdaMJ__AI-for-Chemistry-Project__lightning_logs_version_25/metrics.csv", "eval_noise_high"),
    # notes: "val loss ~2x below train loss all run (seasonal split?)"
    ("lightning/10sajan10__CS6994FinalProject__season_specific_training_lightning_logs_discharge_season_specific_"
     "site_3_winter/metrics.csv", "eval_below_train"),
    # notes: "no eval loss, only val_score"
    ("lightning/EvgeniyAzarov__birdclef-24__lightning_logs_version_1/metrics.csv", "no_evaluation"),
    # max_steps 15000 ends the run in epoch 19 (trainer_state epoch 18.03)
    ("hf/anthonyrathe__fixed-whisperv2-flemish__root/trainer_state.json", "partial_epoch"),
])
def test_finding_fires_on_a_real_log(path, finding):
    assert finding in ids(run(path))


@pytest.mark.parametrize("path, onset", [
    # notes: "val loss min ep18 then slow rise +10%, train falls; val_acc still improves" (2.5x noise)
    ("keras/HiKami172__pokemons-lenet__training_history.csv", 18),
    # notes: "flat floor 0.231-0.234 (ep4-8) then +10%/+5% on last 2 evals; borderline" (2.3x noise)
    ("keras/Akshat2735__Minor-Project__training_log.csv", 5),  # the CSV's 0-based epoch, as labelled
])
def test_smaller_rise_corroborated_by_the_training_loss_is_overfitting(path, onset):
    d = run(path)
    f = next(f for f in d["findings"] if f["id"] == "overfitting")
    ev = f["evidence"]
    assert ev["corroborated_by_training_loss"] and 2.0 < ev["rise_in_noise_units"] < 3.0
    assert ev["train_loss_final"] < 0.8 * ev["train_loss_at_onset"] and d["verdicts"]["onset_step"] == onset


def test_corroboration_adds_no_overfitting_where_the_training_loss_is_flat():
    # notes: val loss "rises" 2.4x its noise at the end while the training loss barely moves (-3 %)
    d = run("keras/ImaJin14__crypto-forecast-thesis__experiments_results_tuning_gru_BTC_1d_metrics.csv")
    assert d["verdicts"]["overfitting"] is False
    f = next(f for f in d["findings"] if f["id"] == "eval_below_train")
    assert f["severity"] == "info"


def test_no_evaluation_leaves_the_overfitting_verdict_null():
    v = run("lightning/EvgeniyAzarov__birdclef-24__lightning_logs_version_1/metrics.csv")["verdicts"]
    assert v["overfitting"] is None and v["status"] == "unknown" and v["best_metric"] == "score"
