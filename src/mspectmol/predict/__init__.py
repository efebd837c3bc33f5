"""Functional groups from measured spectrum files (``mspectmol predict``).

Spectra are brought to the model's grids by the one preprocessing path,
:func:`mspectmol.spectra.pipeline.prepare`; :mod:`~mspectmol.data.samples`
finds the files of each sample (one sample, a manifest CSV or a folder);
:mod:`~mspectmol.predict.pipeline` runs a saved model on them in batches and
:mod:`~mspectmol.predict.report` writes text, JSON and HTML reports
(:mod:`~mspectmol.predict.summary` the summary CSV); :mod:`~mspectmol.predict.mass` adds the
molecular formulas of a mass spectrum and the peaks a known structure explains.

Names are imported on first use, so ``import mspectmol.predict`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SampleSpec": "data.samples", "read_manifest": "data.samples",
    "scan_folder": "data.samples", "SampleInputs": "models.inputs",
    "load_sample": "models.inputs", "missing_allowed": "models.inputs",
    "ModelInfo": "predict.pipeline", "Prediction": "predict.pipeline",
    "SampleFailure": "predict.pipeline", "predict_inputs": "predict.pipeline",
    "predict_samples": "predict.pipeline", "prediction_dict": "predict.report",
    "render_html": "predict.report", "write_html": "predict.report",
    "write_json": "predict.report", "text_report": "predict.report",
    "SummaryWriter": "predict.summary", "MassOnly": "predict.pipeline",
    "MassOptions": "predict.mass", "MassReport": "predict.mass", "mass_report": "predict.mass",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mspectmol.predict' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mspectmol.{_EXPORTS[name]}"), name)
