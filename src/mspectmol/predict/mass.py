"""A sample's mass spectrum in ``mspectmol predict`` and the web app: the molecular formulas
of its ion and, when the structure is known, the peaks its fragments explain.

The mass spectrum is not an input of the functional-group models (unless a model was trained
on MS): :func:`mass_report` reads it (:func:`~mspectmol.spectra.readers.read_spectrum`), ranks
the formulas of its ion as ``mspectmol formula`` does
(:func:`~mspectmol.predict.formula.formulas_for_spectrum`: the precursor of an MS/MS
spectrum, else the molecular ion, the ion type from the options, the file, or assumed - said in
the notes) and, given a SMILES, matches every peak with the molecule's one- and two-cut
fragments (:func:`~mspectmol.chem.fragments.explain_peaks`, the MS/MS term of
``mspectmol elucidate``). :class:`MassReport` gives the JSON objects (``formulas``,
``explained_peaks``) and the text lines of the reports; the HTML section is
:mod:`mspectmol.predict.mass_html`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem

from mspectmol.chem.formula.composition import get_adduct, hill
from mspectmol.chem.formula.search import parse_elements
from mspectmol.chem.fragments import (
    MIN_MZ,
    PRECURSOR_WINDOW,
    TWO_BREAK_WEIGHT,
    PeakExplanation,
    explain_peaks,
)
from mspectmol.errors import MspectmolError
from mspectmol.predict.formula import NOMINAL_TOLERANCE_DA, FormulaResult, formulas_for_spectrum
from mspectmol.spectra.readers import read_spectrum

#: Formula candidates kept in the reports (the text table shows :data:`TEXT_FORMULAS`).
N_FORMULAS = 10
TEXT_FORMULAS = 5
#: Peaks listed in the text report's table of explained peaks (the most intense).
TEXT_PEAKS = 12
#: Most intense peaks matched with fragments (a profile spectrum holds thousands of points).
MAX_PEAKS = 500
#: How the explained share is computed, for the reports.
SHARE_RULE = (f"share of the square-root intensity of the peaks from m/z {MIN_MZ:g} up "
              f"that fragments explain, the precursor (+/-{PRECURSOR_WINDOW:g}) not scored; "
              f"peaks needing two bond cuts count {TWO_BREAK_WEIGHT:g}")


@dataclass(frozen=True)
class MassOptions:
    """How a mass spectrum is read: the ion type (None: the file's, else assumed), the m/z
    tolerance of the formulas and of the fragments (ppm), the element limits (None: the
    defaults of ``mspectmol formula``) and the name of the ion-type setting in notes."""

    adduct: str | None = None
    ppm: float = 5.0
    fragment_ppm: float = 10.0
    elements: Mapping[str, int] | None = None
    adduct_option: str = "--ms-adduct"

    def check(self) -> None:
        """Raise :class:`~mspectmol.errors.MspectmolError` for an unknown ion type or a
        tolerance that is not positive."""
        if self.adduct is not None:
            get_adduct(self.adduct)
        if not (self.ppm > 0 and self.fragment_ppm > 0):
            raise MspectmolError(f"the m/z tolerances must be positive, got {self.ppm} and "
                                 f"{self.fragment_ppm} ppm")


def parse_ms_elements(text: str | None, name: str = "--ms-elements") -> dict[str, int] | None:
    """Element limits from ``"CHNOS2Cl3"`` (:func:`~mspectmol.chem.formula.search.parse_elements`;
    None or empty: the defaults); errors name the setting ``name``."""
    if not text:
        return None
    try:
        return parse_elements(text)
    except MspectmolError as exc:
        raise MspectmolError(str(exc).replace("--elements", name)) from None


@dataclass
class MassReport:
    """The formulas of a mass spectrum's ion and, with a structure, the explained peaks.

    ``mz`` and ``intensity`` are the spectrum's peaks (for the figure); ``structure_formula``
    is the structure's neutral formula and ``structure_rank`` its rank among the formula
    candidates (None: not among them).
    """

    source: str
    formulas: FormulaResult
    mz: np.ndarray
    intensity: np.ndarray
    smiles: str | None = None
    explanation: PeakExplanation | None = None
    structure_formula: str | None = None
    structure_rank: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def best_formula(self) -> str | None:
        """The first-ranked formula, or None when none fits."""
        return self.formulas.candidates[0].name if self.formulas.candidates else None

    def rename(self, source: str) -> None:
        """Name the spectrum ``source`` (the web app's uploaded file name)."""
        self.source = source
        self.formulas.source = source

    def formulas_dict(self) -> dict[str, Any]:
        """The ``formulas`` object of the JSON report (:meth:`FormulaResult.to_dict`)."""
        return self.formulas.to_dict()

    def explained_dict(self) -> dict[str, Any] | None:
        """The ``explained_peaks`` object of the JSON report (None without a structure)."""
        e = self.explanation
        if e is None:
            return None
        return {"smiles": self.smiles, "structure_formula": self.structure_formula,
                "structure_formula_rank": self.structure_rank, "charge": e.charge,
                "precursor_mz": e.precursor_mz, "ppm": e.ppm, "min_tolerance": e.min_tolerance,
                "explained_share": round(e.explained, 4), "share_rule": SHARE_RULE,
                "scored_peaks": e.scored, "explained_peaks": e.n_explained,
                "notes": list(self.notes), "peaks": [p.to_dict() for p in e.peaks]}

    def text_lines(self, top: int = TEXT_FORMULAS, peaks: int = TEXT_PEAKS) -> list[str]:
        """The report's lines: the formula table (``top`` rows) and the ``peaks`` most
        intense scored peaks with their fragments."""
        first, *rest = f"mass spectrum {self.formulas.text(top)}".splitlines()
        lines = [first, *("  " + ln for ln in rest)]
        e = self.explanation
        if e is None:
            return lines
        rank = (f"rank {self.structure_rank} of the formulas" if self.structure_rank
                else "not among the formulas")
        lines.append(f"peaks explained by {self.smiles} ({self.structure_formula}, {rank}): "
                     f"{e.explained:.0%} of the fragment intensity, {e.n_explained} of "
                     f"{e.scored} scored peaks")
        lines += [f"  note: {n}" for n in self.notes]
        scored = [p for p in e.peaks if p.status in ("explained", "unexplained")]
        if not scored:
            return lines
        base = max(p.intensity for p in e.peaks) or 1.0
        shown = sorted(sorted(scored, key=lambda p: -p.intensity)[:peaks], key=lambda p: -p.mz)
        lines.append(f"  {'m/z':>10} {'rel.int':>7}  {'fragment ion':<14} {'ion m/z':>10} "
                     f"{'ppm':>6} {'cuts':>4} {'H shift':>7}")
        for p in shown:
            rel = f"{100 * p.intensity / base:.1f}%"
            if p.status == "explained":
                lines.append(f"  {p.mz:>10.4f} {rel:>7}  {p.formula:<14} {p.fragment_mz:>10.4f} "
                             f"{round(p.error_ppm, 1) or 0.0:>6.1f} {p.cuts:>4} {p.h_shift:>+7d}")
            else:
                lines.append(f"  {p.mz:>10.4f} {rel:>7}  unexplained")
        if len(shown) < len(scored):
            lines.append(f"  ({len(scored) - len(shown)} smaller peaks in the JSON report)")
        return lines


def structure_formula(mol: Chem.Mol) -> str:
    """The neutral formula of a molecule in Hill notation (implicit hydrogens counted)."""
    counts: Counter[str] = Counter()
    for atom in mol.GetAtoms():
        counts[atom.GetSymbol()] += 1
        counts["H"] += atom.GetTotalNumHs()
    return hill(counts)


def _explain(report: MassReport, smiles: str, fragment_ppm: float) -> None:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise MspectmolError(f"invalid SMILES {smiles!r}")
    formula = structure_formula(mol)
    names = [c.name for c in report.formulas.candidates]
    report.smiles, report.structure_formula = smiles, formula
    report.structure_rank = names.index(formula) + 1 if formula in names else None
    if report.structure_rank is None:
        report.notes.append(f"the structure's formula {formula} is not among the "
                            f"{len(names)} formulas of the ion: check the ion type or the "
                            "structure")
    mz, intensity = report.mz, report.intensity
    if mz.size > MAX_PEAKS:
        keep = np.sort(np.argsort(-intensity, kind="stable")[:MAX_PEAKS])
        mz, intensity = mz[keep], intensity[keep]
        report.notes.append(f"the {MAX_PEAKS} most intense of {report.mz.size} peaks were "
                            "matched with fragments")
    charge = get_adduct(report.formulas.adduct).charge
    min_tolerance = 0.002
    if report.formulas.ion.nominal:
        min_tolerance = NOMINAL_TOLERANCE_DA
        report.notes.append(f"nominal-mass spectrum: fragments matched within "
                            f"{NOMINAL_TOLERANCE_DA} Da")
    report.explanation = explain_peaks(mol, mz, intensity,
                                       precursor_mz=report.formulas.ion.mz,
                                       charge=1 if charge > 0 else -1, ppm=fragment_ppm,
                                       min_tolerance=min_tolerance)


def mass_report(path: str | os.PathLike[str], smiles: str | None = None,
                options: MassOptions | None = None) -> MassReport:
    """Read a mass spectrum, rank the formulas of its ion and, given ``smiles``, explain its
    peaks (see the module docstring).

    Raises
    ------
    MspectmolError
        Naming the file: unreadable, no peaks, an unknown ion type in the file; an invalid
        SMILES.
    """
    options = options or MassOptions()
    source = str(path)
    spectrum = read_spectrum(path, "ms")
    try:
        formulas = formulas_for_spectrum(spectrum, source, adduct=options.adduct,
                                         ppm=options.ppm, limits=options.elements,
                                         top=N_FORMULAS, adduct_option=options.adduct_option)
    except MspectmolError as exc:
        message = str(exc)
        raise MspectmolError(message if source in message else f"{source}: {message}") from None
    keep = np.isfinite(spectrum.x) & np.isfinite(spectrum.y)
    order = np.argsort(spectrum.x[keep], kind="stable")
    report = MassReport(source, formulas, np.asarray(spectrum.x[keep][order], float),
                        np.asarray(spectrum.y[keep][order], float))
    if smiles:
        _explain(report, smiles, options.fragment_ppm)
    return report
