"""Functional groups from measured spectrum files (``mspectmol predict``).

Spectra are brought to the model's grids by the one preprocessing path,
:func:`mspectmol.spectra.pipeline.prepare`; :mod:`~mspectmol.predict.samples`
finds the files of each sample (one sample, a manifest CSV or a folder);
:mod:`~mspectmol.predict.pipeline` runs a saved model on them in batches and
:mod:`~mspectmol.predict.report` writes text, JSON, HTML and summary CSV reports.

Names are imported on first use, so ``import mspectmol.predict`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SampleSpec": "samples", "read_manifest": "samples", "scan_folder": "samples",
    "ModelInfo": "pipeline", "Prediction": "pipeline", "SampleFailure": "pipeline",
    "SampleInputs": "pipeline", "load_sample": "pipeline", "predict_inputs": "pipeline",
    "predict_samples": "pipeline", "missing_allowed": "pipeline",
    "prediction_dict": "report", "render_html": "report", "write_html": "report",
    "write_json": "report", "text_report": "report", "SummaryWriter": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mspectmol.predict' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mspectmol.predict.{_EXPORTS[name]}"), name)
