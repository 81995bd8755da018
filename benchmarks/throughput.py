"""Training throughput of the study's loop vs the classic DataLoader loop, and FLOP/s.

Prints, in one run on this machine:

- images/s of our loop (batches sliced from in-memory tensors, ``train_one_epoch``) and of
  the pytorch/examples ``mnist/main.py`` loop (``torchvision.datasets.MNIST`` with
  ``ToTensor()`` + ``Normalize()``, ``DataLoader(shuffle=True)``) on the same model, batch
  size and images;
- the achieved GFLOP/s of our loop (3 x forward FLOPs per image: forward + two backward
  products) against a ``torch.mm`` fp32 peak measured in the same run;
- peak resident memory of this process (a sweep worker does the same work).

Usage: ``python benchmarks/throughput.py [--width 16] [--batch-size 64] [--images 10000]
[--threads N] [--json out.json]``. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` fp32 GFLOP/s of an n x n ``torch.mm`` (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def our_loop(x, y, width, batch_size, epochs=2):
    from overfit_forecast.model import SmallCNN
    from overfit_forecast.training import train_one_epoch

    torch.manual_seed(0)
    model = SmallCNN(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    train_one_epoch(model, opt, x[:2048], y[:2048], batch_size, gen)  # warm-up
    t = time.perf_counter()
    for _ in range(epochs):
        train_one_epoch(model, opt, x, y, batch_size, gen)
    return epochs * len(y) / (time.perf_counter() - t), model


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


def main(argv=None):
    from overfit_forecast.data import find_data_root, load_splits
    from overfit_forecast.model import forward_flops
    from overfit_forecast.training import RunConfig, evaluate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=RunConfig.width)
    p.add_argument("--batch-size", type=int, default=RunConfig.batch_size)
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    root = find_data_root(download=False)
    splits = load_splits(root, val_size=10_000)
    x, y = splits.x_train[: a.images], splits.y_train[: a.images]

    peak = matmul_peak_gflops()
    ours, model = our_loop(x, y, a.width, a.batch_size)
    classic = dataloader_loop(root, a.images, a.width, a.batch_size)
    t = time.perf_counter()
    evaluate(model, x, y)
    eval_ips = len(y) / (time.perf_counter() - t)
    flops = forward_flops(model)
    achieved = 3 * flops * ours / 1e9
    out = {
        "threads": torch.get_num_threads(),
        "width": a.width,
        "batch_size": a.batch_size,
        "images": a.images,
        "forward_mflop_per_image": flops / 1e6,
        "ours_train_images_per_s": ours,
        "dataloader_train_images_per_s": classic,
        "speedup_vs_dataloader": ours / classic,
        "ours_eval_images_per_s": eval_ips,
        "achieved_train_gflops": achieved,
        "matmul_fp32_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    width = max(map(len, out))
    for k, v in out.items():
        print(f"{k:<{width}}  {v:,.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
