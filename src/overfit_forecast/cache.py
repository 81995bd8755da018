"""Results cached by a hash of their inputs, so an unchanged stage is not recomputed.

A stage (an evaluation, a chapter's table) writes one JSON file of results. The file also
records ``"_inputs_sha256"``: the hash of everything the result depends on (the contents of
its input files, the parameters, and the package's source). :func:`cached_json` returns the
stored result when that hash is unchanged and recomputes (and atomically rewrites) it
otherwise. Committed results therefore make ``make all`` on a fresh clone skip work whose
inputs did not change. Torch-free and scikit-learn-free.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from .runlog import write_json

_SRC = Path(__file__).resolve().parent


def _update_with_path(h, p: Path) -> None:
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                h.update(str(f.relative_to(p)).encode())
                h.update(f.read_bytes())
    elif p.exists():
        h.update(p.read_bytes())
    else:
        h.update(b"<missing>")


def inputs_digest(files=(), params: dict | None = None, code: bool = True) -> str:
    """SHA-256 over input ``files`` (files or folders, by content), ``params`` and the source.

    Parameters
    ----------
    files : iterable of path-like
        Inputs read by the stage; a folder is hashed by every file under it (sorted names).
    params : dict, optional
        JSON-serialisable parameters of the stage (sorted keys).
    code : bool
        Include the package's own ``*.py`` sources, so a code change invalidates the cache.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    for f in files:
        _update_with_path(h, Path(f))
    h.update(json.dumps(params or {}, sort_keys=True, default=str).encode())
    if code:
        for f in sorted(_SRC.glob("*.py")) + sorted(_SRC.glob("*/*.py")):
            h.update(f.read_bytes())
    return h.hexdigest()


def cached_json(path: str | os.PathLike, digest: str, compute: Callable[[], dict],
                indent: int | None = 2) -> dict:
    """The result stored at ``path`` if its ``_inputs_sha256`` equals ``digest``, else ``compute()``.

    A recomputed result is written atomically (NaN as null) with ``digest`` added, and
    returned as read back from that file, so both paths return the same JSON-typed dict.
    Set ``OVERFIT_FORECAST_NO_CACHE=1`` to force recomputation. ``indent``: as in
    :func:`~overfit_forecast.runlog.write_json` (``None`` writes compact JSON).
    """
    path = Path(path)
    if path.exists() and not os.environ.get("OVERFIT_FORECAST_NO_CACHE"):
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError:
            stored = {}
        if isinstance(stored, dict) and stored.get("_inputs_sha256") == digest:
            return stored
    result = dict(compute())
    result["_inputs_sha256"] = digest
    write_json(result, path, indent)
    return json.loads(path.read_text())
