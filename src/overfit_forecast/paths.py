"""Resolving the notebooks' relative paths against the project root.

Notebooks run with different working directories (papermill from the project root, nbval
from ``notebooks/``), so their path parameters are taken relative to the project root: the
nearest folder, from the working directory upwards, holding ``_toc.yml``.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``_toc.yml``; cwd if none."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_toc.yml").exists():
            return d
    return here


def project_path(p: str | os.PathLike) -> Path:
    """``p`` itself if absolute, else ``project_root() / p``."""
    p = Path(p)
    return p if p.is_absolute() else project_root() / p
