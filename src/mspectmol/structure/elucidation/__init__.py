"""Elucidation: spectra -> ranked candidate structures.

The Python API of ``mspectmol elucidate``: :func:`elucidate` (or an
:class:`ElucidationService` for many samples) takes :class:`ElucidationOptions` and returns
an :class:`ElucidationResult`. :class:`~mspectmol.structure.elucidation.elucidator.Elucidator`
is the model bundle underneath (beam search and candidate scores).
"""

from mspectmol.structure.elucidation.options import (
    MODES,
    ElucidationOptions,
    ElucidationResult,
    Observation,
    SpectrumFiles,
)
from mspectmol.structure.elucidation.service import ElucidationService, elucidate

__all__ = ["MODES", "ElucidationOptions", "ElucidationResult", "ElucidationService",
           "Observation", "SpectrumFiles", "elucidate"]
