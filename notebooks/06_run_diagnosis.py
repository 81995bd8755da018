# %% [markdown]
# # Diagnosing one training run from its logs
#
# `overfit_forecast.readers` turns the logs people already have — a Hugging Face
# `trainer_state.json` (or its checkpoint folder), Lightning's `metrics.csv`, Keras CSVLogger
# or `history` JSON, TensorBoard event files, an MLflow run, our own `logs/` CSVs — into one
# tidy curve table. `overfit_forecast.diagnosis` then answers the practitioner's questions:
# is it overfitting and from when (validation loss rising while training loss falls;
# Prechelt's GL, PQ and UP at the end), or only over-confident (loss up, accuracy still up)?
# Which checkpoint should I use, and how far past it did the run go? Could it fit its own
# training set? Did it diverge, plateau, or wobble? Is the step/epoch accounting consistent?
# And what would early stopping with a given patience have saved?
#
# From the command line: `overfit-forecast diagnose PATH [--json out.json] [--plot out.png]`
# and `overfit-forecast predict PATH` (the study's meta-model's overfit forecast).

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # our sweep's per-run logs
meta_dir = "_build/smoke/meta"  # meta_dataset.csv and the saved meta-models
k = 3  # the meta-model's observed window (must match notebook 04)

# %%
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from overfit_forecast.diagnosis import diagnose, diagnosis_markdown, plot_diagnosis
from overfit_forecast.forecast import ForecastRefused, default_model_path, forecast
from overfit_forecast.paths import project_path
from overfit_forecast.readers import read_curves
from overfit_forecast.synthetic import trainer_state

log_path, meta_path = project_path(log_dir), project_path(meta_dir)
meta = pd.read_csv(meta_path / "meta_dataset.csv")

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
results = {}
for label, run_id in picks.items():
    curves = read_curves(log_path / f"{run_id}.csv")
    try:
        d = diagnose(curves)
    except ValueError as exc:  # e.g. a run that diverged before its second evaluation
        print(f"{label}: {exc}")
        continue
    results[label] = d
    axes = plot_diagnosis(curves, d)
    axes[0].set_title(f"{label} ({run_id}): diagnosis = {d['validation']['status']}", fontsize=9, loc="left")
    print(f"--- {label} run {run_id}")
    for v in d["verdicts"]:
        print(" -", v)

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
# ## The same run, over-confident instead of overfit
#
# Same losses, but validation accuracy keeps improving after the loss minimum: the
# diagnosis says so instead of calling it overfitting.

# %%
(tmp / "checkpoint-1100" / "trainer_state.json").write_text(
    json.dumps(trainer_state(steps=1100, eval_every=100, onset_step=400, accuracy_keeps_improving=True)))
print("\n".join(diagnose(read_curves(tmp))["verdicts"][:2]))

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
