"""Every curve predicate of the project, once.

Modules: :mod:`.prechelt` (Prechelt 1998: GL, P_k, PQ, UP, and :func:`least_squares_slope`),
:mod:`.stopping` (Keras/Lightning :func:`early_stopping`, :func:`improved`), :mod:`.curves`
(the curve predicates of the run diagnosis: evaluation noise, material rise, divergence,
frozen, chance level, tail trend, plateau, oscillation, best within noise).
"""

from __future__ import annotations

from .prechelt import (  # noqa: F401
    generalization_loss, training_progress, progress_quotient, up_successive_strips, least_squares_slope,
)
from .stopping import (  # noqa: F401
    improved, early_stopping,
)
from .curves import (  # noqa: F401
    evaluation_noise, detrended_noise, noise_scale, robust_level, one_per_x, material_rise, sustained_rise,
    divergence, is_diverged,
    frozen_fraction, is_frozen, improvement_fraction, chance_classes, at_chance_level, tail_trend, flat_tail,
    plateau,
    oscillation, is_unstable, best_within_noise,
)

__all__ = [
    "generalization_loss",
    "training_progress",
    "progress_quotient",
    "up_successive_strips",
    "least_squares_slope",
    "improved",
    "early_stopping",
    "evaluation_noise",
    "detrended_noise",
    "noise_scale",
    "robust_level",
    "one_per_x",
    "material_rise",
    "sustained_rise",
    "divergence",
    "is_diverged",
    "frozen_fraction",
    "is_frozen",
    "improvement_fraction",
    "chance_classes",
    "at_chance_level",
    "tail_trend",
    "flat_tail",
    "plateau",
    "oscillation",
    "is_unstable",
    "best_within_noise",
]
