# %% [markdown]
# # Sweep pathologies: the sick trials, why, and what to try next
#
# The sweep pathology inspector (`overfit_forecast.inspector`, CLI
# `overfit-forecast inspect SWEEP.csv`) reads a sweep table — a generic CSV, an Optuna,
# MLflow or W&B export, or our own `logs/<dataset>/sweep.csv` joined with its curves — and
#
# 1. flags trials with detectors (non-finite metrics, failed, diverged, overfitting and
#    underfitting suspects, short runs, unstable curves), each flag with its severity and the
#    values and thresholds behind it;
# 2. ties each issue to hyperparameter buckets (quantile buckets, or log-scale buckets for
#    values spanning decades) with Fisher's exact test of bucket vs rest and
#    Benjamini-Hochberg q-values, so a claimed pattern has evidence;
# 3. writes a deterministic markdown + JSON report with recommendations (an LLM rewrite of
#    the prose is optional and off by default).
#
# Here it runs on our own MNIST sweep (chapter 1) and on the seed project's six-row example.

# %% tags=["parameters"]
log_dir = "_build/smoke/logs/mnist"  # our sweep (sweep.csv + per-run logs)
meta_dir = "_build/smoke/meta"  # where hparam_report.md / .json go
sample_file = "examples/sample_results.csv"  # the seed's six-row example table

# %%
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from overfit_forecast.inspector import inspect_sweep, plot_issue_heatmap, report_markdown, write_report_files
from overfit_forecast.paths import project_path

meta_path = project_path(meta_dir)
report, table, flags, patterns = inspect_sweep(project_path(log_dir) / "sweep.csv")
write_report_files(report, meta_path / "hparam_report.md", meta_path / "hparam_report.json")
print(f"{len(table)} trials, {len(flags)} flags in {flags.trial_id.nunique()} trials, "
      f"{int((patterns.significant & (patterns.risk_difference > 0)).sum())} significant risk-raising patterns")

# %% [markdown]
# ## Issues by detector and severity

# %%
flags.pivot_table(index="issue", columns="severity", values="trial_id", aggfunc="count", fill_value=0)

# %% [markdown]
# ## Hyperparameter buckets × issue rate
#
# Each cell is the share of trials in that bucket with that issue; `*` marks buckets whose
# rate is significantly higher than in the rest of the sweep (BH q < 0.05).

# %% mystnb={"figure": {"caption": "Share of trials with each issue in each hyperparameter bucket; * marks buckets whose rate is significantly higher than in the rest of the sweep (Benjamini-Hochberg q < 0.05).", "name": "fig-issue-heatmap"}}
if len(patterns):
    plot_issue_heatmap(patterns)
    plt.tight_layout()

# %% [markdown]
# ## The strongest patterns

# %%
cols = ["hyperparameter", "bucket", "issue", "k", "n", "rate", "rate_else", "odds_ratio", "q_value"]
patterns[patterns.significant & (patterns.risk_difference > 0)][cols].head(12).round(4)

# %% [markdown]
# ## The report

# %%
Markdown(report_markdown(report).replace("# Hyperparameter Sweep Pathology Report", "", 1).replace("\n## ", "\n### "))

# %% [markdown]
# ## The seed's six-row example
#
# With six trials no bucket can be significant; the report says so and lists the flagged
# trials with their evidence instead of inventing patterns.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    seed_report, seed_table, seed_flags, _ = inspect_sweep(project_path(sample_file))
seed_flags

# %%
Markdown(report_markdown(seed_report).replace("# Hyperparameter Sweep Pathology Report", "", 1).replace("\n## ", "\n### "))
