"""The sweep's executors and failure paths: data/device problems stop it, failed runs reach
the user, Dask and the local pool write the same logs, killed clients and workers lose
nothing finished."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from overfit_forecast import cli
from overfit_forecast.paths import project_root
from overfit_forecast.runlog import RunConfig, read_log
from overfit_forecast.sweep import (
    SweepAborted, load_space, run_is_complete, run_sweep, sample_configs,
)

SMOKE = project_root() / "configs" / "sweep_smoke.yaml"


def _space(tmp_path, **fixed):
    spec = {"dataset": "mnist", "sample_seed": 3, "n_configs": 4,
            "fixed": {"epochs": 3, "width": 4, "val_size": 1000, "n_train": 600, "batch_size": 32,
                      **fixed},
            "space": {"lr": {"log_uniform": [0.01, 0.1]}}}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _no_mnist(tmp_path, monkeypatch):
    """Hide every copy of MNIST from the data module (in this process)."""
    import overfit_forecast.data as d

    monkeypatch.setattr(d, "PROJECT_ROOT", tmp_path / "clone")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OVERFIT_FORECAST_DATA", raising=False)


def _finished(log_dir: Path) -> list[Path]:
    return sorted(p for p in log_dir.glob("*.json"))


def test_missing_data_stops_sweep_with_exit_2(tmp_path, monkeypatch, capsys):
    _no_mnist(tmp_path, monkeypatch)
    out = tmp_path / "OUT"
    rc = cli.main(["sweep", str(SMOKE), str(out), "--no-download", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "MNIST raw files not found" in err and "Searched:" in err
    assert str(tmp_path / "clone" / "data" / "MNIST" / "raw") in err  # the folders searched
    assert "data/MNIST/raw/" in err  # where to put the files
    assert not out.exists() or not any(out.iterdir())  # no result, no log, no sweep.csv


def test_data_error_raised_by_a_worker_stops_the_sweep(tmp_path, monkeypatch):
    # the check before training is skipped: the first run that loads its data stops it
    import overfit_forecast.executors as ex
    import overfit_forecast.sweep as sw

    _no_mnist(tmp_path, monkeypatch)
    monkeypatch.setattr(sw, "preflight", lambda *a, **k: "skipped")
    monkeypatch.setattr(ex, "_SPLITS", {})
    configs = sample_configs(load_space(_space(tmp_path)))
    with pytest.raises(SweepAborted, match="Searched"):
        run_sweep(configs, tmp_path / "OUT", workers=1, progress=False, download=False)
    assert not _finished(tmp_path / "OUT") if (tmp_path / "OUT").exists() else True
    assert not (tmp_path / "OUT" / "sweep.csv").exists()


def test_cuda_config_without_cuda_fails_before_training(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "OUT"
    rc = cli.main(["sweep", str(_space(tmp_path, device="cuda")), str(out), "--workers", "2", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "'cuda' requested but CUDA is not available" in err and "device: cpu" in err
    assert not out.exists() or not _finished(out)


def test_failed_run_is_recorded_and_reported(tmp_path, monkeypatch, capsys, mnist_splits):
    import overfit_forecast.training as tr

    calls = []

    def boom(model, optimizer, x, y, batch_size, generator):
        calls.append(1)
        if len(calls) == 2:  # the second run's first epoch
            raise RuntimeError("CUDA out of memory (simulated)")
        return True
    monkeypatch.setattr(tr, "train_one_epoch", boom)
    out = tmp_path / "OUT"
    space = _space(tmp_path)
    rc = cli.main(["sweep", str(space), str(out), "--workers", "1", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "failed: mnist-" in captured.err and "out of memory (simulated)" in captured.err
    table = pd.read_csv(out / "sweep.csv")
    assert (table.status == "failed").sum() == 1 and (table.status == "missing").sum() == 0
    failed = table[table.status == "failed"].iloc[0]
    assert "simulated" in failed.message
    record = json.loads((out / f"{failed.run_id}.json").read_text())
    assert record["status"] == "failed" and "simulated" in record["message"]


def _logs(log_dir: Path) -> dict:
    return {p.name: read_log(p).drop(columns="seconds").to_csv(index=False)
            for p in sorted(log_dir.glob("mnist-*.csv"))}


def _records(log_dir: Path) -> dict:
    out = {}
    for p in _finished(log_dir):
        r = json.loads(p.read_text())
        r.pop("runtime_sec")
        out[p.name] = r
    return out


@pytest.mark.slow
def test_smoke_sweep_on_local_cluster_writes_the_local_pools_logs(tmp_path):
    configs = sample_configs(load_space(SMOKE))
    pool = run_sweep(configs, tmp_path / "pool", workers=2, progress=False)
    dask = run_sweep(configs, tmp_path / "dask", dask="local:2", progress=False)
    assert list(pool.status) == list(dask.status) and "failed" not in set(pool.status)
    a, b = _logs(tmp_path / "pool"), _logs(tmp_path / "dask")
    assert len(a) == len(configs) and a == b  # byte-identical but for the seconds column
    assert _records(tmp_path / "pool") == _records(tmp_path / "dask")
    for name in a:  # and the raw files differ in nothing else
        raw_a = (tmp_path / "pool" / name).read_text().splitlines()
        raw_b = (tmp_path / "dask" / name).read_text().splitlines()
        assert [r.rsplit(",", 1)[0] for r in raw_a] == [r.rsplit(",", 1)[0] for r in raw_b]


def _wait_for(cond, timeout=240.0, step=0.1):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if cond():
            return True
        time.sleep(step)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("where", [["--workers", "2"], ["--dask", "local:2"]])
def test_killed_client_resumes_only_unfinished_runs(tmp_path, where):
    space = _space(tmp_path, epochs=2, n_train=1500)
    out = tmp_path / "OUT"
    env = {**os.environ, "PYTHONPATH": str(project_root() / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "overfit_forecast.cli", "sweep", str(space), str(out),
                             "--quiet", *where], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert _wait_for(lambda: len(_finished(out)) >= 1), "no run finished"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and everything it started
        proc.wait()
    configs = sample_configs(load_space(space))
    done = {p.name: p.stat().st_mtime_ns for p in _finished(out)}
    assert 1 <= len(done) < len(configs), "kill came too late to test a resume"
    for p in _finished(out):  # what is there is whole
        cfg = RunConfig.from_dict(json.loads(p.read_text()))
        assert run_is_complete(cfg, out)
    table = run_sweep(configs, out, workers=2, progress=False)
    assert set(table.status) == {"completed"}
    for name, mtime in done.items():
        assert (out / name).stat().st_mtime_ns == mtime  # finished runs were not retrained
    assert len(_finished(out)) == len(configs)


@pytest.mark.slow
def test_worker_killed_mid_run_loses_nothing(tmp_path):
    from distributed import Client, LocalCluster

    configs = sample_configs(load_space(_space(tmp_path, epochs=3, n_train=1500)))
    out = tmp_path / "OUT"
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        def killer():
            if not _wait_for(lambda: len(_finished(out)) >= 1):
                return
            pids = client.run(os.getpid)
            for addr, tasks in client.processing().items():
                if tasks:  # a worker in the middle of a run
                    os.kill(pids[addr], signal.SIGKILL)
                    killed.append(tasks[0])
                    return
        t = threading.Thread(target=killer)
        t.start()
        table = run_sweep(configs, out, dask=client, threads_per_worker=1, progress=False)
        t.join()
    assert killed, "no worker was busy when the first run finished"
    assert set(table.status) == {"completed"}  # the killed run was re-scheduled and finished
    for cfg in configs:
        assert run_is_complete(cfg, out)
        assert len(read_log(out / f"{cfg.run_id}.csv")) == cfg.epochs + 1
    # and its log is what an undisturbed run writes
    victim = next(c for c in configs if f"train-{c.run_id}" == killed[0])
    ref = run_sweep([victim], tmp_path / "ref", workers=1, threads_per_worker=1, progress=False)
    assert ref.status.iloc[0] == "completed"
    assert _logs(tmp_path / "ref")[f"{victim.run_id}.csv"] == _logs(out)[f"{victim.run_id}.csv"]


@pytest.mark.slow
def test_local_cluster_workers_run_with_dasks_periodic_monitors_quietened():
    import distributed  # noqa: F401  (loads its config defaults into dask.config)
    from overfit_forecast.executors import QUIET_WORKERS, DaskExecutor

    def settings():
        import dask

        return tuple(dask.config.get(k) for k in sorted(QUIET_WORKERS))

    def periods_ms(dask_worker=None, dask_scheduler=None):  # what the running processes do
        pcs = (dask_worker or dask_scheduler).periodic_callbacks
        return pcs["tick"].callback_time, pcs["monitor"].callback_time

    wanted = tuple(QUIET_WORKERS[k] for k in sorted(QUIET_WORKERS))
    before = settings()
    assert before != wanted  # Dask's defaults differ, so the checks below can fail
    with DaskExecutor("local:2") as ex:
        assert set(ex.client.run(settings).values()) == {wanted}  # both workers
        assert set(ex.client.run(periods_ms).values()) == {(1000, 5000)}
        assert ex.client.run_on_scheduler(periods_ms) == (1000, 5000)  # the scheduler, in this process
    assert settings() == before  # the client's config is left alone
