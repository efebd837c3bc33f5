"""A sample's spectrum files as a model's inputs.

:func:`load_sample` reads each file (:func:`~mspectmol.spectra.readers.read_spectrum`) and
prepares it for the model's grid and normalisation through the one preprocessing path
(:func:`~mspectmol.spectra.pipeline.prepare`). A modality the model uses but the sample lacks
is passed as unavailable (zeros and a False availability mask), the way PA-IB models handle
a missing auxiliary spectrum; the primary spectrum is required unless the model was trained
without it (:func:`missing_allowed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.data.samples import SampleSpec
from mspectmol.errors import MspectmolError
from mspectmol.models.inference import model_grid, model_modalities
from mspectmol.spectra.modalities import option_name
from mspectmol.spectra.pipeline import PreparedSpectrum, PrepareOptions, prepare
from mspectmol.spectra.readers import read_spectrum
from mspectmol.spectra.solvents import canonical_solvent


def missing_allowed(meta: Any) -> frozenset[str]:
    """Modalities the model can predict without: its auxiliary ones, and the primary only
    when ``meta.training["missing_modalities"]`` lists it (see the module docstring)."""
    trained = meta.training.get("missing_modalities", []) if isinstance(meta.training, dict) \
        else []
    allowed = set(meta.auxiliary)
    if isinstance(trained, list) and meta.primary in trained:
        allowed.add(meta.primary)
    return frozenset(allowed)


@dataclass
class SampleInputs:
    """One sample on the model's grids.

    ``prepared`` holds the spectra that were given (with their preprocessing steps);
    ``ignored`` the files of modalities the model does not use.
    """

    name: str
    spectra: dict[str, np.ndarray]
    available: dict[str, bool]
    prepared: dict[str, PreparedSpectrum]
    smiles: str | None = None
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        """Modalities given, in the model's order."""
        return [m for m in self.spectra if self.available[m]]

    @property
    def missing(self) -> list[str]:
        """Modalities the model uses that this sample lacks."""
        return [m for m in self.spectra if not self.available[m]]

    @property
    def warnings(self) -> list[str]:
        """What a person should know about the inputs, ``"modality (file): text"`` each."""
        out = []
        for m, prep in self.prepared.items():
            name = Path(str(prep.source)).name if prep.source else m
            out += [f"{m} ({name}): {w}" for w in prep.warnings]
        return out


def load_sample(meta: Any, sample: SampleSpec, options: PrepareOptions | None = None
                ) -> SampleInputs:
    """Read and prepare one sample's spectra for the model.

    A solvent given for the sample (a manifest's ``solvent`` column) overrides
    ``options.solvent``.

    Raises
    ------
    MspectmolError
        A missing primary spectrum (for a model that needs it), an invalid SMILES or solvent
        (naming the sample), and every reader or preprocessing error (naming the file).
    """
    modalities = model_modalities(meta)
    opts = options or PrepareOptions()
    if sample.solvent is not None:
        try:
            canonical_solvent(sample.solvent)
        except MspectmolError as exc:
            raise MspectmolError(f"sample {sample.name!r}: {exc}") from None
        opts = replace(opts, solvent=sample.solvent)
    if sample.units:
        opts = replace(opts, x_unit={**opts.x_unit, **sample.units.get("x", {})},
                       y_unit={**opts.y_unit, **sample.units.get("y", {})})
    if meta.primary not in sample.files and meta.primary not in missing_allowed(meta):
        raise MspectmolError(f"sample {sample.name!r}: the model needs its primary "
                             f"{meta.primary} spectrum ({option_name(meta.primary)} FILE or a "
                             f"{meta.primary} column/file) and was not trained without it")
    if sample.smiles is not None:
        from mspectmol.chem.molecules import mol_from_smiles  # RDKit: only for a SMILES

        mol_from_smiles(sample.smiles, source=f"sample {sample.name!r}")
    ignored = {m: str(p) for m, p in sample.files.items() if m not in modalities}
    out = SampleInputs(sample.name, {}, {}, {}, sample.smiles, ignored)
    for m in modalities:
        grid = model_grid(meta, m)
        if m not in sample.files:
            out.spectra[m] = np.zeros(grid.size, dtype=np.float32)
            out.available[m] = False
            continue
        spectrum = read_spectrum(sample.files[m], m)
        prepared = prepare(spectrum, grid, meta.normalisation, opts)
        prepared.source = str(sample.files[m])
        out.prepared[m], out.spectra[m], out.available[m] = prepared, prepared.y, True
    return out
