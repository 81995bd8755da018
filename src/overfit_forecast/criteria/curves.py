"""Curve predicates of the run diagnosis (:mod:`overfit_forecast.diagnosis`), one definition
each. Every "material" change is judged against the evaluation noise (:func:`noise_scale`).

Noise: :func:`evaluation_noise` (median absolute change between successive evaluations),
:func:`detrended_noise`, :func:`noise_scale`; levels: :func:`robust_level`; shapes:
:func:`material_rise`/:func:`sustained_rise`, :func:`divergence`/:func:`is_diverged`, :func:`frozen_fraction`/
:func:`is_frozen`, :func:`improvement_fraction`, :func:`chance_classes`/:func:`at_chance_level`,
:func:`tail_trend`, :func:`flat_tail`, :func:`plateau`, :func:`oscillation`/:func:`is_unstable`,
:func:`best_within_noise`.
"""

from __future__ import annotations

import numpy as np

from .prechelt import _as_float, least_squares_slope
from .stopping import improved


def _finite(values, name: str = "values") -> np.ndarray:
    v = _as_float(values, name)
    return v[np.isfinite(v)]


def evaluation_noise(values) -> float:
    """Noise scale of a curve: the median absolute change between successive finite values.

    The scale the labelling protocol of ``benchmarks/real_logs/PROTOCOL.md`` and the
    diagnosis use to call a change "material" (several times this). On a smooth monotone
    curve it is the typical step of the trend, so a change of several times it needs several
    evaluations of the same direction. Units: those of ``values``.

    Returns NaN with fewer than 2 finite values. Raises ValueError if not 1-D."""
    v = _finite(values)
    return float(np.median(np.abs(np.diff(v)))) if v.size >= 2 else float("nan")


def detrended_noise(values) -> float:
    """Noise of a curve with its smooth trend removed: ``0.577 x median |second difference|``.

    For independent noise of standard deviation s, successive differences have median
    absolute value 0.954 s and second differences 1.652 s; the factor 0.954 / 1.652 = 0.577
    puts this on the scale of :func:`evaluation_noise`, which it matches on a trend-free noisy
    curve, while a smooth trend (however steep) adds only its curvature. NaN with fewer than 3
    finite values."""
    v = _finite(values)
    return float(0.577 * np.median(np.abs(np.diff(v, 2)))) if v.size >= 3 else float("nan")


def noise_scale(values) -> float:
    """The noise scale every "material" change is judged against: the smaller of
    :func:`evaluation_noise` (median absolute change between successive evaluations) and
    :func:`detrended_noise` (the same scale with a smooth trend removed). A steep trend
    inflates the first, curvature the second; on a trend-free noisy curve both agree.
    :func:`evaluation_noise` alone below 3 finite values."""
    a, b = evaluation_noise(values), detrended_noise(values)
    return float(np.nanmin([a, b])) if np.isfinite(b) else a


def robust_level(values, which: str = "start", n: int = 3) -> float:
    """Median of the first (``which="start"``) or last (``"end"``) ``n`` finite values: a level
    that one noisy point cannot move. NaN for an empty curve. ValueError: bad ``which``/``n``."""
    if which not in ("start", "end") or n < 1:
        raise ValueError(f"need which in ('start', 'end') and n >= 1, got {which!r}, {n}")
    v = _finite(values)
    if v.size == 0:
        return float("nan")
    return float(np.median(v[:n] if which == "start" else v[-n:]))


def _running_median3(f: np.ndarray) -> np.ndarray:
    """Median of each value and its two neighbours (of the one neighbour at the ends)."""
    return np.array([np.median(f[max(0, j - 1):j + 2]) for j in range(f.size)])


def sustained_rise(after, low: float, noise: float, k: float = 3.0, t_min: float = 3.0,
                   min_points: int = 5) -> dict:
    """A rise after a minimum judged on its trend rather than point by point: the
    least-squares line through the ``after`` values (those following the minimum, at least
    ``min_points`` finite) has a slope ``t_min`` or more standard errors above zero (the usual
    t statistic of a regression slope, ``slope / sqrt(residual variance / sum (x - mean x)^2)``,
    on the evaluation index), and both the line's value at the end and the median of the last
    third of ``after`` lie more than ``k * noise`` above ``low``. Catches a slow, smooth rise
    of many small steps that no two single evaluations show.

    Returns ``t`` (the slope's t statistic, NaN when undefined), ``end_level`` (the smaller of
    the two end levels) and ``sustained`` (bool)."""
    a = _finite(after, "after")
    out = dict(t=float("nan"), end_level=float("nan"), sustained=False)
    if a.size < max(3, min_points):
        return out
    xc = np.arange(a.size, dtype=float) - (a.size - 1) / 2
    b = least_squares_slope(a, xc)
    resid = a - a.mean() - b * xc
    se = np.sqrt(np.sum(resid ** 2) / (a.size - 2) / np.sum(xc ** 2))
    end = min(a.mean() + b * xc[-1], float(np.median(a[-max(2, a.size // 3):])))
    t = b / se if se > 0 else (float("inf") if b > 0 else float("nan"))
    out.update(t=float(t), end_level=float(end), sustained=bool(t >= t_min and end - low > k * noise))
    return out


def material_rise(values, k: float = 3.0, rel_floor: float = 0.01, min_after: int = 2,
                  rel_material: float = 0.1, short: int = 8) -> dict:
    """Whether a curve (lower is better, e.g. validation loss) rises materially above its
    minimum and stays there to the end.

    The minimum: on a curve of at least ``short`` finite points, the lowest value of the
    running median of 3 (so one low point among noise -- a dip -- is not taken for the curve's
    minimum; the selected extreme of a flat noisy curve sits about 2 noise below its level);
    ``min_index`` is the lowest evaluation within that window. On shorter curves, the lowest
    evaluation. Material: each of the last ``min_after`` evaluations lies more than one noise
    above the minimum (not one isolated point) and their mean more than
    ``threshold = max(k * noise, rel_floor * |minimum|)`` above it (several times the noise);
    or the rise is sustained (:func:`sustained_rise`: a trend ``k`` standard errors up and an
    end level ``k`` x noise above the minimum; ``rel_floor`` does not apply). The noise is
    :func:`noise_scale`. On a curve of fewer than ``short`` finite points, where successive
    changes are the learning curve's own steps rather than noise, each of the last
    ``min_after`` evaluations ``rel_material`` (relative) above the minimum is material too.
    ``rel_floor`` only guards a zero noise (a quantized log).

    Returns ``min_index`` (index into ``values``), ``minimum``, ``noise``, ``threshold``,
    ``rise`` (mean of the last ``min_after`` values minus the minimum; NaN when fewer than
    ``min_after`` evaluations follow it), ``gl_percent`` (Prechelt's GL at the end),
    ``sustained`` (the trend test), ``material``."""
    v = _as_float(values, "values")
    ok = np.flatnonzero(np.isfinite(v))
    noise = noise_scale(v)
    out = dict(min_index=None, minimum=float("nan"), noise=float(noise), threshold=float("nan"),
               rise=float("nan"), gl_percent=float("nan"), sustained=False, material=False)
    if ok.size < 2:
        return out
    f = _running_median3(v[ok]) if ok.size >= short else v[ok]
    j = int(np.argmin(f))
    window = np.arange(max(0, j - 1), min(ok.size, j + 2)) if ok.size >= short else np.array([j])
    i = int(ok[window[np.argmin(v[ok[window]])]])
    low = float(f[j])
    out.update(min_index=i, minimum=low)
    noise = out["noise"] if np.isfinite(out["noise"]) else 0.0
    out["threshold"] = max(k * noise, rel_floor * abs(low))
    after = v[i + 1:]
    if after.size >= min_after and np.isfinite(after[-min_after:]).all():
        last = after[-min_after:]
        out["rise"] = float(last.mean() - low)
        relative = ok.size < short and low > 0 and last.min() >= (1 + rel_material) * low
        out["sustained"] = sustained_rise(v[ok[j] + 1:], low, noise, k, k)["sustained"] and noise > 0
        out["material"] = bool((last.min() - low > noise and out["rise"] > out["threshold"]) or relative
                               or out["sustained"])
    if np.isfinite(v[-1]) and v[i] != 0:
        out["gl_percent"] = float(100.0 * (v[-1] / v[i] - 1.0))
    return out


def divergence(values, factor: float = 1.5, n: int = 3) -> dict:
    """Divergence of a training loss: a non-finite value, or a sustained blow-up.

    Blow-up: the level at the end (median of the last ``n`` finite values) is above
    ``factor`` x the level at the start (median of the first ``n``), so a noisy first point
    does not decide and a spike that comes back does not count. For short curves ``n``
    shrinks to a third of the points (at least 1). Only for curves that start positive.

    Returns ``nonfinite_index`` (first NaN/inf, or None), ``start_level``, ``end_level``,
    ``ratio`` (end / start), ``blown_up`` and ``diverged`` (bool)."""
    v = _as_float(values, "values")
    bad = np.flatnonzero(~np.isfinite(v))
    f = v[np.isfinite(v)]
    m = max(1, min(n, f.size // 3))
    start, end = robust_level(f, "start", m), robust_level(f, "end", m)
    ratio = end / start if f.size >= 2 and start > 0 else float("nan")
    blown = bool(np.isfinite(ratio) and ratio > factor)
    return dict(nonfinite_index=int(bad[0]) if bad.size else None, start_level=start, end_level=end,
                ratio=ratio, blown_up=blown, diverged=bool(bad.size or blown))


def is_diverged(values, factor: float = 1.5, n: int = 3) -> bool:
    """``divergence(values, factor, n)["diverged"]``."""
    return divergence(values, factor, n)["diverged"]


def frozen_fraction(values, ignore_zero: bool = True) -> float:
    """Fraction of successive finite pairs that repeat exactly the same value (a value logged
    again without change). With ``ignore_zero``, values within 1 % of zero relative to the
    curve's largest magnitude do not count (a loss fitted to ~0 and rounded repeats; it is not
    frozen). NaN with fewer than 2 finite values."""
    v = _finite(values)
    if v.size < 2:
        return float("nan")
    same = np.diff(v) == 0
    if ignore_zero:
        same &= np.abs(v[1:]) > 0.01 * np.abs(v).max()
    return float(np.mean(same))


def is_frozen(values, min_fraction: float = 0.8, min_points: int = 4, ignore_zero: bool = True) -> bool:
    """A frozen curve: at least ``min_points`` finite values and at least ``min_fraction`` of
    successive pairs identical (:func:`frozen_fraction`)."""
    return bool(_finite(values).size >= min_points and frozen_fraction(values, ignore_zero) >= min_fraction)


def improvement_fraction(values, mode: str = "min", n: int = 3) -> float:
    """How much a curve ever improved on its start: ``1 - best / start`` for ``mode="min"``
    (``best / start - 1`` for ``"max"``), where start is :func:`robust_level` of the first
    ``n`` values and best the best of the running median of 3 (so a single lucky point does
    not count). NaN if the start level is not positive or fewer than 2 finite values."""
    improved(0.0, 0.0, mode)
    v = _finite(values)
    start = robust_level(v, "start", n)
    if v.size < 2 or not start > 0:
        return float("nan")
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(v, 3), axis=1) if v.size >= 3 else v
    best = smooth.min() if mode == "min" else smooth.max()
    return float(1 - best / start if mode == "min" else best / start - 1)


def chance_classes(loss: float, tol: float = 0.05, max_classes: int = 1000) -> int | None:
    """The number of classes C whose chance-level cross-entropy ``ln C`` is nearest to ``loss``,
    if within ``tol`` (relative); else None. (A classifier that predicts the uniform
    distribution over C classes has cross-entropy ln C nats.)"""
    if not np.isfinite(loss) or loss <= 0 or loss > (1 + tol) * np.log(max_classes):
        return None
    c = int(np.clip(round(np.exp(loss)), 2, max_classes))
    best = min((abs(np.log(k) - loss), k) for k in {max(2, c - 1), c, min(max_classes, c + 1)})
    return best[1] if best[0] <= tol * np.log(best[1]) else None


def at_chance_level(loss, accuracy=None, n_classes: int | None = None, max_improvement: float = 0.1,
                    tol: float = 0.03, k: float = 3.0) -> dict:
    """Whether a run never learned: its loss never improved by more than ``max_improvement``
    (:func:`improvement_fraction`), ends within that fraction of its start, and sits at chance
    level, ``ln C`` within ``tol`` (relative).

    ``C`` is ``n_classes`` when given, else the C <= 10 of :func:`chance_classes` (for larger C
    the values ln C lie closer together than ``tol``: any loss would match one), else
    ``round(1 / accuracy)`` when an accuracy curve is given and its final level is at most 0.55.
    With an accuracy curve, its final level must also be at most ``1.5 / C`` (chance, allowing
    for class imbalance). Without accuracy or ``n_classes`` (ln C alone is weak evidence: common
    losses lie in its range), the loss must also show no trend: start and end levels within
    ``k`` x :func:`noise_scale`. A flat loss whose accuracy stays at most 0.55 and never rises
    more than ``max(k x noise, 0.02)`` above its start is at chance too, whatever the loss level
    (a model predicting the class prior: its loss is the prior's entropy, below ln C). Start and
    end levels are medians of up to 3 points (fewer on short curves). Returns ``chance`` (bool),
    ``basis`` ("ln_c", "accuracy" or None), ``n_classes``, ``ln_c``, ``level`` (end level),
    ``improvement``, ``accuracy`` (end level).
    """
    f = _finite(loss)
    m = min(3, max(1, f.size // 2))
    level, start = robust_level(f, "end", m), robust_level(f, "start", m)
    imp = improvement_fraction(f, n=m)
    acc = robust_level(accuracy, "end", m) if accuracy is not None and _finite(accuracy).size else None
    c = n_classes or chance_classes(level, tol, max_classes=10)
    if c is None and acc is not None and 0 < acc <= 0.55:
        c = max(2, int(round(1 / acc)))
    ln_c = float(np.log(c)) if c else float("nan")
    flat = np.isfinite(imp) and imp < max_improvement and abs(level / start - 1) < max_improvement
    if acc is None and not n_classes:
        flat = flat and abs(start - level) <= k * noise_scale(f)
    at_ln_c = bool(c and flat and abs(level - ln_c) <= tol * ln_c and (acc is None or acc <= 1.5 / c))
    at_prior = False
    if acc is not None and not at_ln_c:
        a = _finite(accuracy)
        gain = a.max() - robust_level(a, "start", m)
        at_prior = bool(flat and acc <= 0.55 and gain <= max(k * noise_scale(a), 0.02))
    return dict(chance=at_ln_c or at_prior, basis="ln_c" if at_ln_c else "accuracy" if at_prior else None,
                n_classes=c, ln_c=ln_c, level=level, improvement=imp, accuracy=acc)


def tail_trend(values, x=None, fraction: float = 1 / 3, min_points: int = 3) -> dict:
    """Robust trend at the end of a curve: least-squares line over the last ``fraction`` of the
    finite points (at least ``min_points``), compared with :func:`noise_scale` of the whole
    curve.

    Returns ``change`` (slope x the tail's x-span: the change the line predicts over the tail,
    in the curve's units), ``noise`` and ``ratio = change / noise`` (NaN when undefined).
    """
    v = _as_float(values, "values")
    x = np.arange(v.size, dtype=float) if x is None else _as_float(x, "x")
    ok = np.isfinite(v) & np.isfinite(x)
    v, x = v[ok], x[ok]
    n = max(min_points, int(np.ceil(fraction * v.size)))
    noise = noise_scale(v)
    if v.size < min_points:
        return dict(change=float("nan"), noise=noise, ratio=float("nan"))
    xt, vt = x[-n:], v[-n:]
    change = least_squares_slope(vt, xt) * float(xt[-1] - xt[0])
    ratio = change / noise if noise > 0 else float("nan")
    return dict(change=float(change), noise=noise, ratio=float(ratio))


def flat_tail(values, x=None, fraction: float = 1 / 3, k: float = 2.0, rel: float = 0.02) -> bool:
    """Whether the last ``fraction`` of a curve has no material trend either way: the change of
    its least-squares line over the tail (:func:`tail_trend`) is not larger than both ``k`` x
    :func:`noise_scale` and ``rel`` of the curve's end level (:func:`robust_level`). A tail
    trending up (degradation, overfitting in the making) or down (still improving) is not flat.
    True when the trend is undefined (fewer than 3 points)."""
    t = tail_trend(values, x, fraction)
    big = rel * abs(robust_level(values, "end"))
    return not (abs(t["change"]) > k * t["noise"] and abs(t["change"]) > big)


def plateau(values, mode: str = "min", fraction: float = 1 / 3, k: float = 2.0, rel: float = 0.02,
            min_points: int = 4) -> dict:
    """No material change over the last ``fraction`` of a curve: the best value of the tail (at
    least 2 points) improves on the best value before it by no more than ``k`` x
    :func:`noise_scale` (within the noise), and differs from it by no more than ``rel`` of the
    curve's final level (a change too small to matter in practice; a tail that got worse by
    more is not a plateau but a rise).

    Returns ``improvement`` (positive = better, in the curve's units), ``relative`` (improvement
    / final level), ``noise``, ``tail_start`` (index of the first tail point among the finite
    values) and ``plateau`` (bool; False with fewer than ``min_points`` finite values).
    """
    improved(0.0, 0.0, mode)
    v = _finite(values)
    noise = noise_scale(v)
    out = dict(improvement=float("nan"), relative=float("nan"), noise=noise, tail_start=None, plateau=False)
    if v.size < min_points:
        return out
    s = v.size - max(2, int(np.ceil(fraction * v.size)))
    before, tail = v[:s], v[s:]
    imp = float(before.min() - tail.min()) if mode == "min" else float(tail.max() - before.max())
    level = abs(robust_level(v, "end"))
    relative = imp / level if level > 0 else (0.0 if imp == 0 else float("inf"))
    out.update(improvement=imp, relative=relative, tail_start=s,
               plateau=bool(not imp > k * noise and abs(relative) <= rel))
    return out


def oscillation(values, rel: float = 0.1) -> dict:
    """Oscillation around the trend, from sign changes of successive differences: a *swing* is
    a local extremum whose differences on both sides exceed ``rel`` x the curve's magnitude
    there (it jumps and comes back). A monotone curve -- however fast it falls -- has none; a
    noisy curve has sign changes, but small ones.

    Returns ``excursions`` (number of swings), ``points`` (interior points judged),
    ``fraction`` (swings / points) and ``max_relative`` (largest swing, as the smaller of its
    two differences over the magnitude).
    """
    v = _finite(values)
    if v.size < 3:
        return dict(excursions=0, fraction=0.0, max_relative=float("nan"), points=0)
    d = np.diff(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.minimum(np.abs(d[:-1]), np.abs(d[1:])) / np.abs(v[1:-1])
    size = np.where(np.isfinite(size), size, 0.0)
    swing = (np.sign(d[:-1]) * np.sign(d[1:]) < 0) & (size > rel)
    return dict(excursions=int(swing.sum()), fraction=float(swing.mean()),
                max_relative=float(size[swing].max()) if swing.any() else 0.0, points=int(swing.size))


def is_unstable(values, rel: float = 0.1, min_fraction: float = 0.2, min_count: int = 2) -> bool:
    """At least ``min_count`` swings of :func:`oscillation`, making up at least ``min_fraction``
    of the points judged."""
    o = oscillation(values, rel)
    return bool(o["excursions"] >= min_count and o["fraction"] >= min_fraction)


def best_within_noise(values, mode: str = "min", noise: float | None = None) -> tuple[int, int]:
    """The best evaluation, and the earliest one equal to it within the noise.

    Returns ``(best_index, earliest_index)``: the index of the best finite value, and the
    earliest index whose value is within ``noise`` (default :func:`noise_scale`) of it.
    ValueError: no finite value, bad ``mode``."""
    improved(0.0, 0.0, mode)
    v = _as_float(values, "values")
    ok = np.flatnonzero(np.isfinite(v))
    if ok.size == 0:
        raise ValueError("best_within_noise: the curve has no finite value")
    b = int(ok[np.argmin(v[ok]) if mode == "min" else np.argmax(v[ok])])
    noise = noise_scale(v) if noise is None else noise
    noise = noise if np.isfinite(noise) else 0.0
    close = ok[np.abs(v[ok] - v[b]) <= noise]
    return b, int(close.min())
