"""diagnose() end to end: Hugging Face logs with known answers, JSON layout, CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from overfit_forecast.cli import main as cli
from overfit_forecast.diagnosis import CHECK_IDS, PATHOLOGIES, DiagnosisError, diagnose
from overfit_forecast.readers import Curves, read_curves
from overfit_forecast.synthetic import trainer_state


def epoch_curves(train_loss=None, val_loss=None, train_acc=None, val_acc=None, **extra) -> Curves:
    """Per-epoch curves (epochs 1..T); ``extra`` adds (split, metric) curves, e.g. val_f1=[...]."""
    rows = []
    named = dict(train_loss=train_loss, val_loss=val_loss, train_accuracy=train_acc, val_accuracy=val_acc, **extra)
    for key, values in named.items():
        if values is None:
            continue
        split, metric = key.split("_", 1)
        for e, v in enumerate(values, start=1):
            rows.append(dict(step=np.nan, epoch=float(e), split=split, metric=metric, value=float(v)))
    return Curves(pd.DataFrame(rows), "test", "synthetic")


def hf(tmp_path, **kw):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(trainer_state(**kw)))
    return read_curves(p)


def ids(d) -> set:
    return {f["id"] for f in d["findings"]}


def test_known_onset_and_best_step(tmp_path):
    d = diagnose(hf(tmp_path, steps=1000, eval_every=100, onset_step=400))
    v = d["verdicts"]
    assert v["status"] == "overfitting" and v["overfitting"] is True and v["onset_step"] == 400
    assert v["x_axis"] == "step" and v["overconfident"] is False
    b = d["best_checkpoint"]
    assert b["metric"] == "accuracy" and b["chosen_by"] == "task metric"
    assert b["x"] == 400 and b["evaluations_past_best"] == 6 and b["x_past_best"] == 600
    assert b["fraction_of_run_past_best"] == pytest.approx(0.6)
    assert b["saved_agrees_with_log"] and b["saved_best_step"] == 400
    assert any("checkpoint-400" in r for r in d["recommendations"])
    over = next(f for f in d["findings"] if f["id"] == "overfitting")
    assert over["severity"] == "warning" and over["evidence"]["rise"] > over["evidence"]["threshold"]


def test_overconfidence_qualifies_overfitting_never_replaces_it(tmp_path):
    """Issue 8: validation loss +24 % while accuracy creeps up is still overfitting."""
    d = diagnose(hf(tmp_path, onset_step=400, accuracy_keeps_improving=True))
    assert d["verdicts"]["status"] == "overfitting" and d["verdicts"]["overfitting"] is True
    assert d["verdicts"]["overconfident"] is True
    assert {"overfitting", "overconfidence"} <= ids(d)
    assert "accuracy" in next(f for f in d["findings"] if f["id"] == "overconfidence")["recommendation"]
    # checkpoint chosen by the task metric: the best accuracy, late in the run
    assert d["best_checkpoint"]["metric"] == "accuracy" and d["verdicts"]["best_step"] >= 900
    d2 = diagnose(hf(tmp_path, onset_step=400, accuracy_keeps_improving=True), metric_for_best_model="eval_loss")
    assert d2["best_checkpoint"]["metric"] == "loss" and d2["verdicts"]["best_step"] == 400


def test_large_loss_rise_with_flat_accuracy_is_overfitting():
    n = 20
    vl = np.r_[np.linspace(1.0, 0.4, 6), np.linspace(0.45, 0.95, n - 6)]  # +137 % after the minimum
    acc = np.r_[np.linspace(0.70, 0.850, 6), 0.850 + 0.004 * np.arange(1, n - 5)]  # +0.6 point
    d = diagnose(epoch_curves(np.geomspace(1.0, 0.02, n), vl, val_acc=acc))
    assert d["verdicts"]["overfitting"] is True and d["verdicts"]["onset_step"] == 6
    assert d["verdicts"]["status"] == "overfitting"


def test_saved_checkpoint_disagreement_is_reported(tmp_path):
    d = diagnose(hf(tmp_path, onset_step=400, eval_every=100, save_every=300))
    b = d["best_checkpoint"]
    # checkpoints at 300, 600, 900: the best saved one (600) is not the best evaluation (400)
    assert b["saved_best_step"] == 600 and not b["saved_agrees_with_log"]
    assert "checkpoint_mismatch" in ids(d)


def test_accounting_partial_epoch(tmp_path):
    d = diagnose(hf(tmp_path, steps=1100, steps_per_epoch=250))
    a = d["accounting"]
    assert a["steps_per_epoch"] == pytest.approx(250, rel=0.01)
    assert a["fraction_of_last_epoch"] == pytest.approx(0.4)
    assert a["examples_per_epoch_implied"] == pytest.approx(8000, rel=0.01)
    assert any("40% into epoch 5" in f["message"] for f in d["findings"] if f["id"] == "partial_epoch")


def test_hf_epoch_rounded_to_two_decimals_is_not_a_resumed_run(tmp_path):
    state = trainer_state(steps=1000, steps_per_epoch=333)
    for e in state["log_history"]:
        e["epoch"] = round(e["epoch"], 2)
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(state))
    assert "step_backwards" not in ids(diagnose(read_curves(p)))


def test_json_layout_is_stable_and_documented(tmp_path):
    d = diagnose(hf(tmp_path))
    assert set(d) == {"schema_version", "run", "verdicts", "findings", "best_checkpoint", "early_stopping",
                      "accounting", "evaluation", "recommendations", "thresholds"}
    assert {"status", "overfitting", "overconfident", "onset_step", "best_step", "best_metric",
            "x_axis"} | set(PATHOLOGIES) == set(d["verdicts"])
    for f in d["findings"]:
        assert set(f) == {"id", "severity", "message", "evidence", "recommendation"}
        assert f["id"] in CHECK_IDS and f["severity"] == CHECK_IDS[f["id"]][0]
    json.dumps(d, allow_nan=False)  # strict JSON: no NaN/inf, no numpy types


def test_training_only_log_is_diagnosed_without_overfitting_verdict(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"loss": [2.3, 1.0, 0.6, 0.5, 0.45, 0.44]}))
    d = diagnose(read_curves(p))
    assert d["verdicts"]["overfitting"] is None and d["verdicts"]["status"] == "unknown"
    assert "no_evaluation" in ids(d)


def test_refuses_a_single_point(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"loss": [1.0], "val_loss": [0.9]}))
    with pytest.raises(DiagnosisError, match="at least 2"):
        diagnose(read_curves(p))
    # a NaN is evidence, not a missing point: the run is diagnosed as diverged
    p.write_text(json.dumps({"loss": [2.3, None], "val_loss": [2.3, None]}))
    assert diagnose(read_curves(p))["verdicts"]["diverged"]


def test_cli_diagnose_outputs_and_clean_errors(tmp_path, capsys):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(trainer_state()))
    js, png, md = tmp_path / "d.json", tmp_path / "d.png", tmp_path / "d.md"
    assert cli(["diagnose", str(p), "--json", str(js), "--plot", str(png), "--out", str(md)]) == 0
    assert json.loads(js.read_text())["verdicts"]["onset_step"] == 400
    assert png.stat().st_size > 1000 and "## Findings" in md.read_text()
    p.write_text("{not json")
    assert cli(["diagnose", str(p)]) == 2
    err = capsys.readouterr().err
    assert "invalid or truncated JSON" in err and "Traceback" not in err


HEAVY_LOGS = {
    "trainer_state.json": json.dumps(trainer_state()),
    "metrics.csv": "epoch,step,train_loss_step,train_loss_epoch,val_loss,val_acc\n"
                   + "".join(f"{e},{100 * e + 99},{1 / (e + 1):.4f},,,\n{e},{100 * e + 99},,,{0.5 + 0.02 * e:.4f},0.8\n"
                             f"{e},{100 * e + 99},,{1 / (e + 1):.4f},,\n" for e in range(8)),
    "training.log": "epoch,accuracy,loss,val_accuracy,val_loss\n"
                    + "".join(f"{e},{0.5 + e / 20:.3f},{1 / (e + 1):.4f},0.8,{0.5 + 0.02 * e:.4f}\n" for e in range(8)),
    "history.json": json.dumps({"loss": [1 / (e + 1) for e in range(8)], "val_loss": [0.5 + 0.02 * e for e in range(8)]}),
}


@pytest.mark.parametrize("name", sorted(HEAVY_LOGS))
def test_diagnose_cli_imports_no_pandas_scipy_torch_sklearn_or_matplotlib(tmp_path, name):
    # the fresh-process cost of `overfit-forecast diagnose` is its imports (issue 8): the
    # readers of these formats and the diagnosis are numpy-only; pandas, scipy, torch,
    # scikit-learn and matplotlib (only with --plot) must stay unloaded
    p = tmp_path / name
    p.write_text(HEAVY_LOGS[name])
    out_json = tmp_path / "d.json"
    code = ("import sys; from overfit_forecast.cli import main; "
            "rc = main(['diagnose', sys.argv[1], '--json', sys.argv[2], '--out', sys.argv[3]]); "
            "print('RC', rc, 'LOADED', sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'scipy', 'torch', 'sklearn', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code, str(p), str(out_json), str(tmp_path / "d.md")],
                         capture_output=True, text=True, check=True).stdout
    assert "RC 0 LOADED []" in out
    assert json.loads(out_json.read_text())["run"]["format"]  # the result was written


def test_readme_documents_every_check_id():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("### What `diagnose` checks", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \| (error|warning|info) \|", section, flags=re.M)
    assert dict(documented) == {k: sev for k, (sev, _) in CHECK_IDS.items()}


@pytest.mark.parametrize("first_epoch", [0, 1])
def test_onset_and_best_step_in_the_files_own_epoch_counter(tmp_path, first_epoch):
    # Keras CSVLogger counts epochs from 0 (the reader's x is epochs completed, +1); a custom
    # loop from 1 (taken as is): the verdicts name the epoch as written in the file
    val = [1.0, 0.7, 0.55, 0.5, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    lines = ["epoch,loss,val_loss"] + [f"{first_epoch + i},{1.0 / (i + 1):.4f},{v}" for i, v in enumerate(val)]
    p = tmp_path / "training_log.csv"
    p.write_text("\n".join(lines) + "\n")
    v = diagnose(read_curves(p))["verdicts"]
    assert v["overfitting"] is True and v["x_axis"] == "epoch"
    assert v["onset_step"] == first_epoch + 4 and v["best_step"] == first_epoch + 4
