"""A/B of the Dask settings ``--dask local:N`` starts its cluster with.

Runs the same 20 small runs (the sweep part of ``benchmarks/throughput.py``) through three
executors, in an order that rotates round by round so that a slow spell of a shared machine
falls on each alike:

- ``pool``: the local process pool (2 workers);
- ``profiler_off``: a 2-worker ``LocalCluster`` with only Dask's statistical profiler off
  (``distributed.worker.profile.enabled: false``, the setting before
  :data:`overfit_forecast.executors.QUIET_WORKERS`);
- ``quiet``: the same cluster with every setting of ``QUIET_WORKERS`` (today's default).

First prints the CPU an idle cluster of each variant uses (client and scheduler, workers
and nannies): what the monitors take from training on a machine whose cores the runs fill.
Then prints each round's wall time (cold 2-run sweep excluded; the 20-run sweep includes the
cluster's start-up) and training seconds per run, then per cluster variant the median over
rounds of its wall time over the pool's and of its training slowdown over the pool's.

    PYTHONPATH=src python benchmarks/dask_settings.py --rounds 6
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))


@contextlib.contextmanager
def _settings(settings: dict):
    """``--dask local:N`` with ``settings`` in place of :data:`~overfit_forecast.executors.
    QUIET_WORKERS` (restored on exit)."""
    import overfit_forecast.executors as executors

    saved, executors.QUIET_WORKERS = executors.QUIET_WORKERS, settings
    try:
        yield
    finally:
        executors.QUIET_WORKERS = saved


def idle_cpu(settings: dict, seconds: float = 10.0) -> dict:
    """CPU seconds per second (share of one core) that an idle ``--dask local:2`` cluster
    started under ``settings`` uses: this process (client and scheduler) and its children
    (nannies, workers), measured by ``psutil`` over ``seconds`` after a 3-s settling time."""
    import time

    import psutil

    from overfit_forecast.executors import DaskExecutor

    with _settings(settings), DaskExecutor("local:2"):
        time.sleep(3)
        me = psutil.Process()
        procs = [me] + me.children(recursive=True)
        t0 = [sum(p.cpu_times()[:2]) for p in procs]
        time.sleep(seconds)
        used = [sum(p.cpu_times()[:2]) - t for p, t in zip(procs, t0)]
    return {"client_and_scheduler": used[0] / seconds, "workers_and_nannies": sum(used[1:]) / seconds}


def main(argv=None) -> dict:
    import torch

    import overfit_forecast.executors as executors
    from overfit_forecast.sweep import sample_configs
    from throughput import _timed_sweeps, sweep_spec

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    executors._tune_malloc()  # as every sweep worker does
    configs = sample_configs(sweep_spec(20))
    quiet = dict(executors.QUIET_WORKERS)
    variants = [("pool", {"workers": 2}, None),
                ("profiler_off", {"dask": "local:2"}, {"distributed.worker.profile.enabled": False}),
                ("quiet", {"dask": "local:2"}, quiet)]
    for name, _, settings in variants[1:]:
        c = idle_cpu(settings)
        print(f"{name}: idle cluster uses {c['client_and_scheduler']:.1%} of a core in the client and "
              f"scheduler, {c['workers_and_nannies']:.1%} in the workers and nannies", flush=True)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            o, order = {}, variants[r % 3:] + variants[:r % 3]
            for name, kw, settings in order:
                with _settings(settings or quiet):
                    t = _timed_sweeps(name, kw, configs, os.path.join(tmp, str(r)))
                o[name] = (t[f"sweep_{name}_wall_s"], t[f"sweep_{name}_train_s_per_run"])
            print(f"round {r}: " + ", ".join(f"{n} {w:.2f} s wall, {s:.3f} s/run training"
                                             for n, (w, s) in o.items()), flush=True)
            rounds.append(o)
    out = {}
    for name in ("profiler_off", "quiet"):
        wall = [o[name][0] / o["pool"][0] - 1 for o in rounds]
        train = [o[name][1] / o["pool"][1] - 1 for o in rounds]
        out[name] = {"wall_vs_pool_median": statistics.median(wall), "wall_vs_pool_each_round": wall,
                     "train_slowdown_median": statistics.median(train)}
        print(f"{name}: wall time over the pool's, median {statistics.median(wall):+.1%} "
              f"(rounds {', '.join(f'{w:+.1%}' for w in wall)}); training slowdown median "
              f"{statistics.median(train):+.1%}")
    wins = sum(o["quiet"][0] < o["profiler_off"][0] for o in rounds)
    print(f"quiet faster than profiler_off in {wins} of {len(rounds)} rounds")
    return out


if __name__ == "__main__":
    main()
