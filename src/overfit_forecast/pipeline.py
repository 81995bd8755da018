"""Run the study's notebooks in order with papermill, then build the Jupyter Book.

``python -m overfit_forecast.pipeline -f configs/study.yaml`` is the study's main job (the
Makefile's ``pipeline`` and ``book`` targets). Each notebook receives the parameters file
(papermill's ``-f``); notebooks ignore parameters they do not declare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .paths import project_root

#: The notebooks of the book, in execution order.
NOTEBOOKS = ["01_sweep", "02_labels", "03_features", "04_meta_models", "05_sweep_pathologies", "06_run_diagnosis", "07_forecast_beyond",
             "08_transfer", "90_conclusions"]


def run_notebooks(parameters: dict, out_dir: str | os.PathLike, root: str | os.PathLike | None = None,
                  notebooks: list[str] = NOTEBOOKS, log_output: bool = False) -> dict[str, float]:
    """Execute ``notebooks/<name>.ipynb`` into ``<out_dir>/<name>.ipynb`` with papermill.

    Parameters are injected into each notebook's ``parameters`` cell (only the names the
    notebook declares). The kernel runs in the project root. Returns seconds per notebook.

    Raises
    ------
    papermill.PapermillExecutionError
        A cell raised; the partly executed notebook is still written for inspection.
    """
    import papermill as pm

    root = Path(root or project_root())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    times = {}
    for name in notebooks:
        src = root / "notebooks" / f"{name}.ipynb"
        declared = pm.inspect_notebook(str(src))
        params = {k: v for k, v in parameters.items() if k in declared}
        t0 = time.perf_counter()
        pm.execute_notebook(str(src), str(out_dir / f"{name}.ipynb"), parameters=params,
                            cwd=str(root), kernel_name="python3", log_output=log_output,
                            progress_bar=False)
        times[name] = time.perf_counter() - t0
        print(f"{name}: {times[name]:.1f} s", flush=True)
    return times


def build_book(source: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """``jupyter-book build <source> -W -n`` (warnings are errors). Returns the html folder."""
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source), "-W", "-n", "--keep-going"]
    if output is not None:
        cmd += ["--path-output", str(output)]
    subprocess.run(cmd, check=True)
    return Path(output or source) / "_build" / "html"


def build_book_copy(parameters: dict, workdir: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Run the notebooks into a scratch copy of the book in ``workdir`` and build it there.

    Used by the tests and CI: committed results (``book/``, ``logs/``, ``data/meta``) are not
    touched when ``parameters`` point the notebooks' outputs into ``workdir``.
    """
    root = Path(root or project_root())
    workdir = Path(workdir)
    (workdir / "book").mkdir(parents=True, exist_ok=True)
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy(root / f, workdir / f)
    for f in (root / "book").glob("*.md"):
        shutil.copy(f, workdir / "book" / f.name)
    run_notebooks(parameters, workdir / "book", root)
    return build_book(workdir)


def main(argv=None) -> None:
    """``python -m overfit_forecast.pipeline -f PARAMS.yaml [--out book] [--no-book]``."""
    p = argparse.ArgumentParser(description="Execute the study's notebooks and build the book.")
    p.add_argument("-f", "--parameters", required=True, help="YAML file of notebook parameters")
    p.add_argument("--out", default="book", help="folder for the executed notebooks (default: book)")
    p.add_argument("--no-book", action="store_true", help="execute the notebooks only")
    a = p.parse_args(argv)
    with open(a.parameters) as fh:
        params = yaml.safe_load(fh) or {}
    t0 = time.perf_counter()
    run_notebooks(params, a.out)
    if not a.no_book:
        t1 = time.perf_counter()
        build_book(project_root())
        print(f"book: {time.perf_counter() - t1:.1f} s")
    print(f"total: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
