"""Evaluation: multi-label metrics, per-label thresholds and probability calibration."""

from mspectmol.evaluation.calibration import (
    IsotonicCalibrator,
    ReliabilityDiagram,
    apply_temperature,
    expected_calibration_error,
    fit_isotonic,
    fit_temperature,
    isotonic_regression,
    per_label_ece,
    prior_offsets,
    reliability_diagram,
)
from mspectmol.evaluation.metrics import (
    LabelScores,
    MetricError,
    binarize,
    confusion_counts,
    fgsim_mean,
    fgsim_per_molecule,
    hamming_loss,
    macro_f1,
    micro_f1,
    micro_scores,
    precision_recall_f1_support,
    subset_accuracy,
)
from mspectmol.evaluation.report import ClassificationReport, classification_report
from mspectmol.evaluation.thresholds import apply_thresholds, tune_thresholds

__all__ = [
    "ClassificationReport",
    "IsotonicCalibrator",
    "LabelScores",
    "MetricError",
    "ReliabilityDiagram",
    "apply_temperature",
    "apply_thresholds",
    "binarize",
    "classification_report",
    "confusion_counts",
    "expected_calibration_error",
    "fgsim_mean",
    "fgsim_per_molecule",
    "fit_isotonic",
    "fit_temperature",
    "hamming_loss",
    "isotonic_regression",
    "macro_f1",
    "micro_f1",
    "micro_scores",
    "per_label_ece",
    "prior_offsets",
    "precision_recall_f1_support",
    "reliability_diagram",
    "subset_accuracy",
    "tune_thresholds",
]
