"""Spectra: the data model, modalities and units, readers and writers, preprocessing.

The most used entry points are re-exported here::

    from mspectmol.spectra import Spectrum, read_spectrum, to_grid
"""

from mspectmol.spectra.modalities import MODALITIES, Modality, get_modality, modality_names
from mspectmol.spectra.preprocessing import canonical_grid, grid_spectrum, interpolate, to_grid
from mspectmol.spectra.readers import detect_format, read_spectra, read_spectrum
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import to_canonical

__all__ = [
    "MODALITIES", "Modality", "Spectrum", "canonical_grid", "detect_format", "get_modality",
    "grid_spectrum", "interpolate", "modality_names", "read_spectra", "read_spectrum",
    "to_canonical", "to_grid",
]
