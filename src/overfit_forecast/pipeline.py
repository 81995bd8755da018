"""Run the study's notebooks in order with papermill, then build the Jupyter Book.

``python -m overfit_forecast.pipeline -f configs/study.yaml`` is the study's main job (the
Makefile's ``pipeline`` and ``book`` targets). Each notebook receives the parameters file
(papermill's ``-f``); notebooks ignore parameters they do not declare.

Two mechanics keep the main job fast and ``git status`` clean when nothing changed:

- **Skipping unchanged chapters.** Before a notebook runs, the pipeline hashes its inputs
  (:func:`notebook_digest`: the notebook's cells, the parameters it declares, the content of
  every file or folder those parameters name, and the package's source, through
  :func:`overfit_forecast.cache.inputs_digest`). The hashes of the last successful run are
  kept in ``<out>/pipeline_inputs.json``; a notebook whose hash is unchanged and whose
  executed copy exists is not run again.
- **Stable executed notebooks.** papermill executes into a temporary file; the result is
  normalised (:func:`normalise_notebook`: timestamps, durations, absolute paths and random
  cell ids removed, the book's cell tags added) and replaces ``<out>/<name>.ipynb`` only if
  its content differs.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .cache import inputs_digest
from .paths import project_root

#: The notebooks of the book, in execution order.
NOTEBOOKS = ["01_sweep", "02_labels", "03_features", "04_meta_models", "05_sweep_pathologies", "06_run_diagnosis",
             "07_forecast_beyond", "08_transfer", "09_real_logs_forecast", "90_conclusions"]

#: Where the input hashes of the last run are kept, inside the output folder.
DIGEST_FILE = "pipeline_inputs.json"

#: Files under an input folder that are not hashed: written non-deterministically or not committed.
_UNHASHED_SUFFIXES = (".skops", ".tmp", ".pyc")

#: Labels of the collapsed cell of injected parameters (MyST-NB cell-level render options).
PARAMETERS_PROMPT = {"code_prompt_show": "Show the parameters this page was executed with",
                     "code_prompt_hide": "Hide the parameters"}

#: Output types whose producing code is folded in the book (figures, generated markdown).
_PRESENTED_MIME = {"image/png", "image/svg+xml", "text/markdown"}

#: Cell tags that already say how a cell is shown (the pipeline then leaves the cell alone).
_VISIBILITY_TAGS = {"remove-cell", "remove-input", "remove-output", "hide-input", "hide-output", "hide-cell",
                    "show-input"}


def _path_values(value):
    """Strings inside a parameter value (str, list or dict values), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _path_values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _path_values(v)


def _input_files(params: dict, root: Path) -> list[Path]:
    """Every existing file named by ``params``, folders expanded (hidden, temporary, model files left out)."""
    files = set()
    for s in _path_values(params):
        if not s or len(s) > 4096 or "\n" in s:
            continue
        p = Path(s) if Path(s).is_absolute() else root / s
        if p.resolve() in (root.resolve(), *root.resolve().parents):  # not a stage's input: the whole project
            continue
        if p.is_file():
            files.add(p)
        elif p.is_dir():
            files.update(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                         and "__pycache__" not in f.parts and not f.name.endswith(_UNHASHED_SUFFIXES))
    return sorted(files)


def _cells_sha256(notebook: Path) -> str:
    """SHA-256 of a notebook's cell types, sources and tags (not its outputs or ids)."""
    nb = json.loads(notebook.read_text())
    cells = [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"],
              sorted(c.get("metadata", {}).get("tags", [])), c.get("metadata", {}).get("mystnb"))
             for c in nb["cells"]]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


def notebook_digest(source: str | os.PathLike, params: dict, root: str | os.PathLike) -> str:
    """Hash of everything the executed notebook depends on.

    Parameters
    ----------
    source : path-like
        The notebook (``notebooks/<name>.ipynb``); its cells' sources and tags are hashed.
    params : dict
        The parameters injected into it (only those it declares). Every string among their
        values that names an existing file or folder (relative to ``root`` or absolute) is an
        input: its content is hashed (folders recursively, without hidden files, ``*.skops``
        models and temporary files).
    root : path-like
        The project root (the kernel's working directory).

    Returns
    -------
    str
        64 hex digits (:func:`overfit_forecast.cache.inputs_digest`, package source included).
    """
    root = Path(root)
    files = _input_files(params, root)
    names = [os.path.relpath(f, root) for f in files]
    return inputs_digest(files, {"notebook": _cells_sha256(Path(source)), "parameters": params, "files": names})


def _add_tags(cell, *tags: str) -> None:
    have = cell.setdefault("metadata", {}).setdefault("tags", [])
    have.extend(t for t in tags if t not in have)


def normalise_notebook(nb: dict) -> dict:
    """An executed notebook without volatile metadata, with the book's display tags.

    Removes papermill's and nbclient's timestamps and durations, absolute input/output
    paths and the random id of papermill's injected cell, and joins consecutive outputs of
    the same stream, so that re-running an unchanged notebook gives the same file. Adds the
    tags the book renders with (Jupyter Book / MyST-NB tags,
    https://jupyterbook.org/en/stable/interactive/hiding.html):

    - ``remove-cell`` on the notebook's ``parameters`` cell (the smoke defaults);
    - ``hide-input`` on papermill's ``injected-parameters`` cell (collapsed, one click away,
      labelled :data:`PARAMETERS_PROMPT`);
    - ``hide-input`` on code cells that draw a figure or display generated markdown and carry
      no visibility tag of their own: plotting and report-formatting code is plumbing; a
      cell tagged ``show-input`` keeps its code shown.

    Returns a new dict (nbformat 4 JSON); the input is not modified.
    """
    nb = copy.deepcopy(nb)
    pm = nb.get("metadata", {}).get("papermill")
    if pm is not None:
        nb["metadata"]["papermill"] = {"parameters": pm.get("parameters", {})}
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = _merge_streams(cell["outputs"])
        md = cell.setdefault("metadata", {})
        md.pop("papermill", None)
        md.pop("execution", None)
        tags = set(md.get("tags", []))
        if not tags:
            md.pop("tags", None)
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"
            _add_tags(cell, "hide-input")
            md.setdefault("mystnb", {}).update(PARAMETERS_PROMPT)
        elif "parameters" in tags:
            _add_tags(cell, "remove-cell")
        elif cell["cell_type"] == "code" and not tags & _VISIBILITY_TAGS and any(
                set(o.get("data", {})) & _PRESENTED_MIME for o in cell.get("outputs", [])):
            _add_tags(cell, "hide-input")
    return nb


def _merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same stream joined into one (how the kernel's stdout
    is split into messages depends on timing; as nbconvert's ``coalesce_streams``)."""
    merged = []
    for o in outputs:
        if o.get("output_type") == "stream":
            text = "".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
            if merged and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == o["name"]:
                merged[-1]["text"] += text
                continue
            o = {**o, "text": text}
        merged.append(o)
    return merged


def _write_if_changed(nb: dict, path: Path) -> bool:
    """Write ``nb`` (normalised) to ``path`` unless the file holds the same notebook. Returns True if written."""
    import nbformat

    new = normalise_notebook(nb)
    if path.exists():
        try:
            if normalise_notebook(json.loads(path.read_text())) == new:
                return False
        except json.JSONDecodeError:
            pass
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(nbformat.from_dict(new), str(tmp))
    os.replace(tmp, path)
    return True


def _load_digests(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / DIGEST_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _declared(src: Path, parameters: dict) -> dict:
    import papermill as pm

    declared = pm.inspect_notebook(str(src))
    return {k: v for k, v in parameters.items() if k in declared}


def _execute(src: Path, dest: Path, params: dict, root: Path, log_output: bool) -> bool:
    """papermill ``src`` into a temporary file next to ``dest``; normalise; replace ``dest`` if changed."""
    import papermill as pm

    fd, tmp = tempfile.mkstemp(suffix=".ipynb", prefix=f".{dest.stem}.", dir=dest.parent)
    os.close(fd)
    try:
        pm.execute_notebook(str(src), tmp, parameters=params, cwd=str(root), kernel_name="python3",
                            log_output=log_output, progress_bar=False)
    except BaseException:
        if Path(tmp).exists() and Path(tmp).stat().st_size:  # the partly executed notebook, for inspection
            os.replace(tmp, dest)
        raise
    try:
        return _write_if_changed(json.loads(Path(tmp).read_text()), dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def run_notebooks(parameters: dict, out_dir: str | os.PathLike, root: str | os.PathLike | None = None,
                  notebooks: list[str] = NOTEBOOKS, log_output: bool = False, force: bool = False) -> dict[str, float]:
    """Execute ``notebooks/<name>.ipynb`` into ``<out_dir>/<name>.ipynb`` with papermill.

    Parameters are injected into each notebook's ``parameters`` cell (only the names the
    notebook declares). The kernel runs in the project root. A notebook whose inputs
    (:func:`notebook_digest`) are those recorded after the last run is skipped unless
    ``force`` (or the environment variable ``OVERFIT_FORECAST_NO_CACHE`` is set). Prints one
    progress line per notebook with its time. After the last notebook the input hashes of
    all of them are recorded in ``<out_dir>/pipeline_inputs.json``.

    Returns
    -------
    dict
        Seconds per notebook (0.0 for a skipped one).

    Raises
    ------
    papermill.PapermillExecutionError
        A cell raised; the partly executed notebook is written to ``<out_dir>/<name>.ipynb``
        for inspection and no input hash is recorded.
    """
    root = Path(root or project_root())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recorded = _load_digests(out_dir)
    force = force or bool(os.environ.get("OVERFIT_FORECAST_NO_CACHE"))
    times, declared = {}, {}
    for i, name in enumerate(notebooks, 1):
        src, dest = root / "notebooks" / f"{name}.ipynb", out_dir / f"{name}.ipynb"
        declared[name] = _declared(src, parameters)
        t0 = time.perf_counter()
        if not force and dest.exists() and recorded.get(name) == notebook_digest(src, declared[name], root):
            times[name] = 0.0
            print(f"[{i}/{len(notebooks)}] {name}: inputs unchanged, not re-run ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
            continue
        changed = _execute(src, dest, declared[name], root, log_output)
        times[name] = time.perf_counter() - t0
        print(f"[{i}/{len(notebooks)}] {name}: executed in {times[name]:.1f} s"
              f"{'' if changed else ' (outputs unchanged, file kept)'}", flush=True)
    new = {**recorded, **{n: notebook_digest(root / "notebooks" / f"{n}.ipynb", declared[n], root) for n in notebooks}}
    if new != recorded:
        (out_dir / DIGEST_FILE).write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
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
    for f in ("_config.yml", "_toc.yml", "references.bib"):
        if (root / f).exists():
            shutil.copy(root / f, workdir / f)
    if (root / "_static").is_dir():
        shutil.copytree(root / "_static", workdir / "_static", dirs_exist_ok=True)
    for f in (root / "book").glob("*.md"):
        shutil.copy(f, workdir / "book" / f.name)
        for inc in re.findall(r"^```\{include\}\s+(\S+)", f.read_text(), flags=re.M):  # e.g. a results table
            target = (workdir / "book" / inc).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy((root / "book" / inc).resolve(), target)
    run_notebooks(parameters, workdir / "book", root)
    return build_book(workdir)


def main(argv=None) -> None:
    """``python -m overfit_forecast.pipeline -f PARAMS.yaml [--out book] [--no-book] [--force]``."""
    p = argparse.ArgumentParser(description="Execute the study's notebooks and build the book.")
    p.add_argument("-f", "--parameters", required=True, help="YAML file of notebook parameters")
    p.add_argument("--out", default="book", help="folder for the executed notebooks (default: book)")
    p.add_argument("--no-book", action="store_true", help="execute the notebooks only")
    p.add_argument("--force", action="store_true", help="re-run every notebook, even with unchanged inputs")
    a = p.parse_args(argv)
    with open(a.parameters) as fh:
        params = yaml.safe_load(fh) or {}
    t0 = time.perf_counter()
    run_notebooks(params, a.out, force=a.force)
    if not a.no_book:
        t1 = time.perf_counter()
        build_book(project_root())
        print(f"book: {time.perf_counter() - t1:.1f} s")
    print(f"total: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
