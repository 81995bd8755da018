import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_log
from sklearn.pipeline import Pipeline

from overfit_forecast.cli import main as cli
from overfit_forecast.evaluation import load_meta_model, save_meta_model
from overfit_forecast.features import CURVE_FEATURES, EarlyCurveFeatures
from overfit_forecast.forecast import (
    ForecastRefused,
    curves_to_epoch_log,
    forecast,
)
from overfit_forecast.models import candidates
from overfit_forecast.readers import read_curves
from overfit_forecast.reallogs import FractionFeatures, fraction_forecaster


def keras_log(path, n_epochs, gap_growth):
    e = np.arange(n_epochs)
    acc = 1 - 0.5 * np.exp(-e / 2)
    val = acc - gap_growth * e
    pd.DataFrame({"epoch": e, "accuracy": acc, "loss": 1 - acc + 0.01, "val_accuracy": val,
                  "val_loss": 1 - val + 0.01}).to_csv(path, index=False)
    return path


@pytest.fixture
def model_path(tmp_path):
    """An epoch forecaster Pipeline fit on synthetic runs: growing gap = overfit."""
    logs, y = [], []
    for i, g in enumerate(np.linspace(0, 0.01, 20)):
        logs.append(curves_to_epoch_log(read_curves(keras_log(tmp_path / f"r{i}.csv", 12, g))))
        y.append(int(g > 0.005))
    model = Pipeline([("features", EarlyCurveFeatures(10)),
                      ("model", candidates("curves")["logistic_regression"])]).fit(logs, y)
    p = tmp_path / "m.skops"
    save_meta_model(model, p)
    return p


def test_forecast_ranks_growing_gap_higher(tmp_path, model_path):
    hi = forecast(read_curves(keras_log(tmp_path / "hi.csv", 15, 0.01)), model_path)
    lo = forecast(read_curves(keras_log(tmp_path / "lo.csv", 15, 0.0)), model_path)
    assert 0 <= lo["probability"] < 0.5 < hi["probability"] <= 1
    assert hi["label"] == 1 and {d["feature"] for d in hi["drivers"]} <= set(CURVE_FEATURES)
    assert hi["window"] == "k=10 epochs"
    assert "running average" in hi["caveat"]


def test_epoch_log_from_fractional_hf_epochs():
    from overfit_forecast.readers import Curves
    rows = []
    for step in range(50, 501, 50):
        ep = step / 100
        rows.append(dict(step=step, epoch=ep, split="train", metric="loss", value=1 / step))
        rows.append(dict(step=step, epoch=ep, split="train", metric="accuracy", value=0.5))
        if step % 100 == 0:
            rows.append(dict(step=step, epoch=ep, split="val", metric="loss", value=0.1 * ep))
            rows.append(dict(step=step, epoch=ep, split="val", metric="accuracy", value=90.0))
    log = curves_to_epoch_log(Curves(pd.DataFrame(rows), "t", "t"))
    assert log.epoch.tolist() == [1, 2, 3, 4, 5]
    assert log.train_loss.tolist() == [1 / 100, 1 / 200, 1 / 300, 1 / 400, 1 / 500]  # last in each epoch
    assert log.val_acc.tolist() == [0.9] * 5  # percentages rescaled


def test_refusals(tmp_path, model_path):
    with pytest.raises(ForecastRefused, match="every epoch 1..10"):
        forecast(read_curves(keras_log(tmp_path / "short.csv", 6, 0.01)), model_path)
    p = tmp_path / "noacc.csv"
    pd.DataFrame({"epoch": range(12), "loss": 1.0, "val_loss": 1.0}).to_csv(p, index=False)
    with pytest.raises(ForecastRefused, match="missing: train accuracy, val accuracy"):
        forecast(read_curves(p), model_path)
    q = tmp_path / "steps.csv"
    pd.DataFrame({"step": range(12), "train_loss": 1.0, "val_loss": 1.0, "train_acc": 0.5,
                  "val_acc": 0.5}).to_csv(q, index=False)
    with pytest.raises(ForecastRefused, match="steps but no epochs"):
        forecast(read_curves(q), model_path)


def test_skops_round_trip_and_cli(tmp_path, model_path, capsys):
    m = load_meta_model(model_path)
    assert hasattr(m, "predict_proba")
    log = keras_log(tmp_path / "hi.csv", 15, 0.01)
    assert cli(["predict", str(log), "--model", str(model_path), "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert "overfit probability" in out
    assert json.loads((tmp_path / "f.json").read_text())["label"] == 1
    assert cli(["predict", str(keras_log(tmp_path / "s.csv", 4, 0.0)), "--model", str(model_path)]) == 2
    assert "every epoch 1..10" in capsys.readouterr().err


class ConstantRisk:
    """A stand-in meta-model with a fixed overfit probability."""

    def __init__(self, p):
        self.p = p

    def predict_proba(self, X):
        return np.array([[1 - self.p, self.p]] * len(X))


def test_risk_driven_stopping_in_real_training(mnist_splits, tmp_path):
    from overfit_forecast.forecast import RiskDrivenStopping
    from overfit_forecast.training import RunConfig, read_log, run_training
    cfg = RunConfig(n_train=300, epochs=5, lr=0.05, width=4, val_size=1000)
    low = RiskDrivenStopping(ConstantRisk(0.1), k=2, patience=0)
    res = run_training(cfg, mnist_splits, tmp_path / "low", callback=low)
    assert res["status"] == "completed" and res["epochs_done"] == 5 and low.risk == pytest.approx(0.1)
    high = RiskDrivenStopping(ConstantRisk(0.9), k=2, patience=0)  # patience 0: stop at k
    res = run_training(cfg, mnist_splits, tmp_path / "high", callback=high)
    assert res["status"] == "early_stopped" and res["epochs_done"] == 2
    assert list(read_log(tmp_path / "high" / f"{cfg.run_id}.csv").epoch) == [0, 1, 2]


def step_log(gl_growth, n=40, seed=0):
    """A step-based run (HF-like tidy curves): val loss falls, then rises by gl_growth per eval."""
    from overfit_forecast.readers import Curves
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, n + 1):
        tl = 1.0 / i
        vl = 1.0 / min(i, 10) + gl_growth * max(0, i - 10) + rng.normal(0, 0.002)
        rows += [dict(step=100 * i, epoch=np.nan, split="train", metric="loss", value=tl),
                 dict(step=100 * i, epoch=np.nan, split="val", metric="loss", value=vl)]
    return Curves(pd.DataFrame(rows), "synthetic", f"g{gl_growth}")


def test_fraction_model_scores_step_logs_without_accuracy(tmp_path):
    curves = [step_log(g, seed=i) for i, g in enumerate(np.r_[np.zeros(15), np.linspace(0.01, 0.05, 15)])]
    y = np.r_[np.zeros(15), np.ones(15)].astype(int)
    X = FractionFeatures(0.5).fit_transform(curves)
    sel = fraction_forecaster(inner_folds=3).fit(X, y, groups=np.arange(30))
    model = Pipeline([("features", FractionFeatures(0.5).fit(None)), ("model", sel.best_estimator_)])
    path = tmp_path / "frac.skops"
    save_meta_model(model, path)
    hi, lo = forecast(step_log(0.04, seed=99), path), forecast(step_log(0.0, seed=98), path)
    assert hi["probability"] > 0.5 > lo["probability"] and hi["window"] == "first 50% of the evaluations"
    assert "whole run" in hi["caveat"] and "running average" not in hi["caveat"]
    named = {d["feature"] for d in hi["drivers"]}
    assert named and "f" not in named  # the window's own position explains no run
    with pytest.raises(ForecastRefused, match="evaluation"):
        forecast(step_log(0.0, n=4), path)  # 2 evaluations in the first half


def _public(kind, n=6):
    from overfit_forecast.paths import project_path
    root = project_path("../shared/data/public_logs")
    if not (root / "INDEX.csv").exists():
        pytest.skip("public logs not available")
    index = pd.read_csv(root / "INDEX.csv")
    return root, index[index.kind == kind].head(n)


def test_real_public_logs_give_fraction_features_and_a_verdict():
    from overfit_forecast.reallogs import (
        FRACTION_FEATURES,
        ends_overfitting,
        evaluation_series,
        fraction_features,
    )
    root, rows = _public("lightning")
    seen = 0
    for rel in rows.local_path:
        c = read_curves(root / rel)
        verdict = ends_overfitting(c)
        assert verdict in (True, False, None)
        try:
            s = evaluation_series(c)
            f = fraction_features(s, 0.5)
        except ValueError:
            continue
        seen += 1
        assert list(f) == FRACTION_FEATURES and np.isfinite(f["gl"]) and f["gl"] >= 0
        assert (s.x.diff().dropna() > 0).all()  # one row per evaluation, in order
        cut = s[s.x <= 0.5 * s.x.iloc[-1]]
        a, b = fraction_features(cut, 0.5, x_last=s.x.iloc[-1]), fraction_features(s, 0.5)  # nothing after f is read
        assert pd.Series(a).equals(pd.Series(b))
    assert seen >= 2


def test_predict_cli_on_a_real_step_based_log(tmp_path, capsys):
    root, rows = _public("hf", n=20)
    path = tmp_path / "frac.skops"
    curves = [step_log(g, seed=i) for i, g in enumerate(np.r_[np.zeros(10), np.linspace(0.01, 0.05, 10)])]
    X = FractionFeatures(0.3).fit_transform(curves)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    clf = make_pipeline(SimpleImputer(keep_empty_features=True), LogisticRegression()).fit(X, np.r_[np.zeros(10), np.ones(10)])
    save_meta_model(Pipeline([("features", FractionFeatures(0.3).fit(None)), ("model", clf)]), path)
    ok = 0
    for rel in rows.local_path:
        code = cli(["predict", str(root / rel), "--model", str(path)])
        out = capsys.readouterr()
        assert code in (0, 2)
        if code == 0:
            ok += 1
            assert "first 30% of the evaluations" in out.out
        else:
            assert "cannot forecast" in out.err
    assert ok >= 5


def test_window_rise_known_answers():
    """The label's evidence on a window, on curves with a known answer (noise = 0.02)."""
    from overfit_forecast.reallogs import window_rise
    noisy = 1 + 0.01 * (-1.0) ** np.arange(20)  # 1.01, 0.99, ...: median |change| 0.02
    # a jump to 1.3 after the noisy floor: minimum 0.99 (running median of 3) at evaluation 1,
    # rise 0.31 = 15.5 noise -> material; training loss 1/(i+1) fell from 1/2 to 1/22
    r = window_rise(np.r_[noisy, 1.3, 1.3], 1.0 / np.arange(1, 23))
    assert r["rise_noise_units"] == pytest.approx(np.arcsinh(0.31 / 0.02))
    assert r["material_rise_now"] == 1.0 and r["train_fall_since_min"] == pytest.approx(np.log(11))
    # still improving: the window ends at its minimum -> no rise, no fall since it
    r = window_rise(1.0 / np.arange(1, 21), 0.5 / np.arange(1, 21))
    assert r == {"rise_noise_units": 0.0, "material_rise_now": 0.0, "train_fall_since_min": 0.0}
    # wandering within its noise (last two average 1.0, 0.01 above the minimum = half a noise)
    r = window_rise(noisy, np.full(20, 0.5))
    assert r["rise_noise_units"] == pytest.approx(np.arcsinh(0.5)) and r["material_rise_now"] == 0.0
    assert r["train_fall_since_min"] == 0.0


def test_fraction_features_carry_f_and_see_a_rise_only_once_it_happened():
    from overfit_forecast.reallogs import FRACTION_FEATURES, evaluation_series, fraction_features
    s = evaluation_series(step_log(0.04, n=40))  # val loss falls for 10 evaluations, then rises 0.04 each
    early, late = fraction_features(s, 0.25), fraction_features(s, 0.5)
    assert list(late) == FRACTION_FEATURES and early["f"] == 0.25 and late["f"] == 0.5
    assert early["material_rise_now"] == 0.0 and early["rise_noise_units"] == 0.0  # 10 evaluations: at its minimum
    assert late["material_rise_now"] == 1.0 and late["rise_noise_units"] > np.arcsinh(3)
    assert late["train_fall_since_min"] == pytest.approx(np.log(2))  # train loss 1/i: 1/10 -> 1/20


def test_nested_recipe_choice_is_judged_on_the_scored_fractions():
    """Column `a` predicts the label at f = 0.3 only, `b` at f = 0.9 only (four times as many
    rows). Scored on every cut the inner CV picks a `b` recipe; scored at f = 0.3, an `a` one."""
    rng = np.random.default_rng(0)
    n_early, n_late = 60, 240
    f = np.r_[np.full(n_early, 0.3), np.full(n_late, 0.9)]
    a, b = rng.normal(size=f.size), rng.normal(size=f.size)
    y = np.where(f == 0.3, a > 0, b > 0).astype(int)
    X = pd.DataFrame({"a": a, "b": b, "f": f})
    recipes = {"a": ["a", "f"], "b": ["b", "f"]}
    groups = np.arange(f.size)
    every_cut = fraction_forecaster(inner_folds=3, recipes=recipes).fit(X, y, groups=groups)
    at_03 = fraction_forecaster(inner_folds=3, recipes=recipes, scored=(0.3,)).fit(X, y, groups=groups)
    assert every_cut.selected_.endswith("[b]") and at_03.selected_.endswith("[a]")
    assert set(at_03.inner_scores_) == {f"{m}[{r}]" for m in ("logistic_regression", "random_forest") for r in "ab"}


def test_gap_and_deceleration_features_known_answers():
    from overfit_forecast.reallogs import fraction_features
    t = np.linspace(0.05, 1.0, 20)
    s = pd.DataFrame({"x": t * 1000, "val_loss": np.exp(-1.0 * t), "train_loss": np.exp(-3.0 * t),
                      "val_acc": np.nan, "train_acc": np.nan})
    ft = fraction_features(s, 1.0)
    # log(val / train) = 2 t: the gap widens at 2 per unit of run; log val falls at a steady 1
    assert ft["gap_slope_last"] == pytest.approx(2.0) and ft["val_deceleration"] == pytest.approx(0.0, abs=1e-9)
    s["val_loss"] = np.exp(-np.sqrt(t))  # the fall slows down: the last third is flatter than the whole
    assert fraction_features(s, 1.0)["val_deceleration"] > 0
