import numpy as np
import pytest

from overfit_forecast.criteria import (
    generalization_loss, least_squares_slope, progress_quotient, training_progress,
    up_successive_strips,
)


def test_generalization_loss_known_values():
    # minimum 0.5 at epoch 2; 0.6 at epoch 3 is 20 % above it
    gl = generalization_loss([1.0, 0.8, 0.5, 0.6, 0.75])
    np.testing.assert_allclose(gl, [0, 0, 0, 20.0, 50.0])


def test_generalization_loss_nan_propagates_without_poisoning_minimum():
    gl = generalization_loss([1.0, np.nan, 0.5, 1.0])
    assert np.isnan(gl[1])
    np.testing.assert_allclose(gl[[0, 2, 3]], [0, 0, 100.0])


def test_training_progress_flat_strip_is_zero_and_falling_is_positive():
    p = training_progress([1, 1, 1, 1, 1, 0.5, 0.4, 0.3, 0.2, 0.1], k=5)
    assert np.isnan(p[:4]).all()
    assert p[4] == 0.0
    # strip 0.5..0.1: mean 0.3, min 0.1 -> 1000 * (0.3/0.1 - 1) = 2000
    assert p[9] == pytest.approx(2000.0)


def test_progress_quotient_is_ratio():
    val = [1.0, 0.5, 0.55, 0.6, 0.7, 0.75]
    tr = [1.0, 0.5, 0.4, 0.3, 0.2, 0.1]
    pq = progress_quotient(val, tr, k=5)
    gl = generalization_loss(val)
    p = training_progress(tr, 5)
    assert pq[5] == pytest.approx(gl[5] / p[5])


def test_up_counts_successive_rises_at_strip_ends():
    v = np.r_[np.linspace(1, 0.5, 6), np.linspace(0.55, 1.0, 10)]  # min at index 5, then up
    # strip ends 0, 5, 10, 15: down, up, up
    assert up_successive_strips(v, k=5) == 2
    assert up_successive_strips(np.linspace(1, 0, 16), k=5) == 0


def test_slope_matches_known_line_and_handles_short_input():
    assert least_squares_slope([1, 3, 5, 7]) == pytest.approx(2.0)
    assert np.isnan(least_squares_slope([1.0]))
    with pytest.raises(ValueError):
        generalization_loss(np.zeros((2, 2)))
