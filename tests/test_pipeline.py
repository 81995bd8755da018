"""The whole papermill pipeline on the smoke sweep, into a temporary folder, then the book."""

import hashlib
import json
from pathlib import Path

import pytest

from overfit_forecast.paths import project_root
from overfit_forecast.pipeline import NOTEBOOKS, build_book_copy, run_notebooks


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
    executed = _digest(tmp_path / "site" / "book")
    again = run_notebooks(params, tmp_path / "site" / "book")  # nothing changed: nothing re-run or rewritten
    assert set(again.values()) == {0.0} and _digest(tmp_path / "site" / "book") == executed
    smoke_ids = [line.split(",")[0] for line in sweep[1:]]
    assert not any((root / "logs" / "mnist" / f"{r}.csv").exists() for r in smoke_ids)


def _tiny_project(root: Path) -> None:
    """A project with one notebook: reads ``inp``, writes ``out``, shows a figure and a table."""
    import nbformat

    (root / "notebooks").mkdir(parents=True)
    (root / "in.txt").write_text("abc\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell('inp = "missing.txt"\nout = "out.txt"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("text = open(inp).read().upper()\nopen(out, 'w').write(text)\ntext"),
        nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
                                  "import matplotlib.pyplot as plt\nplt.plot([1, len(text)]);"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(root / "notebooks" / "nb.ipynb"))


def test_unchanged_notebook_is_skipped_and_rerun_keeps_the_file(tmp_path, capsys):
    from overfit_forecast.pipeline import DIGEST_FILE, run_notebooks

    root, out = tmp_path / "project", tmp_path / "project" / "book"
    _tiny_project(root)
    params = {"inp": "in.txt", "out": "out.txt", "undeclared": 1}
    t1 = run_notebooks(params, out, root, notebooks=["nb"])
    assert t1["nb"] > 0 and (root / "out.txt").read_text() == "ABC\n"
    executed = (out / "nb.ipynb").read_bytes()
    nb = json.loads(executed)
    assert "papermill" not in nb["cells"][2]["metadata"] and "execution" not in nb["cells"][2]["metadata"]
    assert nb["metadata"]["papermill"] == {"parameters": {"inp": "in.txt", "out": "out.txt"}}
    tags = {c["id"]: c["metadata"].get("tags", []) for c in nb["cells"]}
    assert tags["injected-parameters"] == ["injected-parameters", "hide-input"]
    assert "remove-cell" in [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])][0]["metadata"]["tags"]
    assert "hide-input" in nb["cells"][-1]["metadata"]["tags"]  # the figure's code
    assert "tags" not in nb["cells"][3]["metadata"]  # the lesson's code stays shown
    recorded = json.loads((out / DIGEST_FILE).read_text())

    # same inputs: not run again, nothing rewritten
    capsys.readouterr()
    t2 = run_notebooks(params, out, root, notebooks=["nb"])
    assert t2["nb"] == 0.0 and "not re-run" in capsys.readouterr().out
    assert (out / "nb.ipynb").read_bytes() == executed and json.loads((out / DIGEST_FILE).read_text()) == recorded

    # a file named by a parameter went missing: re-run; same outputs, so the notebook is kept byte for byte
    (root / "out.txt").unlink()
    t3 = run_notebooks(params, out, root, notebooks=["nb"])
    assert t3["nb"] > 0 and (root / "out.txt").read_text() == "ABC\n"
    assert (out / "nb.ipynb").read_bytes() == executed
    assert "outputs unchanged" in capsys.readouterr().out

    # a changed input file: re-run, new outputs, new record
    (root / "in.txt").write_text("xyz\n")
    t4 = run_notebooks(params, out, root, notebooks=["nb"])
    assert t4["nb"] > 0 and "XYZ" in (out / "nb.ipynb").read_text()
    assert json.loads((out / DIGEST_FILE).read_text())["nb"] != recorded["nb"]


def test_normalise_notebook_is_idempotent_and_drops_volatile_fields():
    from overfit_forecast.pipeline import normalise_notebook

    nb = {"metadata": {"papermill": {"start_time": "2026-01-01T00:00:00", "duration": 3.2,
                                     "input_path": "/home/x/notebooks/a.ipynb", "parameters": {"k": 3}}},
          "cells": [{"cell_type": "code", "id": "f00dcafe", "execution_count": 1, "source": "k = 3",
                     "outputs": [], "metadata": {"tags": ["injected-parameters"],
                                                 "papermill": {"duration": 0.1}, "execution": {"a": "b"}}},
                    {"cell_type": "code", "id": "c2", "execution_count": 2, "source": "Markdown(t)",
                     "outputs": [{"output_type": "execute_result", "data": {"text/markdown": "| a |"},
                                  "metadata": {}, "execution_count": 2}],
                     "metadata": {"tags": ["show-input"]}}]}
    once = normalise_notebook(nb)
    assert once == normalise_notebook(once)
    assert once["metadata"]["papermill"] == {"parameters": {"k": 3}}
    assert once["cells"][0]["id"] == "injected-parameters"
    assert once["cells"][0]["metadata"]["tags"] == ["injected-parameters", "hide-input"]
    assert set(once["cells"][0]["metadata"]) == {"tags", "mystnb"}
    assert once["cells"][1]["metadata"] == {"tags": ["show-input"]}  # an explicit tag wins
    assert nb["cells"][0]["id"] == "f00dcafe"  # the input is not modified


def test_normalise_joins_stream_outputs_split_by_timing():
    from overfit_forecast.pipeline import normalise_notebook

    def cell(*texts):
        return {"cell_type": "code", "id": "a", "execution_count": 1, "source": "", "metadata": {},
                "outputs": [{"output_type": "stream", "name": n, "text": t} for n, t in texts]}

    one = normalise_notebook({"metadata": {}, "cells": [cell(("stdout", ["a\n", "b\n"]), ("stdout", "c\n"))]})
    two = normalise_notebook({"metadata": {}, "cells": [cell(("stdout", "a\nb\nc\n"))]})
    assert one == two and one["cells"][0]["outputs"][0]["text"] == "a\nb\nc\n"
    mixed = normalise_notebook({"metadata": {}, "cells": [cell(("stdout", "a\n"), ("stderr", "w\n"), ("stdout", "b\n"))]})
    assert [o["name"] for o in mixed["cells"][0]["outputs"]] == ["stdout", "stderr", "stdout"]
