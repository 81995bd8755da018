# %% [markdown]
# # Conclusions
#
# Every number on this page is read from `data/meta/evaluation.json`,
# `data/meta/evaluation_beyond.json` and `data/meta/meta_dataset.csv` when the page is
# executed; none is typed by hand.

# %% tags=["parameters"]
meta_dir = "_build/smoke/meta"  # evaluation.json and meta_dataset.csv in

# %%
import json

import pandas as pd
from IPython.display import Markdown

from overfit_forecast.paths import project_path
from overfit_forecast.reporting import beyond_markdown, conclusions_markdown, transfer_markdown

meta_path = project_path(meta_dir)
results = json.loads((meta_path / "evaluation.json").read_text())
meta = pd.read_csv(meta_path / "meta_dataset.csv")
beyond_path = meta_path / "evaluation_beyond.json"
text = conclusions_markdown(results, meta)
if beyond_path.exists():
    text += "\n\n## Beyond the seed question\n\n" + beyond_markdown(json.loads(beyond_path.read_text()))
transfer_path = meta_path / "evaluation_transfer.json"
if transfer_path.exists():
    text += "\n\n" + transfer_markdown(json.loads(transfer_path.read_text()))
Markdown(text)
