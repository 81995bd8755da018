# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Diagnosing one training run from its logs
#
# `overfit_forecast.readers` turns the logs people already have — a Hugging Face
# `trainer_state.json` (or its checkpoint folder), Lightning's `metrics.csv`, Keras CSVLogger
# or `history` JSON, TensorBoard event files, an MLflow run, our own `logs/` CSVs — into one
# tidy curve table. `overfit_forecast.diagnosis` then runs a list of **named checks** on it,
# each a small function returning *findings* (an id, a severity, the evidence in numbers and a
# recommendation), and composes them into the run's verdicts: is it overfitting and from when?
# which checkpoint should I keep? did it diverge, freeze, never learn, plateau, oscillate? do
# the training and evaluation losses tell a plausible story (leakage, logging artifacts)? are
# the step counter and the learning-rate schedule sane?
#
# One scale decides what is "material": the **evaluation noise**, the median absolute change
# between successive evaluations, with a smooth trend removed when that makes it smaller
# (`criteria.noise_scale`). Overfitting needs the validation loss to end several times that
# noise above its minimum (over the last two evaluations, not one isolated point) while the
# training loss falls or stays low and a generalization gap is left. The best checkpoint is the
# best evaluation of the selection metric (declared `metric_for_best_model`, else the task
# metric, else the validation loss); the earliest checkpoint equal to it within the noise is
# reported beside it, as a cheaper choice the log cannot tell apart.
#
# From the command line: `overfit-forecast diagnose PATH [--json out.json] [--plot out.png]`
# and `overfit-forecast predict PATH` (the study's meta-model's overfit forecast).

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # our sweep's per-run logs
meta_dir = "_build/smoke/meta"  # meta_dataset.csv and the saved meta-models
k = 3  # the meta-model's observed window (must match notebook 04)
benchmark_results = "benchmarks/real_logs/results.md"  # the real-log benchmark as measured (chapter 10)

# %%
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown

from overfit_forecast.diagnosis import CHECK_IDS, SUPPRESSED_BY, diagnose, diagnosis_markdown, plot_diagnosis
from overfit_forecast.forecast import ForecastRefused, default_model_path, forecast
from overfit_forecast.paths import project_path
from overfit_forecast.readers import Curves, read_curves
from overfit_forecast.synthetic import trainer_state

log_path, meta_path = project_path(log_dir), project_path(meta_dir)
meta = pd.read_csv(meta_path / "meta_dataset.csv")

# %% [markdown]
# ## The checks
#
# Every finding the diagnosis can report (`overfit_forecast.diagnosis.CHECK_IDS`; each check
# is a small function of `diagnosis.checks` or `diagnosis.bookkeeping`, every curve predicate
# one function of `criteria`). Severity `error`: the run is broken; `warning`: a problem to act
# on; `info`: worth knowing. Some findings silence others (last column): a run that never
# learned is not "still improving", a swinging curve is not a plateau.

# %%
rows = [f"| `{cid}` | {sev} | {what} | {', '.join(SUPPRESSED_BY.get(cid, ())) or '—'} |"
        for cid, (sev, what) in CHECK_IDS.items()]
Markdown("| id | severity | fires when | silenced by |\n|---|---|---|---|\n" + "\n".join(rows))

# %% [markdown]
# The JSON written by `diagnose --json` (schema version 1) has a `verdicts` object —
# `status`, `overfitting` (true / false / null when there is no validation loss with at least
# 4 points), `overconfident`, `onset_step`, `best_step`, `best_metric`, `x_axis` (the unit of
# every x-value: `step` when the log has optimizer steps, else `epoch`) and one boolean per
# pathology — and a `findings` list of `{id, severity, message, evidence, recommendation}`,
# plus `best_checkpoint`, `early_stopping` (replays of `criteria.early_stopping` per
# patience), `accounting` and `evaluation`.

# %% [markdown]
# ## Four runs of our sweep
#
# One run per label (from chapter 2) when the sweep has one: the labels come from the full
# log with the study's rules; the diagnosis below is computed independently from the curves.

# %% tags=["show-input"]
picks = {}
for label in ("overfit", "healthy", "underfit", "diverged"):
    runs = meta[meta.pathology == label].sort_values("run_id")
    if len(runs):
        picks[label] = runs.iloc[len(runs) // 2].run_id
for label, run_id in picks.items():
    curves = read_curves(log_path / f"{run_id}.csv")
    try:
        d = diagnose(curves)
    except ValueError as exc:  # e.g. a run with a single evaluation
        print(f"{label}: {exc}")
        continue
    axes = plot_diagnosis(curves, d)
    axes[0].set_title(f"{label} ({run_id}): diagnosis = {d['verdicts']['status']}", fontsize=9, loc="left")
    print(f"--- {label} run {run_id}: status {d['verdicts']['status']}, best {d['verdicts']['x_axis']} "
          f"{d['verdicts']['best_step']}")
    for f in d["findings"]:
        print(f"  [{f['severity']}] {f['id']}: {f['message']}")

# %% [markdown]
# ## A Hugging Face Trainer run
#
# A `trainer_state.json` generated with known answers (`overfit_forecast.synthetic`):
# validation loss bottoms out at step 400 while training loss keeps falling; checkpoints are
# saved every 300 steps, so the best *saved* checkpoint cannot be the best evaluation; and
# `max_steps` ends the run part-way through an epoch.

# %% tags=["show-input"]
tmp = Path(tempfile.mkdtemp())
(tmp / "checkpoint-1100").mkdir()
(tmp / "checkpoint-1100" / "trainer_state.json").write_text(
    json.dumps(trainer_state(steps=1100, eval_every=100, save_every=300, onset_step=400)))
hf_curves = read_curves(tmp)  # the output folder: the newest checkpoint's state is read
hf = diagnose(hf_curves)
plot_diagnosis(hf_curves, hf)
Markdown(diagnosis_markdown(hf).replace(str(tmp), "<output_dir>").replace("# Training run diagnosis", "", 1))

# %% [markdown]
# ## Over-confident *and* overfitting
#
# Same losses, but validation accuracy keeps creeping up after the loss minimum. The
# validation loss still rises far beyond its noise while the training loss falls: that is
# overfitting, and the diagnosis says so. The improving accuracy is a qualifier
# (`overconfidence`): choose the checkpoint by the task metric, not by the loss.

# %%
(tmp / "checkpoint-1100" / "trainer_state.json").write_text(
    json.dumps(trainer_state(steps=1100, eval_every=100, onset_step=400, accuracy_keeps_improving=True)))
oc = diagnose(read_curves(tmp))
print("status:", oc["verdicts"]["status"], "| overconfident:", oc["verdicts"]["overconfident"],
      "| best step by", oc["verdicts"]["best_metric"], "=", oc["verdicts"]["best_step"])
for f in oc["findings"][:2]:
    print(f"  [{f['severity']}] {f['id']}: {f['message']}")

# %% [markdown]
# ## What the checks do not confuse
#
# Curves with a known answer for the failure classes of the first version of the diagnosis:
# a smooth fast-then-slow decrease is not "unstable" (instability is swings around the trend);
# a run frozen at one value is `frozen`, not diverged; a run flat at ln 10 is at chance level
# and is never told to train longer; a noisy first training-loss point is not divergence.

# %%
def epoch_curves(train_loss, val_loss, val_acc=None) -> Curves:
    rows = [dict(step=np.nan, epoch=float(e), split=s, metric=m, value=float(v))
            for s, m, vals in (("train", "loss", train_loss), ("val", "loss", val_loss), ("val", "accuracy", val_acc))
            if vals is not None for e, v in enumerate(vals, start=1)]
    return Curves(pd.DataFrame(rows), "synthetic", "synthetic")


rng = np.random.default_rng(0)
t = np.arange(30)
cases = {
    "smooth fast-then-slow": epoch_curves(0.1 + 2.2 * np.exp(-t / 2), 0.3 + 2.0 * np.exp(-t / 2)),
    "frozen": epoch_curves(np.full(30, 0.6931), np.full(30, 0.6932)),
    "flat at ln 10": epoch_curves(np.log(10) + rng.normal(0, 0.003, 30), np.log(10) + rng.normal(0, 0.002, 30),
                                  0.1 + rng.normal(0, 0.004, 30)),
    "noisy first point": epoch_curves(np.r_[0.7, 2.2, 2.0, 0.4 + 1.4 * np.exp(-t[:27] / 4)],
                                      np.r_[2.2, 2.1, 2.0, 0.5 + 1.4 * np.exp(-t[:27] / 4)]),
}
pd.DataFrame([dict(case=name, status=(d := diagnose(c))["verdicts"]["status"],
                   findings=", ".join(f["id"] for f in d["findings"])) for name, c in cases.items()])

# %% [markdown]
# ## The overfit forecast on a run of ours
#
# The meta-model of chapter 4 (saved with skops) gives the probability that a run ends
# overfit from its first k epochs, and which features drove it.

# %%
model = default_model_path(meta_path, k)
for label, run_id in picks.items():
    try:
        f = forecast(read_curves(log_path / f"{run_id}.csv"), model, k)
        top = ", ".join(f"{d['feature']} ({d['contribution']:+.2f})" for d in f["drivers"][:3])
        print(f"{label:9s} {run_id}: P(overfit) = {f['probability']:.2f}; top drivers: {top}")
    except ForecastRefused as exc:
        print(f"{label:9s} {run_id}: refused: {exc}")

# %% [markdown]
# ## How right it is on real logs
#
# The checks were measured on 271 public run logs, labelled by hand against a written protocol,
# side by side with the five log-only tools on PyPI, each run zero-config as a fresh process
# per file (`python benchmarks/real_logs.py`; chapter 10 has the protocol, every pathology and
# the caveats, in particular that our row is in-sample). The overfitting verdict, as last
# measured:

# %% tags=["remove-input"]
results = project_path(benchmark_results).read_text()
section = results.split("## Overfitting, every tool", 1)[1].split("\n## ", 1)[0].strip()
Markdown(results.splitlines()[2] + "\n\n" + section)
