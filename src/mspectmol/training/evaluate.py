"""Predictions and evaluation of trained models on a :class:`~.data.SplitData`.

Neural models predict in batches (256 by default) in eval mode under
:func:`torch.inference_mode`; classical models through ``predict_proba``. Every model's
output is handled as logits (for classical models, the logits of their probabilities,
clipped to ``[1e-7, 1 - 1e-7]``), so one temperature can calibrate either kind.

:func:`evaluate_model` reports the metrics of
:func:`mspectmol.evaluation.classification_report` at threshold 0.5 and at per-group
thresholds tuned on validation data (or given, e.g. stored with a model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.batches import SplitData
from mspectmol.evaluation import (
    classification_report,
    expected_calibration_error,
    fit_temperature,
    tune_thresholds,
)
from mspectmol.models.inference import EVAL_BATCH, predict_logits, predict_proba, probabilities

#: Validation positives a group needs before its threshold is tuned (else 0.5).
MIN_POSITIVES = 10
def calibrate(val_logits: np.ndarray, val_labels: np.ndarray, *, temperature: bool = True,
              offsets: np.ndarray | None = None) -> tuple[float | None, np.ndarray]:
    """Temperature (or None) and per-group thresholds fitted on validation data.

    The temperature is fitted to the logits plus ``offsets`` (a prior correction,
    :func:`~mspectmol.evaluation.calibration.prior_offsets`), and thresholds are tuned on the
    calibrated probabilities, the scale they are applied to.
    """
    z = val_logits if offsets is None else val_logits + np.asarray(offsets, dtype=float)
    t = fit_temperature(val_labels, z) if temperature else None
    thresholds = tune_thresholds(val_labels, probabilities(z, t),
                                 min_positives=MIN_POSITIVES)
    return t, thresholds


def report_dict(labels: np.ndarray, prob: np.ndarray, threshold: Any,
                names: Sequence[str]) -> dict[str, Any]:
    """:func:`classification_report` as a dict, plus the thresholds used."""
    report = classification_report(labels, prob, names=names, threshold=threshold)
    return {**report.to_dict(), "thresholds": [float(t) for t in report.thresholds]}


def evaluate_model(model: Any, data: SplitData, *, val: SplitData | None = None,
                   thresholds: Sequence[float] | np.ndarray | None = None,
                   temperature: float | None = None, offsets: np.ndarray | None = None,
                   names: Sequence[str] = GROUP_NAMES, batch_size: int = EVAL_BATCH
                   ) -> dict[str, Any]:
    """Classification reports of ``model`` on ``data`` at 0.5 and at tuned thresholds.

    Parameters
    ----------
    model
        A neural or classical model.
    data
        The split to evaluate.
    val
        Validation split to tune per-group thresholds on (when ``thresholds`` is None).
    thresholds
        Per-group thresholds to use instead of tuning.
    temperature
        Calibration temperature applied to the logits (None: none).
    offsets
        Per-label logit offsets added before the temperature (the model's prior correction;
        None: none).
    names
        Label names in output order.
    batch_size
        Prediction batch size.

    Returns
    -------
    dict
        ``n_samples``, ``temperature``, ``ece`` (15 bins) and ``ece_uncalibrated`` (the same
        without the temperature and offsets), ``at_0.5`` and, when thresholds
        are given or tuned, ``tuned`` (:meth:`ClassificationReport.to_dict` each, with the
        thresholds).
    """
    logits = predict_logits(model, data, batch_size)
    prob = probabilities(logits, temperature, offsets)
    if thresholds is None and val is not None:
        val_prob = predict_proba(model, val, temperature=temperature, offsets=offsets,
                                 batch_size=batch_size)
        thresholds = tune_thresholds(val.labels, val_prob, min_positives=MIN_POSITIVES)
    out: dict[str, Any] = {
        "n_samples": len(data),
        "temperature": temperature,
        "ece": expected_calibration_error(data.labels, prob),
        "ece_uncalibrated": expected_calibration_error(data.labels, probabilities(logits)),
        "at_0.5": report_dict(data.labels, prob, 0.5, names),
    }
    if thresholds is not None:
        out["tuned"] = report_dict(data.labels, prob, np.asarray(thresholds, dtype=float), names)
    return out


def summary_line(metrics: dict[str, Any]) -> str:
    """One line: micro/macro-F1 at 0.5 and at tuned thresholds."""
    text = (f"n={metrics['n_samples']} micro-F1 {metrics['at_0.5']['micro_f1']:.3f} "
            f"macro-F1 {metrics['at_0.5']['macro_f1']:.3f} (threshold 0.5)")
    if "tuned" in metrics:
        text += (f"; micro-F1 {metrics['tuned']['micro_f1']:.3f} macro-F1 "
                 f"{metrics['tuned']['macro_f1']:.3f} (tuned thresholds)")
    return text
