"""A mass spectrum as evidence for an elucidation: the molecular formula when none is given,
and an MS/MS term that scores how well each candidate's fragments explain the peaks.

:func:`read_mass_evidence` reads the file (:func:`~mspectmol.spectra.readers.read_spectrum`)
and ranks formulas of its ion (:func:`~mspectmol.predict.formula.formulas_for_peaks`: the
precursor of an MS/MS spectrum, the molecular ion of an MS1/EI one); :func:`with_ms_formula`
puts the best formula into the options when they have none and says so. :func:`ms_terms` is
the share of the fragment-peak intensity that a candidate's one- and two-bond-cut fragments
explain (:func:`~mspectmol.chem.fragments.explained_intensity`, 0 to 1). Ranking adds
``ms_weight x ms`` to a candidate's score (default :data:`MS_WEIGHT`: a candidate explaining
10% more of the intensity gains one log unit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mspectmol.chem.fragments import explained_intensity, fragment_table
from mspectmol.errors import MspectmolError
from mspectmol.predict.formula import FormulaResult, formulas_for_spectrum
from mspectmol.spectra.readers import read_spectrum
from mspectmol.structure.elucidation.options import ElucidationOptions

#: Default weight of the MS/MS term in the ranking score.
MS_WEIGHT = 10.0


@dataclass(frozen=True)
class MassEvidence:
    """A mass spectrum's peaks, its ion and the formulas ranked for it."""

    source: str
    mz: np.ndarray
    intensity: np.ndarray
    formulas: FormulaResult

    @property
    def precursor_mz(self) -> float:
        """m/z of the ion the fragments come from."""
        return self.formulas.ion.mz

    @property
    def charge(self) -> int:
        """Sign of the ion's charge (+1 or -1)."""
        return -1 if self.formulas.adduct.endswith("-") else 1


def read_mass_evidence(path: str | Path, *, adduct: str | None = None, ppm: float = 5.0
                       ) -> MassEvidence:
    """Read a mass spectrum file and rank the formulas of its ion."""
    spectrum = read_spectrum(path, "ms")
    formulas = formulas_for_spectrum(spectrum, str(path), adduct=adduct, ppm=ppm, top=5,
                                     adduct_option="--ms-adduct")
    return MassEvidence(str(path), np.asarray(spectrum.x, float),
                        np.asarray(spectrum.y, float), formulas)


def with_ms_formula(options: ElucidationOptions, evidence: MassEvidence
                    ) -> tuple[ElucidationOptions, list[str]]:
    """The options with the mass spectrum's best formula when they have none, and the notes
    saying what was assumed."""
    notes = [f"mass spectrum {evidence.source}: {n}" for n in evidence.formulas.notes]
    if options.formula is not None:
        return options, notes
    best = evidence.formulas.candidates
    if not best:
        raise MspectmolError(f"{evidence.source}: no molecular formula fits the ion at m/z "
                             f"{evidence.precursor_mz:.5f}; give --formula")
    others = ", ".join(c.name for c in best[1:3])
    notes.append(f"formula {best[0].name} assumed from the mass spectrum (ion m/z "
                 f"{evidence.precursor_mz:.5f} {evidence.formulas.adduct}, "
                 f"{best[0].ppm:+.1f} ppm; next: {others or 'none'}); give --formula to "
                 "override")
    return dataclasses.replace(options, formula=best[0].name), notes


def ms_terms(evidence: MassEvidence, smiles: Sequence[str]) -> np.ndarray:
    """The MS/MS term of each candidate (see the module docstring)."""
    out = np.zeros(len(smiles))
    for i, s in enumerate(smiles):
        try:
            table = fragment_table(s, charge=evidence.charge)
        except ValueError:
            continue
        out[i] = explained_intensity(table, evidence.mz, evidence.intensity,
                                     precursor_mz=evidence.precursor_mz)
    return out
