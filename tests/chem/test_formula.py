"""Formulas from mass spectra: masses and isotope patterns against RDKit and pyteomics, the
chemical rules, the ion finder and the ranked search."""

from __future__ import annotations

import numpy as np
import pytest
from pyteomics import mass as pyteomics_mass
from rdkit import Chem
from rdkit.Chem.Descriptors import ExactMolWt
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

from mspectmol.chem.formula import (
    find_ion,
    formula_mass,
    get_adduct,
    hill,
    isotope_pattern,
    parse_formula,
    rdbe,
    rule_violations,
    search_formulas,
)
from mspectmol.chem.formula.prior import FormulaPrior, fit_prior
from mspectmol.chem.formula.search import enumerate_formulas, parse_elements
from mspectmol.errors import MspectmolError

MOLECULES = ["CC(C)CCNc1ncc(F)cc1C(=O)O", "CC(=O)Oc1ccccc1C(=O)O", "Clc1ccccc1",
             "CS(=O)(=O)c1ccc(Br)cc1", "O=P(O)(O)OCC1OC(O)C(O)C1O", "C[Si](C)(C)OC"]


@pytest.mark.parametrize("smiles", MOLECULES)
def test_mass_and_hill_formula_match_rdkit(smiles):
    mol = Chem.MolFromSmiles(smiles)
    formula = parse_formula(CalcMolFormula(mol))
    assert hill(formula) == CalcMolFormula(mol)
    assert formula_mass(formula) == pytest.approx(ExactMolWt(mol), abs=2e-5)


def _naive_pattern(formula, n_peaks):
    """Atom-by-atom convolution over every isotope of NIST's table (no grouping shortcuts)."""
    dist = {0.0: 1.0}
    for element, count in formula.items():
        isotopes = [(m, a) for k, (m, a) in pyteomics_mass.nist_mass[element].items()
                    if k and a > 0]
        for _ in range(count):
            new = {}
            for m0, p0 in dist.items():
                for m, a in isotopes:
                    key = round(m0 + m, 6)
                    new[key] = new.get(key, 0.0) + p0 * a
            dist = {m: p for m, p in new.items() if p > 1e-12}
    mono = formula_mass(formula)
    grouped = np.zeros(n_peaks)
    for m, p in dist.items():
        k = int(round(m - mono))
        if 0 <= k < n_peaks:
            grouped[k] += p
    return grouped / grouped[0]


def test_isotope_pattern_matches_a_naive_convolution_by_nominal_mass():
    formula = {"C": 9, "H": 9, "Br": 1, "O": 2, "S": 1}
    mz, rel = isotope_pattern(formula, n_peaks=4)
    assert rel == pytest.approx(_naive_pattern(formula, 4), rel=1e-6, abs=1e-9)
    assert mz[0] == pytest.approx(formula_mass(formula))
    assert 1.99 < mz[2] - mz[0] < 2.01  # 81Br and 34S weighted with 13C2


def test_known_isotope_ratios():
    assert isotope_pattern({"C": 6, "H": 5, "Cl": 1})[1][2] == pytest.approx(0.325, abs=0.005)
    assert isotope_pattern({"C": 1, "H": 3, "Br": 1})[1][2] == pytest.approx(0.973, abs=0.01)
    assert isotope_pattern({"C": 20, "H": 42})[1][1] == pytest.approx(0.225, abs=0.005)


def test_adduct_masses_and_rdbe():
    f = parse_formula("C11H15FN2O2")
    assert get_adduct("M+H").ion_mz(formula_mass(f)) == pytest.approx(227.11903, abs=1e-5)
    assert get_adduct("[M-H]-").ion_mz(formula_mass(f)) == pytest.approx(225.10448, abs=1e-5)
    assert get_adduct("[M+Na]+").neutral_mass(249.1010) == pytest.approx(226.1118, abs=2e-4)
    assert rdbe(f) == 5 and rdbe({"C": 6, "H": 6}) == 4


def test_rules_reject_impossible_formulas():
    assert rule_violations({"C": 6, "H": 6}) == []
    assert any("nitrogen" in v for v in rule_violations({"C": 6, "H": 7}))
    assert any("negative" in v for v in rule_violations({"C": 1, "H": 6}))
    assert any("H/C" in v for v in rule_violations({"C": 1, "H": 8, "N": 2}))
    with pytest.raises(MspectmolError, match="not a molecular formula"):
        parse_formula("C6H6+")
    with pytest.raises(MspectmolError, match="unknown adduct"):
        get_adduct("[M+Xe]+")


def test_enumeration_finds_every_formula_within_tolerance():
    target = formula_mass({"C": 11, "H": 15, "F": 1, "N": 2, "O": 2})
    elements, counts = enumerate_formulas(target, 0.002)
    masses = counts @ np.array([formula_mass({e: 1}) for e in elements])
    assert np.all(np.abs(masses - target) <= 0.002)
    row = [11, 15] + [{"N": 2, "O": 2, "F": 1}.get(e, 0) for e in elements[2:]]
    assert any((counts == row).all(axis=1))


@pytest.mark.parametrize("smiles", MOLECULES[:4])
def test_true_formula_ranks_first_with_isotopes(smiles):
    formula = parse_formula(CalcMolFormula(Chem.MolFromSmiles(smiles)))
    ion = get_adduct("[M+H]+")
    mz = ion.ion_mz(formula_mass(formula)) * (1 + 1.5e-6)
    iso = isotope_pattern(ion.ion_formula(formula), charge=1)[1][1:4]
    best = search_formulas(mz, ion, ppm=5, isotopes=iso, top=3)
    assert best[0].name == hill(formula)
    assert best[0].ppm == pytest.approx(1.5, abs=0.05)


def test_find_ion_in_an_ei_spectrum_skips_isotope_peaks():
    mz = np.array([51.0, 77.0, 111.0, 112.0, 113.0, 114.0, 115.0])
    intensity = np.array([10, 60, 20, 100, 6.6, 32.4, 2.1])
    ion = find_ion(mz, intensity)
    assert ion.mz == 112.0 and ion.nominal
    assert ion.isotopes == pytest.approx((0.066, 0.324, 0.021))


def test_find_ion_of_a_precursor_without_isotopes():
    ion = find_ion(np.array([157.04078, 227.11903]), np.array([62.4, 100.0]),
                   precursor_mz=227.1191)
    assert ion.mz == 227.11903 and ion.isotopes is None and not ion.nominal
    missing = find_ion(np.array([157.04]), np.array([1.0]), precursor_mz=227.1191)
    assert missing.mz == 227.1191 and "no peak" in missing.how


def test_element_limits_and_the_prior():
    assert parse_elements("CHNOS2Cl3") == {"C": 10_000, "H": 10_000, "N": 20, "O": 20,
                                           "S": 2, "Cl": 3}
    with pytest.raises(MspectmolError, match="unsupported"):
        parse_elements("CHNa")
    prior = FormulaPrior(fit_prior([{"C": 6, "H": 6}, {"C": 6, "H": 7, "N": 1},
                                    {"C": 7, "H": 8, "O": 1}] * 10, source="test"))
    lp = prior.log_prob(["C", "H", "N", "O", "P"],
                        np.array([[6, 7, 1, 0, 0], [6, 7, 0, 0, 1]]))
    assert lp[0] > lp[1] + 3  # N seen in the reference set, P never


def test_too_many_combinations_is_one_clear_error(monkeypatch):
    from mspectmol.chem.formula import search

    monkeypatch.setattr(search, "MAX_COMBINATIONS", 1000)
    with pytest.raises(MspectmolError, match="name fewer elements"):
        search.search_formulas(900.0, "[M+H]+")
    # a narrower element set fits
    assert search.search_formulas(301.1, "[M+H]+", limits=parse_elements("CHNO"))
