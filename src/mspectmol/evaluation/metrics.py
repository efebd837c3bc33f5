"""Multi-label classification metrics for functional-group prediction (NumPy only).

Every metric is a pure function of two arrays of shape ``(n_samples, n_labels)``:
``y_true`` holds 0/1 (or bool) truths and ``y_pred`` holds probabilities in [0, 1] or 0/1
predictions. A label counts as predicted when ``y_pred >= threshold``; ``threshold`` is one
number (0.5 by default, the paper's headline setting) or one per label. 0/1 predictions give
the same result for any threshold in (0, 1].

Conventions (the same as scikit-learn's defaults, which the tests check):

* precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)``, F1 ``2 tp / (2 tp + fp + fn)``;
  a ratio whose denominator is zero takes the value ``zero_division`` (0.0 by default,
  scikit-learn's ``zero_division="warn"``, without the warning);
* macro-F1 with ``absent="include"`` averages over all labels, so a label with no positives
  and no predictions counts as F1 = ``zero_division`` (0.0), exactly like scikit-learn's
  ``f1_score(average="macro")``; ``absent="ignore"`` averages only over labels present in the
  truth or the prediction (``tp + fp + fn > 0``);
* FGSim is the Jaccard index of the predicted and true sets of each molecule, and 1.0 when
  both are empty (DiffSpectra; :func:`mspectmol.chem.functional_groups.fgsim_batch`).
  scikit-learn's ``jaccard_score(average="samples")`` gives such a row 0.0 instead (its
  ``zero_division`` default), so the two agree only when no row is empty in both.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np

from mspectmol.chem.functional_groups import fgsim_batch
from mspectmol.errors import MspectmolError

__all__ = [
    "MetricError", "LabelScores", "check_numeric_2d", "check_truth", "check_scores",
    "check_thresholds", "binarize", "confusion_counts", "precision_recall_f1_support",
    "micro_scores", "micro_f1", "macro_f1", "subset_accuracy", "hamming_loss",
    "fgsim_per_molecule", "fgsim_mean",
]  # fmt: skip

Absent = Literal["include", "ignore"]


class MetricError(MspectmolError, ValueError):
    """Inputs to a metric are unusable: wrong shape, NaN, non-binary truth, bad threshold."""


class LabelScores(NamedTuple):
    """Per-label precision, recall, F1 and support (number of positives in ``y_true``)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


# ------------------------------------------------------------------------------ validation


def check_numeric_2d(values: Any, what: str) -> np.ndarray:
    """Return ``values`` as a non-empty, finite 2-D numeric array.

    Raises
    ------
    MetricError
        Naming ``what`` when it is not numeric, not 2-D, empty or holds NaN/inf.
    """
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise MetricError(f"{what}: not a rectangular array: {exc}") from exc
    if arr.dtype != bool and arr.dtype.kind not in "iuf":
        raise MetricError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise MetricError(f"{what}: expected shape (n_samples, n_labels), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricError(f"{what}: needs at least one sample and one label, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise MetricError(f"{what}: NaN or infinite value at (sample {bad[0]}, label {bad[1]})")
    return arr


def check_truth(y_true: Any, what: str = "y_true") -> np.ndarray:
    """Validate a 0/1 truth array of shape ``(n_samples, n_labels)`` and return it as bool.

    Raises
    ------
    MetricError
        When it is not 2-D, empty, not numeric, holds NaN/inf or values other than 0 and 1.
    """
    arr = check_numeric_2d(y_true, what)
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        bad = np.argwhere(~np.isin(arr, (0, 1)))[0]
        raise MetricError(
            f"{what}: must hold only 0 and 1, found {arr[tuple(bad)]!r} at "
            f"(sample {bad[0]}, label {bad[1]})"
        )
    return arr.astype(bool)


def check_scores(y_score: Any, what: str = "y_pred") -> np.ndarray:
    """Validate probabilities (or 0/1 predictions) in [0, 1] and return them as float64.

    Raises
    ------
    MetricError
        When it is not 2-D, empty, not numeric, holds NaN/inf or values outside [0, 1].
    """
    arr = check_numeric_2d(y_score, what).astype(np.float64)
    outside = (arr < 0.0) | (arr > 1.0)
    if outside.any():
        bad = np.argwhere(outside)[0]
        raise MetricError(
            f"{what}: probabilities must lie in [0, 1], found {arr[tuple(bad)]!r} at "
            f"(sample {bad[0]}, label {bad[1]}) (apply a sigmoid to logits first)"
        )
    return arr


def check_thresholds(threshold: Any, n_labels: int) -> np.ndarray:
    """Return ``threshold`` (a number or one per label) as a float64 array of ``n_labels``.

    Raises
    ------
    MetricError
        When it is not finite, outside [0, 1], or an array of the wrong length.
    """
    arr = np.asarray(threshold, dtype=np.float64) if _is_numeric(threshold) else None
    if arr is None or arr.ndim > 1:
        raise MetricError(f"threshold: expected a number or a 1-D array, got {threshold!r}")
    if arr.ndim == 1 and arr.shape[0] != n_labels:
        raise MetricError(f"threshold: got {arr.shape[0]} thresholds for {n_labels} labels")
    if not np.isfinite(arr).all() or (arr < 0.0).any() or (arr > 1.0).any():
        raise MetricError(f"threshold: thresholds must be finite and in [0, 1], got {threshold!r}")
    return np.broadcast_to(arr, (n_labels,)).copy()


def _is_numeric(value: Any) -> bool:
    """Return whether ``value`` converts to a numeric (or bool) NumPy array."""
    try:
        kind = np.asarray(value).dtype.kind
    except (TypeError, ValueError):
        return False
    return kind in "biuf"


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a truth array and a score array of one shape."""
    truth = check_truth(y_true)
    scores = check_scores(y_pred)
    if truth.shape != scores.shape:
        raise MetricError(
            f"y_true and y_pred differ in shape: {truth.shape} and {scores.shape}"
        )
    return truth, scores


def _check_zero_division(zero_division: float) -> float:
    """Accept 0.0, 1.0 or NaN (scikit-learn's choices)."""
    value = float(zero_division)
    if not (math.isnan(value) or value in (0.0, 1.0)):
        raise MetricError(f"zero_division must be 0.0, 1.0 or nan, got {zero_division!r}")
    return value


def binarize(y_score: Any, threshold: Any = 0.5) -> np.ndarray:
    """Turn probabilities into 0/1 predictions: ``y_score >= threshold`` (per label).

    Parameters
    ----------
    y_score
        ``(n_samples, n_labels)`` probabilities in [0, 1].
    threshold
        One number, or one per label.

    Returns
    -------
    numpy.ndarray
        ``int8`` array of 0/1 of the same shape.
    """
    scores = check_scores(y_score, "y_score")
    return (scores >= check_thresholds(threshold, scores.shape[1])).astype(np.int8)


# ---------------------------------------------------------------------------------- counts


def confusion_counts(
    y_true: Any, y_pred: Any, threshold: Any = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label true positives, false positives, false negatives and true negatives.

    Returns
    -------
    tuple of numpy.ndarray
        ``(tp, fp, fn, tn)``, each an ``int64`` array of length ``n_labels``.
    """
    truth, scores = _check_pair(y_true, y_pred)
    pred = scores >= check_thresholds(threshold, truth.shape[1])
    tp = np.count_nonzero(truth & pred, axis=0)
    fp = np.count_nonzero(~truth & pred, axis=0)
    fn = np.count_nonzero(truth & ~pred, axis=0)
    tn = np.count_nonzero(~truth & ~pred, axis=0)
    return tp, fp, fn, tn


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    """``num / den`` elementwise, ``zero_division`` where ``den == 0``."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, zero_division, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --------------------------------------------------------------------------------- metrics


def precision_recall_f1_support(
    y_true: Any, y_pred: Any, threshold: Any = 0.5, zero_division: float = 0.0
) -> LabelScores:
    """Per-label precision, recall, F1 and support.

    Matches ``sklearn.metrics.precision_recall_fscore_support(average=None)``.

    Returns
    -------
    LabelScores
        Four arrays of length ``n_labels``; ``support`` counts the positives in ``y_true``.
    """
    zd = _check_zero_division(zero_division)
    tp, fp, fn, _ = confusion_counts(y_true, y_pred, threshold)
    return LabelScores(
        precision=_ratio(tp, tp + fp, zd),
        recall=_ratio(tp, tp + fn, zd),
        f1=_ratio(2 * tp, 2 * tp + fp + fn, zd),
        support=tp + fn,
    )


def micro_scores(
    y_true: Any, y_pred: Any, threshold: Any = 0.5, zero_division: float = 0.0
) -> tuple[float, float, float]:
    """Micro-averaged precision, recall and F1 (counts summed over all labels).

    Returns
    -------
    tuple of float
        ``(precision, recall, f1)``; each ``zero_division`` when its denominator is zero.
    """
    zd = _check_zero_division(zero_division)
    tp, fp, fn, _ = (int(c.sum()) for c in confusion_counts(y_true, y_pred, threshold))
    precision, recall, f1 = _ratio(np.array([tp, tp, 2 * tp]),
                                   np.array([tp + fp, tp + fn, 2 * tp + fp + fn]), zd)
    return float(precision), float(recall), float(f1)


def micro_f1(y_true: Any, y_pred: Any, threshold: Any = 0.5, zero_division: float = 0.0) -> float:
    """Micro-F1, the paper's headline metric: ``2 TP / (2 TP + FP + FN)`` over all labels.

    Matches ``sklearn.metrics.f1_score(average="micro")``; ``zero_division`` (0.0) when
    there are neither positives nor predictions anywhere.
    """
    return micro_scores(y_true, y_pred, threshold, zero_division)[2]


def macro_f1(
    y_true: Any,
    y_pred: Any,
    threshold: Any = 0.5,
    absent: Absent = "include",
    zero_division: float = 0.0,
) -> float:
    """Macro-F1: the unweighted mean of the per-label F1 scores.

    Parameters
    ----------
    absent
        ``"include"`` (default): every label is averaged; a label with no positives and no
        predictions scores ``zero_division`` (0.0), as in ``sklearn.metrics.f1_score(
        average="macro")``. ``"ignore"``: only labels present in the truth or the
        prediction are averaged; returns ``zero_division`` when no label is present.
    """
    if absent not in ("include", "ignore"):
        raise MetricError(f"absent must be 'include' or 'ignore', got {absent!r}")
    zd = _check_zero_division(zero_division)
    tp, fp, fn, _ = confusion_counts(y_true, y_pred, threshold)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn, zd)
    if absent == "ignore":
        f1 = f1[(tp + fp + fn) > 0]
        if f1.size == 0:
            return zd
    return float(f1.mean())


def subset_accuracy(y_true: Any, y_pred: Any, threshold: Any = 0.5) -> float:
    """Molecule-level exact-match accuracy: the fraction of rows with every label right.

    Matches ``sklearn.metrics.accuracy_score`` on multi-label input.
    """
    truth, scores = _check_pair(y_true, y_pred)
    pred = scores >= check_thresholds(threshold, truth.shape[1])
    return float(np.mean((truth == pred).all(axis=1)))


def hamming_loss(y_true: Any, y_pred: Any, threshold: Any = 0.5) -> float:
    """The fraction of wrong (sample, label) entries; matches ``sklearn.metrics.hamming_loss``."""
    truth, scores = _check_pair(y_true, y_pred)
    pred = scores >= check_thresholds(threshold, truth.shape[1])
    return float(np.mean(truth != pred))


def fgsim_per_molecule(y_true: Any, y_pred: Any, threshold: Any = 0.5) -> np.ndarray:
    """FGSim of each molecule: Jaccard of predicted and true sets, 1.0 when both are empty.

    Computed by :func:`mspectmol.chem.functional_groups.fgsim_batch`.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of length ``n_samples``.
    """
    truth, scores = _check_pair(y_true, y_pred)
    pred = scores >= check_thresholds(threshold, truth.shape[1])
    return fgsim_batch(pred, truth)


def fgsim_mean(y_true: Any, y_pred: Any, threshold: Any = 0.5) -> float:
    """Mean FGSim over molecules (see :func:`fgsim_per_molecule`)."""
    return float(fgsim_per_molecule(y_true, y_pred, threshold).mean())

