"""Diagnose one training run from its logs, as a list of named checks.

Input: a :class:`overfit_forecast.readers.Curves`. :func:`diagnose` runs every check (one small
function each, in :mod:`.checks` for the curves' shape and :mod:`.bookkeeping` for what the log
says about evaluations, checkpoints, counters and the learning rate), each returning
:class:`Finding` objects (id, severity, message, evidence, recommendation), and composes them
into a JSON-ready dict with the run's ``verdicts`` (see :mod:`.diagnose` for the layout and
:data:`CHECK_IDS` for every id). :func:`diagnosis_markdown` and :func:`plot_diagnosis` render it.

Every "material" change is judged against the evaluation noise (median absolute change between
successive evaluations); every curve predicate lives in :mod:`overfit_forecast.criteria`.
This package imports neither torch, scikit-learn, scipy.stats nor matplotlib (the plot imports
it when called).
"""

from .context import DiagnosisError, DiagnosisThresholds, Finding, RunView, prepare
from .diagnose import CHECK_IDS, PATHOLOGIES, SCHEMA_VERSION, SUPPRESSED_BY, diagnose, run_checks
from .report import diagnosis_markdown, plot_diagnosis

__all__ = ["CHECK_IDS", "PATHOLOGIES", "SCHEMA_VERSION", "SUPPRESSED_BY", "DiagnosisError", "DiagnosisThresholds",
           "Finding", "RunView", "diagnose", "diagnosis_markdown", "plot_diagnosis", "prepare", "run_checks"]
