"""Calibration of multi-label probabilities: ECE, reliability diagrams, temperature scaling,
the prior correction of label-weighted training and isotonic regression (NumPy and SciPy only).

Every (sample, label) pair is one binary event with predicted probability ``p`` of being
positive. Binning: ``n_bins`` equal-width bins on [0, 1] (15 by default, as in Guo et al.
2017, "On calibration of modern neural networks"); a probability ``p`` falls in bin
``min(floor(p * n_bins), n_bins - 1)``, i.e. bins are ``[k/B, (k+1)/B)`` with 1.0 in the last.
The expected calibration error is ``sum_b (n_b / N) * |freq_b - conf_b|``, where ``conf_b`` is
the mean probability and ``freq_b`` the fraction of positives in bin ``b``, over all pairs
(:func:`expected_calibration_error`) or over each label's column (:func:`per_label_ece`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from mspectmol.evaluation.metrics import (
    MetricError,
    check_numeric_2d,
    check_scores,
    check_truth,
)

__all__ = [
    "DEFAULT_BINS", "ReliabilityDiagram", "reliability_diagram", "expected_calibration_error",
    "per_label_ece", "fit_temperature", "apply_temperature", "prior_offsets",
    "isotonic_regression",
    "IsotonicCalibrator", "fit_isotonic",
]  # fmt: skip

DEFAULT_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _check_pair(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate 0/1 truths and probabilities of one shape."""
    truth = check_truth(y_true)
    prob = check_scores(y_prob, "y_prob")
    if truth.shape != prob.shape:
        raise MetricError(f"y_true and y_prob differ in shape: {truth.shape} and {prob.shape}")
    return truth, prob


def _check_bins(n_bins: Any) -> int:
    """Require a positive integer number of bins."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise MetricError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


# ----------------------------------------------------------------------------------- ECE


@dataclass(frozen=True, eq=False)
class ReliabilityDiagram:
    """Per-bin data of a reliability diagram.

    Attributes
    ----------
    bin_edges
        ``n_bins + 1`` equal-width edges from 0 to 1.
    count
        Number of (sample, label) pairs in each bin.
    confidence
        Mean predicted probability per bin (NaN for empty bins).
    frequency
        Observed fraction of positives per bin (NaN for empty bins).
    """

    bin_edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    frequency: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted mean of ``|frequency - confidence|``."""
        filled = self.count > 0
        gaps = np.abs(self.frequency[filled] - self.confidence[filled])
        return float(np.sum(self.count[filled] * gaps) / np.sum(self.count))


def _diagram(truth: np.ndarray, prob: np.ndarray, n_bins: int) -> ReliabilityDiagram:
    """Bin flat arrays of truths and probabilities."""
    index = np.minimum((prob * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    prob_sum = np.bincount(index, weights=prob, minlength=n_bins)
    pos_sum = np.bincount(index, weights=truth.astype(np.float64), minlength=n_bins)
    confidence = np.full(n_bins, np.nan)
    frequency = np.full(n_bins, np.nan)
    np.divide(prob_sum, count, out=confidence, where=count > 0)
    np.divide(pos_sum, count, out=frequency, where=count > 0)
    return ReliabilityDiagram(np.linspace(0.0, 1.0, n_bins + 1), count, confidence, frequency)


def reliability_diagram(y_true: Any, y_prob: Any, n_bins: int = DEFAULT_BINS) -> ReliabilityDiagram:
    """Reliability-diagram data over all (sample, label) pairs.

    Parameters
    ----------
    y_true
        ``(n_samples, n_labels)`` 0/1 truths.
    y_prob
        Probabilities of the same shape.
    n_bins
        Number of equal-width bins on [0, 1].
    """
    n = _check_bins(n_bins)
    truth, prob = _check_pair(y_true, y_prob)
    return _diagram(truth.ravel(), prob.ravel(), n)


def expected_calibration_error(y_true: Any, y_prob: Any, n_bins: int = DEFAULT_BINS) -> float:
    """ECE over all (sample, label) pairs, with ``n_bins`` equal-width bins (15 by default)."""
    return reliability_diagram(y_true, y_prob, n_bins).ece


def per_label_ece(y_true: Any, y_prob: Any, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """ECE of each label's column, with ``n_bins`` equal-width bins.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of length ``n_labels``.
    """
    n = _check_bins(n_bins)
    truth, prob = _check_pair(y_true, y_prob)
    return np.array([_diagram(truth[:, j], prob[:, j], n).ece for j in range(truth.shape[1])])


# ---------------------------------------------------------------------- temperature scaling


def _check_logits(y_true: Any, logits: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate 0/1 truths and finite logits of one shape."""
    truth = check_truth(y_true)
    z = check_numeric_2d(logits, "logits").astype(np.float64)
    if truth.shape != z.shape:
        raise MetricError(f"y_true and logits differ in shape: {truth.shape} and {z.shape}")
    return truth, z


def _mean_bce(z: np.ndarray, truth: np.ndarray) -> float:
    """Mean binary cross-entropy of sigmoid(z), computed stably: softplus(z) - y z."""
    return float(np.mean(np.logaddexp(0.0, z) - truth * z))


def fit_temperature(
    y_true: Any, logits: Any, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """Fit one temperature ``T`` so that ``sigmoid(logits / T)`` minimises the mean BCE.

    The search is SciPy's bounded scalar minimiser over ``log T`` in ``log(bounds)``; fit on
    validation logits, then use :func:`apply_temperature`. ``T > 1`` softens over-confident
    predictions. When the optimum lies outside the bounds (e.g. perfectly separable data,
    whose optimum is ``T -> 0``) the nearest bound is returned.

    Parameters
    ----------
    y_true
        ``(n_samples, n_labels)`` 0/1 validation truths.
    logits
        The model's logits (before the sigmoid), same shape.
    bounds
        ``(low, high)`` with ``0 < low < high``.

    Returns
    -------
    float
        The fitted temperature.
    """
    low, high = (float(b) for b in bounds)
    if not (np.isfinite([low, high]).all() and 0.0 < low < high):
        raise MetricError(f"bounds must satisfy 0 < low < high, got {bounds!r}")
    truth, z = _check_logits(y_true, logits)
    y = truth.astype(np.float64)
    result = minimize_scalar(
        lambda log_t: _mean_bce(z * np.exp(-log_t), y),
        bounds=(np.log(low), np.log(high)),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return float(np.clip(np.exp(result.x), low, high))


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logits / temperature)``."""
    t = float(temperature)
    if not np.isfinite(t) or t <= 0.0:
        raise MetricError(f"temperature must be a positive finite number, got {temperature!r}")
    return expit(check_numeric_2d(logits, "logits").astype(np.float64) / t)


def prior_offsets(pos_weight: Any, strength: float = 1.0) -> np.ndarray:
    """Per-label logit offsets ``-strength * log(pos_weight)`` (the prior correction).

    A binary cross-entropy whose positives weigh ``w`` is minimised by
    ``logit = log(w) + logit(p)``: a model trained with positive-class weights (e.g. the
    ``"sqrt"`` label weighting of PA-IB) reports odds ``w`` times too high, most for the rarest
    groups. Adding ``-log(w)`` undoes it (the logit adjustment of Menon et al. 2021,
    "Long-tail learning via logit adjustment"); ``strength`` in ``[0, 1]`` applies that
    fraction of it (0: no correction).
    """
    w = np.asarray(pos_weight, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise MetricError("pos_weight must be a 1-D array of positive finite weights")
    if not 0.0 <= float(strength) <= 1.0:
        raise MetricError(f"strength must be in [0, 1], got {strength!r}")
    return -float(strength) * np.log(w)


# ------------------------------------------------------------------------ isotonic (PAV)


def isotonic_regression(y: Any, weights: Any = None) -> np.ndarray:
    """Non-decreasing least-squares fit to ``y`` by pool-adjacent-violators.

    Minimises ``sum_i w_i (y_i - f_i)^2`` subject to ``f_1 <= f_2 <= ... <= f_n``.

    Parameters
    ----------
    y
        1-D finite values, in the order the fit must be non-decreasing.
    weights
        Positive finite weights, one per value; all 1 by default.
    """
    values = np.asarray(y, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or w.shape != values.shape:
        raise MetricError(f"y and weights must be 1-D of one length: {values.shape}, {w.shape}")
    if not (np.isfinite(values).all() and np.isfinite(w).all() and (w > 0).all()):
        raise MetricError("isotonic_regression: y must be finite and weights finite and > 0")
    sums: list[float] = []  # weighted sum of each block
    wts: list[float] = []  # weight of each block
    sizes: list[int] = []  # number of values in each block
    for value, weight in zip(values.tolist(), w.tolist(), strict=True):
        sums.append(value * weight)
        wts.append(weight)
        sizes.append(1)
        while len(sums) > 1 and sums[-2] * wts[-1] > sums[-1] * wts[-2]:  # mean[-2] > mean[-1]
            s, ww, k = sums.pop(), wts.pop(), sizes.pop()
            sums[-1] += s
            wts[-1] += ww
            sizes[-1] += k
    return np.repeat(np.array(sums) / np.array(wts), sizes) if sums else values.copy()


def _fit_column(truth: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots of one label's isotonic map: unique probabilities and their fitted values."""
    x, inverse, counts = np.unique(prob, return_inverse=True, return_counts=True)
    mean_y = np.bincount(inverse, weights=truth.astype(np.float64)) / counts
    return x, isotonic_regression(mean_y, counts)


@dataclass(frozen=True, eq=False)
class IsotonicCalibrator:
    """Per-label isotonic maps from probability to calibrated probability.

    Each label's map is piecewise linear through its knots ``(knots_x[j], knots_y[j])`` and
    constant beyond the first and last knot (scikit-learn's ``out_of_bounds="clip"``).
    """

    knots_x: tuple[np.ndarray, ...]
    knots_y: tuple[np.ndarray, ...]

    @property
    def n_labels(self) -> int:
        """Number of labels the calibrator was fitted on."""
        return len(self.knots_x)

    def predict(self, y_prob: Any) -> np.ndarray:
        """Calibrate ``(n_samples, n_labels)`` probabilities column by column."""
        prob = check_scores(y_prob, "y_prob")
        if prob.shape[1] != self.n_labels:
            raise MetricError(
                f"y_prob has {prob.shape[1]} labels, the calibrator was fitted on {self.n_labels}"
            )
        columns = [np.interp(prob[:, j], self.knots_x[j], self.knots_y[j])
                   for j in range(self.n_labels)]
        return np.column_stack(columns)


def fit_isotonic(y_true: Any, y_prob: Any) -> IsotonicCalibrator:
    """Fit one isotonic (non-decreasing) calibration map per label on validation data.

    Tied probabilities are pooled first (their truths averaged, weighted by count), then
    pool-adjacent-violators fits the means; this is what
    ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip")`` does per label.
    """
    truth, prob = _check_pair(y_true, y_prob)
    fits = [_fit_column(truth[:, j], prob[:, j]) for j in range(truth.shape[1])]
    return IsotonicCalibrator(tuple(f[0] for f in fits), tuple(f[1] for f in fits))
