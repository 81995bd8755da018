"""Figures of the book. Each function draws on a new (or given) matplotlib Axes/Figure
and returns it; nothing is shown or saved here."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import precision_recall_curve, roc_curve

from .features import FEATURES
from .runlog import read_log

PATHOLOGY_COLORS = {"overfit": "tab:red", "healthy": "tab:green", "underfit": "tab:orange",
                    "diverged": "tab:purple", "failed": "tab:gray"}


def plot_run(log: pd.DataFrame, title: str = "", axes=None, k: int | None = None):
    """Loss (left) and accuracy (right) curves of one run; a dotted line at epoch ``k``."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.5, 2.8))
    ax_l, ax_a = axes
    ax_l.plot(log.epoch, log.train_loss, label="train")
    ax_l.plot(log.epoch, log.val_loss, label="validation")
    ax_l.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    ax_a.plot(log.epoch, log.train_acc, label="train")
    ax_a.plot(log.epoch, log.val_acc, label="validation")
    ax_a.set(xlabel="epoch", ylabel="accuracy")
    if k is not None:
        for ax in axes:
            ax.axvline(k, ls=":", c="k", lw=1)
    ax_a.legend(fontsize=8)
    ax_l.set_title(title, fontsize=9, loc="left")
    return axes


def plot_curves_by_label(meta: pd.DataFrame, log_dir: str | os.PathLike, metric: str = "gap",
                         k: int | None = None, ax=None, max_runs: int = 400):
    """One line per run of ``metric`` against epoch, coloured by ``pathology``."""
    log_dir = Path(log_dir)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for rec in meta.head(max_runs).to_dict("records"):
        log = read_log(log_dir / f"{rec['run_id']}.csv")
        ax.plot(log.epoch, log[metric], c=PATHOLOGY_COLORS.get(rec["pathology"], "k"), alpha=0.35, lw=0.8)
    handles = [plt.Line2D([], [], c=c, label=p) for p, c in PATHOLOGY_COLORS.items()
               if p in set(meta.pathology)]
    ax.legend(handles=handles, fontsize=8)
    if k is not None:
        ax.axvline(k, ls=":", c="k", lw=1)
    ax.set(xlabel="epoch", ylabel=metric)
    return ax


def plot_feature_distributions(table: pd.DataFrame, features=FEATURES, ncols: int = 2):
    """Histogram of each feature, overfit vs not (labelled runs only); ``ncols`` panels a row, 7.5 in wide."""
    data = table[table.overfit.notna()].copy()
    data["label"] = data.overfit.map({0: "not overfit", 1: "overfit"})
    nrows = int(np.ceil(len(features) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.5, 2.1 * nrows), squeeze=False)
    for ax, f in zip(axes.flat, features):
        sns.histplot(data=data, x=f, hue="label", ax=ax, bins=20, element="step",
                     stat="density", common_norm=False, legend=ax is axes.flat[0])
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(features):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_correlation_heatmap(table: pd.DataFrame, columns, ax=None):
    """Spearman rank correlations between ``columns`` (features, label, hyperparameters)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 6.5))
    corr = table[list(columns)].astype(float).corr(method="spearman")
    sns.heatmap(corr, ax=ax, cmap="vlag", center=0, vmin=-1, vmax=1, annot=True, fmt=".1f",
                annot_kws={"size": 7})
    return ax


def plot_roc_pr(y, scores: dict[str, np.ndarray], axes=None):
    """ROC (left) and precision-recall (right) curves of several scorers on the same runs."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
    y = np.asarray(y, int)
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        axes[0].plot(fpr, tpr, label=name)
        prec, rec, _ = precision_recall_curve(y, s)
        axes[1].plot(rec, prec, label=name)
    axes[0].plot([0, 1], [0, 1], ls=":", c="k")
    axes[1].axhline(y.mean(), ls=":", c="k")
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    axes[1].set(xlabel="recall", ylabel="precision", title="precision-recall")
    axes[0].legend(fontsize=8)
    return axes


def plot_importances(values: pd.Series, ax=None, title: str = "", xerr=None):
    """Horizontal bar chart of per-feature values (coefficients or importances)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    values = values.iloc[::-1]
    ax.barh(values.index, values.values, xerr=None if xerr is None else xerr.reindex(values.index).values)
    ax.axvline(0, c="k", lw=0.8)
    ax.set_title(title, fontsize=10)
    return ax
