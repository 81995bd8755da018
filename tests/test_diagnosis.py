import json

import numpy as np
import pandas as pd
import pytest

from overfit_forecast.cli import main as cli
from overfit_forecast.diagnosis import DiagnosisError, diagnose, early_stopping_replay
from overfit_forecast.readers import Curves, read_curves
from overfit_forecast.synthetic import trainer_state


def epoch_curves(train_loss, val_loss, train_acc=None, val_acc=None) -> Curves:
    rows = []
    for name, split, metric in ((train_loss, "train", "loss"), (val_loss, "val", "loss"),
                                (train_acc, "train", "accuracy"), (val_acc, "val", "accuracy")):
        if name is None:
            continue
        for e, v in enumerate(name, start=1):
            rows.append(dict(step=np.nan, epoch=float(e), split=split, metric=metric, value=float(v)))
    return Curves(pd.DataFrame(rows), "test", "synthetic")


def hf(tmp_path, **kw):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(trainer_state(**kw)))
    return read_curves(p)


def test_known_onset_and_best_step(tmp_path):
    d = diagnose(hf(tmp_path, steps=1000, eval_every=100, onset_step=400))
    v = d["validation"]
    assert v["status"] == "overfitting" and v["onset"]["step"] == 400 and v["gl_fires"]
    b = d["best_checkpoint"]
    assert b["step"] == 400 and b["evaluations_past_best"] == 6 and b["x_past_best"] == 600
    assert b["fraction_of_run_past_best"] == pytest.approx(0.6)
    assert b["saved_agrees_with_log"] and b["saved_best_step"] == 400
    assert any("checkpoint-400" in r for r in d["recommendations"])


def test_overconfidence_is_not_called_overfitting(tmp_path):
    d = diagnose(hf(tmp_path, onset_step=400, accuracy_keeps_improving=True))
    assert d["validation"]["status"] == "overconfident"
    assert "over-confident" in " ".join(d["verdicts"])
    d2 = diagnose(hf(tmp_path, onset_step=400, accuracy_keeps_improving=True), metric_for_best_model="eval_accuracy")
    assert d2["best_checkpoint"]["metric"] == "accuracy" and d2["best_checkpoint"]["step"] == 1000


def test_saved_checkpoint_disagreement_is_reported(tmp_path):
    d = diagnose(hf(tmp_path, onset_step=400, eval_every=100, save_every=300))
    b = d["best_checkpoint"]
    # checkpoints at 300, 600, 900: the best saved one (600) is not the best evaluation (400)
    assert b["saved_best_step"] == 600 and not b["saved_agrees_with_log"]


def test_accounting_partial_epoch(tmp_path):
    d = diagnose(hf(tmp_path, steps=1100, steps_per_epoch=250))
    a = d["accounting"]
    assert a["steps_per_epoch"] == pytest.approx(250, rel=0.01)
    assert a["fraction_of_last_epoch"] == pytest.approx(0.4)
    assert a["examples_per_epoch_implied"] == pytest.approx(8000, rel=0.01)
    assert any("40% into epoch 5" in v for v in d["verdicts"])


def test_plateau_and_underfit_known_curves():
    n = 30
    t = np.arange(n)
    train = np.r_[2.3 - 0.1 * t[:10], np.full(20, 1.4)]  # plateaus from epoch 10
    val = np.r_[2.3 - 0.09 * t[:10], np.full(20, 1.5)]
    d = diagnose(epoch_curves(train, val, train_acc=np.r_[np.linspace(0.1, 0.6, 10), np.full(20, 0.6)],
                              val_acc=np.full(n, 0.55)))
    assert d["training_fit"]["verdict"] == "underfit"
    assert d["training_fit"]["plateau_from"] == 10.0  # epoch 10 (1-based x) is where it reaches the floor
    assert d["pathologies"]["plateau"] and d["validation"]["status"] == "no_overfitting"


def test_divergence_detected():
    d = diagnose(epoch_curves([2.3, 1.0, 8.0, np.nan, np.nan], [2.3, 1.1, 9.0, np.nan, np.nan]))
    assert d["pathologies"]["diverged"]
    assert "train loss at epoch 4" in d["pathologies"]["divergence_evidence"]


def test_early_stopping_replay_known_answer():
    vals = np.array([1.0, 0.8, 0.7, 0.72, 0.75, 0.71, 0.9, 1.0])
    x = np.arange(1, 9) * 100.0
    r = early_stopping_replay(vals, x, patience=2)
    assert r["stop_index"] == 4 and r["best_index"] == 2 and r["fraction_saved"] == pytest.approx((800 - 500) / 800)
    r3 = early_stopping_replay(vals, x, patience=10)
    assert r3["stop_index"] == 7 and r3["fraction_saved"] == 0


def test_refuses_logs_without_evaluation_or_single_point(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"loss": [1.0, 0.5, 0.4]}))
    with pytest.raises(DiagnosisError, match="no evaluation points"):
        diagnose(read_curves(p))
    p.write_text(json.dumps({"loss": [1.0], "val_loss": [0.9]}))
    with pytest.raises(DiagnosisError, match="1 evaluation point"):
        diagnose(read_curves(p))
    # a NaN evaluation is evidence, not a missing point: the run is diagnosed as diverged
    p.write_text(json.dumps({"loss": [2.3, None], "val_loss": [2.3, None]}))
    assert diagnose(read_curves(p))["pathologies"]["diverged"]


def test_cli_diagnose_outputs_and_clean_errors(tmp_path, capsys):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(trainer_state()))
    js, png, md = tmp_path / "d.json", tmp_path / "d.png", tmp_path / "d.md"
    assert cli(["diagnose", str(p), "--json", str(js), "--plot", str(png), "--out", str(md)]) == 0
    assert json.loads(js.read_text())["validation"]["onset"]["step"] == 400
    assert png.stat().st_size > 1000 and "## Recommendations" in md.read_text()
    p.write_text("{not json")
    assert cli(["diagnose", str(p)]) == 2
    err = capsys.readouterr().err
    assert "invalid or truncated JSON" in err and "Traceback" not in err
