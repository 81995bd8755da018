"""The one model registry of the forecast: candidate models, nested selection, baselines.

Every estimator here is a scikit-learn classifier whose ``X`` is a feature table (a
DataFrame from :func:`overfit_forecast.features.build_feature_table` or
:func:`overfit_forecast.reallogs.fraction_table`), so chapters 4, 7, 8 and 9 evaluate them
with the same code (:func:`overfit_forecast.evaluation.evaluate`).

Model choice is **nested** (:class:`GroupedModelSelection`): the candidate set is small and
fixed in code before any evaluation (logistic regression, gradient boosting, a random
forest, each with fixed hyperparameters); inside every outer training fold the candidate
with the best inner grouped cross-validated score (``GroupKFold``, runs of one
configuration kept together, groups routed by scikit-learn metadata routing) is refit on
the whole training fold. The outer score therefore never saw the choice.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from .features import CURVE_FEATURES, FEATURES, HPARAMS, LOG_HPARAMS


class ThresholdRule(ClassifierMixin, BaseEstimator):
    """A fixed rule "positive if ``X[column] > threshold``" as a scikit-learn classifier.

    Nothing is learnt (``fit`` only records the classes). ``decision_function`` returns
    ``X[column] - threshold`` so ranking metrics use the continuous value.

    Parameters
    ----------
    column : str
        Column of the feature table, e.g. ``"gl_at_k"`` (Prechelt's GL_alpha at epoch k).
    threshold : float
    """

    def __init__(self, column: str = "gl_at_k", threshold: float = 5.0):
        self.column = column
        self.threshold = threshold

    def fit(self, X, y):
        """Record the classes (0, 1); nothing is learnt."""
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X) -> np.ndarray:
        """``X[column] - threshold``, shape (n,). Raises KeyError naming a missing column."""
        if self.column not in X:
            raise KeyError(f"ThresholdRule: column {self.column!r} not in X ({list(X.columns)})")
        return X[self.column].to_numpy(float) - self.threshold

    def predict(self, X) -> np.ndarray:
        """1 where ``X[column] > threshold``, else 0; shape (n,)."""
        return (self.decision_function(X) > 0).astype(int)


class MedianPrunerRule(ClassifierMixin, BaseEstimator):
    """Optuna ``MedianPruner``-style cross-run rule as a classifier: a run is flagged when its
    ``column`` (validation loss at the window's end) is worse than the median of the
    *training* runs (learnt in ``fit``, so cross-validation never sees the evaluated run).
    ``decision_function`` = value - median. With ``by`` set (e.g. ``"k"``), the median is
    taken per value of that column, as Optuna compares trials at the same step."""

    def __init__(self, column: str = "val_loss_at_k", by: str | None = "k"):
        self.column = column
        self.by = by

    def fit(self, X, y):
        """Learn the median of ``X[column]`` over the training runs (per ``by`` value)."""
        v = X[self.column].astype(float)
        self.median_ = float(np.nanmedian(v))
        self.medians_ = v.groupby(X[self.by]).median().to_dict() if self.by and self.by in X else {}
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        """``X[column] - median``, shape (n,)."""
        med = (X[self.by].map(self.medians_).fillna(self.median_).to_numpy(float)
               if self.medians_ and self.by in X else self.median_)
        return X[self.column].to_numpy(float) - med

    def predict(self, X):
        """1 where the run is worse than the median."""
        return (self.decision_function(X) > 0).astype(int)


def _hparam_steps() -> ColumnTransformer:
    log10 = FunctionTransformer(np.log10, feature_names_out="one-to-one")
    return ColumnTransformer([
        ("log", Pipeline([("log", log10), ("scale", StandardScaler())]), LOG_HPARAMS),
        ("lin", StandardScaler(), [h for h in HPARAMS if h not in LOG_HPARAMS]),
    ])


def columns_for(recipe: str) -> list[str]:
    """Input columns of a feature recipe: ``"seed"`` (the seed study's 11 features),
    ``"curves"`` (:data:`CURVE_FEATURES`), ``"hparams"`` (:data:`HPARAMS`) or
    ``"curves+hparams"``. Raises ValueError for another name."""
    recipes = {"seed": FEATURES, "curves": CURVE_FEATURES, "hparams": HPARAMS,
               "curves+hparams": CURVE_FEATURES + HPARAMS}
    if recipe not in recipes:
        raise ValueError(f"unknown feature recipe {recipe!r}; known: {sorted(recipes)}")
    return list(recipes[recipe])


def _prep(recipe: str, scale: bool) -> ColumnTransformer:
    curves = [c for c in columns_for(recipe) if c not in HPARAMS]
    num = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
                   + ([("scale", StandardScaler())] if scale else []))
    parts = [("curves", num, curves)] if curves else []
    if "hparams" in recipe:
        parts.append(("hparams", _hparam_steps() if scale else "passthrough", HPARAMS))
    return ColumnTransformer(parts)


#: The candidates the nested selection chooses from (fixed before the evaluation).
CANDIDATES = ("logistic_regression", "random_forest")


def candidates(recipe: str = "curves+hparams", random_state: int = 0, names=CANDIDATES) -> dict[str, Pipeline]:
    """Candidate models, as unfitted Pipelines over the columns of ``recipe``.

    - ``logistic_regression``: median-impute, standardize, L2 logistic regression (C=0.3);
    - ``random_forest``: 100 trees, 3 samples per leaf, sqrt(features) per split;
    - ``gradient_boosting``: HistGradientBoosting (150 iterations, learning rate 0.05,
      depth 3, 10 samples per leaf); not in the default set (:data:`CANDIDATES`): in a
      preliminary run on the MNIST sweep it cost twice the forest and never won.

    All use ``class_weight="balanced"`` (weights from each training fold's labels), so
    ``predict`` at its default threshold targets balanced accuracy.
    """
    everything = {
        "logistic_regression": Pipeline([("prep", _prep(recipe, True)), ("clf", LogisticRegression(
            C=0.3, max_iter=5000, class_weight="balanced"))]),
        "gradient_boosting": Pipeline([("prep", _prep(recipe, False)), ("clf", HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=10, class_weight="balanced",
            random_state=random_state))]),
        "random_forest": Pipeline([("prep", _prep(recipe, False)), ("clf", RandomForestClassifier(
            n_estimators=100, min_samples_leaf=3, max_features="sqrt", class_weight="balanced",
            random_state=random_state, n_jobs=1))]),
    }
    return {n: everything[n] for n in names}


class GroupedModelSelection(ClassifierMixin, BaseEstimator):
    """Choose among ``candidates`` by inner grouped cross-validation, then refit the winner.

    ``fit(X, y, groups)`` scores each candidate with :func:`sklearn.model_selection.
    cross_val_score` over ``GroupKFold(inner_folds)`` (``groups`` routed to the splitter by
    metadata routing), keeps the best mean ``scoring`` (ties: first in order) and refits it
    on all of ``X``. Used inside outer cross-validation, this is nested model selection.
    Requests ``groups`` for ``fit`` by default, so an outer ``cross_validate(...,
    params={"groups": g})`` passes each training fold's groups in.

    Parameters
    ----------
    candidates : dict
        ``{name: estimator}``; default :func:`candidates` ("curves+hparams").
    inner_folds : int
        Folds of the inner ``GroupKFold`` (fewer when there are fewer groups).
    inner_cv : grouped splitter, optional
        Used instead of ``GroupKFold(inner_folds)``, e.g. an
        :class:`~overfit_forecast.evaluation.EvaluatedGroupKFold` that scores only the rows
        the outer evaluation scores.
    scoring : str
        A scikit-learn scorer name (default ``"roc_auc_ovr"``: ROC-AUC, one-vs-rest when
        there are more than two classes).

    Attributes
    ----------
    selected_ : str
    inner_scores_ : dict ``{name: mean inner score}``
    best_estimator_ : the refit winner
    classes_ : array
    """

    __metadata_request__fit = {"groups": True}  # noqa: RUF012 (scikit-learn's convention)

    def __init__(self, candidates: dict | None = None, inner_folds: int = 4, scoring: str = "roc_auc_ovr",
                 inner_cv=None):
        self.candidates = candidates
        self.inner_folds = inner_folds
        self.scoring = scoring
        self.inner_cv = inner_cv

    def fit(self, X, y, groups=None):
        """Select and refit (see class docstring). ``groups``: shape (n,), required."""
        if groups is None:
            raise ValueError("GroupedModelSelection.fit needs groups (runs of one configuration together)")
        cands = self.candidates if self.candidates is not None else candidates()
        groups = np.asarray(groups)
        cv = self.inner_cv if self.inner_cv is not None else GroupKFold(min(self.inner_folds, len(np.unique(groups))))
        scores = {}
        with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for name, est in cands.items():
                s = cross_val_score(clone(est), X, y, cv=cv, scoring=self.scoring,
                                    params={"groups": groups}, error_score=np.nan)
                scores[name] = float(np.nanmean(s)) if np.isfinite(s).any() else -np.inf
        self.inner_scores_ = scores
        self.selected_ = max(scores, key=lambda n: scores[n])
        self.best_estimator_ = clone(cands[self.selected_]).fit(X, y)
        self.classes_ = self.best_estimator_.classes_
        return self

    def predict(self, X):
        """The selected model's labels, shape (n,)."""
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """The selected model's class probabilities, shape (n, n_classes)."""
        return self.best_estimator_.predict_proba(X)


def forecaster(recipe: str = "curves+hparams", inner_folds: int = 4, random_state: int = 0) -> GroupedModelSelection:
    """The study's forecaster: nested choice among :func:`candidates` of ``recipe``."""
    return GroupedModelSelection(candidates(recipe, random_state), inner_folds)


def baselines(gl_alpha: float = 5.0, patience: int = 3, th=None) -> dict[str, BaseEstimator]:
    """Practitioners' baselines at the same window, as classifiers over the feature table:

    - ``majority_class``: the training folds' most frequent class (constant score);
    - ``rules_at_k``: the labelling rules applied to the window;
    - ``prechelt_gl<alpha>``: Prechelt's GL_alpha at the window's end (percent);
    - ``patience<p>``: Keras/Lightning-style patience, no new validation-loss minimum for
      ``patience`` epochs at the window's end (``epochs_since_val_min``);
    - ``val_loss_slope``: validation loss rising over the window's last epochs (sign of the
      least-squares slope);
    - ``median_pruner``: Optuna MedianPruner-style, validation loss at the window's end worse
      than the training runs' median at the same window.
    """
    return {
        "majority_class": DummyClassifier(strategy="most_frequent"),
        "rules_at_k": ThresholdRule("rules_any_at_k", 0.5),
        f"prechelt_gl{gl_alpha:g}": ThresholdRule("gl_at_k", gl_alpha),
        f"patience{patience}": ThresholdRule("epochs_since_val_min", patience - 0.5),
        "val_loss_slope": ThresholdRule("val_loss_slope_last", 0.0),
        "median_pruner": MedianPrunerRule(),
    }


def coefficients(fitted_lr: Pipeline, names) -> pd.Series:
    """Standardized logistic-regression coefficients (log-odds per 1 SD), by magnitude."""
    coef = pd.Series(fitted_lr.named_steps["clf"].coef_[0], index=list(names))
    return coef.reindex(coef.abs().sort_values(ascending=False).index)
