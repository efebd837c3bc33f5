"""Inference with a trained classifier, apart from training.

:func:`predict_logits` runs a model (neural in batches under :func:`torch.inference_mode`, or
with NumPy for a :class:`~mspectmol.models.numpy_pa_ib.NumpyPAIB`; classical through
``predict_proba``) on a :class:`~mspectmol.data.batches.SplitData`; every
output is handled as logits (classical probabilities clipped to ``[1e-7, 1 - 1e-7]`` first), so
one temperature calibrates either kind. :func:`model_grid`, :func:`model_modalities` and
:func:`model_thresholds` read what a model file declares (:class:`~mspectmol.models.io.ModelMeta`);
:func:`find_model` resolves a model path, run folder or packaged name
(:mod:`mspectmol.models.datasets` loads the embedded dataset on a model's grids).

torch is imported by the functions that need it, not with the module: a prediction on the
NumPy engine (:mod:`mspectmol.models.numpy_inference`) never loads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mspectmol.errors import ConfigError
from mspectmol.models.packaged import resolve_model

if TYPE_CHECKING:
    import torch

    from mspectmol.data.batches import SplitData

EVAL_BATCH = 256


_CLIP = 1e-7


def is_neural(model: Any) -> bool:
    """True for neural models (torch modules and NumPy PA-IB models), False for classical
    ones."""
    from mspectmol.models.numpy_pa_ib import NumpyPAIB

    if isinstance(model, NumpyPAIB):
        return True
    torch = sys.modules.get("torch")  # not imported: no object is a torch module
    return torch is not None and isinstance(model, torch.nn.Module)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU when it has none)."""
    import torch

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
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available here (torch "
                          f"{torch.__version__}); use --device cpu")
    return device


def output_logits(output: Any) -> torch.Tensor:
    """The prediction logits of a model output (a tensor or an object with ``.logits``)."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.logits


def predict_logits(model: Any, data: SplitData, batch_size: int = EVAL_BATCH, *,
                   workers: int | None = None) -> np.ndarray:
    """Logits ``(n, n_labels)`` float64 of ``model`` on ``data``.

    A neural model is switched to eval mode for the prediction and back afterwards. On the
    CPU its batches run on ``workers`` threads with one torch thread each
    (:func:`mspectmol.models.parallel.map_batches`; default: torch's thread count, 1 under
    autocast or on another device).
    """
    if not is_neural(model):
        prob = np.asarray(model.predict_proba(data.numpy_inputs()), dtype=np.float64)
        if prob.shape != data.labels.shape:
            raise ValueError(f"predict_proba returned shape {prob.shape}, expected "
                             f"{data.labels.shape}")
        prob = np.clip(prob, _CLIP, 1.0 - _CLIP)
        return np.log(prob) - np.log1p(-prob)
    from mspectmol.models.numpy_pa_ib import NumpyPAIB

    if isinstance(model, NumpyPAIB):
        return np.concatenate([
            model.forward({m: x[i:i + batch_size] for m, x in data.spectra.items()},
                          {m: a[i:i + batch_size] for m, a in data.available.items()}).logits
            for i in range(0, len(data), batch_size)]).astype(np.float64)
    from mspectmol.data.batches import to_batch
    from mspectmol.models.parallel import batch_workers, map_batches

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    device = model_device(model)
    starts = range(0, len(data), batch_size)

    def run(k: int) -> np.ndarray:
        rows = np.arange(starts[k], min(starts[k] + batch_size, len(data)))
        batch = to_batch(data, rows).to(device)
        return output_logits(model(batch.spectra, batch.available)).float().cpu().numpy()

    try:
        chunks = map_batches(run, len(starts), batch_workers(workers, len(starts), device))
    finally:
        model.train(was_training)
    return np.concatenate(chunks).astype(np.float64)


def probabilities(logits: np.ndarray, temperature: float | None = None,
                  offsets: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """``sigmoid((logits + offsets) / temperature)``: calibrated probabilities.

    ``offsets`` are a model's per-label logit offsets (its prior correction,
    :func:`mspectmol.evaluation.calibration.prior_offsets`; none when None) and the
    temperature is 1 when None: pass a model's ``meta.temperature`` and ``meta.logit_offsets``.
    """
    t = 1.0 if temperature is None else float(temperature)
    z = np.asarray(logits, dtype=np.float64)
    if offsets is not None:
        z = z + np.asarray(offsets, dtype=np.float64)
    z = z / t
    e = np.exp(-np.abs(z))  # the logistic function without overflow
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def predict_proba(model: Any, data: SplitData, *, temperature: float | None = None,
                  offsets: Sequence[float] | np.ndarray | None = None,
                  batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Probabilities ``(n, n_labels)`` of ``model`` on ``data`` (see :func:`probabilities`)."""
    return probabilities(predict_logits(model, data, batch_size), temperature, offsets)


#: Decision threshold of a model without tuned per-group thresholds.
DEFAULT_THRESHOLD = 0.5


def model_modalities(meta: Any) -> tuple[str, ...]:
    """The model's input modalities, primary first."""
    return (meta.primary, *meta.auxiliary)


def model_grid(meta: Any, modality: str) -> np.ndarray:
    """The x grid a model expects for a modality (from its model.json)."""
    info = meta.modalities[modality]
    return np.linspace(float(info["x_min"]), float(info["x_max"]), int(info["n_points"]))


def model_thresholds(meta: Any) -> np.ndarray:
    """Per-group decision thresholds: the model's tuned ones, else 0.5 for every group."""
    if meta.thresholds is not None:
        return np.asarray(meta.thresholds, dtype=np.float64)
    return np.full(len(meta.label_names), DEFAULT_THRESHOLD)


def find_model(path: str | os.PathLike[str] | None) -> Path:
    """A classifier: a model folder or file pair, a run folder holding ``model/``, or a
    packaged classifier's name (:func:`~mspectmol.models.packaged.resolve_model`).

    None is the packaged default classifier.
    """
    return resolve_model(path, "classifier")
