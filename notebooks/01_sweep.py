# %% [markdown]
# # 1. The sweep: small CNNs on MNIST
#
# Every run of the study trains a small CNN (`overfit_forecast.model.SmallCNN`) on a
# random subset of MNIST's training images and logs, after every epoch, its loss and accuracy
# on that subset and on a fixed validation hold-out. The runs differ in learning rate,
# training-set size, planned epochs, weight decay, dropout, batch size, label noise and width,
# drawn with a fixed seed from the space in `configs/sweep_mnist.yaml`.
#
# The sweep is **resumable**: a run whose log and result file are complete is skipped, so
# executing this notebook on a finished sweep trains nothing and only gathers `sweep.csv`.
#
# The defaults below are a 6-run smoke sweep; the study's values are in `configs/study.yaml`
# (`papermill -f configs/study.yaml`, see the `Makefile`).

# %% tags=["parameters"]
space_file = "configs/sweep_smoke.yaml"  # sweep space (YAML)
log_dir = "_build/smoke/logs/mnist"  # where per-run logs and sweep.csv go
workers = 1  # parallel training processes
data_root = None  # folder holding MNIST/raw (None: data/, then ../shared/data)

# %%
import pandas as pd

from overfit_forecast.paths import project_path
from overfit_forecast.sweep import load_space, run_sweep, sample_configs

spec = load_space(project_path(space_file))
configs = sample_configs(spec)
sweep = run_sweep(configs, project_path(log_dir), workers=workers, data_root=data_root, progress=False)

# %% [markdown]
# ## The space
#
# Learning rates are log-uniform, with a small share drawn far above the stable range on
# purpose: some runs must diverge for the pathology labels to mean anything. Training-set
# sizes are log-uniform; weight decay, dropout and label noise include 0 with extra weight.

# %%
print(open(project_path(space_file)).read())

# %% [markdown]
# ## What ran

# %%
hparams = ["lr", "n_train", "epochs", "weight_decay", "dropout", "batch_size", "label_noise", "width"]
print(f"{len(sweep)} runs in {sweep.group_id.nunique()} configurations")
sweep.status.value_counts().rename("runs").to_frame()

# %%
sweep[hparams].describe().T[["min", "50%", "max"]]

# %%
summary = pd.Series({
    "runs": len(sweep),
    "total training time (h, summed over workers)": sweep.runtime_sec.sum() / 3600,
    "median seconds per run": sweep.runtime_sec.median(),
    "median test accuracy (completed runs)": sweep.loc[sweep.status == "completed", "test_acc"].median(),
})
summary.round(3).to_frame("value")
