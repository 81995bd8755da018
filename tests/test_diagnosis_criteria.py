"""The curve predicates of overfit_forecast.criteria used by the diagnosis, on curves with known answers."""

import numpy as np
import pytest

from overfit_forecast.criteria import (
    at_chance_level, best_within_noise, chance_classes, detrended_noise, divergence, evaluation_noise,
    frozen_fraction, improvement_fraction, least_squares_slope, material_rise, noise_scale, oscillation, plateau,
    robust_level, sustained_rise, tail_trend, flat_tail,
)

RNG = np.random.default_rng(1)


def test_evaluation_noise_is_median_successive_change():
    assert evaluation_noise([1.0, 1.1, 1.0, 1.3]) == pytest.approx(0.1)
    assert np.isnan(evaluation_noise([1.0]))


def test_detrended_noise_ignores_a_smooth_trend_and_matches_on_pure_noise():
    t = np.arange(200.0)
    smooth = 2.0 * np.exp(-t / 20)
    assert detrended_noise(smooth) < 0.05 * evaluation_noise(smooth)
    noise = RNG.normal(0, 0.1, 5000)
    assert detrended_noise(noise) == pytest.approx(evaluation_noise(noise), rel=0.05)
    assert noise_scale(smooth) == detrended_noise(smooth)


def test_robust_level_and_least_squares_slope():
    assert robust_level([9.0, 1.0, 1.2, 1.1, 5.0], "start") == 1.2
    assert robust_level([1.0, 2.0, 3.0, 100.0], "end", 3) == 3.0
    x = np.linspace(0, 10, 50)
    assert least_squares_slope(3 * x + 1 + RNG.normal(0, 0.01, 50), x) == pytest.approx(3, abs=0.01)


def test_material_rise_known_answers():
    flat_then_up = np.r_[np.linspace(1.0, 0.5, 10), 0.5 + 0.05 * np.arange(1, 11)]
    r = material_rise(flat_then_up)
    # minimum: lowest running median of 3 (0.55, around the lowest evaluation, index 9)
    assert r["material"] and r["min_index"] == 9 and r["minimum"] == pytest.approx(0.55)
    assert r["rise"] == pytest.approx(0.975 - 0.55)
    one_point = np.r_[np.linspace(1.0, 0.5, 10), 0.5, 0.9]
    assert not material_rise(one_point)["material"]  # the point before the last is at the minimum
    short = [0.2, 0.15, 0.18, 0.182]  # 4 evaluations: 20 % above the minimum counts
    assert material_rise(short)["material"]



def test_material_rise_a_dip_is_not_the_minimum():
    # a flat curve (alternating +-0.01 around 1.0, noise 0.02) with one evaluation dipping to
    # 0.93: against that point the end level is 0.07 > 3x noise "above the minimum"
    t = np.arange(40)
    flat = np.r_[np.linspace(2.0, 1.0, 10), 1.0 + 0.01 * (-1.0) ** t[10:]]
    dipped = flat.copy()
    dipped[25] = 0.93
    r = material_rise(dipped)
    assert r["noise"] == pytest.approx(0.02) and r["min_index"] != 25  # the flat level, not the dip
    assert not r["material"] and r["minimum"] == pytest.approx(0.99)


def test_material_rise_slow_sustained_rise_far_above_noise():
    # after its minimum the curve creeps up by 0.8 % over 50 evaluations: every single step is
    # within the noise and the rise is below rel_floor (1 %) of the level, but the trend is
    # many standard errors up and its end level ~20 noise above the minimum (sustained)
    t = np.arange(100)
    noise = 0.0004 * (-1.0) ** t
    v = np.r_[0.76 + 0.3 * np.exp(-t[:50] / 8), 0.76 + 0.006 * np.linspace(0, 1, 50)] + noise
    r = material_rise(v)
    assert r["material"] and r["sustained"] and r["rise"] < 0.01 * r["minimum"]
    s = sustained_rise(v[r["min_index"] + 1:], r["minimum"], r["noise"])
    assert s["sustained"] and s["t"] > 10
    # the same creep, downwards (still improving), is no rise
    down = np.r_[v[:50], v[50] - 0.006 * np.linspace(0, 1, 50) + noise[50:]]
    assert not material_rise(down)["material"]
    # flat noise after the minimum has no trend
    flat = np.r_[v[:50], np.full(50, v[50]) + 0.0004 * np.cos(np.arange(50) * 2.1)]
    assert not sustained_rise(flat[51:], flat[50], noise_scale(flat))["sustained"]

def test_divergence_uses_robust_levels():
    assert not divergence([0.5, 2.3, 2.1, 1.5, 1.0, 0.8, 0.6])["diverged"]  # low noisy first point
    d = divergence([2.3, 1.0, 0.8, 3.0, 6.0, 7.0, 7.5])
    assert d["blown_up"] and d["ratio"] > 1.5
    assert divergence([2.3, 1.0, np.nan])["nonfinite_index"] == 2


def test_frozen_fraction():
    assert frozen_fraction([0.69, 0.69, 0.69, 0.69, 0.7]) == pytest.approx(0.75)
    assert frozen_fraction([0.5, 0.0, 0.0, 0.0]) == 0.0  # a loss fitted to 0 is not frozen
    assert frozen_fraction([0.5, 0.0, 0.0, 0.0], ignore_zero=False) == pytest.approx(2 / 3)


def test_chance_level():
    assert chance_classes(np.log(10)) == 10 and chance_classes(0.3) is None
    flat = np.log(2) + RNG.normal(0, 0.001, 20)
    c = at_chance_level(flat)
    assert c["chance"] and c["basis"] == "ln_c" and c["n_classes"] == 2
    # start: median of the first 3 (2.07); best: lowest running median of 3 (0.46)
    assert improvement_fraction(np.linspace(2.3, 0.23, 10)) == pytest.approx(1 - 0.46 / 2.07)
    assert not at_chance_level(np.linspace(2.3, 0.23, 10))["chance"]


def test_tail_trend_and_plateau():
    falling = 1.0 - 0.01 * np.arange(30) + RNG.normal(0, 0.001, 30)
    t = tail_trend(falling)
    assert t["change"] == pytest.approx(-0.09, abs=0.01) and t["ratio"] < -2
    assert not plateau(falling)["plateau"]
    flat = np.r_[np.linspace(1, 0.5, 10), 0.5 + 0.002 * (-1.0) ** np.arange(20)]  # flat within its noise
    assert plateau(flat)["plateau"]


def test_oscillation_monotone_is_zero_and_swings_count():
    assert oscillation(2.0 * np.exp(-np.arange(30) / 2))["excursions"] == 0
    swings = 1 + 0.3 * (-1) ** np.arange(20)
    assert oscillation(swings)["excursions"] == 18


def test_best_within_noise():
    v = [0.5, 0.8, 0.9, 0.901, 0.899, 0.9005]
    assert best_within_noise(v, "max", noise=0.005) == (3, 2)
    assert best_within_noise([1.0, 0.5, 0.7], "min") == (1, 1)


def test_flat_tail_both_ways():
    t = np.arange(30.0)
    flat = 1.0 + 0.004 * (-1.0) ** t  # noise 0.008
    assert flat_tail(flat)
    up = flat + np.r_[np.zeros(20), np.linspace(0, 0.06, 10)]  # +6 %: > 2x noise and > 2 %
    down = flat - np.r_[np.zeros(20), np.linspace(0, 0.06, 10)]
    assert not flat_tail(up) and not flat_tail(down)
    small = flat + np.r_[np.zeros(20), np.linspace(0, 0.015, 10)]  # 1.5 %: within 2 % of the level
    assert flat_tail(small)
