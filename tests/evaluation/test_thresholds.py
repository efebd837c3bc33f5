"""Tests of per-label threshold tuning (mspectmol.evaluation.thresholds).

Hand-worked cases (predicted when p >= t):

* truth [1, 1, 0, 0], p [0.9, 0.7, 0.6, 0.2]: F1 is 4/6 for t <= 0.2, 4/5 on (0.2, 0.6],
  1 on (0.6, 0.7], 2/3 on (0.7, 0.9] -> the only best unique candidate is 0.7; on the grid
  0.61 ... 0.70 tie and 0.61 is closest to 0.5;
* truth [1, 0], p [0.8, 0.1]: F1 = 1 on all of (0.1, 0.8], which holds 0.5 -> 0.5;
* truth [1, 0, 0], p [0.3, 0.2, 0.9]: F1 = 2/3 on (0.2, 0.3] only -> 0.3 from the unique
  candidates, and 0.30 from the grid too (0.21 ... 0.30 tie; 0.30 is closest to 0.5).
"""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.chem import GROUP_NAMES
from mspectmol.evaluation import metrics as m
from mspectmol.evaluation import thresholds as th

try:  # scikit-learn is a test-only dependency; the hand-computed tests run without it
    from sklearn import metrics as skm
except ImportError:  # pragma: no cover
    skm = None
needs_sklearn = pytest.mark.skipif(skm is None, reason="scikit-learn is not installed")


def column(*values: float) -> np.ndarray:
    """A one-label ``(n, 1)`` array."""
    return np.array(values, dtype=float)[:, None]


@pytest.mark.parametrize("candidates", ["unique", "grid"])
def test_hand_cases(candidates: str) -> None:
    truth = np.hstack([column(1, 1, 0, 0)])
    prob = np.hstack([column(0.9, 0.7, 0.6, 0.2)])
    expected_first = 0.7 if candidates == "unique" else 0.61  # grid: (0.6, 0.7] ties
    assert th.tune_thresholds(truth, prob, candidates)[0] == pytest.approx(expected_first)
    assert th.tune_thresholds(column(1, 0), column(0.8, 0.1), candidates)[0] == 0.5
    got = th.tune_thresholds(column(1, 0, 0), column(0.3, 0.2, 0.9), candidates)[0]
    assert got == pytest.approx(0.3)


def test_equidistant_tie_takes_lower() -> None:
    got = th.tune_thresholds(column(1), column(0.7), candidates=[0.6, 0.4])
    assert got[0] == 0.4


def test_label_without_positives_keeps_default() -> None:
    truth = np.array([[0, 1], [0, 0], [0, 1]])
    prob = np.array([[0.9, 0.2], [0.1, 0.1], [0.8, 0.3]])
    got = th.tune_thresholds(truth, prob)
    assert got[0] == 0.5
    assert got[1] == pytest.approx(0.2)


def test_returns_one_threshold_per_group() -> None:
    rng = np.random.default_rng(4)
    n_groups = len(GROUP_NAMES)
    truth = (rng.random((25, n_groups)) < 0.2).astype(int)
    got = th.tune_thresholds(truth, rng.random((25, n_groups)))
    assert got.shape == (n_groups,) and got.dtype == np.float64
    assert ((got >= 0.0) & (got <= 1.0)).all()


@needs_sklearn
def test_label_f1_at_matches_sklearn() -> None:
    rng = np.random.default_rng(8)
    truth = rng.random(40) < 0.3
    prob = np.round(rng.random(40), 1)  # with ties
    ts = np.array([0.0, 0.1, 0.25, 0.5, 0.7, 1.0])
    expected = [skm.f1_score(truth, prob >= t, zero_division=0) for t in ts]
    np.testing.assert_allclose(th.label_f1_at(truth, prob, ts), expected)


@needs_sklearn
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tuned_thresholds_reach_the_best_f1(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = (rng.random((60, 5)) < rng.uniform(0.1, 0.5, 5)).astype(int)
    prob = np.clip(0.3 * truth + 0.7 * rng.random((60, 5)), 0, 1)
    tuned = th.tune_thresholds(truth, prob)
    for j in range(5):
        brute = max(skm.f1_score(truth[:, j], prob[:, j] >= t) for t in np.unique(prob[:, j]))
        assert skm.f1_score(truth[:, j], prob[:, j] >= tuned[j]) == pytest.approx(brute)
    f1_tuned = m.precision_recall_f1_support(truth, prob, tuned).f1
    f1_default = m.precision_recall_f1_support(truth, prob).f1
    assert (f1_tuned >= f1_default - 1e-12).all()
    grid = th.tune_thresholds(truth, prob, "grid")
    assert set(np.round(grid, 2)) <= set(th.GRID)


def test_apply_thresholds() -> None:
    prob = np.array([[0.3, 0.6], [0.7, 0.2]])
    np.testing.assert_array_equal(th.apply_thresholds(prob, [0.25, 0.65]), [[1, 0], [1, 0]])
    with pytest.raises(m.MetricError, match="one per label"):
        th.apply_thresholds(prob, 0.5)
    with pytest.raises(m.MetricError, match="1 thresholds for 2 labels"):
        th.apply_thresholds(prob, [0.5])
    with pytest.raises(m.MetricError, match=r"\[0, 1\]"):
        th.apply_thresholds(prob, [0.5, 2.0])


@pytest.mark.parametrize(
    ("candidates", "message"),
    [("best", "'unique', 'grid'"), ([], "non-empty"), ([0.2, 1.2], r"\[0, 1\]"),
     ([[0.5]], "1-D")],
)
def test_bad_candidates_raise(candidates: object, message: str) -> None:
    with pytest.raises(m.MetricError, match=message):
        th.tune_thresholds(column(1, 0), column(0.8, 0.1), candidates)


def test_bad_arrays_raise() -> None:
    with pytest.raises(m.MetricError, match="differ in shape"):
        th.tune_thresholds(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(m.MetricError, match="NaN"):
        th.tune_thresholds(column(1, 0), column(np.nan, 0.1))
    with pytest.raises(m.MetricError, match="only 0 and 1"):
        th.tune_thresholds(column(2, 0), column(0.5, 0.1))


def test_labels_with_few_positives_keep_the_default() -> None:
    truth = np.array([[0, 1], [0, 1], [1, 0], [0, 1]])
    prob = np.array([[0.1, 0.2], [0.1, 0.3], [0.05, 0.1], [0.1, 0.25]])
    got = th.tune_thresholds(truth, prob, min_positives=2)
    assert got[0] == 0.5  # one positive: not tuned
    assert got[1] == pytest.approx(0.2)  # three positives: tuned
    assert th.tune_thresholds(truth, prob)[0] == pytest.approx(0.05)
    with pytest.raises(m.MetricError, match="min_positives"):
        th.tune_thresholds(truth, prob, min_positives=0)
