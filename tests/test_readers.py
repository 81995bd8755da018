import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from overfit_forecast.readers import (
    LogFormatError, MultipleRunsError, detect_format, read_curves, split_metric,
)
from overfit_forecast.synthetic import trainer_state


def curve(c, split, metric):
    s = c.series(split, metric)
    return s.x.tolist(), s.value.tolist()


@pytest.mark.parametrize("name,expected", [
    ("val_loss", ("val", "loss")), ("valid_loss", ("val", "loss")), ("eval_loss", ("val", "loss")),
    ("val/loss", ("val", "loss")), ("Loss/val", ("val", "loss")), ("train_loss_epoch", ("train", "loss")),
    ("loss", ("train", "loss")), ("val_acc", ("val", "accuracy")), ("eval_accuracy", ("val", "accuracy")),
    ("val_sparse_categorical_accuracy", ("val", "accuracy")), ("eval_f1", ("val", "f1")),
    ("lr", None), ("learning_rate", None), ("eval_runtime", None), ("epoch", None),
])
def test_split_metric(name, expected):
    assert split_metric(name) == expected


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


def test_hf_truncated_json_names_line(tmp_path):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(trainer_state(), indent=1)[:500])
    with pytest.raises(LogFormatError, match=r"trainer_state.json: invalid or truncated JSON at line \d+"):
        read_curves(p)


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


def test_keras_csv_and_restarting_epochs(tmp_path):
    p = tmp_path / "training.log"
    rows = "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.8,0.6,0.85,0.5\n1,0.9,0.3,0.88,0.4\n2,0.95,0.2,0.87,0.45\n"
    p.write_text(rows)
    c = read_curves(p)
    assert c.format == "keras_csv"
    assert curve(c, "val", "loss") == ([1.0, 2.0, 3.0], [0.5, 0.4, 0.45])
    p.write_text(rows + "\n".join(rows.splitlines()[1:3]) + "\n")
    with pytest.raises(MultipleRunsError, match=r"restarts at line\(s\) \[5\]: 2 runs"):
        read_curves(p)
    second = read_curves(p, run=1)
    assert curve(second, "val", "loss") == ([1.0, 2.0], [0.5, 0.4])


def test_keras_history_json_with_nan(tmp_path):
    p = tmp_path / "history.json"
    p.write_text(json.dumps({"loss": [1.0, 0.5, None], "val_loss": [1.1, 0.7, 0.9], "accuracy": [0.5, 0.8, 0.9]}))
    c = read_curves(p)
    assert c.format == "keras_history"
    xs, vs = curve(c, "train", "loss")
    assert xs == [1, 2, 3] and np.isnan(vs[2])


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


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("epoch,loss\n", "header only"),
    ("epoch,loss,val_loss\n0,0.5,abc\n", "line 2: not a number"),
    ("foo,bar\n1,2\n", "needs an 'epoch' or 'step'"),
])
def test_bad_csvs(tmp_path, text, match):
    p = tmp_path / "x.csv"
    p.write_text(text)
    with pytest.raises(LogFormatError, match=match):
        read_curves(p)


def test_missing_path_and_unknown_folder(tmp_path):
    with pytest.raises(LogFormatError, match="no such file"):
        read_curves(tmp_path / "nope.json")
    with pytest.raises(LogFormatError, match="folder holds no"):
        read_curves(tmp_path)


FORMATS = ["hf_trainer", "lightning", "keras_csv", "keras_history", "tensorboard", "mlflow",
           "overfit_forecast", "csv", "auto"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
       fmt=st.sampled_from(FORMATS), name=st.sampled_from(["trainer_state.json", "metrics.csv", "h.json", "log.csv"]))
def test_random_bytes_only_raise_our_errors(tmp_path, data, fmt, name):
    p = tmp_path / name
    p.write_bytes(data)
    try:
        read_curves(p, fmt)
    except LogFormatError:
        pass


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 3000), junk=st.text(max_size=20))
def test_corrupted_trainer_state_only_raises_our_errors(tmp_path, cut, junk):
    text = json.dumps(trainer_state(steps=300, eval_every=50))
    p = tmp_path / "trainer_state.json"
    p.write_text(text[:cut] + junk + text[cut + len(junk):])
    try:
        read_curves(p)
    except LogFormatError:
        pass
