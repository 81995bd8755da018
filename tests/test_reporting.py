"""The conclusions' markdown renders as real tables with the numbers of the results files."""

import pandas as pd
from markdown_it import MarkdownIt

from overfit_forecast.reporting import beyond_markdown, conclusions_markdown, transfer_markdown


def _html(md: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(md)


def _loo(auc, bacc):
    return {"roc_auc": auc, "pr_auc": 0.5, "balanced_accuracy": bacc, "precision": 0.6, "recall": 0.7}


def test_conclusions_table_renders_with_rounded_numbers():
    results = {"k": 10, "n_labelled": 4, "n_groups": 3, "positive_rate": 0.5,
               "models": {"random_forest": {"loo": _loo(0.86349, 0.79412), "in_sample": _loo(1.0, 0.986)}},
               "baselines": {"prechelt_gl5": {"loo": _loo(0.6, 0.57891), "in_sample": _loo(0.6, 0.57891)}}}
    meta = pd.DataFrame({"pathology": ["overfit", "healthy", "overfit", "healthy", "diverged"],
                         "overfit": [1, 0, 1, 0, None]})
    html = _html(conclusions_markdown(results, meta))
    assert html.count("<table>") == 1 and html.count("<tr>") == 3  # header + 2 predictors
    assert ">random forest</td>" in html and ">0.794</td>" in html and "0.79412" not in html
    assert "Prechelt GL₅ at k (baseline)" in html
    assert "by +0.215" in html  # 0.79412 - 0.57891
    assert "|---" not in html and "| random" not in html  # no raw pipe syntax left


def test_beyond_and_transfer_tables_render():
    b = {"k": 10, "metrics": [
        {"kind": "model", "name": "gradient_boosting", "k": 2, "balanced_accuracy": 0.8},
        {"kind": "baseline", "name": "median_pruner_at_k", "k": 2, "balanced_accuracy": 0.55},
        {"kind": "model", "name": "gradient_boosting", "k": 10, "balanced_accuracy": 0.82},
        {"kind": "baseline", "name": "rules_at_k", "k": 10, "balanced_accuracy": 0.68}]}
    html = _html(beyond_markdown(b))
    assert html.count("<tr>") == 3 and ">+0.250</td>" in html and ">+0.140</td>" in html
    t = {"transfer": [
        {"train": "mnist_cnn", "test": "mnist_mlp", "model": "random_forest", "balanced_accuracy": 0.78,
         "within_loo_balanced_accuracy": 0.74, "drop": -0.04},
        {"train": "mnist_cnn", "test": "mnist_mlp", "model": "logistic_regression", "balanced_accuracy": 0.72,
         "within_loo_balanced_accuracy": 0.71, "drop": -0.01},
        {"train": "mnist_mlp", "test": "mnist_cnn", "model": "random_forest", "balanced_accuracy": 0.64,
         "within_loo_balanced_accuracy": 0.79, "drop": 0.15}]}
    html = _html(transfer_markdown(t))
    assert html.count("<tr>") == 3  # header + one row per (train, test) pair
    assert "MNIST, CNN → MNIST, MLP" in html and "0.780 (+0.040)" in html and "0.640 (-0.150)" in html
    assert ">n/a</td>" in html  # the pair without a logistic-regression result
