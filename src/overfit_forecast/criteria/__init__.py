"""Prechelt's early-stopping quantities, on per-epoch loss curves.

All from L. Prechelt, "Early Stopping -- But When?", in *Neural Networks: Tricks of the
Trade*, LNCS 1524, Springer 1998, pp. 55-69 (section 2.2). Prechelt defines them on the
validation *error*; here, as in the labels of this study, the error is the validation
cross-entropy loss. Epochs are rows of the curve, in order.

- ``E_opt(t) = min_{t' <= t} E_va(t')``
- generalization loss ``GL(t) = 100 * (E_va(t) / E_opt(t) - 1)`` (percent)
- training progress over a strip of length k ending at t:
  ``P_k(t) = 1000 * (sum_{t'=t-k+1..t} E_tr(t') / (k * min_{t'=t-k+1..t} E_tr(t')) - 1)``
  (per mille)
- ``PQ(t) = GL(t) / P_k(t)``; the PQ_alpha rule stops when PQ exceeds alpha
- ``UP_s``: stop after the validation error went up in s successive strips (each strip
  is k epochs long; the error is compared at strip ends).

Modules: :mod:`.prechelt` (the quantities above and :func:`least_squares_slope`),
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
    evaluation_noise, detrended_noise, noise_scale, robust_level, material_rise, sustained_rise, divergence,
    is_diverged,
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
