"""Run-log I/O: skops files are rewritten only when the model changed."""

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from overfit_forecast.runlog import load_model, save_model


def _forest(seed):
    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    return RandomForestClassifier(n_estimators=4, random_state=seed).fit(X, (X[:, 0] > 0.5).astype(int)), X


def test_resaving_an_equal_model_keeps_the_file_and_a_changed_one_replaces_it(tmp_path):
    path = tmp_path / "m.skops"
    first, X = _forest(0)
    save_model(first, path)
    before = path.read_bytes()
    save_model(_forest(0)[0], path)  # same model, new object ids and timestamps inside skops
    assert path.read_bytes() == before
    changed, _ = _forest(1)
    save_model(changed, path)
    assert path.read_bytes() != before
    np.testing.assert_array_equal(load_model(path).predict_proba(X), changed.predict_proba(X))


def test_cached_json_writes_compact_json_when_asked_and_reuses_it_on_the_same_digest(tmp_path):
    from overfit_forecast.cache import cached_json

    calls = []

    def compute():
        calls.append(1)
        return {"rows": [{"a": 1.5, "b": float("nan")}, {"a": 2.0, "b": 3.0}]}

    p = tmp_path / "table.json"
    first = cached_json(p, "d1", compute, indent=None)
    text = p.read_text()
    assert "\n" not in text.rstrip("\n") and ", " not in text  # one line, no padding
    assert first["rows"][0] == {"a": 1.5, "b": None} and first["_inputs_sha256"] == "d1"
    assert cached_json(p, "d1", compute, indent=None) == first and len(calls) == 1
    cached_json(p, "d2", compute)  # a new digest recomputes, indented by default
    assert len(calls) == 2 and p.read_text().startswith("{\n  ")
