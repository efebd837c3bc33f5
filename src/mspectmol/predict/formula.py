"""Molecular formulas from a mass spectrum file or an m/z (``mspectmol formula``).

The file is read by the spectrum readers (MGF, MSP, JCAMP-DX MS, two-column text);
:func:`~mspectmol.chem.formula.peaks.find_ion` picks the monoisotopic ion (the precursor of
an MS/MS spectrum, else the molecular ion of an MS1/EI spectrum, an assumption that is
reported) and its isotope peaks; :func:`~mspectmol.chem.formula.search.search_formulas`
ranks the formulas. The ion type comes from the option, else from the file's adduct field,
else ``[M+H]+`` for a precursor and ``[M]+`` (electron ionisation) without one - said in the
result's notes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mspectmol.chem.formula.composition import get_adduct
from mspectmol.chem.formula.peaks import IonPeaks, find_ion
from mspectmol.chem.formula.search import FormulaCandidate, search_formulas
from mspectmol.errors import MspectmolError
from mspectmol.spectra.readers import read_spectrum
from mspectmol.spectra.spectrum import Spectrum

#: Mass tolerance used for a nominal-mass spectrum (Da), where ppm means nothing.
NOMINAL_TOLERANCE_DA = 0.3


@dataclass
class FormulaResult:
    """Ranked formulas of one ion and how the ion was found."""

    source: str
    ion: IonPeaks
    adduct: str
    ppm: float
    candidates: list[FormulaCandidate]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"source": self.source, "ion_mz": self.ion.mz, "adduct": self.adduct,
                "ppm": self.ppm, "ion": self.ion.how, "nominal_mass": self.ion.nominal,
                "isotopes": None if self.ion.isotopes is None else list(self.ion.isotopes),
                "notes": self.notes, "candidates": [c.to_dict() for c in self.candidates]}

    def text(self, top: int | None = None) -> str:
        """A table for the terminal (the first ``top`` candidates; None: all)."""
        iso = ("not used (none in the spectrum)" if self.ion.isotopes is None else
               ", ".join(f"M+{k + 1} {v:.1%}" for k, v in enumerate(self.ion.isotopes)))
        lines = [f"{self.source}: ion m/z {self.ion.mz:.5f} ({self.adduct}, {self.ion.how}); "
                 f"isotopes {iso}", *(f"note: {n}" for n in self.notes)]
        if not self.candidates:
            lines.append("no formula within the tolerance obeys the chemical rules")
            return "\n".join(lines)
        lines.append(f"  {'rank':>4}  {'formula':<18} {'ppm':>7} {'RDBE':>5} {'score':>7} "
                     f"{'mass':>6} {'isotopes':>8} {'prior':>6}")
        shown = self.candidates if top is None else self.candidates[:top]
        for k, c in enumerate(shown, 1):
            iso_s = "-" if c.isotope_score is None else f"{c.isotope_score:.1f}"
            lines.append(f"  {k:>4}  {c.name:<18} {c.ppm:>7.2f} {c.rdbe:>5.1f} {c.score:>7.1f} "
                         f"{c.mass_score:>6.1f} {iso_s:>8} {c.prior_score:>6.1f}")
        if len(shown) < len(self.candidates):
            lines.append(f"  ({len(self.candidates) - len(shown)} more candidates in the JSON "
                         "report)")
        return "\n".join(lines)


def formulas_for_peaks(mz: Sequence[float] | np.ndarray, intensity: Sequence[float] | np.ndarray,
                       *, source: str = "peaks", precursor_mz: float | None = None,
                       adduct: str | None = None, ppm: float = 5.0,
                       limits: Mapping[str, int] | None = None, top: int = 10,
                       use_isotopes: bool = True, adduct_option: str = "--adduct"
                       ) -> FormulaResult:
    """Ranked formulas of the monoisotopic ion of a peak list (see the module docstring);
    ``adduct_option`` is how the notes name the way to set the ion type."""
    notes = []
    if adduct is None:
        adduct = "[M+H]+" if precursor_mz is not None else "[M]+"
        notes.append(f"ion type not given: assumed {adduct} (set it with {adduct_option})")
    ion_type = get_adduct(adduct)
    ion = find_ion(np.asarray(mz, float), np.asarray(intensity, float),
                   precursor_mz=precursor_mz, ppm=ppm, charge=ion_type.charge)
    tolerance_ppm = ppm
    if ion.nominal:
        tolerance_ppm = NOMINAL_TOLERANCE_DA / ion.mz * 1e6
        notes.append(f"nominal-mass spectrum (integer m/z): formulas within "
                     f"{NOMINAL_TOLERANCE_DA} Da, ranked by isotopes and prior; an accurate "
                     "m/z narrows them down")
    isotopes = ion.isotopes if use_isotopes else None
    candidates = search_formulas(ion.mz, ion_type, ppm=tolerance_ppm, isotopes=isotopes,
                                 limits=limits, top=top)
    return FormulaResult(source, ion, ion_type.name, tolerance_ppm, candidates, notes)


def formulas_for_file(path: str | os.PathLike[str], *, precursor_mz: float | None = None,
                      adduct: str | None = None, ppm: float = 5.0,
                      limits: Mapping[str, int] | None = None, top: int = 10,
                      use_isotopes: bool = True) -> FormulaResult:
    """Ranked formulas from a mass spectrum file (its precursor m/z and adduct when it has
    them, overridden by the arguments)."""
    return formulas_for_spectrum(read_spectrum(path, "ms"), str(path),
                                 precursor_mz=precursor_mz, adduct=adduct, ppm=ppm,
                                 limits=limits, top=top, use_isotopes=use_isotopes)


def formulas_for_spectrum(spectrum: Spectrum, source: str, *,
                          precursor_mz: float | None = None, adduct: str | None = None,
                          ppm: float = 5.0, limits: Mapping[str, int] | None = None,
                          top: int = 10, use_isotopes: bool = True,
                          adduct_option: str = "--adduct") -> FormulaResult:
    """Ranked formulas of a mass spectrum already read (``source`` names it in the result and
    in errors), as :func:`formulas_for_file`; ``adduct_option`` as in
    :func:`formulas_for_peaks`."""
    meta = spectrum.metadata or {}
    if precursor_mz is None and meta.get("precursor_mz") is not None:
        precursor_mz = float(meta["precursor_mz"])
    file_adduct = meta.get("adduct")
    if adduct is None and file_adduct:
        try:
            adduct = get_adduct(str(file_adduct)).name
        except MspectmolError:
            raise MspectmolError(f"{source}: the file's adduct {file_adduct!r} is not one "
                                 f"mspectmol knows; give it with {adduct_option}") from None
    return formulas_for_peaks(spectrum.x, spectrum.y, source=source,
                              precursor_mz=precursor_mz, adduct=adduct, ppm=ppm, limits=limits,
                              top=top, use_isotopes=use_isotopes, adduct_option=adduct_option)
