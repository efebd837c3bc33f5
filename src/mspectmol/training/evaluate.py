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
import torch
from scipy.special import expit, logit

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import ConfigError
from mspectmol.evaluation import (
    classification_report,
    expected_calibration_error,
    fit_temperature,
    tune_thresholds,
)
from mspectmol.training.data import SplitData, iterate_batches

EVAL_BATCH = 256
#: Validation positives a group needs before its threshold is tuned (else 0.5).
MIN_POSITIVES = 10
_CLIP = 1e-7


def is_neural(model: Any) -> bool:
    """True for torch modules (neural models), False for classical ones."""
    return isinstance(model, torch.nn.Module)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU when it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda[:N]"`` or ``"auto"`` (CUDA when available) as a torch device.

    Raises
    ------
    ConfigError
        When CUDA is asked for and not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available here (torch "
                          f"{torch.__version__}); use --device cpu")
    return device


def output_logits(output: Any) -> torch.Tensor:
    """The prediction logits of a model output (a tensor or an object with ``.logits``)."""
    return output if isinstance(output, torch.Tensor) else output.logits


def predict_logits(model: Any, data: SplitData, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Logits ``(n, n_labels)`` float64 of ``model`` on ``data``.

    A neural model is switched to eval mode for the prediction and back afterwards.
    """
    if not is_neural(model):
        prob = np.asarray(model.predict_proba(data.numpy_inputs()), dtype=np.float64)
        if prob.shape != data.labels.shape:
            raise ValueError(f"predict_proba returned shape {prob.shape}, expected "
                             f"{data.labels.shape}")
        return logit(np.clip(prob, _CLIP, 1.0 - _CLIP))
    was_training = model.training
    model.eval()
    device = model_device(model)
    chunks = []
    try:
        with torch.inference_mode():
            for batch in iterate_batches(data, batch_size):
                batch = batch.to(device)
                out = output_logits(model(batch.spectra, batch.available))
                chunks.append(out.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(chunks).astype(np.float64)


def probabilities(logits: np.ndarray, temperature: float | None = None) -> np.ndarray:
    """``sigmoid(logits / temperature)`` (temperature 1 when None)."""
    t = 1.0 if temperature is None else float(temperature)
    return expit(np.asarray(logits, dtype=np.float64) / t)


def predict_proba(model: Any, data: SplitData, *, temperature: float | None = None,
                  batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Probabilities ``(n, n_labels)`` of ``model`` on ``data``."""
    return probabilities(predict_logits(model, data, batch_size), temperature)


def calibrate(val_logits: np.ndarray, val_labels: np.ndarray, *, temperature: bool = True
              ) -> tuple[float | None, np.ndarray]:
    """Temperature (or None) and per-group thresholds fitted on validation data.

    Thresholds are tuned on the calibrated probabilities, the scale they are applied to.
    """
    t = fit_temperature(val_labels, val_logits) if temperature else None
    thresholds = tune_thresholds(val_labels, probabilities(val_logits, t),
                                 min_positives=MIN_POSITIVES)
    return t, thresholds


def report_dict(labels: np.ndarray, prob: np.ndarray, threshold: Any,
                names: Sequence[str]) -> dict[str, Any]:
    """:func:`classification_report` as a dict, plus the thresholds used."""
    report = classification_report(labels, prob, names=names, threshold=threshold)
    return {**report.to_dict(), "thresholds": [float(t) for t in report.thresholds]}


def evaluate_model(model: Any, data: SplitData, *, val: SplitData | None = None,
                   thresholds: Sequence[float] | np.ndarray | None = None,
                   temperature: float | None = None, names: Sequence[str] = GROUP_NAMES,
                   batch_size: int = EVAL_BATCH) -> dict[str, Any]:
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
    names
        Label names in output order.
    batch_size
        Prediction batch size.

    Returns
    -------
    dict
        ``n_samples``, ``temperature``, ``ece`` (15 bins) and ``ece_uncalibrated`` (the same
        without the temperature), ``at_0.5`` and, when thresholds
        are given or tuned, ``tuned`` (:meth:`ClassificationReport.to_dict` each, with the
        thresholds).
    """
    logits = predict_logits(model, data, batch_size)
    prob = probabilities(logits, temperature)
    if thresholds is None and val is not None:
        val_prob = predict_proba(model, val, temperature=temperature, batch_size=batch_size)
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
