import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from overfit_forecast.readers import (
    LogFormatError, LogFormatWarning, MultipleRunsError, detect_format, read_curves, split_metric,
)
from overfit_forecast.synthetic import trainer_state

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def curve(c, split, metric):
    s = c.series(split, metric)
    return s.x.tolist(), s.value.tolist()


@pytest.mark.parametrize("name,expected", [
    ("val_loss", ("val", "loss")), ("valid_loss", ("val", "loss")), ("eval_loss", ("val", "loss")),
    ("val/loss", ("val", "loss")), ("Loss/val", ("val", "loss")), ("train_loss_epoch", ("train", "loss")),
    ("loss", ("train", "loss")), ("val_acc", ("val", "accuracy")), ("eval_accuracy", ("val", "accuracy")),
    ("val_sparse_categorical_accuracy", ("val", "accuracy")), ("eval_f1", ("val", "f1")),
    ("Validation Loss", ("val", "loss")), ("ValLoss", ("val", "loss")), ("Train_Acc", ("train", "accuracy")),
    ("reg_val_mae", ("val", "reg_mae")), ("test_acc", ("test", "accuracy")), ("epoch_loss", ("train", "loss")),
    ("lr", None), ("learning_rate", None), ("eval_runtime", None), ("epoch", None), ("reg_learning_rate", None),
    ("Unnamed: 0", None), ("epoch_time", None), ("cls_val_loss", ("val", "cls_loss")),
    ("metrics/mAP50-95(B)", ("val", "map50_95")), ("metrics/precision(B)", ("val", "precision")),
    ("lr/pg0", ("train", "lr_pg0")),
])
def test_split_metric(name, expected):
    assert split_metric(name) == expected


# --------------------------------------------------------------------------------------
# Formats, with their quirks
# --------------------------------------------------------------------------------------

def test_hf_trainer_state_file_folder_and_parent(tmp_path):
    state = trainer_state(steps=600, eval_every=100, log_every=50)
    ck = tmp_path / "out" / "checkpoint-600"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps(state))
    old = tmp_path / "out" / "checkpoint-300"
    old.mkdir()
    (old / "trainer_state.json").write_text(json.dumps(trainer_state(steps=300, eval_every=100, log_every=50)))
    for p in (ck / "trainer_state.json", ck, tmp_path / "out"):
        c = read_curves(p)
        assert c.format == "hf_trainer" and c.meta["global_step"] == 600  # newest checkpoint
        xs, vs = curve(c, "val", "loss")
        assert xs == [100, 200, 300, 400, 500, 600]
        assert len(c.series("train", "loss")) == 12
        assert set(c.metrics("val")) == {"loss", "accuracy"}  # runtime etc. dropped
        assert c.meta["train_batch_size"] == 32


def test_hf_detected_by_content_and_rounded_epochs_recomputed(tmp_path):
    spe = 37  # steps per epoch: 1/37 is not a 2-decimal number
    hist = [{"loss": 1.0 / s, "step": s, "epoch": round(s / spe, 2)} for s in range(5, 3 * spe + 1, 5)]
    hist += [{"eval_loss": 0.5 + e / 10, "step": e * spe, "epoch": round(float(e), 2)} for e in (1, 2, 3)]
    hist.append({"train_runtime": 10.0, "step": 3 * spe, "epoch": 3.0})
    p = tmp_path / "my_run_state.txt"  # not named trainer_state.json, not even .json
    p.write_text(json.dumps({"log_history": hist, "global_step": 3 * spe}))
    assert detect_format(p) == "hf_trainer"
    c = read_curves(p)
    tr = c.series("train", "loss")
    np.testing.assert_allclose(tr.epoch, tr.step / spe, rtol=1e-12)  # exact, not rounded to 0.01
    assert c.meta["epoch_from_step"] and c.meta["steps_per_epoch"] == pytest.approx(spe)
    assert c.series("val", "loss").epoch.tolist() == pytest.approx([1.0, 2.0, 3.0])


def test_lightning_csv(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,train_loss_step,train_loss_epoch,val_loss,val_acc\n"
                 "0,49,0.9,,,\n0,99,0.7,,,\n0,99,,,0.6,0.8\n0,99,,0.8,,\n"
                 "1,149,0.5,,,\n1,199,0.4,,,\n1,199,,,0.55,0.85\n1,199,,0.45,,\n")
    c = read_curves(tmp_path)  # the folder works too
    assert c.format == "lightning"
    assert curve(c, "val", "loss") == ([99.0, 199.0], [0.6, 0.55])
    assert curve(c, "train", "loss") == ([99.0, 199.0], [0.8, 0.45])  # epoch-level kept, step-level dropped
    assert c.series("val", "accuracy").epoch.tolist() == [1.0, 2.0]


def test_lightning_without_step_keeps_no_empty_rows(tmp_path):
    # 9 validations among many sparse rows: empty cells are "not logged", not NaN evaluations
    lines = ["epoch,train_loss,val_loss"]
    for e in range(9):
        lines += [f"{e},{1.0 / (e + 1):.4f},"] * 8 + [f"{e},,{0.5 + 0.01 * e:.4f}"]
    p = tmp_path / "metrics.csv"
    p.write_text("\n".join(lines) + "\n")
    c = read_curves(p, "lightning")
    v = c.series("val", "loss")
    assert len(v) == 9 and v.value.notna().all()
    assert v.value.iloc[-1] == pytest.approx(0.58) and v.epoch.tolist() == list(range(1, 10))


def test_lightning_step_rows_get_fractions_of_an_epoch(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,train_loss,val_loss\n0,9,1.0,\n0,19,0.9,\n0,39,,0.8\n1,49,0.7,\n1,79,,0.6\n")
    c = read_curves(p)
    tr = c.series("train", "loss")
    assert tr.epoch.tolist() == pytest.approx([10 / 40, 20 / 40, 1 + 10 / 40])  # not whole epochs
    assert c.series("val", "loss").epoch.tolist() == [1.0, 2.0]


def test_keras_csv_and_restarting_epochs(tmp_path):
    p = tmp_path / "training.log"
    rows = "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.8,0.6,0.85,0.5\n1,0.9,0.3,0.88,0.4\n2,0.95,0.2,0.87,0.45\n"
    p.write_text(rows)
    c = read_curves(p)
    assert c.format == "keras_csv"
    assert curve(c, "val", "loss") == ([1.0, 2.0, 3.0], [0.5, 0.4, 0.45])
    p.write_text(rows + "0,0.7,0.7,0.7,0.9\n1,0.8,0.5,0.8,0.7\n")
    with pytest.warns(LogFormatWarning, match=r"restarts at line\(s\) \[5\]: 2 runs.*reading the last one"):
        last = read_curves(p)
    assert curve(last, "val", "loss") == ([1.0, 2.0], [0.9, 0.7])
    assert last.meta["runs_in_file"] == 2 and last.meta["run"] == 1
    assert curve(read_curves(p, run=0), "val", "loss") == ([1.0, 2.0, 3.0], [0.5, 0.4, 0.45])
    with pytest.raises(MultipleRunsError, match="run=5 but the file holds 2 runs"):
        read_curves(p, run=5)


def test_keras_history_json_with_nan_and_scalar_keys(tmp_path):
    p = tmp_path / "history.json"
    p.write_text(json.dumps({"loss": [1.0, 0.5, None], "val_loss": [1.1, 0.7, 0.9], "accuracy": [0.5, 0.8, 0.9],
                             "test_accuracy": 0.88, "finished_at": "2024-05-01T10:00", "phase": "finetune",
                             "config": {"lr": 0.1}}))
    c = read_curves(p)
    assert c.format == "keras_history"
    xs, vs = curve(c, "train", "loss")
    assert xs == [1, 2, 3] and np.isnan(vs[2])
    assert c.meta["scalar_extras"] == {"test_accuracy": 0.88, "finished_at": "2024-05-01T10:00",
                                       "phase": "finetune", "config": {"lr": 0.1}}


def test_history_json_nested_metrics_and_records(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"train_loss": [0.9, 0.8], "val_loss": [1.0, 0.95],
                             "val_metrics": [{"mae": 0.5, "r2": 0.1}, {"mae": 0.4, "r2": 0.2}]}))
    c = read_curves(p)
    assert curve(c, "val", "mae") == ([1, 2], [0.5, 0.4]) and curve(c, "val", "r2")[1] == [0.1, 0.2]
    q = tmp_path / "records.json"
    q.write_text(json.dumps([{"epoch": 1, "train_cos": 0.6, "val_cos": 0.65}, {"epoch": 2, "train_cos": 0.7,
                                                                                "val_cos": 0.66}]))
    r = read_curves(q)
    assert curve(r, "val", "cos") == ([1, 2], [0.65, 0.66]) and r.meta["layout"] == "records"


def test_heldout_test_columns_are_the_eval_split_only_without_val(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("epoch,loss,lr,test_acc\n1,1.8,0.03,0.27\n2,1.2,0.03,0.41\n3,1.0,0.03,0.45\n")
    c = read_curves(p)
    assert curve(c, "val", "accuracy")[1] == [0.27, 0.41, 0.45] and c.meta["eval_split"] == "test"
    q = tmp_path / "log2.csv"
    q.write_text("epoch,loss,val_loss,test_loss\n0,1.0,1.1,1.2\n1,0.9,1.0,1.1\n")
    c2 = read_curves(q)
    assert curve(c2, "val", "loss")[1] == [1.1, 1.0] and c2.meta["test_metrics"] == ["loss"]


def test_semicolons_title_line_and_pandas_index(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("Training run 3\nEpoch;Training Loss;Validation Loss;Time\n1;0,5;0,6;1.3m\n2;0.4;0.55;2.6m\n"
                 .replace("0,5", "0.5").replace("0,6", "0.6"))
    c = read_curves(p)
    assert c.format == "csv" and c.meta["separator"] == ";" and c.meta["title_lines"] == 1
    assert curve(c, "val", "loss") == ([1.0, 2.0], [0.6, 0.55])  # epochs counted from 1 stay as they are
    q = tmp_path / "hist.csv"
    q.write_text(",accuracy,loss,val_accuracy,val_loss\n0,0.7,0.6,0.8,0.5\n1,0.8,0.4,0.85,0.45\n")
    assert curve(read_curves(q), "val", "loss") == ([1.0, 2.0], [0.5, 0.45])  # pandas index: 0-based


def test_config_and_label_columns_are_not_curves(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("model,neurons,dropout_on,epoch,train_loss,val_loss,lr\n"
                 "gru,8,True,0,0.9,1.0,0.01\ngru,8,True,1,0.8,0.9,0.01\ngru,8,True,2,0.7,0.85,0.01\n")
    c = read_curves(p)
    assert c.metrics("train") == ["loss"] and c.metrics("val") == ["loss"]
    assert c.meta["constant_columns"] == {"neurons": 8.0} and c.meta["text_columns"] == ["model", "dropout_on"]


def test_tensorboard_written_by_torch(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(str(tmp_path / "tb"))
    for s in range(1, 6):
        w.add_scalar("train/loss", 1.0 / s, s * 10)
        w.add_scalar("train/epoch", s / 2, s * 10)
        if s % 2 == 0:
            w.add_scalar("eval/loss", 0.5 + 0.01 * s, s * 10)
            w.add_scalar("eval/accuracy", 0.8, s * 10)
    w.close()
    c = read_curves(tmp_path / "tb")
    assert c.format == "tensorboard"
    assert curve(c, "val", "loss")[0] == [20, 40]
    assert c.series("val", "loss").epoch.tolist() == [1.0, 2.0]
    assert "epoch" not in c.metrics("train")
    event = next((tmp_path / "tb").glob("*tfevents*"))
    renamed = tmp_path / "run.bin"
    renamed.write_bytes(event.read_bytes())
    assert detect_format(renamed) == "tensorboard"  # by content


def test_tensorboard_keras_train_and_validation_folders(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    for sub, off in (("train", 0.0), ("validation", 0.1)):
        w = SummaryWriter(str(tmp_path / "logs" / sub))
        for e in range(4):
            w.add_scalar("epoch_loss", 1.0 / (e + 1) + off, e)
            w.add_scalar("epoch_accuracy", 0.5 + e / 10 - off, e)
        w.close()
    c = read_curves(tmp_path / "logs")
    assert c.metrics("train") == c.metrics("val") == ["accuracy", "loss"]
    v = c.series("val", "loss")
    assert v.epoch.tolist() == [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(v.value, [1.1, 0.6, 1 / 3 + 0.1, 0.35], rtol=1e-6)


def test_mlflow_local_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow
    uri = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        for e in range(1, 5):
            mlflow.log_metric("train_loss", 1.0 / e, step=e)
            mlflow.log_metric("val_loss", 0.8 + 0.01 * e, step=e)
            mlflow.log_metric("epoch", e, step=e)
    folder = next((tmp_path / "mlruns").glob(f"*/{run.info.run_id}"))
    c = read_curves(folder)
    assert c.format == "mlflow" and c.meta["params"] == {"lr": "0.1"}
    assert curve(c, "val", "loss")[0] == [1, 2, 3, 4]
    assert c.series("train", "loss").epoch.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_our_log_and_mapping(tmp_path):
    p = tmp_path / "run.csv"
    p.write_text("epoch,train_loss,val_loss,train_acc,val_acc,gap,lr,seconds\n0,2.3,2.3,0.1,0.1,0,0.1,1\n1,0.5,0.6,0.9,0.85,0.05,0.1,1\n")
    c = read_curves(p)
    assert c.format == "overfit_forecast" and curve(c, "val", "accuracy") == ([0, 1], [0.1, 0.85])
    q = tmp_path / "custom.csv"
    q.write_text("ep,trn,dev_objective\n1,0.5,0.7\n2,0.4,0.6\n")
    c2 = read_curves(q, column_map={"ep": "epoch", "trn": "train_loss", "dev_objective": "val_loss"})
    assert curve(c2, "val", "loss") == ([1, 2], [0.7, 0.6])


def test_numpy_columns_match_the_lazy_table_and_series(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,train_loss,val_loss,val_acc\n0,9,1.0,,\n0,19,0.9,,\n0,19,,0.8,0.5\n"
                 "1,29,0.7,,\n1,39,,0.6,0.7\n")
    c = read_curves(p)
    t = c.table  # built on first use, same rows as the arrays
    assert list(t.columns) == ["step", "epoch", "split", "metric", "value"] and len(t) == len(c) == 7
    assert t.step.dtype == float and t.index.tolist() == list(range(7))
    assert t.split.tolist() == c.split.tolist() and {type(m) for m in t.metric} == {str}
    np.testing.assert_array_equal(t.value.to_numpy(), c.value)
    for split, metric in c.keys():
        a, s = c.arrays(split, metric), c.series(split, metric)
        for col in ("x", "step", "epoch", "value"):
            np.testing.assert_array_equal(a[col], s[col].to_numpy())
    assert c.arrays("val", "loss", by="epoch")["x"].tolist() == [1.0, 2.0]
    assert c.keys() == [("train", "loss"), ("val", "accuracy"), ("val", "loss")]
    again = type(c)(t.iloc[::-1], "again", "t")  # the old constructor: a DataFrame
    assert again.arrays("train", "loss")["value"].tolist() == [1.0, 0.9, 0.7]


def test_trailing_separators_and_ragged_rows(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("epoch,loss,val_loss\n0,0.5,0.6\n1,0.4,0.55,\n2,0.3,0.5\n")  # a stray separator at a line's end
    assert curve(read_curves(p), "val", "loss") == ([1.0, 2.0, 3.0], [0.6, 0.55, 0.5])
    p.write_text("my run\nepoch,loss,val_loss\n0,0.5,0.6\n1,0.4,0.55,7\n")
    with pytest.raises(LogFormatError, match=r"log\.csv: not a well-formed comma-separated table at line 4 "
                                             r"\(expected 3 fields, saw 4\)"):
        read_curves(p)


def test_readers_import_no_heavy_libraries():
    code = ("import sys, overfit_forecast.readers; "
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'tbparse', 'mlflow', 'matplotlib', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------
# Properties: valid logs of every format round-trip with the right values
# --------------------------------------------------------------------------------------

values = st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), st.just(math.nan)),
                  min_size=2, max_size=12)


def _same(got, want):
    np.testing.assert_array_equal(np.asarray(got, float), np.asarray(want, float))


@FUZZ
@given(train=values, sep=st.sampled_from([",", ";", "\t"]), title=st.booleans(), data=st.data())
def test_keras_csv_round_trip(tmp_path, train, sep, title, data):
    val = data.draw(st.lists(st.floats(0, 10), min_size=len(train), max_size=len(train)))
    lines = (["keras training log"] if title else []) + [sep.join(["epoch", "loss", "val_loss"])]
    lines += [sep.join([str(i), repr(a), repr(b)]) for i, (a, b) in enumerate(zip(train, val))]
    p = tmp_path / "log.csv"
    p.write_text("\n".join(lines) + "\n")
    c = read_curves(p)
    assert c.format == "keras_csv"
    _same(c.series("train", "loss").value, train)
    _same(c.series("val", "loss").value, val)
    assert c.series("val", "loss").epoch.tolist() == list(range(1, len(train) + 1))


@FUZZ
@given(train=values, layout=st.sampled_from(["dict", "records"]), extra=st.booleans())
def test_json_history_round_trip(tmp_path, train, layout, extra):
    val = [abs(v) / 2 if v == v else v for v in train]
    if layout == "dict":
        obj = {"loss": train, "val_loss": val, **({"test_accuracy": 0.5, "note": "done"} if extra else {})}
    else:
        obj = [{"epoch": i + 1, "loss": a, "val_loss": b, **({"phase": "fit"} if extra else {})}
               for i, (a, b) in enumerate(zip(train, val))]
    p = tmp_path / "h.json"
    p.write_text(json.dumps(obj))
    c = read_curves(p)
    _same(c.series("train", "loss").value, train)
    _same(c.series("val", "loss").value, val)


@FUZZ
@given(val=values, steps_per_epoch=st.integers(2, 60), per_epoch_rows=st.integers(1, 4), with_step=st.booleans())
def test_lightning_round_trip(tmp_path, val, steps_per_epoch, per_epoch_rows, with_step):
    rows = [("epoch", "step", "train_loss_step", "val_loss", "train_loss_epoch")]
    for e, v in enumerate(val):
        last = (e + 1) * steps_per_epoch - 1
        for k in range(per_epoch_rows):
            rows.append((e, last - k, 1.0, "", ""))
        rows += [(e, last, "", repr(v), ""), (e, last, "", "", 2.0 + e)]
    cols = [0, 1, 2, 3, 4] if with_step else [0, 2, 3, 4]
    p = tmp_path / "metrics.csv"
    p.write_text("\n".join(",".join(str(r[i]) for i in cols) for r in rows) + "\n")
    c = read_curves(p, "lightning")
    s = c.series("val", "loss")
    _same(s.value, val)
    assert s.epoch.tolist() == list(range(1, len(val) + 1))
    _same(c.series("train", "loss").value, [2.0 + e for e in range(len(val))])


@FUZZ
@given(evals=values, spe=st.integers(3, 97))
def test_hf_round_trip(tmp_path, evals, spe):
    hist = []
    for e, v in enumerate(evals, start=1):
        hist.append({"loss": 1.0 / e, "learning_rate": 1e-4, "step": e * spe - 1, "epoch": round((e * spe - 1) / spe, 2)})
        hist.append({"eval_loss": v, "eval_runtime": 1.0, "step": e * spe, "epoch": round(float(e), 2)})
    p = tmp_path / "state.json"
    p.write_text(json.dumps({"log_history": hist, "global_step": len(evals) * spe}))
    c = read_curves(p)
    s = c.series("val", "loss")
    _same(s.value, evals)
    assert s.step.tolist() == [e * spe for e in range(1, len(evals) + 1)]


# --------------------------------------------------------------------------------------
# Each kind of corruption: its own message naming the file and the line, column or key
# --------------------------------------------------------------------------------------

CORRUPT = [
    ("x.csv", "", r"x\.csv: file is empty"),
    ("x.csv", "epoch,loss\n", r"x\.csv: header only"),
    ("x.csv", "epoch,loss,val_loss\n0,0.5,0.4\n1,0.4,abc\n", r"x\.csv: line 3, column 'val_loss': not a number \('abc'\)"),
    ("x.csv", "epoch,loss,val_loss\n0,0.5,0.4\n1,0.4,0.3,9,9\n", r"x\.csv: not a well-formed comma-separated table at line 3"),
    ("x.csv", "epoch,lr,time\n0,0.1,5\n1,0.1,6\n", r"x\.csv: no metric columns among \['epoch', 'lr', 'time'\]"),
    ("x.json", '{"loss": [1.0, 0.5', r"x\.json: invalid or truncated JSON at line 1, column \d+"),
    ("x.json", '{"loss": [1.0, "oops"], "val_loss": [1, 2]}', r"x\.json: loss\[1\] is not a number \('oops'\)"),
    ("x.json", '[{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": "x"}]', r"x\.json: \[1\]\.loss is not a number"),
    ("x.json", '[{"epoch": 1, "loss": 1.0}, 7]', r"x\.json: \[1\] is not an object"),
    ("x.json", '[[1, 2], [3, 4]]', r"x\.json: \[0\] is not an object \(list\)"),
    ("x.json", '{"log_history": [{"loss": 1.0, "step": 1}, 3]}', r"x\.json: log_history\[1\] is not an object"),
    ("x.json", '{"log_history": [{"eval_loss": 1.0, "step": 1}, {"eval_loss": "bad", "step": 2}]}',
     r"x\.json: log_history\[1\]\.eval_loss is not a number \('bad'\)"),
    ("x.json", '{"log_history": "nope"}', r"x\.json: not a trainer_state\.json \(no 'log_history' list\)"),
    ("x.json", '{"lr": [0.1, 0.1], "note": "x"}', r"x\.json: no training or validation metrics found"),
]


@pytest.mark.parametrize("name,text,match", CORRUPT)
def test_each_corruption_has_its_own_message(tmp_path, name, text, match):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(LogFormatError, match=match):
        read_curves(p)


def test_binary_and_missing_inputs(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\xff\xd8\xff\xe0 not text \x00\x01")
    with pytest.raises(LogFormatError, match=r"x\.csv: not a UTF-8 text file"):
        read_curves(p)
    with pytest.raises(LogFormatError, match="no such file"):
        read_curves(tmp_path / "nope.json")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(LogFormatError, match="folder holds no"):
        read_curves(tmp_path / "empty_dir")


@pytest.mark.parametrize("cut", [40, 400, 4000])
def test_truncated_trainer_state_names_line(tmp_path, cut):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(trainer_state(), indent=1)[:cut])
    with pytest.raises(LogFormatError, match=r"trainer_state.json: invalid or truncated JSON at line \d+, column \d+"):
        read_curves(p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
       name=st.sampled_from(["trainer_state.json", "metrics.csv", "h.json", "log.csv"]))
def test_arbitrary_bytes_read_or_raise_our_error(tmp_path, data, name):
    # nothing catches every exception type any more: a traceback here is a real bug
    p = tmp_path / name
    p.write_bytes(data)
    try:
        c = read_curves(p)
    except LogFormatError as exc:
        assert str(p) in str(exc)
    else:
        assert not c.table.empty and set(c.table.split) <= {"train", "val"}


def test_epoch_counters_from_zero_and_from_one(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.9,1.0\n")
    assert read_curves(p).series("val", "loss").epoch.tolist() == [1.0, 2.0]  # CSVLogger: 0-based
    p.write_text("epoch,loss,val_loss\n1,1.0,1.1\n2,0.9,1.0\n")
    c = read_curves(p)
    assert c.series("val", "loss").epoch.tolist() == [1.0, 2.0] and c.meta["epoch_base"] == 1


SEEDS = [b"epoch,step,train_loss,val_loss\n0,1,0.5,\n0,1,,0.4\n1,3,0.4,\n1,3,,0.3\n",
         b'{"loss": [1, 2], "val_loss": [1, 2], "test_acc": 0.5}',
         b'{"log_history": [{"loss": 1, "step": 1, "epoch": 0.5}, {"eval_loss": 1, "step": 2, "epoch": 1.0}]}',
         b"Title\nEpoch;Training Loss;Validation Loss\n1;0.5;0.6\n2;0.4;nan\n",
         b'[{"epoch": 1, "loss": 1.0, "phase": "train"}, {"epoch": 1, "loss": 2.0, "phase": "val"}]']


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.integers(0, 120), st.binary(max_size=4)), max_size=3),
       name=st.sampled_from(["a.csv", "b.json"]))
def test_mutated_valid_logs_read_or_raise_our_error(tmp_path, seed, edits, name):
    data = bytearray(seed)
    for pos, new in edits:
        pos = min(pos, len(data))
        data[pos:pos + len(new)] = new
    p = tmp_path / name
    p.write_bytes(bytes(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = read_curves(p)
    except LogFormatError as exc:
        assert str(p) in str(exc)
    else:
        assert set(c.table.split) <= {"train", "val"} and len(c.table)
