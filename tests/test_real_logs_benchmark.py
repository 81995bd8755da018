"""Scoring and label validation of the real-log benchmark (``benchmarks/real_logs``), on a
hand-made labels/results pair whose metrics are known, and the parsers on real peer outputs
shapes (no peer tool is run here)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from real_logs import scoring, tools  # noqa: E402
from real_logs.runner import parse  # noqa: E402

HEADER = scoring.LABEL_COLUMNS


def _write_labels(path: Path, rows) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _rec(ids=(), onset=None, best=None, readable=True, crashed=False, seconds=0.1):
    return {**tools.record(readable, crashed, None, ids, onset, best), "seconds": seconds}


@pytest.fixture
def labelled(tmp_path):
    """8 run files: f1-f4 overfit (f4 unclear is f8), f5-f7 not; runmedic flags f1-f3, f5."""
    rows = [[f"hf/f{i}/trainer_state.json", "overfitting", v, onset, best, ""]
            for i, v, onset, best in [(1, "yes", 100, 100), (2, "yes", 200, 300), (3, "yes", 50, 50),
                                      (4, "yes", 400, 400), (5, "no", "", 1000), (6, "no", "", 900),
                                      (7, "no", "", 500), (8, "unclear", "", "")]]
    rows.append(["hf/f6/trainer_state.json", "plateau", "yes", "", "", "flat"])
    return scoring.load_labels(_write_labels(tmp_path / "labels.csv", rows))


def test_confusion_counts_and_rates_are_known(labelled):
    recs = {f"hf/f{i}/trainer_state.json": _rec(["overfitting"] if i in (1, 2, 3, 5, 8) else [], onset=o, best=o)
            for i, o in [(1, 100), (2, 300), (3, 50), (4, None), (5, 800), (6, None), (7, None), (8, 10)]}
    recs["hf/f4/trainer_state.json"] = _rec(readable=False, crashed=True)  # a crash predicts nothing
    lengths = {f"hf/f{i}/trainer_state.json": 1000.0 for i in range(1, 9)}
    table = scoring.score({"runmedic": recs}, labelled, lengths).set_index("pathology")
    o = table.loc["overfitting"]
    assert (o.tp, o.fp, o.fn, o.tn, o.n, o.unclear) == (3, 1, 1, 2, 7, 1)
    assert o.accuracy == pytest.approx(5 / 7)
    assert o.precision == pytest.approx(3 / 4)
    assert o.recall == pytest.approx(3 / 4)
    assert o.false_alarm_rate == pytest.approx(1 / 3)
    # onset on the 3 true positives: |0|, |300-200|/1000, |0| -> median 0
    assert (o.onset_error, o.onset_n) == (0.0, 3)
    # best step on readable files with a label: f1 0, f2 0, f3 0, f5 0.2 -> median 0
    assert o.best_n == 4 and o.best_error == 0.0
    assert (o.crashes, o.unreadable, o.files) == (1, 1, 8)
    # runmedic's plateau finding was not given: f6 is a false negative, recall 0
    p = table.loc["plateau"]
    assert (p.tp, p.fn, p.fp, p.recall) == (0, 1, 0, 0.0)
    assert "frozen" not in table.index  # runmedic has no finding that means "frozen"


def test_step_error_skips_missing_and_zero_length():
    assert scoring.step_error([(10, 20, 100), (None, 5, 100), (5, float("nan"), 100), (1, 2, 0)]) == (0.1, 1)
    assert scoring.step_error([]) == (None, 0)


@pytest.mark.parametrize("row, message", [
    (["hf/a/trainer_state.json", "overfit", "yes", "", "", ""], r"labels\.csv:3: unknown pathology 'overfit'"),
    (["hf/a/trainer_state.json", "plateau", "maybe", "", "", ""], r"labels\.csv:3: value 'maybe' is not allowed"),
    (["hf/a/trainer_state.json", "overfitting", "no", "", "", ""], r"labels\.csv:3: overfitting of .* line 2"),
    (["hf/b/trainer_state.json", "overfitting", "yes", "ten", "", ""], r"labels\.csv:3: onset_step 'ten'"),
    (["hf/zzz/trainer_state.json", "overfitting", "yes", "", "", ""], r"labels\.csv:3: 'hf/zzz/.*' is not a local_path"),
])
def test_bad_label_file_names_the_line(tmp_path, row, message):
    path = _write_labels(tmp_path / "labels.csv", [["hf/a/trainer_state.json", "overfitting", "yes", "5", "5", ""], row])
    known = {"hf/a/trainer_state.json", "hf/b/trainer_state.json"}
    with pytest.raises(scoring.LabelError, match=message):
        scoring.load_labels(path, known)


def test_bad_header_is_an_error(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("file,pathology,value\nx,overfitting,yes\n")
    with pytest.raises(scoring.LabelError, match=r"labels\.csv:1: header"):
        scoring.load_labels(path)


def test_parsers_map_peer_outputs_to_pathologies():
    """Output shapes as the pinned peer versions print them (see PEERS.md)."""
    rm = {"rc": 0, "seconds": 0.1, "stderr": "", "stdout": json.dumps([{"roles": {"train_loss": ["loss"]}, "findings": [
        {"check": "overfitting", "step": 120.0}, {"check": "val_below_train", "step": None}]}])}
    r = parse("runmedic", rm)
    assert r["readable"] and r["onset"] == 120.0
    assert tools.pathologies_of("runmedic", r) == {"overfitting", "leakage_signal"}
    tp = {"rc": 1, "seconds": 0.1, "stderr": "", "stdout": json.dumps({"error": None, "reports": [{"findings": [
        {"id": "TP-OVERFIT", "evidence": "eval_loss min 0.50 @step300 rose to 0.70 (1.4x > 1.2) ... best checkpoint "
                                         "was near step 300."}]}]})}
    r = parse("trainproof", tp)
    assert (r["onset"], r["best"]) == (300.0, 300.0) and tools.pathologies_of("trainproof", r) == {"overfitting"}
    ts = {"rc": 0, "seconds": 0.1, "stderr": "", "stdout": json.dumps({"run": {"metrics": {"train/loss": {}}},
          "findings": [{"detector": "overfitting", "severity": "info", "step_start": 5}]})}
    assert tools.pathologies_of("trainspotter", parse("trainspotter", ts)) == set()  # its own downgrade
    crash = {"rc": 1, "seconds": 0.1, "stdout": "", "stderr": "Traceback (most recent call last):\n  ...\nKeyError: 'x'"}
    r = parse("losslint", crash)
    assert r["crashed"] and not r["readable"] and r["error"] == "KeyError: 'x'"


def test_our_adapter_reads_both_diagnosis_schemas():
    new = {"findings": [{"id": "plateau", "severity": "info", "evidence": "", "recommendation": ""}],
           "verdicts": {"overfitting": True, "onset_step": 40, "best_step": 40}}
    r = parse("overfit-forecast", {"rc": 0, "seconds": 1.0, "stderr": "", "stdout": "", "out_text": json.dumps(new)})
    assert tools.pathologies_of("overfit-forecast", r) == {"overfitting", "plateau"} and r["onset"] == 40.0
    old = {"validation": {"status": "overconfident", "onset": {"x": 7}}, "pathologies": {"diverged": False,
           "plateau": False}, "training_fit": {"verdict": "fits"}, "best_checkpoint": {"x": 9}}
    r = parse("overfit-forecast", {"rc": 0, "seconds": 1.0, "stderr": "", "stdout": "", "out_text": json.dumps(old)})
    assert tools.pathologies_of("overfit-forecast", r) == {"overfitting"} and (r["onset"], r["best"]) == (7.0, 9.0)
    refused = parse("overfit-forecast", {"rc": 2, "seconds": 1.0, "stderr": "error: no evaluation points",
                                         "stdout": "", "out_text": None})
    assert not refused["readable"] and not refused["crashed"]
