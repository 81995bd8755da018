import json

import numpy as np
import pandas as pd
import pytest
import torch

from overfit_forecast.sweep import load_space, run_is_complete, run_sweep, sample_configs
from overfit_forecast.training import LOG_COLUMNS, RunConfig, read_log, run_training


def tiny(**kw):
    base = dict(n_train=500, epochs=3, lr=0.1, width=4, batch_size=32, val_size=1000)
    return RunConfig(**{**base, **kw})


def test_run_learns_and_logs_every_epoch(mnist_splits, tmp_path):
    cfg = tiny()
    res = run_training(cfg, mnist_splits, tmp_path)
    log = read_log(tmp_path / f"{cfg.run_id}.csv")
    assert list(log.columns) == LOG_COLUMNS
    assert list(log.epoch) == [0, 1, 2, 3]
    assert res["status"] == "completed" and res["epochs_done"] == 3
    assert log.val_acc.iloc[-1] > log.val_acc.iloc[0] + 0.3  # it learns on real MNIST
    np.testing.assert_allclose(log.gap, log.train_acc - log.val_acc)
    saved = json.loads((tmp_path / f"{cfg.run_id}.json").read_text())
    assert RunConfig.from_dict(saved) == cfg


def test_same_config_and_seed_give_same_log(mnist_splits, tmp_path):
    cfg = tiny(dropout=0.25, label_noise=0.1)
    run_training(cfg, mnist_splits, tmp_path / "a")
    run_training(cfg, mnist_splits, tmp_path / "b")
    a = read_log(tmp_path / "a" / f"{cfg.run_id}.csv").drop(columns="seconds")
    b = read_log(tmp_path / "b" / f"{cfg.run_id}.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    other = tiny(dropout=0.25, label_noise=0.1, seed=1)
    run_training(other, mnist_splits, tmp_path / "c")
    c = read_log(tmp_path / "c" / f"{other.run_id}.csv").drop(columns="seconds")
    assert not a.equals(c)


def test_huge_learning_rate_diverges_and_keeps_log(mnist_splits, tmp_path):
    # with ReLU nets most too-high learning rates kill the units (finite loss at chance);
    # this one (the smoke sweep's) overflows to NaN in its first epoch
    cfg = tiny(lr=8.0, n_train=1000, dropout=0.5, epochs=5)
    res = run_training(cfg, mnist_splits, tmp_path)
    assert res["status"] == "diverged"
    assert "non-finite" in res["message"]
    log = read_log(tmp_path / f"{cfg.run_id}.csv")
    assert 1 <= res["epochs_done"] < 5 and len(log) == res["epochs_done"] + 1


def test_exception_is_recorded_as_failed(mnist_splits, tmp_path, monkeypatch):
    import overfit_forecast.training as tr

    def boom(*a, **k):
        raise RuntimeError("out of memory (simulated)")
    monkeypatch.setattr(tr, "train_one_epoch", boom)
    res = run_training(tiny(), mnist_splits, tmp_path)
    assert res["status"] == "failed" and "simulated" in res["message"]


def test_invalid_config_names_field():
    with pytest.raises(ValueError, match="dropout"):
        RunConfig(dropout=1.5)


def test_sweep_is_resumable(tmp_path, mnist_splits):
    spec = {"sample_seed": 1, "n_configs": 2, "repeat_configs": 1, "repeat_seeds": [1],
            "fixed": {"epochs": 2, "width": 4, "val_size": 1000, "n_train": 256},
            "space": {"lr": {"log_uniform": [0.01, 0.1]}}}
    configs = sample_configs(spec)
    assert len(configs) == 3 and configs[0].group_id == configs[2].group_id
    assert configs[0].run_id != configs[2].run_id
    table = run_sweep(configs, tmp_path, workers=1, progress=False)
    assert list(table.status) == ["completed"] * 3
    assert (tmp_path / "sweep.csv").exists()
    # truncate one log: only that run is retrained
    victim = tmp_path / f"{configs[1].run_id}.csv"
    victim.write_text("\n".join(victim.read_text().splitlines()[:2]) + "\n")
    assert not run_is_complete(configs[1], tmp_path)
    mtimes = {c.run_id: (tmp_path / f"{c.run_id}.json").stat().st_mtime_ns for c in configs}
    run_sweep(configs, tmp_path, workers=1, progress=False)
    after = {c.run_id: (tmp_path / f"{c.run_id}.json").stat().st_mtime_ns for c in configs}
    assert after[configs[0].run_id] == mtimes[configs[0].run_id]
    assert after[configs[1].run_id] != mtimes[configs[1].run_id]
    assert all(run_is_complete(c, tmp_path) for c in configs)


def test_space_file_is_validated(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("space:\n  learning_rate: {log_uniform: [0.1, 1]}\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_space(p)
    p.write_text("space:\n  lr: {gaussian: [0.1, 1]}\n")
    with pytest.raises(ValueError, match="lr"):
        load_space(p)


def test_study_space_is_deterministic_and_large_enough():
    from overfit_forecast.paths import project_root
    spec = load_space(project_root() / "configs" / "sweep_mnist.yaml")
    a, b = sample_configs(spec), sample_configs(spec)
    assert [c.run_id for c in a] == [c.run_id for c in b]
    assert len(a) >= 200 and min(c.epochs for c in a) >= 20
    assert any(c.lr > 1 for c in a) and any(c.label_noise == 0 for c in a)


def test_device_choice_and_ids(monkeypatch):
    import torch

    from overfit_forecast.training import DeviceUnavailableError, resolve_device

    assert RunConfig(device="cpu").run_id == RunConfig().run_id == RunConfig(device="cuda").run_id
    assert RunConfig(channels_last=True).run_id != RunConfig().run_id  # other floats, other run
    with pytest.raises(ValueError, match="device"):
        RunConfig(device="gpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
            resolve_device(name)


def test_cuda_run_without_cuda_raises_before_training(mnist_splits, tmp_path, monkeypatch):
    import torch

    from overfit_forecast.training import DeviceUnavailableError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError):
        run_training(tiny(device="cuda"), mnist_splits, tmp_path)
    assert not any(tmp_path.iterdir())


def test_explicit_cpu_device_and_channels_last_are_deterministic(mnist_splits, tmp_path):
    cfg = tiny(epochs=2, dropout=0.25)
    logs = {}
    for name, c in (("auto", cfg), ("cpu", tiny(epochs=2, dropout=0.25, device="cpu")),
                    ("cl1", tiny(epochs=2, dropout=0.25, channels_last=True)),
                    ("cl2", tiny(epochs=2, dropout=0.25, channels_last=True))):
        run_training(c, mnist_splits, tmp_path / name)
        logs[name] = read_log(tmp_path / name / f"{c.run_id}.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(logs["auto"], logs["cpu"])  # same device, same floats
    pd.testing.assert_frame_equal(logs["cl1"], logs["cl2"])  # channels_last: repeatable
    np.testing.assert_allclose(logs["cl1"].val_acc, logs["auto"].val_acc, atol=0.05)  # same meaning


def test_log_test_adds_the_test_split_and_leaves_the_trajectory_unchanged(mnist_splits, tmp_path):
    from overfit_forecast.training import train_run

    assert RunConfig(log_test=True).run_id != RunConfig().run_id  # another log, another run
    assert RunConfig(log_test=False).run_id == RunConfig().run_id  # older runs keep their ids
    plain, with_test = tiny(epochs=2, dropout=0.25), tiny(epochs=2, dropout=0.25, log_test=True)
    logs = {}
    for c in (plain, with_test):
        run_training(c, mnist_splits, tmp_path)
        logs[c.log_test] = read_log(tmp_path / f"{c.run_id}.csv")
    from overfit_forecast.runlog import LOG_COLUMNS, TEST_COLUMNS

    assert list(logs[True].columns) == LOG_COLUMNS + TEST_COLUMNS
    assert "test_loss" not in logs[False].columns
    shared = [c for c in logs[False].columns if c != "seconds"]
    pd.testing.assert_frame_equal(logs[False][shared], logs[True][shared])  # same training, bit for bit
    result, rows = train_run(tiny(epochs=1, log_test=True), mnist_splits)
    assert rows[0]["test_loss"] > 1.5  # ~ln 10 before any update
    assert result["test_acc"] == rows[-1]["test_acc"]  # the final model's test accuracy, as recorded


def test_flop_count_matches_the_layer_shapes():
    from overfit_forecast.model import SmallCNN, count_flops

    w, h = 16, 128
    conv1 = 2 * 28 * 28 * 1 * w * 9  # 2 FLOPs per multiply-add
    conv2 = 2 * 14 * 14 * w * 2 * w * 9
    fc = 2 * (2 * w * 7 * 7 * h + h * 10)
    fwd = conv1 + conv2 + fc
    model = SmallCNN(w, hidden=h)
    assert count_flops(model, 8, train=False) == fwd
    # backward: weight gradients of every layer, input gradients of all but the first
    assert count_flops(model, 8) == 3 * fwd - conv1
    assert all(p.grad is None for p in model.parameters())


def test_splits_move_to_a_device(mnist_splits):
    import dataclasses

    assert mnist_splits.to("cpu") is mnist_splits  # no copy when already there
    moved = mnist_splits.to("meta")  # a device without data: checks every tensor moves
    for f in dataclasses.fields(mnist_splits):
        a, b = getattr(mnist_splits, f.name), getattr(moved, f.name)
        assert b.device.type == "meta" and b.shape == a.shape and b.dtype == a.dtype
