"""A multi-label classification report: every metric of :mod:`.metrics` at once.

:func:`classification_report` thresholds the probabilities once (one threshold, or one per
label, e.g. from :func:`mspectmol.evaluation.thresholds.tune_thresholds`) and collects the
summary metrics and the per-label table in a :class:`ClassificationReport`, which renders as a
Markdown table (:meth:`ClassificationReport.to_markdown`) or a JSON-ready dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mspectmol.evaluation.metrics import (
    MetricError,
    binarize,
    check_scores,
    check_thresholds,
    check_truth,
    fgsim_mean,
    hamming_loss,
    macro_f1,
    micro_scores,
    precision_recall_f1_support,
    subset_accuracy,
)

__all__ = ["ClassificationReport", "classification_report", "label_names"]

SUMMARY_FIELDS: tuple[tuple[str, str], ...] = (
    ("micro_f1", "Micro-F1"),
    ("micro_precision", "Micro-precision"),
    ("micro_recall", "Micro-recall"),
    ("macro_f1", "Macro-F1 (all labels)"),
    ("macro_f1_present", "Macro-F1 (labels present)"),
    ("subset_accuracy", "Exact-match accuracy"),
    ("hamming_loss", "Hamming loss"),
    ("fgsim_mean", "Mean FGSim"),
)


def label_names(names: Sequence[str] | None, n_labels: int) -> tuple[str, ...]:
    """Validate label names (one non-empty string per label); default ``label_0``, ...

    Raises
    ------
    MetricError
        For a single string, a wrong count, or an empty or non-string name.
    """
    if names is None:
        return tuple(f"label_{i}" for i in range(n_labels))
    if isinstance(names, str):
        raise MetricError("names: expected a sequence of label names, not a single string")
    out = tuple(names)
    if len(out) != n_labels:
        raise MetricError(f"names: got {len(out)} names for {n_labels} labels")
    if not all(isinstance(n, str) and n.strip() for n in out):
        raise MetricError("names: every label name must be a non-empty string")
    return out


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """Summary and per-label metrics of one multi-label evaluation.

    Attributes
    ----------
    names, thresholds
        Label names and the threshold used for each label.
    n_samples
        Number of molecules evaluated.
    micro_f1, micro_precision, micro_recall
        Micro-averaged scores (counts summed over labels).
    macro_f1
        Mean F1 over all labels; absent labels count as 0 (scikit-learn's convention).
    macro_f1_present
        Mean F1 over labels present in the truth or the prediction only.
    subset_accuracy, hamming_loss, fgsim_mean
        Exact-match accuracy, fraction of wrong entries, mean FGSim (1.0 for empty-empty).
    precision, recall, f1, support, n_predicted
        Per-label arrays; ``support`` counts true positives in the truth, ``n_predicted``
        counts predicted positives.
    """

    names: tuple[str, ...]
    thresholds: np.ndarray
    n_samples: int
    micro_f1: float
    micro_precision: float
    micro_recall: float
    macro_f1: float
    macro_f1_present: float
    subset_accuracy: float
    hamming_loss: float
    fgsim_mean: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    n_predicted: np.ndarray

    def summary(self) -> dict[str, float]:
        """Return the summary metrics as ``{field: value}``."""
        return {key: float(getattr(self, key)) for key, _ in SUMMARY_FIELDS}

    def per_label(self) -> list[dict[str, Any]]:
        """Return one dict per label: name, threshold, precision, recall, f1, support,
        predicted."""
        return [
            {
                "name": name,
                "threshold": float(self.thresholds[i]),
                "precision": float(self.precision[i]),
                "recall": float(self.recall[i]),
                "f1": float(self.f1[i]),
                "support": int(self.support[i]),
                "predicted": int(self.n_predicted[i]),
            }
            for i, name in enumerate(self.names)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict: ``n_samples``, the summary and ``per_label``."""
        return {"n_samples": self.n_samples, **self.summary(), "per_label": self.per_label()}

    def to_markdown(self, digits: int = 3) -> str:
        """Render the summary table and the per-label table as GitHub Markdown.

        Parameters
        ----------
        digits
            Decimal places of the scores.
        """
        if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 10:
            raise MetricError(f"digits must be an integer in [0, 10], got {digits!r}")
        fmt = f"{{:.{digits}f}}"
        lines = [f"Samples: {self.n_samples}", "", "| Metric | Value |", "|---|---:|"]
        lines += [f"| {label} | {fmt.format(getattr(self, key))} |" for key, label in
                  SUMMARY_FIELDS]
        lines += ["", "| Label | Threshold | Precision | Recall | F1 | Support | Predicted |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in self.per_label():
            name = row["name"].replace("|", "\\|")
            scores = " | ".join(fmt.format(row[k]) for k in ("precision", "recall", "f1"))
            lines.append(
                f"| {name} | {row['threshold']:.3g} | {scores} | {row['support']} | "
                f"{row['predicted']} |"
            )
        return "\n".join(lines) + "\n"


def classification_report(
    y_true: Any,
    y_prob: Any,
    names: Sequence[str] | None = None,
    threshold: Any = 0.5,
) -> ClassificationReport:
    """Evaluate multi-label predictions with every metric of :mod:`.metrics`.

    Parameters
    ----------
    y_true
        ``(n_samples, n_labels)`` 0/1 truths.
    y_prob
        Probabilities (or 0/1 predictions) of the same shape.
    names
        One name per label (e.g. ``mspectmol.chem.GROUP_NAMES``); ``label_0``, ... if None.
    threshold
        One threshold, or one per label; a label is predicted when ``y_prob >= threshold``.

    Raises
    ------
    MetricError
        For mismatched shapes, NaN, non-binary truths, probabilities outside [0, 1], bad
        thresholds or names.
    """
    truth = check_truth(y_true)
    scores = check_scores(y_prob, "y_prob")
    if truth.shape != scores.shape:
        raise MetricError(f"y_true and y_prob differ in shape: {truth.shape} and {scores.shape}")
    n_labels = truth.shape[1]
    label_tuple = label_names(names, n_labels)
    thresholds = check_thresholds(threshold, n_labels)
    pred = binarize(scores, thresholds)
    per = precision_recall_f1_support(truth, pred)
    m_precision, m_recall, m_f1 = micro_scores(truth, pred)
    return ClassificationReport(
        names=label_tuple,
        thresholds=thresholds,
        n_samples=int(truth.shape[0]),
        micro_f1=m_f1,
        micro_precision=m_precision,
        micro_recall=m_recall,
        macro_f1=macro_f1(truth, pred),
        macro_f1_present=macro_f1(truth, pred, absent="ignore"),
        subset_accuracy=subset_accuracy(truth, pred),
        hamming_loss=hamming_loss(truth, pred),
        fgsim_mean=fgsim_mean(truth, pred),
        precision=per.precision,
        recall=per.recall,
        f1=per.f1,
        support=per.support,
        n_predicted=pred.sum(axis=0).astype(np.int64),
    )
