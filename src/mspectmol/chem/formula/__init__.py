"""Molecular formulas from mass spectra: compositions and masses
(:mod:`~mspectmol.chem.formula.composition`), isotope patterns
(:mod:`~mspectmol.chem.formula.isotopes`), the ion and its isotope peaks in a peak list
(:mod:`~mspectmol.chem.formula.peaks`), a prior over known molecules
(:mod:`~mspectmol.chem.formula.prior`) and the ranked search
(:mod:`~mspectmol.chem.formula.search`)."""

from mspectmol.chem.formula.composition import (
    ADDUCTS,
    Adduct,
    formula_mass,
    get_adduct,
    hill,
    parse_formula,
    rdbe,
    rule_violations,
)
from mspectmol.chem.formula.isotopes import isotope_pattern
from mspectmol.chem.formula.peaks import IonPeaks, find_ion
from mspectmol.chem.formula.search import FormulaCandidate, search_formulas

__all__ = ["ADDUCTS", "Adduct", "FormulaCandidate", "IonPeaks", "find_ion", "formula_mass",
           "get_adduct", "hill", "isotope_pattern", "parse_formula", "rdbe", "rule_violations",
           "search_formulas"]
