"""Sweep pathology inspector: find the sick trials of a hyperparameter sweep, say why, and
what to try next.

Pipeline: :func:`read_sweep` (any supported table -> one normalized table, plus per-trial
curves when the format has them; :mod:`overfit_forecast.readers.sweeps`) ->
:func:`run_detectors` (per-trial flags with severity and evidence; :mod:`.detectors`) ->
:func:`issue_correlations` (issue rate per hyperparameter bucket, Fisher's exact test,
Benjamini-Hochberg q-values; :mod:`.stats`) -> :func:`build_report` (JSON-ready dict) ->
:func:`report_markdown` / :func:`plot_issue_heatmap` (:mod:`.report`, words from
:mod:`.recommend`). :func:`inspect_sweep` runs it all.
"""

from __future__ import annotations

import os

import pandas as pd

from ..readers.sweeps import (FORMATS, METRICS, STATUS_MAP, SweepInputError, SweepInputWarning,
                              detect_sweep_format as detect_format, read_sweep)
from .detectors import (DETECTORS, FAILED_STATUSES, ONE_OF, SEVERITIES, UNFINISHED_STATUSES, DetectorThresholds,
                        detect_chance_level, detect_divergence, detect_failed, detect_nonfinite,
                        detect_overfitting, detect_short_runs, detect_underfitting, detect_unstable, run_detectors)
from .recommend import ISSUE_EXPLANATIONS, ISSUE_VERBS, SWEEP_RECOMMENDATIONS, pattern_sentence, recommend
from .report import build_report, llm_rewrite, plot_issue_heatmap, report_markdown
from .stats import bucketize, issue_correlations

__all__ = ["DETECTORS", "FAILED_STATUSES", "FORMATS", "ISSUE_EXPLANATIONS", "ISSUE_VERBS", "METRICS", "ONE_OF",
           "SEVERITIES", "STATUS_MAP", "SWEEP_RECOMMENDATIONS", "UNFINISHED_STATUSES", "DetectorThresholds",
           "SweepInputError", "SweepInputWarning", "bucketize", "build_report", "detect_chance_level",
           "detect_divergence", "detect_failed", "detect_format", "detect_nonfinite", "detect_overfitting",
           "detect_short_runs", "detect_underfitting", "detect_unstable", "inspect_sweep", "issue_correlations",
           "llm_rewrite", "pattern_sentence", "plot_issue_heatmap", "read_sweep", "recommend", "report_markdown",
           "run_detectors", "write_report_files"]


def inspect_sweep(path: str | os.PathLike, format: str = "auto", column_map: dict | None = None,
                  th: DetectorThresholds = DetectorThresholds(), n_buckets: int = 4,
                  alpha: float = 0.05, direction: str | None = None
                  ) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read (:func:`read_sweep`, with ``format``, ``column_map``, ``direction``), detect
    (:func:`run_detectors`), correlate (:func:`issue_correlations`), report
    (:func:`build_report`). Returns ``(report, table, flags, patterns)``.

    Raises
    ------
    SweepInputError
        The table cannot be read (see :func:`read_sweep`).
    """
    df = read_sweep(path, format, column_map, direction)
    flags = run_detectors(df, th)
    patterns = issue_correlations(df, flags, n_buckets, alpha)
    return build_report(df, flags, patterns, th), df, flags, patterns


def write_report_files(report: dict, md_path=None, json_path=None, llm_model: str | None = None) -> None:
    """Write the markdown and/or JSON report atomically."""
    from ..runlog import atomic_write_text, write_json

    if md_path:
        atomic_write_text(md_path, llm_rewrite(report_markdown(report), llm_model))
    if json_path:
        write_json(report, json_path)
