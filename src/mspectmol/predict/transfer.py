"""Transfer validation: a model's calls on another group's simulated spectra.

The Alberts et al. (2024) example file (100 drug-size molecules; MD-simulated IR,
MestReNova 1H and 13C NMR) is a *transfer validation set*: never trained on, used to compare
a few recipes and to report how the model does on spectra its own simulator did not make.
:func:`transfer_report` reads it as ``predict`` would (the one preprocessing path), runs the
model through :func:`~mspectmol.predict.pipeline.predict_inputs` and scores the calls at
probability 0.5 against labels from the 37 SMARTS, with the spectra sets of
:data:`SPECTRA_SETS` (missing spectra passed as unavailable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.data.transfer import transfer_arrays
from mspectmol.models.inference import model_grid
from mspectmol.models.inputs import SampleInputs
from mspectmol.predict.pipeline import predict_inputs

#: Spectra sets scored (name -> modalities given; the others are passed as missing).
SPECTRA_SETS = {"IR + 1H + 13C": ("ir", "h_nmr", "c_nmr"), "IR alone": ("ir",)}


def micro_macro_f1(truth: np.ndarray, calls: np.ndarray) -> tuple[float, float]:
    """Micro-F1 over all labels and macro-F1 over the labels present in ``truth``."""
    t, c = truth.astype(bool), calls.astype(bool)
    tp, fp, fn = (t & c).sum(), (~t & c).sum(), (t & ~c).sum()
    micro = 2 * tp / max(1, 2 * tp + fp + fn)
    per = []
    for j in np.flatnonzero(t.any(axis=0)):
        a, b = t[:, j], c[:, j]
        per.append(2 * (a & b).sum() / max(1, 2 * (a & b).sum() + (~a & b).sum()
                                            + (a & ~b).sum()))
    return float(micro), float(np.mean(per)) if per else 0.0


def transfer_inputs(path: Path, meta: Any, n_max: int | None = None
                    ) -> tuple[list[SampleInputs], np.ndarray]:
    """The file's molecules as samples for the model
    (:func:`mspectmol.data.transfer.transfer_arrays`), and their labels."""
    modalities = (meta.primary, *meta.auxiliary)
    ids, labels, spectra, available = transfer_arrays(
        path, modalities, {m: model_grid(meta, m) for m in modalities}, meta.normalisation,
        n_max)
    samples = [SampleInputs(f"m{i:03d}", {m: spectra[m][i] for m in modalities},
                            {m: bool(available[m][i]) for m in modalities}, {})
               for i in range(len(ids))]
    return samples, labels


def transfer_report(model: Any, meta: Any, path: Path, n_max: int | None = None
                    ) -> dict[str, dict[str, float]]:
    """``{spectra set: {"micro_f1", "macro_f1", "calls_per_molecule", "true_per_molecule",
    "ood_flagged"}}`` on the file (calls at probability 0.5)."""
    samples, labels = transfer_inputs(path, meta, n_max)
    out = {}
    for name, given in SPECTRA_SETS.items():
        if meta.primary not in given:
            continue
        rows = []
        for s in samples:
            avail = {m: (m in given) for m in s.spectra}
            spectra = {m: (x if avail[m] else np.zeros_like(x)) for m, x in s.spectra.items()}
            rows.append(SampleInputs(s.name, spectra, avail, {}))
        preds = predict_inputs(model, meta, rows, regions=1)
        calls = np.stack([p.probabilities >= 0.5 for p in preds])
        micro, macro = micro_macro_f1(labels, calls)
        flagged = [p.ood["flagged"] for p in preds if p.ood is not None]
        out[name] = {"micro_f1": micro, "macro_f1": macro,
                     "calls_per_molecule": float(calls.sum(axis=1).mean()),
                     "true_per_molecule": float(labels.sum(axis=1).mean()),
                     "ood_flagged": float(np.mean(flagged)) if flagged else float("nan")}
    return out
