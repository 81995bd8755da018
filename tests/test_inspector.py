import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from overfit_forecast.cli import main as cli
from overfit_forecast.inspector import (
    DetectorThresholds, SweepInputError, SweepInputWarning, bucketize, build_report,
    detect_divergence, detect_failed, detect_nonfinite, detect_overfitting, detect_short_runs,
    detect_underfitting, detect_unstable, inspect_sweep, issue_correlations, read_sweep,
    report_markdown, run_detectors,
)


def write(tmp_path, text, name="sweep.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


SEED_TABLE = """trial_id,status,lr,batch_size,weight_decay,train_loss,val_loss,train_acc,val_acc,epochs,runtime_sec
1,completed,0.001,64,0.0001,0.35,0.42,0.89,0.86,20,320
2,failed,0.01,64,0.0001,NaN,NaN,NaN,NaN,3,45
3,completed,0.0001,16,0.0,0.15,0.80,0.99,0.60,40,600
4,completed,0.02,32,0.0001,0.50,inf,0.80,0.70,10,200
5,completed,0.005,8,0.0001,0.20,0.25,0.95,0.93,5,100
6,completed,0.0005,128,0.001,0.30,0.32,0.90,0.88,25,350
"""


@pytest.fixture
def seed(tmp_path):
    return read_sweep(write(tmp_path, SEED_TABLE))


def ids(flags):
    return sorted(flags["trial_id"].tolist())


def test_seed_table_is_read_with_hyperparameters(seed):
    assert seed.attrs["hyperparameters"] == ["lr", "batch_size", "weight_decay"]
    assert np.isinf(seed.loc[3, "val_loss"]) and np.isnan(seed.loc[1, "train_loss"])


def test_nonfinite_and_failed_detectors_known_trials(seed):
    nf = detect_nonfinite(seed)
    assert ids(nf) == ["2", "4"]
    assert nf.set_index("trial_id").loc["4", "severity"] == "high"
    assert "val_loss=inf" in nf.set_index("trial_id").loc["4", "evidence"]
    assert ids(detect_failed(seed)) == ["2"]


def test_overfitting_detector_ratio_and_gap(seed):
    f = detect_overfitting(seed).set_index("trial_id")
    # trial 3: val/train loss = 5.33 > 2 and gap 0.39 > 0.1 -> high
    assert f.loc["3", "severity"] == "high" and "5.33" in f.loc["3", "evidence"]
    assert "1" not in f.index and "6" not in f.index
    strict = detect_overfitting(seed, DetectorThresholds(overfit_loss_ratio=10, overfit_acc_gap=0.5))
    assert strict.empty


def test_underfitting_relative_to_best_trials():
    df = pd.DataFrame({"trial_id": list("abcdef"), "status": "completed",
                       "train_acc": [0.99, 0.98, 0.99, 0.97, 0.80, 0.50],
                       "train_loss": 0.1, "val_loss": 0.1, "val_acc": 0.9, "epochs": 10, "runtime_sec": 5})
    f = detect_underfitting(df).set_index("trial_id")
    assert sorted(f.index) == ["e", "f"]
    assert f.loc["f", "severity"] == "high" and f.loc["e", "severity"] == "medium"


def test_short_runs_need_both_quantile_and_ratio():
    df = pd.DataFrame({"trial_id": [str(i) for i in range(20)], "status": "completed",
                       "epochs": [20] * 18 + [2, 15], "runtime_sec": [100.0] * 20,
                       "train_loss": 0.1, "val_loss": 0.1, "train_acc": 0.9, "val_acc": 0.9})
    assert ids(detect_short_runs(df)) == ["18"]  # 15 epochs is not below half the median
    fast = df.assign(runtime_sec=[100.0] * 19 + [5.0])  # a cheap trial with full epochs is fine
    assert ids(detect_short_runs(fast)) == ["18"]
    no_epochs = fast.assign(epochs=np.nan)
    assert ids(detect_short_runs(no_epochs)) == ["19"]  # without epochs, runtime decides


def test_divergence_and_instability_from_curves():
    df = pd.DataFrame({"trial_id": ["ok", "boom", "nan", "noisy"], "status": "completed",
                       "train_loss": 0.1, "val_loss": 0.1, "train_acc": 0.9, "val_acc": 0.9,
                       "epochs": 10, "runtime_sec": 1.0})
    t = np.arange(12)
    calm = pd.DataFrame({"train_loss": 2.3 * np.exp(-t / 3), "val_acc": 0.9 + 0.005 * np.sin(t)})
    boom = calm.assign(train_loss=np.r_[2.3, 9.0, np.full(10, 2.3)])
    nan = calm.assign(train_loss=np.r_[2.3, 1.0, np.nan, np.full(9, np.nan)])
    noisy = calm.assign(val_acc=0.9 + 0.1 * (t % 2))
    df.attrs["curves"] = {"ok": calm, "boom": boom, "nan": nan, "noisy": noisy}
    d = detect_divergence(df).set_index("trial_id")
    assert sorted(d.index) == ["boom", "nan"]
    assert "3.9x" in d.loc["boom", "evidence"] and "epoch 2" in d.loc["nan", "evidence"]
    assert ids(detect_unstable(df)) == ["noisy"]


def test_bucketize_log_scale_with_zero_bucket():
    v = pd.Series([0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 0, 3e-3, 2e-5, 5e-2])
    b = bucketize(v, n_buckets=4)
    assert (b[v == 0] == "0").all()
    assert b.nunique() == 5
    q = bucketize(pd.Series(np.arange(100.0) + 1000), n_buckets=4)  # < 2 decades: quantiles
    assert q.value_counts().tolist() == [25, 25, 25, 25]


def synthetic_sweep(n=300, seed=0, lr_effect=True):
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, 0, n)
    wd = rng.choice([0.0, 1e-4, 1e-3], n)
    bs = rng.choice([32, 64, 128], n)
    p_nan = np.where(lr > 0.1, 0.9, 0.03) if lr_effect else np.full(n, 0.15)
    nan = rng.random(n) < p_nan
    tl = np.where(nan, np.nan, rng.uniform(0.05, 0.3, n))
    return pd.DataFrame({"trial_id": np.arange(n), "status": "completed", "lr": lr, "weight_decay": wd,
                         "batch_size": bs, "train_loss": tl, "val_loss": tl * rng.uniform(1.0, 1.5, n),
                         "train_acc": 0.95, "val_acc": 0.93, "epochs": 20, "runtime_sec": 60.0})


def test_high_lr_nan_is_the_top_pattern(tmp_path):
    p = tmp_path / "s.csv"
    synthetic_sweep().to_csv(p, index=False)
    report, df, flags, patterns = inspect_sweep(p)
    top = patterns.iloc[0]
    assert (top.hyperparameter, top.issue) == ("lr", "non_finite")
    low = float(top.bucket[1:].split(",")[0])
    assert 0.08 < low < 0.12  # the top decade of [1e-4, 1]: where the NaNs were planted
    assert top.significant and top.q_value < 1e-6 and top.rate > 0.8 and top.rate_else < 0.1
    assert report["patterns"][0]["title"] == f"lr in {top.bucket} -> non_finite"
    assert "Lower the upper bound of lr" in report["recommendations"][0]
    md = report_markdown(report)
    for section in ("## Overview", "## Issue breakdown", "## Hyperparameter pathologies", "## Recommendations"):
        assert section in md
    assert "trials had NaN/Inf metrics" in md or "had NaN/Inf metrics" in md


def test_no_relationship_gives_no_significant_pattern(tmp_path):
    p = tmp_path / "null.csv"
    synthetic_sweep(lr_effect=False, seed=1).to_csv(p, index=False)
    report, _, flags, patterns = inspect_sweep(p)
    assert len(flags) > 20  # issues exist...
    assert not patterns.significant.any()  # ...but no hyperparameter explains them
    assert report["patterns"] == []


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("trial_id,status,train_loss\n", "header only"),
    ("id,state,note\n1,ok,hello\n2,ok,bye\n", r"no metric column found among \['id', 'state', 'note'\]"),
])
def test_bad_files_give_clear_errors(tmp_path, text, match):
    with pytest.raises(SweepInputError, match=match):
        read_sweep(write(tmp_path, text))


def test_semicolons_junk_and_duplicates_warn_not_crash(tmp_path):
    text = "trial_id;status;lr;train_loss;val_loss\n1;completed;0.1;0.2;abc\n1;completed;0.2;;0.3\n"
    with pytest.warns(SweepInputWarning) as rec:
        df = read_sweep(write(tmp_path, text))
    msgs = " ".join(str(w.message) for w in rec)
    assert "semicolon-separated" in msgs and "'abc'" in msgs and "lines [2]" in msgs and "duplicated" in msgs
    assert df.trial_id.tolist() == ["1", "1#2"] and np.isnan(df.val_loss[0]) and np.isnan(df.train_loss[1])


def test_column_map_and_unknown_mapping(tmp_path):
    p = write(tmp_path, "id,state,loss,vloss,lr\na,completed,0.1,0.5,0.01\n")
    df = read_sweep(p, column_map={"id": "trial_id", "state": "status", "loss": "train_loss", "vloss": "val_loss"})
    assert df.attrs["hyperparameters"] == ["lr"] and df.val_loss[0] == 0.5
    with pytest.raises(SweepInputError, match="nope"):
        read_sweep(p, column_map={"nope": "trial_id"})


def test_optuna_export(tmp_path):
    text = ("number,value,datetime_start,datetime_complete,duration,params_lr,params_optimizer,"
            "user_attrs_train_loss,state\n"
            "0,0.5,2024-01-01,2024-01-01,0 days 00:01:00,0.01,adam,0.3,COMPLETE\n"
            "1,,2024-01-01,,0 days 00:00:05,0.5,sgd,,FAIL\n")
    df = read_sweep(write(tmp_path, text))
    assert df.attrs["hyperparameters"] == ["lr", "optimizer"]
    assert df.status.tolist() == ["completed", "failed"]
    assert df.runtime_sec.tolist() == [60.0, 5.0]
    # the objective is not taken for a loss: its name says nothing about its direction
    assert df.objective[0] == 0.5 and np.isnan(df.val_loss[0]) and df.train_loss[0] == 0.3
    assert df.attrs["objective"]["direction"] == "unknown"


def test_mlflow_export(tmp_path):
    text = ("run_id,experiment_id,status,start_time,end_time,metrics.train_loss,metrics.val_loss,"
            "metrics.val_acc,params.lr,params.epochs\n"
            "abc,0,FINISHED,2024-01-01 00:00:00+00:00,2024-01-01 00:02:00+00:00,0.1,0.4,0.9,0.01,10\n"
            "def,0,FAILED,2024-01-01 00:00:00+00:00,2024-01-01 00:00:10+00:00,nan,nan,,0.9,10\n")
    df = read_sweep(write(tmp_path, text))
    assert df.trial_id.tolist() == ["abc", "def"] and df.status.tolist() == ["completed", "failed"]
    assert df.runtime_sec[0] == 120.0 and df.epochs[0] == 10
    assert "lr" in df.attrs["hyperparameters"]


def test_wandb_export(tmp_path):
    text = ("Name,State,Notes,User,Tags,Created,Runtime,Sweep,lr,dropout,train_loss,val_loss\n"
            "run-1,finished,-,me,,2024-01-01T00:00:00.000Z,300,sw,0.01,0.1,0.2,0.3\n"
            "run-2,crashed,-,me,,2024-01-01T00:00:00.000Z,12,sw,1.0,0.1,nan,nan\n")
    df = read_sweep(write(tmp_path, text))
    assert df.attrs["hyperparameters"] == ["lr", "dropout"]
    assert df.status.tolist() == ["completed", "failed"] and df.runtime_sec.tolist() == [300.0, 12.0]


def test_cli_writes_reports_and_reports_errors(tmp_path, capsys):
    p = tmp_path / "s.csv"
    synthetic_sweep().to_csv(p, index=False)
    out, js, png = tmp_path / "r.md", tmp_path / "r.json", tmp_path / "h.png"
    assert cli(["inspect", str(p), "--out", str(out), "--json", str(js), "--heatmap", str(png)]) == 0
    assert out.read_text().startswith("# Hyperparameter Sweep Pathology Report")
    rep = json.loads(js.read_text())
    assert rep["patterns"][0]["hyperparameter"] == "lr" and png.stat().st_size > 1000
    bad = write(tmp_path, "a,b\n1,2\n", "bad.csv")
    assert cli(["inspect", str(bad), "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err
    assert "no metric column found" in err and "Traceback" not in err


def test_llm_rewrite_falls_back_without_litellm(monkeypatch, seed):
    from overfit_forecast.inspector import llm_rewrite
    monkeypatch.setitem(__import__("sys").modules, "litellm", None)  # import fails
    with pytest.warns(UserWarning, match="LLM rewrite failed"):
        assert llm_rewrite("# report\n", model="some/model") == "# report\n"
    assert llm_rewrite("# report\n", model=None) == "# report\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_random_text_only_gives_our_errors(tmp_path, text):
    p = tmp_path / "fuzz.csv"
    p.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            df = read_sweep(p)
        except SweepInputError:
            return
    run_detectors(df)


def test_our_sweep_format_keeps_planned_and_done_epochs_apart(tmp_path, mnist_splits):
    from overfit_forecast.sweep import run_sweep
    from overfit_forecast.training import RunConfig
    configs = [RunConfig(width=4, val_size=1000, n_train=256, epochs=e, lr=lr) for e, lr in ((2, 0.05), (3, 8.0))]
    run_sweep(configs, tmp_path, workers=1, progress=False)
    df = read_sweep(tmp_path / "sweep.csv")
    assert "planned_epochs" in df.attrs["hyperparameters"] and "epochs" not in df.attrs["hyperparameters"]
    assert sorted(df.planned_epochs) == sorted(c.epochs for c in configs)
    assert set(df.trial_id) == {c.run_id for c in configs} and len(df.attrs["curves"]) == 2


OPTUNA_ACC = ("number,value,params_lr,user_attrs_accuracy,user_attrs_train_accuracy,state\n"
              "0,0.91,0.01,0.91,0.95,COMPLETE\n1,0.55,1.0,0.55,0.56,COMPLETE\n2,0.88,0.001,0.88,0.99,COMPLETE\n")


def test_optuna_maximized_objective_direction_from_its_named_copy(tmp_path):
    p = write(tmp_path, OPTUNA_ACC)
    report, df, _, _ = inspect_sweep(p)
    ob = report["overview"]["objective"]
    assert ob["direction"] == "maximize" and ob["direction_from"] == "from the name"
    assert ob["best_trial_id"] == "0" and ob["best_value"] == 0.91  # not trial 1, the worst
    assert df.val_acc.tolist() == [0.91, 0.55, 0.88] and df.val_loss.isna().all()


def test_direction_argument_and_cli(tmp_path, capsys):
    p = write(tmp_path, "Trial,Value,lr\n0,0.2,0.1\n1,0.9,0.01\n2,0.5,0.001\n")
    for direction, best in (("minimize", "0"), ("maximize", "1")):
        ob = inspect_sweep(p, direction=direction)[0]["overview"]["objective"]
        assert ob["direction_from"] == "given" and ob["best_trial_id"] == best
    with pytest.raises(SweepInputError, match="unknown direction"):
        read_sweep(p, direction="up")
    out = tmp_path / "r.md"
    assert cli(["inspect", str(p), "--out", str(out), "--direction", "maximize"]) == 0
    assert "- Objective: `Value`, maximize (given); best trial 1 (0.9)." in out.read_text()
    assert "no status column" in capsys.readouterr().err


def test_row_number_ids_completed_status_said_in_report(tmp_path):
    p = write(tmp_path, "lr,batch_size,train_accuracy,val_accuracy\n0.1,32,0.9,0.8\n0.01,64,0.95,0.7\n"
                        "0.001,32,0.99,0.6\n")
    report, df, _, _ = inspect_sweep(p)
    assert df.trial_id.tolist() == ["0", "1", "2"] and (df.status == "completed").all()
    assert df.attrs["hyperparameters"] == ["lr", "batch_size"]
    md = report_markdown(report)
    assert "- Assumed: no trial id column: the row number (0-based) is the trial id." in md
    assert "- Assumed: no status column: every trial is taken as completed." in md


def test_any_role_by_column_map(tmp_path):
    p = write(tmp_path, "run,outcome,quality,lr\na,ok,0.3,0.1\nb,bad,0.9,1.0\nc,ok,0.2,0.01\n")
    df = read_sweep(p, column_map={"run": "trial_id", "outcome": "status", "quality": "val_loss"})
    assert df.trial_id.tolist() == ["a", "b", "c"] and df.status.tolist() == ["completed", "bad", "completed"]
    assert df.val_loss.tolist() == [0.3, 0.9, 0.2] and df.attrs["objective"]["direction"] == "minimize"
    df2 = read_sweep(p, column_map={"quality": "objective"}, direction="minimize")
    assert df2.objective.tolist() == [0.3, 0.9, 0.2] and df2.attrs["hyperparameters"] == ["outcome", "lr"]


def test_curves_stored_as_lists_in_cells(tmp_path):
    rows = ["trial_id,lr,train_loss_history,val_acc_history"]
    calm = [2.3 * 0.7 ** i for i in range(12)]
    boom = [2.3, 9.0] + [2.3] * 10
    noisy = [0.9 + 0.1 * (i % 2) for i in range(12)]
    for tid, lr, tl, va in (("a", 0.01, calm, [0.9] * 12), ("b", 5.0, boom, [0.9] * 12), ("c", 0.1, calm, noisy)):
        rows.append(f'{tid},{lr},"{tl}","{va}"')
    df = read_sweep(write(tmp_path, "\n".join(rows) + "\n"))
    assert set(df.attrs["curves"]) == {"a", "b", "c"} and len(df.attrs["curves"]["a"]) == 12
    assert df.train_loss.tolist() == pytest.approx([calm[-1], 2.3, calm[-1]])  # final = last of the curve
    assert df.attrs["hyperparameters"] == ["lr"]
    assert ids(detect_divergence(df)) == ["b"] and ids(detect_unstable(df)) == ["c"]


def test_dict_params_in_one_cell_are_expanded(tmp_path):
    text = ("trial_number,params,value\n0,\"{'lr': 0.1, 'opt': 'adam'}\",0.5\n"
            "1,\"{'lr': 0.01, 'opt': 'sgd'}\",0.6\n2,\"{'lr': 0.001, 'opt': 'sgd'}\",0.7\n")
    df = read_sweep(write(tmp_path, text))
    assert df.attrs["hyperparameters"] == ["lr", "opt"] and df.lr.tolist() == [0.1, 0.01, 0.001]


def test_whole_sweep_at_chance_level(tmp_path):
    rng = np.random.default_rng(3)
    n = 24
    chance = pd.DataFrame({"lr": 10 ** rng.uniform(-4, 0, n), "dropout": rng.choice([0.0, 0.5], n),
                           "train_acc": 0.1 + rng.uniform(-0.008, 0.008, n),
                           "val_acc": 0.1 + rng.uniform(-0.008, 0.008, n)})
    p = tmp_path / "chance.csv"
    chance.to_csv(p, index=False)
    report, df, flags, patterns = inspect_sweep(p)
    hit = flags[flags.issue == "chance_level"]
    assert len(hit) == n and "1/10" in hit.evidence.iloc[0]
    assert report["sweep_findings"][0]["issue"] == "chance_level"
    assert report["recommendations"][0].startswith("Every trial is at chance level")
    assert "chance_level" not in set(patterns.issue)  # not blamed on a hyperparameter bucket
    assert "**Whole sweep: chance_level.**" in report_markdown(report)
    learned = chance.assign(val_acc=np.linspace(0.1, 0.9, n), train_acc=np.linspace(0.1, 0.95, n))
    learned.to_csv(p, index=False)
    assert "chance_level" not in set(inspect_sweep(p)[2].issue)
    auc = pd.DataFrame({"C": np.arange(6.0), "roc_auc": [0.49, 0.51, 0.5, 0.52, 0.48, 0.5]})
    auc.to_csv(p, index=False)
    assert (inspect_sweep(p)[2].issue == "chance_level").sum() == 6


def test_percent_accuracies_are_read_as_fractions(tmp_path):
    p = write(tmp_path, "LearningRate,HiddenNeurons,Accuracy\n0.01,32,31.9\n0.01,64,39.1\n0.1,64,73.2\n")
    df = read_sweep(p)
    assert df.val_acc.tolist() == pytest.approx([0.319, 0.391, 0.732])
    assert any("percentages" in a for a in df.attrs["assumptions"])


def test_inspector_import_is_light():
    import subprocess
    import sys
    code = ("import sys, overfit_forecast.inspector; "
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(acc=st.lists(st.floats(0, 1), min_size=3, max_size=15), sep=st.sampled_from([",", ";", "\t"]),
       with_id=st.booleans(), with_status=st.booleans(), optuna=st.booleans())
def test_sweep_tables_round_trip(tmp_path, acc, sep, with_id, with_status, optuna):
    n = len(acc)
    lr = [10.0 ** -(i % 5) for i in range(n)]
    if optuna:
        cols = {"number": range(n), "value": acc, "params_lr": lr, "user_attrs_val_acc": acc,
                "state": ["COMPLETE"] * n}
    else:
        cols = {**({"trial": [f"t{i}" for i in range(n)]} if with_id else {}), "learning_rate": lr,
                **({"status": ["finished"] * n} if with_status else {}), "val_accuracy": acc}
    p = tmp_path / "s.csv"
    pd.DataFrame(cols).to_csv(p, index=False, sep=sep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read_sweep(p)
    np.testing.assert_array_equal(df.val_acc.to_numpy(), np.asarray(acc, float))
    assert (df.status == "completed").all() and df.trial_id.is_unique
    assert df.attrs["hyperparameters"] == (["lr"] if optuna else ["learning_rate"])
    assert df.attrs["objective"]["direction"] == "maximize"
    if not optuna and not with_id:
        assert df.trial_id.tolist() == [str(i) for i in range(n)]
