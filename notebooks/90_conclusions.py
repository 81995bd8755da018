# %% [markdown]
# # Conclusions
#
# Every number on this page is read from the results files in `data/meta/`
# (`evaluation.json`, `evaluation_beyond.json`, `evaluation_limits.json`,
# `evaluation_transfer.json`, `evaluation_real_logs.json`, `evaluation_real_logs_splits.json`,
# `evaluation_holdout.json`,
# `meta_dataset.csv`) when the page
# is executed; none is typed by hand.

# %% tags=["parameters"]
meta_dir = "_build/smoke/meta"  # the results files
k = 3  # the window of the detailed analyses (the study: 10)

# %%
import json

import pandas as pd
from IPython.display import Markdown

from overfit_forecast.evaluation import metric_table, summary_at
from overfit_forecast.paths import project_path

meta_path = project_path(meta_dir)


def load(name):
    p = meta_path / name
    return json.loads(p.read_text()) if p.exists() else None


ch4, ch7, lim, ch8, ch9, hold = (load(n) for n in ("evaluation.json", "evaluation_beyond.json", "evaluation_limits.json",
                                                    "evaluation_transfer.json", "evaluation_real_logs.json",
                                                    "evaluation_holdout.json"))
meta = pd.read_csv(meta_path / "meta_dataset.csv")


def f3(x):
    return "n/a" if x is None or pd.isna(x) else f"{x:.3f}"


def real_log_spread(ch9, splits, f):
    """The forecaster's bootstrap CI and its spread over repeated grouped splits at f, as a sentence."""
    ci = (ch9.get("bootstrap_ci") or {}).get(str(f))
    text = "" if ci is None else (f" The forecaster's 95 % bootstrap interval (repositories resampled) is "
                                  f"{f3(ci['roc_auc']['low'])}-{f3(ci['roc_auc']['high'])}.")
    sp = (splits or {}).get("summary", {}).get(str(f))
    if sp is None:
        return text
    return text + (f" Over {splits['n_splits']} random grouped splits of the repositories it scores {f3(sp['mean'])} "
                   f"on average (sd {f3(sp['std'])}, range {f3(sp['min'])}-{f3(sp['max'])}) and is ahead of "
                   f"every baseline in {sp['ahead_of_every_baseline']:.0%} of them.")


lines = []
counts = meta.pathology.value_counts()
lines.append(f"**The meta-dataset.** {len(meta)} runs: " + ", ".join(f"{int(v)} {p}" for p, v in counts.items())
             + f". Every run that reached the window is forecast; {int((meta.pathology == 'overfit').sum())} "
               f"({(meta.pathology == 'overfit').mean():.0%}) end overfit.")
if ch7 and "forecaster" in set(pd.DataFrame(ch7["rows"]).query("metric == 'roc_auc'").estimator):
    rows = pd.DataFrame(ch7["rows"])
    auc, ba = metric_table(rows, "roc_auc"), metric_table(rows, "balanced_accuracy")
    kk = str(k) if str(k) in map(str, auc.columns) else auc.columns[-1]
    col = [c for c in auc.columns if str(c) == str(kk)][0]
    base = auc.loc[[i for i in auc.index if not i.startswith(("forecaster", "random_forest"))]]
    margin = (auc.loc["forecaster"] - base.max()).min()
    ci = ch7["bootstrap_ci"][str(col)]
    lines.append(
        f"**The forecast from the first {col} epochs** ({ch7['cv']}, augmentation by truncation, nested model "
        f"choice): ROC-AUC {f3(auc.loc['forecaster', col])} (95 % CI {f3(ci['roc_auc']['low'])}-"
        f"{f3(ci['roc_auc']['high'])}), balanced accuracy {f3(ba.loc['forecaster', col])} "
        f"(CI {f3(ci['balanced_accuracy']['low'])}-{f3(ci['balanced_accuracy']['high'])}) for overfit vs rest. "
        f"At every window it leads the best practitioners' baseline by at least {margin:.3f} ROC-AUC "
        f"(windows {', '.join(map(str, auc.columns))}).")
if lim and lim["risk_stopping"]:
    L = lim["limits"]
    lines.append(
        f"**What limits it.** {L['errors_within_1pt_of_threshold']} of its {L['errors']} errors at k = {k} sit "
        f"within one point of a label threshold; away from the thresholds ROC-AUC is "
        f"{f3(L['roc_auc_away_from_thresholds'])}. Two seeds of one configuration agree on overfit-vs-rest in "
        f"{L['seed_agreement_overfit_vs_rest']:.0%} of {L['seed_pairs']} pairs: the bound for any forecaster. "
        f"Judged against labels on curves smoothed over 3 epochs, ROC-AUC is "
        f"{f3(L['roc_auc_vs_smoothed_label'])}. As a risk score, the final generalization gap is predicted with "
        f"R² {f3(L['gap_r2'])}, Spearman {f3(L['gap_spearman'])}, MAE {L['gap_mae_points']:.1f} points.")
    rs = {r["policy"]: r for r in lim["risk_stopping"]}
    tier = rs.get("risk_tiered")
    tiered_text = "" if tier is None else (
        f"the tiered risk-driven stop (forecasts at epoch {lim['risk_tiered_params']['risk_k']} set each run's "
        f"patience; parameters fixed before the replay) uses {tier['compute_share']:.0%} of full-training compute "
        f"and changes mean validation accuracy by {-tier['mean_acc_lost_points']:+.2f} points, with "
        f"{int(tier['false_kills'])} false kills of {int(tier['runs_stopped'])} runs stopped; ")
    lines.append(
        f"**What it saves.** Replayed with held-out forecasts (decisions on validation loss, validation accuracy "
        f"of the model at the stop: the logs have no per-epoch test accuracy), {tiered_text}"
        f"the flag-only risk stop uses {rs['risk']['compute_share']:.0%} of full-training "
        f"compute and changes mean accuracy by {-rs['risk']['mean_acc_lost_points']:+.2f} points, with "
        f"{int(rs['risk']['false_kills'])} false kills; patience from the start: {rs['patience']['compute_share']:.0%}, "
        f"{-rs['patience']['mean_acc_lost_points']:+.2f} points, {int(rs['patience']['false_kills'])} false kills; "
        f"MedianPruner: {rs['median_pruner']['compute_share']:.0%}, {-rs['median_pruner']['mean_acc_lost_points']:+.2f} "
        f"points; PatientPruner: {rs['patient_pruner']['compute_share']:.0%}, "
        f"{-rs['patient_pruner']['mean_acc_lost_points']:+.2f} points.")
if hold and lim and lim.get("holdout_replay_test_acc"):
    hauc = metric_table(pd.DataFrame(hold["rows"]), "roc_auc")
    hcol = [c for c in hauc.columns if str(c) == str(k)] or [hauc.columns[-1]]
    ht = {r["policy"]: r for r in lim["holdout_replay_test_acc"]["at_stop"]}
    hb = {r["policy"]: r for r in lim["holdout_replay_test_acc"]["restore_best"]}
    t = ht.get("risk_tiered", ht["risk"])
    lines.append(
        f"**On new runs, with test accuracy.** {hold['n_runs']} configurations drawn after every choice was made "
        f"(another sampling seed, same space), logging the test split every epoch; forecasters fit once on the "
        f"main sweep: ROC-AUC {f3(hauc.loc['forecaster', hcol[0]])} at k = {hcol[0]}. Replayed on them, "
        f"{t['policy']} uses {t['compute_share']:.0%} of full-training compute and changes mean **test** accuracy "
        f"by {-t['mean_acc_lost_points']:+.2f} points ({int(t['false_kills'])} false kills of "
        f"{int(t['runs_stopped'])} runs stopped); patience from the start {ht['patience']['compute_share']:.0%}, "
        f"{-ht['patience']['mean_acc_lost_points']:+.2f} points. Against full training that restores its best "
        f"checkpoint (chosen on validation accuracy), every policy loses test accuracy ({t['policy']} "
        f"{-hb[t['policy']]['mean_acc_lost_points']:+.2f} points).")
if ch9:
    pub = metric_table(pd.DataFrame(ch9["public"]), "roc_auc")
    c = [x for x in pub.columns if abs(float(x) - 0.3) < 1e-9] or [pub.columns[0]]
    c = c[0]
    models = pub.loc[[i for i in pub.index if i in ("forecaster", "trained_on_sweeps", "pooled_sweeps_and_public")], c]
    bases = pub.loc[[i for i in pub.index if i not in models.index], c]
    lines.append(
        f"**Real logs.** On {ch9['n_public_logs']} public logs from {ch9['n_public_repos']} repositories, grouped by "
        f"repository, from the first {float(c):.0%} of the evaluations: ROC-AUC "
        + ", ".join(f"{n} {f3(v)}" for n, v in models.items())
        + f"; the best baseline ({bases.idxmax()}) reaches {f3(bases.max())}."
        + real_log_spread(ch9, load("evaluation_real_logs_splits.json"), c))
Markdown("\n\n".join(lines))

# %% [markdown]
# ## The numbers behind the text

# %%
metric_table(pd.DataFrame(ch7["rows"]), "roc_auc").round(3) if ch7 else "chapter 7 not run"

# %%
metric_table(pd.DataFrame(ch9["public"]), "roc_auc").round(3) if ch9 else "chapter 9 not run"
