"""Training throughput of the study's loop vs the classic DataLoader loop, FLOP/s against
the machine's fp32 matrix peak, the speed options tried, and sweep executor overhead.

Prints, in one run on this machine:

1. images/s of our loop (batches sliced from in-memory tensors, ``train_one_epoch`` with the
   study's optimizer settings) and of the pytorch/examples ``mnist/main.py`` loop
   (``torchvision.datasets.MNIST`` with ``ToTensor()`` + ``Normalize()``,
   ``DataLoader(shuffle=True)``) on the same model, batch size and images, and their ratio;
2. the FLOPs of one training step per image counted by ``torch.utils.flop_counter.
   FlopCounterMode`` (:func:`overfit_forecast.model.count_flops`), the achieved GFLOP/s of
   our loop and its fraction of a ``torch.mm`` fp32 peak measured in the same run;
   and the ceiling of that fraction: the GFLOP/s of the convolution and matrix-product
   kernels alone, timed by ``torch.profiler`` inside an epoch (what the loop would reach if
   pooling, ReLU, loss and optimizer steps took no time);
3. each speed option tried (Python-loop vs ``foreach`` vs ``fused`` optimizer steps,
   ``channels_last``), its images/s, fraction of peak, and whether the weights after the
   same steps are bit-identical to the study's loop (a change of numerics changes logs);
   evaluation images/s at several evaluation batch sizes;
4. with ``--sweep-runs N`` (default 20, 0 to skip): the wall time of N small runs through
   the local process pool and through a 2-worker ``distributed.LocalCluster``, each
   executor's overhead per run (wall time minus training time over 2 workers, per run),
   with and without its one-off start-up (a cold 2-run sweep measures that), the
   LocalCluster's extra overhead as a fraction of one run's training time, and how much
   slower a run trains inside a Dask worker (scheduler and nannies share the cores);
   the two executors alternate for ``--sweep-rounds`` rounds (default 3) and each figure
   is the median over rounds.

Timings interleave the variants round by round and keep each one's best round, so a
machine busy with other work slows all of them alike; still, run it on an idle machine
for absolute figures (the load average is printed).

Usage: ``python benchmarks/throughput.py [--width 16] [--batch-size 64] [--images 4096]
[--threads N] [--rounds 5] [--sweep-runs 20] [--sweep-rounds 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F


def matmul_peak_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Best-of-``repeats`` fp32 GFLOP/s of an n x n ``torch.mm`` (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


#: Speed options: name -> (optimizer keyword arguments, channels_last, pooling). Pooling
#: "study" is the default SmallCNN (conv, MaxPool2x2, ReLU); "nn.MaxPool2d" the same weights
#: in the layout it replaced (conv, ReLU, nn.MaxPool2d(2), PyTorch's NCHW pooling kernel).
VARIANTS = {
    "python_loop_sgd (old)": ({"foreach": False}, False, "study"),
    "foreach_sgd (study)": ({"foreach": True}, False, "study"),
    "foreach_sgd + nn.MaxPool2d after ReLU (before)": ({"foreach": True}, False, "nn.MaxPool2d"),
    "fused_sgd": ({"fused": True}, False, "study"),
    "channels_last+foreach": ({"foreach": True}, True, "study"),
    "channels_last+fused": ({"fused": True}, True, "study"),
}


def nchw_pooling_cnn(width, **kw):
    """The study's ``SmallCNN(width, **kw)`` rebuilt as conv, ReLU, ``nn.MaxPool2d(2)`` per
    block (same parameters and names), the layout :class:`~overfit_forecast.model.MaxPool2x2`
    and the pool-then-ReLU order replaced (also used by ``tests/test_model.py``)."""
    from torch import nn

    from overfit_forecast.model import SmallCNN

    model = SmallCNN(width, **kw)
    f = model.features
    model.features = nn.Sequential(f[0], nn.ReLU(), nn.MaxPool2d(2), f[3], nn.ReLU(), nn.MaxPool2d(2))
    return model


class _Loop:
    """One variant's model, optimizer and data, trained a chunk at a time."""

    def __init__(self, x, y, width, batch_size, opt_kw, channels_last, pooling):
        from overfit_forecast.model import SmallCNN

        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = SmallCNN(width) if pooling == "study" else nchw_pooling_cnn(width)
        self.model = model.to(memory_format=fmt)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, **opt_kw)
        self.x, self.y = x.contiguous(memory_format=fmt), y
        self.batch_size, self.gen = batch_size, torch.Generator().manual_seed(0)

    def epoch(self) -> float:
        from overfit_forecast.training import train_one_epoch

        t = time.perf_counter()
        train_one_epoch(self.model, self.opt, self.x, self.y, self.batch_size, self.gen)
        return time.perf_counter() - t

    def weights(self) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in self.model.parameters()])


def compare_variants(x, y, width, batch_size, rounds):
    """Best images/s of each variant over ``rounds`` interleaved epochs, plus the peak."""
    loops = {name: _Loop(x, y, width, batch_size, *v) for name, v in VARIANTS.items()}
    best = {name: float("inf") for name in loops}
    peak = 0.0
    for loop in loops.values():  # warm-up
        loop.epoch()
    for _ in range(rounds):
        peak = max(peak, matmul_peak_gflops())
        for name, loop in loops.items():
            best[name] = min(best[name], loop.epoch())
    ref = loops["python_loop_sgd (old)"].weights()
    same = {name: bool(torch.equal(loop.weights(), ref)) for name, loop in loops.items()}
    return {name: len(y) / t for name, t in best.items()}, same, peak, loops["foreach_sgd (study)"].model


#: Profiler ops that run the counted FLOPs (FlopCounterMode's op -> the kernels timed for it).
MATRIX_KERNELS = {"aten.convolution": ("aten::mkldnn_convolution", "aten::_convolution_nogroup", "aten::thnn_conv2d"),
                  "aten.convolution_backward": ("aten::convolution_backward",),
                  "aten.mm": ("aten::mm",), "aten.addmm": ("aten::addmm",)}


def kernel_ceiling(width, batch_size, x, y) -> dict:
    """How fast the matrix kernels themselves run inside one epoch of the study's loop.

    FLOPs per op from ``FlopCounterMode`` on the same epoch's batches; time per op from
    ``torch.profiler`` self CPU time. If everything else in the epoch (pooling, ReLU, loss,
    optimizer, slicing) took no time, the loop would reach ``kernels_gflops``: that is the
    ceiling of the achieved/peak ratio for this model and batch size on this machine.
    """
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from overfit_forecast.model import SmallCNN
    from overfit_forecast.training import train_one_epoch

    torch.manual_seed(0)
    model = SmallCNN(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=True)
    train_one_epoch(model, opt, x, y, batch_size, torch.Generator().manual_seed(0))  # warm-up
    with FlopCounterMode(display=False) as counter:
        train_one_epoch(model, opt, x, y, batch_size, torch.Generator().manual_seed(1))
    flops = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_one_epoch(model, opt, x, y, batch_size, torch.Generator().manual_seed(1))
    self_s = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    kernel_s = sum(self_s.get(k, 0.0) for op in flops for k in MATRIX_KERNELS.get(op, ()))
    pool_s = self_s.get("aten::max_pool2d_with_indices", 0.0) + self_s.get("aten::max_pool2d_with_indices_backward", 0.0)
    total = sum(self_s.values())
    return {"kernels_gflops (conv + matmul kernels alone)": sum(flops.values()) / kernel_s / 1e9,
            "kernels_share_of_epoch": kernel_s / total, "max_pool_share_of_epoch": pool_s / total,
            "copies_share_of_epoch (layout copies of the pooling, slicing)": self_s.get("aten::copy_", 0.0) / total}


def dataloader_loop(root, n, width, batch_size):
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from overfit_forecast.model import SmallCNN

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = Subset(datasets.MNIST(str(root), train=True, download=False, transform=tf), range(n))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True)
    torch.manual_seed(0)
    model = SmallCNN(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    t = time.perf_counter()
    for xb, yb in loader:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    return n / (time.perf_counter() - t)


def eval_throughput(model, x, y, sizes=(256, 1024, 4096), rounds=3):
    from overfit_forecast.training import evaluate

    best = {b: float("inf") for b in sizes}
    for _ in range(rounds):
        for b in sizes:
            t = time.perf_counter()
            evaluate(model, x, y, b)
            best[b] = min(best[b], time.perf_counter() - t)
    return {f"eval_images_per_s_batch_{b}": len(y) / t for b, t in best.items()}


def _timed_sweeps(name: str, kw: dict, configs: list, folder: str) -> dict:
    """One executor's cold 2-run sweep and its ``len(configs)``-run sweep, timed."""
    from overfit_forecast.sweep import run_sweep

    n_runs, timed = len(configs), {}
    for n, todo in (("2", configs[:2]), ("n", configs)):
        t = time.perf_counter()
        table = run_sweep(todo, os.path.join(folder, f"{name}_{n}"), progress=False, **kw)
        timed[n] = (time.perf_counter() - t, float(table.runtime_sec.sum()))
    (wall, train), (wall2, train2) = timed["n"], timed["2"]
    return {f"sweep_{name}_wall_s": wall,
            f"sweep_{name}_train_s_per_run": train / n_runs,
            # wall time not spent training (start-up, scheduling, transfers, writes), per run
            f"sweep_{name}_overhead_s_per_run": (wall - train / 2) / n_runs,
            f"sweep_{name}_startup_and_2_runs_wall_s": wall2,
            f"sweep_{name}_marginal_overhead_s_per_run": ((wall - wall2) - (train - train2) / 2) / (n_runs - 2)}


def _cluster_vs_pool(o: dict, n_runs: int) -> dict:
    """The LocalCluster's extra cost over the local pool, from one round's figures."""
    run_s = o["sweep_local_pool_train_s_per_run"]
    extra = o["sweep_local_cluster_wall_s"] - o["sweep_local_pool_wall_s"]
    d = o["sweep_local_cluster_overhead_s_per_run"] - o["sweep_local_pool_overhead_s_per_run"]
    dm = o["sweep_local_cluster_marginal_overhead_s_per_run"] - o["sweep_local_pool_marginal_overhead_s_per_run"]
    return {"cluster_minus_pool_wall_s_per_run": extra / n_runs,
            "cluster_minus_pool_wall_fraction": extra / o["sweep_local_pool_wall_s"],
            # the same, with each executor's training time taken out
            "cluster_extra_overhead_fraction_of_run (start-up included)": d / run_s,
            "cluster_extra_marginal_overhead_fraction_of_run": dm / run_s,
            "cluster_train_slowdown (training inside a Dask worker vs a pool worker)":
                o["sweep_local_cluster_train_s_per_run"] / run_s - 1}


def sweep_spec(n_runs: int) -> dict:
    """The benchmark sweep: ``n_runs`` small MNIST runs (3 epochs of 1 000 images, width 8;
    about a second each on one core), learning rates log-uniform in [0.01, 0.1]."""
    return {"dataset": "mnist", "sample_seed": 0, "n_configs": n_runs,
            "fixed": {"epochs": 3, "width": 8, "val_size": 2000, "n_train": 1000, "batch_size": 64},
            "space": {"lr": {"log_uniform": [0.01, 0.1]}}}


def sweep_overhead(n_runs: int, rounds: int = 3) -> dict:
    """Wall time of ``n_runs`` small runs through the local pool and a 2-worker LocalCluster.

    Each executor also runs a 2-run sweep (one run per worker) from a cold start, so that its
    one-off cost (spawning workers, importing torch, starting the scheduler) can be taken
    out: the *marginal* overhead per run is the wall time the extra ``n_runs - 2`` runs add
    beyond their training time over 2 workers. The two executors alternate for ``rounds``
    rounds (pool first in even rounds, cluster first in odd ones); every figure is the
    median over rounds of that round's value, so a slow spell of a shared machine shifts
    one round, not the comparison.
    """
    from overfit_forecast.sweep import sample_configs

    configs = sample_configs(sweep_spec(n_runs))
    executors = [("local_pool", {"workers": 2}), ("local_cluster", {"dask": "local:2"})]
    per_round = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            o = {}
            for name, kw in executors[:: 1 if r % 2 == 0 else -1]:
                o.update(_timed_sweeps(name, kw, configs, os.path.join(tmp, str(r))))
            o.update(_cluster_vs_pool(o, n_runs))
            per_round.append(o)
    out = {k: statistics.median(o[k] for o in per_round) for k in per_round[0]}
    out["sweep_runs"], out["sweep_rounds"] = n_runs, rounds
    out["cluster_extra_overhead_fraction_of_run, each round"] = ", ".join(
        f"{o['cluster_extra_overhead_fraction_of_run (start-up included)']:+.3f}" for o in per_round)
    return out


def main(argv=None):
    from overfit_forecast.data import find_data_root, load_splits
    from overfit_forecast.model import count_flops
    from overfit_forecast.runlog import RunConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=RunConfig.width)
    p.add_argument("--batch-size", type=int, default=RunConfig.batch_size)
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--sweep-runs", type=int, default=20)
    p.add_argument("--sweep-rounds", type=int, default=3)
    p.add_argument("--no-malloc-tuning", action="store_true",
                   help="leave glibc's malloc thresholds as they are (sweep workers tune them)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if not a.no_malloc_tuning:  # as every sweep worker does (overfit_forecast.executors)
        from overfit_forecast.executors import _tune_malloc

        _tune_malloc()
    root = find_data_root(download=False)
    splits = load_splits(root, val_size=10_000)
    x, y = splits.x_train[: a.images], splits.y_train[: a.images]

    out = {"load_average_1min_start": os.getloadavg()[0], "threads": torch.get_num_threads(),
           "malloc_tuned": not a.no_malloc_tuning,
           "width": a.width, "batch_size": a.batch_size, "images": a.images}
    ips, same, peak, model = compare_variants(x, y, a.width, a.batch_size, a.rounds)
    classic = dataloader_loop(root, a.images, a.width, a.batch_size)
    flops = count_flops(model, a.batch_size)
    ours = ips["foreach_sgd (study)"]
    out.update({
        "train_mflop_per_image (FlopCounterMode)": flops / 1e6,
        "ours_train_images_per_s": ours,
        "dataloader_train_images_per_s": classic,
        "speedup_vs_dataloader": ours / classic,
        "matmul_fp32_peak_gflops": peak,
        "achieved_train_gflops": flops * ours / 1e9,
        "fraction_of_peak": flops * ours / 1e9 / peak,
    })
    ceiling = kernel_ceiling(a.width, a.batch_size, x, y)
    out.update(ceiling)
    out["ceiling_fraction_of_peak (everything but the kernels free)"] = (
        ceiling["kernels_gflops (conv + matmul kernels alone)"] / peak)
    for name, v in ips.items():
        out[f"variant {name}: images/s"] = v
        out[f"variant {name}: fraction_of_peak"] = flops * v / 1e9 / peak
        out[f"variant {name}: bit-identical to old loop"] = same[name]
    out.update(eval_throughput(model, splits.x_val, splits.y_val))
    if a.sweep_runs:
        out.update(sweep_overhead(a.sweep_runs, a.sweep_rounds))
    out["load_average_1min_end"] = os.getloadavg()[0]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width = max(map(len, out))
    for k, v in out.items():
        print(f"{k:<{width}}  {v:,.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
