"""Command-line interface: ``overfit-forecast <command> ...``.

Commands
--------
sweep     run (or resume) a sweep from a space YAML file
pipeline  execute the study's notebooks with a parameters file and build the book
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="overfit-forecast", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sweep", help="run or resume a sweep (skips complete runs)")
    s.add_argument("space", help="sweep space YAML (e.g. configs/sweep_mnist.yaml)")
    s.add_argument("log_dir", help="folder for per-run logs and sweep.csv")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--data-root", default=None, help="folder holding MNIST/raw")

    pl = sub.add_parser("pipeline", help="execute the notebooks and build the book")
    pl.add_argument("-f", "--parameters", default="configs/study.yaml")
    pl.add_argument("--out", default="book")
    pl.add_argument("--no-book", action="store_true")

    a = p.parse_args(argv)
    if a.command == "sweep":
        from .sweep import load_space, run_sweep, sample_configs

        try:
            configs = sample_configs(load_space(a.space))
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        table = run_sweep(configs, a.log_dir, a.workers, a.data_root)
        print(table.status.value_counts().to_string())
    elif a.command == "pipeline":
        from .pipeline import main as pipeline_main

        pipeline_main(["-f", a.parameters, "--out", a.out] + (["--no-book"] if a.no_book else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
