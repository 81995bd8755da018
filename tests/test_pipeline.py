"""The whole papermill pipeline on the smoke sweep, into a temporary folder, then the book."""

import hashlib
import json
from pathlib import Path

import pytest

from overfit_forecast.paths import project_root
from overfit_forecast.pipeline import NOTEBOOKS, build_book_copy


def _digest(folder: Path) -> str:
    h = hashlib.sha1()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_smoke_pipeline_and_book(tmp_path):
    root = project_root()
    committed = [root / "data" / "meta", root / "book"]
    before = [_digest(d) for d in committed]
    params = {
        "space_file": "configs/sweep_smoke.yaml",
        "log_dir": str(tmp_path / "logs" / "mnist"),
        "meta_dir": str(tmp_path / "meta"),
        "workers": 2,  # exercises the process pool
        "k": 3,
        "ks": [2, 3],
        "sweeps": {"smoke_a": str(tmp_path / "logs" / "mnist"), "smoke_b": str(tmp_path / "logs" / "mnist")},
    }
    html = build_book_copy(params, tmp_path / "site")
    for name in NOTEBOOKS:
        assert (html / "book" / f"{name}.html").exists(), name
    assert (html / "index.html").exists()
    assert len(list((html / "_images").glob("*.png"))) >= 4  # the chapters' figures
    ev = json.loads((tmp_path / "meta" / "evaluation.json").read_text())
    assert ev["k"] == 3 and ev["n_forecast"] >= 4
    evaluated = {r["estimator"] for r in ev["rows"]}
    assert {"forecaster", "seed_logistic_regression", "seed_random_forest", "majority_class", "rules_at_k"} <= evaluated
    sweep = (tmp_path / "logs" / "mnist" / "sweep.csv").read_text().splitlines()
    assert len(sweep) == 1 + 6
    assert [_digest(d) for d in committed] == before  # committed results untouched
    smoke_ids = [line.split(",")[0] for line in sweep[1:]]
    assert not any((root / "logs" / "mnist" / f"{r}.csv").exists() for r in smoke_ids)
