"""Tests of mspectmol.evaluation.metrics against hand-computed values and scikit-learn.

Golden case (4 molecules, 4 labels; the last label is absent from truth and prediction)::

    y_true = 1 0 1 0      y_pred = 1 0 0 0
             0 1 1 0               0 1 1 0
             1 1 0 0               1 0 1 0
             0 0 0 0               0 0 0 0

per label (tp, fp, fn): (2, 0, 0), (1, 0, 1), (1, 1, 1), (0, 0, 0), so F1 = 1, 2/3, 1/2, 0/0;
micro: tp 4, fp 1, fn 2 -> P 4/5, R 4/6, F1 8/11; macro over all 4 labels (absent = 0) =
13/24, over the 3 present labels = 13/18; 2 of 4 rows exact; 3 of 16 entries wrong;
FGSim rows 1/2, 1, 1/3, 1 (empty-empty) -> 17/24, while sklearn's jaccard gives the empty
row 0 -> 11/24.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mspectmol.chem.functional_groups import fgsim
from mspectmol.errors import MspectmolError
from mspectmol.evaluation import metrics as m

try:  # scikit-learn is a test-only dependency; the hand-computed tests run without it
    from sklearn import metrics as skm
except ImportError:  # pragma: no cover
    skm = None
needs_sklearn = pytest.mark.skipif(skm is None, reason="scikit-learn is not installed")

Y_TRUE = np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
Y_PRED = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


def random_case(seed: int, n: int = 40, n_labels: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Truths of varied prevalence and noisy probabilities; label 0 is never positive nor
    predicted, label 1 is never predicted."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.02, 0.6, n_labels)
    prevalence[0] = 0.0
    truth = (rng.random((n, n_labels)) < prevalence).astype(int)
    prob = np.clip(0.35 * truth + rng.uniform(0.0, 0.75, (n, n_labels)), 0.0, 1.0)
    prob[:, :2] = rng.uniform(0.0, 0.4, (n, 2))  # never predicted at 0.5
    return truth, prob


# ---------------------------------------------------------------------- golden values


def test_golden_per_label_scores() -> None:
    scores = m.precision_recall_f1_support(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(scores.precision, [1.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(scores.recall, [1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(scores.f1, [1.0, 2 / 3, 0.5, 0.0])
    np.testing.assert_array_equal(scores.support, [2, 2, 2, 0])


def test_golden_summary_metrics() -> None:
    assert m.micro_scores(Y_TRUE, Y_PRED) == pytest.approx((4 / 5, 4 / 6, 8 / 11))
    assert m.micro_f1(Y_TRUE, Y_PRED) == pytest.approx(8 / 11)
    assert m.macro_f1(Y_TRUE, Y_PRED) == pytest.approx(13 / 24)
    assert m.macro_f1(Y_TRUE, Y_PRED, absent="ignore") == pytest.approx(13 / 18)
    assert m.subset_accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.5)
    assert m.hamming_loss(Y_TRUE, Y_PRED) == pytest.approx(3 / 16)
    np.testing.assert_allclose(m.fgsim_per_molecule(Y_TRUE, Y_PRED), [1 / 2, 1, 1 / 3, 1])
    assert m.fgsim_mean(Y_TRUE, Y_PRED) == pytest.approx(17 / 24)


def test_golden_counts() -> None:
    tp, fp, fn, tn = m.confusion_counts(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(tp, [2, 1, 1, 0])
    np.testing.assert_array_equal(fp, [0, 0, 1, 0])
    np.testing.assert_array_equal(fn, [0, 1, 1, 0])
    np.testing.assert_array_equal(tn, [2, 2, 1, 4])


def test_probabilities_thresholded_at_or_above() -> None:
    prob = np.where(Y_PRED == 1, 0.5, 0.49)  # 0.5 itself counts as predicted
    assert m.micro_f1(Y_TRUE, prob) == pytest.approx(8 / 11)
    np.testing.assert_array_equal(m.binarize(prob), Y_PRED)


def test_per_label_thresholds() -> None:
    prob = np.where(Y_PRED == 1, 0.9, 0.1)
    scores = m.precision_recall_f1_support(Y_TRUE, prob, threshold=[0.5, 0.5, 0.95, 0.5])
    np.testing.assert_allclose(scores.f1, [1.0, 2 / 3, 0.0, 0.0])  # label 2 never predicted
    assert m.micro_f1(Y_TRUE, prob, threshold=[0.5, 0.5, 0.95, 0.5]) == pytest.approx(6 / 9)


def test_bool_inputs_accepted() -> None:
    assert m.micro_f1(Y_TRUE.astype(bool), Y_PRED.astype(bool)) == pytest.approx(8 / 11)


# ------------------------------------------------------------------------ edge cases


def test_all_empty_truth_and_prediction() -> None:
    zeros = np.zeros((3, 4), dtype=int)
    assert m.micro_f1(zeros, zeros) == 0.0
    assert m.macro_f1(zeros, zeros) == 0.0
    assert m.macro_f1(zeros, zeros, absent="ignore") == 0.0
    assert m.micro_f1(zeros, zeros, zero_division=1.0) == 1.0
    assert m.subset_accuracy(zeros, zeros) == 1.0
    assert m.hamming_loss(zeros, zeros) == 0.0
    np.testing.assert_array_equal(m.fgsim_per_molecule(zeros, zeros), [1.0, 1.0, 1.0])


@needs_sklearn
def test_sklearn_scores_empty_rows_zero() -> None:
    """With its defaults scikit-learn gives an empty-empty row Jaccard 0 where FGSim gives 1,
    and micro-F1 0 on all-empty input, as micro_f1 does."""
    truth = np.array([[1, 0], [0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning for the empty row
        jaccard = skm.jaccard_score(truth, truth, average="samples")
        f1_empty = skm.f1_score(truth * 0, truth * 0, average="micro")
    assert jaccard == 0.5
    assert m.fgsim_mean(truth, truth) == 1.0
    assert f1_empty == m.micro_f1(truth * 0, truth * 0) == 0.0


def test_all_zero_truth_with_predictions() -> None:
    zeros = np.zeros((3, 2), dtype=int)
    pred = np.array([[1, 0], [0, 0], [1, 0]])
    assert m.micro_f1(zeros, pred) == 0.0
    assert m.macro_f1(zeros, pred) == 0.0
    assert m.macro_f1(zeros, pred, absent="ignore") == 0.0  # label 0 is present (fp) with F1 0
    np.testing.assert_array_equal(m.fgsim_per_molecule(zeros, pred), [0.0, 1.0, 0.0])


def test_all_zero_predictions() -> None:
    truth = np.array([[1, 0], [0, 1], [0, 0]])
    zeros = np.zeros_like(truth)
    scores = m.precision_recall_f1_support(truth, zeros)
    np.testing.assert_array_equal(scores.precision, [0.0, 0.0])
    np.testing.assert_array_equal(scores.recall, [0.0, 0.0])
    assert m.micro_f1(truth, zeros) == 0.0
    assert m.subset_accuracy(truth, zeros) == pytest.approx(1 / 3)
    np.testing.assert_array_equal(m.fgsim_per_molecule(truth, zeros), [0.0, 0.0, 1.0])


def test_fgsim_agrees_with_chem_fgsim() -> None:
    truth, prob = random_case(3)
    pred = m.binarize(prob)
    expected = [fgsim(p, t) for p, t in zip(pred, truth, strict=True)]
    np.testing.assert_allclose(m.fgsim_per_molecule(truth, prob), expected)


# ------------------------------------------------------------------ against scikit-learn


@needs_sklearn
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_against_sklearn(seed: int, zero_division: float) -> None:
    truth, prob = random_case(seed)
    pred = (prob >= 0.5).astype(int)
    zd = {"zero_division": zero_division}
    assert m.micro_f1(truth, prob, **zd) == pytest.approx(
        skm.f1_score(truth, pred, average="micro", **zd))
    assert m.macro_f1(truth, prob, **zd) == pytest.approx(
        skm.f1_score(truth, pred, average="macro", **zd))
    np.testing.assert_allclose(m.precision_recall_f1_support(truth, prob, **zd).f1,
                               skm.f1_score(truth, pred, average=None, **zd))
    ours = m.precision_recall_f1_support(truth, prob, **zd)
    theirs = skm.precision_recall_fscore_support(truth, pred, average=None, **zd)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b)
    micro = skm.precision_recall_fscore_support(truth, pred, average="micro", **zd)[:3]
    assert m.micro_scores(truth, prob, **zd) == pytest.approx(micro)
    assert m.subset_accuracy(truth, prob) == pytest.approx(skm.accuracy_score(truth, pred))
    assert m.hamming_loss(truth, prob) == pytest.approx(skm.hamming_loss(truth, pred))


@needs_sklearn
def test_macro_ignore_equals_sklearn_on_present_labels() -> None:
    truth, prob = random_case(5)
    pred = (prob >= 0.5).astype(int)
    present = (truth.sum(axis=0) + pred.sum(axis=0)) > 0
    assert not present.all()  # label 0 is absent in both: the two conventions differ
    expected = skm.f1_score(truth[:, present], pred[:, present], average="macro")
    assert m.macro_f1(truth, prob, absent="ignore") == pytest.approx(expected)
    assert m.macro_f1(truth, prob) < expected


@needs_sklearn
def test_fgsim_matches_sklearn_jaccard_without_empty_rows() -> None:
    truth, prob = random_case(7)
    pred = (prob >= 0.5).astype(int)
    keep = (truth | pred).any(axis=1)
    expected = skm.jaccard_score(truth[keep], pred[keep], average="samples")
    assert m.fgsim_mean(truth[keep], prob[keep]) == pytest.approx(expected)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        (Y_TRUE, Y_PRED[:, :3], "differ in shape"),
        (Y_TRUE[0], Y_PRED[0], "expected shape"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "at least one sample"),
        (Y_TRUE * 2, Y_PRED, "only 0 and 1"),
        (Y_TRUE + 0.5, Y_PRED, "only 0 and 1"),
        (np.where(Y_TRUE == 1, np.nan, 0.0), Y_PRED, "NaN"),
        (Y_TRUE, np.where(Y_PRED == 1, np.nan, 0.0), "NaN"),
        (Y_TRUE, Y_PRED * 1.5, r"\[0, 1\]"),
        (Y_TRUE, Y_PRED - 1.0, r"\[0, 1\]"),
        (Y_TRUE.astype(str), Y_PRED, "numeric"),
        ([[1, 0], [1]], [[1, 0], [1, 0]], "rectangular"),
    ],
)
def test_bad_input_raises(y_true: object, y_pred: object, message: str) -> None:
    with pytest.raises(m.MetricError, match=message):
        m.micro_f1(y_true, y_pred)


def test_error_names_argument() -> None:
    with pytest.raises(m.MetricError, match=r"y_true: .*sample 0, label 0"):
        m.hamming_loss(Y_TRUE * 3, Y_PRED)
    with pytest.raises(MspectmolError):  # catchable as the package's base error
        m.subset_accuracy(Y_TRUE, Y_PRED[:2])
    with pytest.raises(ValueError):  # and as a ValueError
        m.fgsim_mean(Y_TRUE, Y_PRED[:2])


@pytest.mark.parametrize(
    ("threshold", "message"),
    [([0.5, 0.5], "2 thresholds for 4 labels"), (1.5, r"\[0, 1\]"), (float("nan"), "finite"),
     ("high", "a number"), ([[0.5] * 4], "1-D")],
)
def test_bad_threshold_raises(threshold: object, message: str) -> None:
    with pytest.raises(m.MetricError, match=message):
        m.micro_f1(Y_TRUE, Y_PRED, threshold=threshold)


def test_bad_options_raise() -> None:
    with pytest.raises(m.MetricError, match="absent"):
        m.macro_f1(Y_TRUE, Y_PRED, absent="skip")  # type: ignore[arg-type]
    with pytest.raises(m.MetricError, match="zero_division"):
        m.micro_f1(Y_TRUE, Y_PRED, zero_division=0.5)
