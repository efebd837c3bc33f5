"""Tests of ECE, reliability diagrams, temperature scaling and isotonic calibration.

Hand-computed ECE (5 equal-width bins of 0.2; p in bin floor(5 p)): probabilities
[0.1, 0.3, 0.35, 0.8, 0.9] with truths [0, 1, 0, 1, 1] fill bin 0 with {0.1} (conf 0.1,
freq 0, gap 0.1), bin 1 with {0.3, 0.35} (conf 0.325, freq 0.5, gap 0.175) and bin 4 with
{0.8, 0.9} (conf 0.85, freq 1, gap 0.15): ECE = (1 * 0.1 + 2 * 0.175 + 2 * 0.15) / 5 = 0.15.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from mspectmol.evaluation import calibration as cal
from mspectmol.evaluation.metrics import MetricError

try:  # scikit-learn is a test-only dependency; the hand-computed tests run without it
    from sklearn import isotonic
except ImportError:  # pragma: no cover
    isotonic = None
needs_sklearn = pytest.mark.skipif(isotonic is None, reason="scikit-learn is not installed")

HAND_P = np.array([[0.1, 0.3, 0.35, 0.8, 0.9]])
HAND_Y = np.array([[0, 1, 0, 1, 1]])


# ----------------------------------------------------------------------------------- ECE


def test_ece_hand_computed() -> None:
    assert cal.expected_calibration_error(HAND_Y, HAND_P, n_bins=5) == pytest.approx(0.15)
    assert cal.expected_calibration_error(HAND_Y.T, HAND_P.T, n_bins=5) == pytest.approx(0.15)
    np.testing.assert_allclose(cal.per_label_ece(HAND_Y.T, HAND_P.T, n_bins=5), [0.15])


def test_reliability_diagram_hand_computed() -> None:
    diagram = cal.reliability_diagram(HAND_Y, HAND_P, n_bins=5)
    np.testing.assert_allclose(diagram.bin_edges, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(diagram.count, [1, 2, 0, 0, 2])
    np.testing.assert_allclose(diagram.confidence, [0.1, 0.325, np.nan, np.nan, 0.85])
    np.testing.assert_allclose(diagram.frequency, [0.0, 0.5, np.nan, np.nan, 1.0])
    assert diagram.ece == pytest.approx(0.15)


def test_bin_ends() -> None:
    diagram = cal.reliability_diagram([[0, 1]], [[0.0, 1.0]], n_bins=4)
    np.testing.assert_array_equal(diagram.count, [1, 0, 0, 1])  # 1.0 lands in the last bin
    assert diagram.ece == 0.0


def test_multilabel_ece_pools_pairs_and_per_label() -> None:
    truth = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    prob = np.array([[0.9, 0.05], [0.1, 0.3], [0.7, 0.75], [0.4, 0.95]])
    per = cal.per_label_ece(truth, prob, n_bins=10)
    for j in range(2):
        expected = cal.expected_calibration_error(truth[:, [j]], prob[:, [j]], n_bins=10)
        assert per[j] == pytest.approx(expected)
    pooled = cal.expected_calibration_error(truth.reshape(-1, 1), prob.reshape(-1, 1), 10)
    assert cal.expected_calibration_error(truth, prob, n_bins=10) == pytest.approx(pooled)
    # label 0: bins 1 {0.1:0}, 4 {0.4:0}, 7 {0.7:1}, 9 {0.9:1} -> (0.1+0.4+0.3+0.1)/4
    assert per[0] == pytest.approx(0.225)


def test_calibrated_probabilities_have_small_ece() -> None:
    rng = np.random.default_rng(0)
    prob = rng.random((5000, 4))
    truth = (rng.random(prob.shape) < prob).astype(int)
    assert cal.expected_calibration_error(truth, prob) < 0.02
    overconfident = np.where(prob > 0.5, 1.0, 0.0)
    assert cal.expected_calibration_error(truth, overconfident) > 0.2


# ------------------------------------------------------------------ temperature scaling


def synthetic_logits(seed: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Truths drawn from sigmoid(z) and logits ``scale * z`` (true temperature = scale)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (4000, 5))
    truth = (rng.random(z.shape) < expit(z)).astype(int)
    return truth, scale * z


@pytest.mark.parametrize("temperature", [2.5, 0.5])
def test_temperature_scaling_recovers_known_temperature(temperature: float) -> None:
    truth, logits = synthetic_logits(0, temperature)
    fitted = cal.fit_temperature(truth, logits)
    assert fitted == pytest.approx(temperature, rel=0.05)
    before = cal.expected_calibration_error(truth, expit(logits))
    after = cal.expected_calibration_error(truth, cal.apply_temperature(logits, fitted))
    assert after < before


def test_fitted_temperature_minimises_bce() -> None:
    truth, logits = synthetic_logits(1, 1.7)
    fitted = cal.fit_temperature(truth, logits)

    def bce(t: float) -> float:
        p = np.clip(expit(logits / t), 1e-15, 1 - 1e-15)
        return float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))

    grid = np.linspace(1.0, 2.5, 301)
    assert bce(fitted) <= min(bce(t) for t in grid) + 1e-9


def test_separable_data_hits_lower_bound() -> None:
    truth = np.array([[1], [0], [1], [0]])
    logits = np.array([[2.0], [-2.0], [3.0], [-1.0]])
    assert cal.fit_temperature(truth, logits, bounds=(0.1, 10.0)) == pytest.approx(0.1, rel=1e-3)


def test_apply_temperature() -> None:
    logits = np.array([[0.0, 2.0], [-4.0, 800.0]])
    np.testing.assert_allclose(cal.apply_temperature(logits, 2.0),
                               [[0.5, expit(1.0)], [expit(-2.0), 1.0]])
    with pytest.raises(MetricError, match="temperature"):
        cal.apply_temperature(logits, 0.0)
    with pytest.raises(MetricError, match="NaN"):
        cal.apply_temperature([[np.nan]], 1.0)


def test_fit_temperature_bad_input() -> None:
    with pytest.raises(MetricError, match="differ in shape"):
        cal.fit_temperature(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(MetricError, match="bounds"):
        cal.fit_temperature(np.ones((3, 1)), np.ones((3, 1)), bounds=(2.0, 1.0))
    with pytest.raises(MetricError, match="infinite"):
        cal.fit_temperature(np.ones((2, 1)), [[np.inf], [0.0]])


# -------------------------------------------------------------------------- isotonic


def test_pav_hand_computed() -> None:
    np.testing.assert_allclose(cal.isotonic_regression([1, 3, 2, 4]), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(cal.isotonic_regression([3, 2, 1]), [2, 2, 2])
    np.testing.assert_allclose(cal.isotonic_regression([1, 0], weights=[3, 1]), [0.75, 0.75])
    assert cal.isotonic_regression([]).size == 0


@needs_sklearn
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pav_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=200).cumsum() * 0.1 + rng.normal(size=200)
    w = rng.uniform(0.1, 3.0, 200)
    np.testing.assert_allclose(cal.isotonic_regression(y, w),
                               isotonic.isotonic_regression(y, sample_weight=w), atol=1e-10)


@needs_sklearn
@pytest.mark.parametrize("seed", [0, 1])
def test_fit_isotonic_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = rng.random((300, 3))
    truth = (rng.random(raw.shape) < raw**2).astype(int)
    prob = np.round(0.1 + 0.8 * raw, 2)  # ties, and a range narrower than [0, 1]
    calibrator = cal.fit_isotonic(truth, prob)
    new = rng.random((50, 3))  # includes points outside the fitted range
    got = calibrator.predict(new)
    for j in range(3):
        ref = isotonic.IsotonicRegression(out_of_bounds="clip").fit(prob[:, j], truth[:, j])
        np.testing.assert_allclose(got[:, j], ref.predict(new[:, j]), atol=1e-10)
        assert np.all(np.diff(calibrator.predict(np.sort(new, axis=0))[:, j]) >= -1e-12)


def test_fit_isotonic_constant_column() -> None:
    calibrator = cal.fit_isotonic([[1], [0], [0], [0]], [[0.4], [0.4], [0.4], [0.4]])
    np.testing.assert_allclose(calibrator.predict([[0.0], [0.9]]), [[0.25], [0.25]])


def test_isotonic_bad_input() -> None:
    calibrator = cal.fit_isotonic([[1, 0], [0, 1]], [[0.8, 0.3], [0.2, 0.6]])
    with pytest.raises(MetricError, match="fitted on 2"):
        calibrator.predict([[0.5]])
    with pytest.raises(MetricError, match="weights"):
        cal.isotonic_regression([1.0, 2.0], weights=[1.0, 0.0])
    with pytest.raises(MetricError, match="1-D"):
        cal.isotonic_regression([[1.0, 2.0]])


@pytest.mark.parametrize("n_bins", [0, 2.5, True])
def test_bad_bins_raise(n_bins: object) -> None:
    with pytest.raises(MetricError, match="n_bins"):
        cal.expected_calibration_error(HAND_Y, HAND_P, n_bins=n_bins)  # type: ignore[arg-type]


# ------------------------------------------------------------------- prior correction


def test_prior_offsets_undo_the_positive_weight_at_the_weighted_optimum():
    # weighted BCE with positives weighing w, positive rate p: optimum logit log(w p / (1 - p))
    w, p = np.array([1.0, 4.0, 10.0]), np.array([0.5, 0.2, 0.05])
    optimum = np.log(w * p / (1 - p))
    np.testing.assert_allclose(expit(optimum + cal.prior_offsets(w)), p, rtol=1e-12)
    np.testing.assert_allclose(cal.prior_offsets(w, 0.5), -0.5 * np.log(w), rtol=1e-12)
    assert np.all(cal.prior_offsets(w, 0.0) == 0.0)


@pytest.mark.parametrize("weights, strength", [([1.0, 0.0], 1.0), ([[1.0]], 1.0),
                                               ([1.0, np.inf], 1.0), ([2.0], 1.5)])
def test_prior_offsets_refuse_bad_input(weights, strength):
    with pytest.raises(MetricError):
        cal.prior_offsets(weights, strength)
