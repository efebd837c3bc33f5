"""Models: the PA-IB classifier (paper section 2), its loss (eq. 14), neural baselines, model
files and inference.

Names are imported on first use, so ``import mspectmol.models`` does not load every model
family (a PA-IB prediction never imports the baselines, nor torch: it runs on NumPy,
:mod:`mspectmol.models.numpy_inference`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "JungCNN": "baselines_nn", "MultiModalCNN": "baselines_nn",
    "SpectrumEncoder": "encoders", "prepare_batch": "encoders",
    "BandGate": "gates", "apply_gate": "gates", "gate_kl": "gates",
    "PAIBLoss": "losses", "pa_ib_loss": "losses",
    "PAIBConfig": "pa_ib", "PAIBModel": "pa_ib", "PAIBOutput": "pa_ib",
    "count_parameters": "pa_ib",
    "NumpyPAIB": "numpy_pa_ib", "load_classifier": "numpy_inference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mspectmol.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mspectmol.models.{_EXPORTS[name]}"), name)
