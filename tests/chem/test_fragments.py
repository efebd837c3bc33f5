"""Combinatorial fragments: the fragment ions of a molecule and the explained intensity."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.chem.formula import formula_mass, get_adduct
from mspectmol.chem.fragments import TWO_BREAK_WEIGHT, explained_intensity, fragment_table

PROTON = get_adduct("[M+H]+")


def test_one_cut_fragments_of_ethyl_benzoate_include_the_benzoyl_ion():
    table = fragment_table("CCOC(=O)c1ccccc1")
    benzoyl = formula_mass({"C": 7, "H": 5, "O": 1}) - 0.000549  # C7H5O+
    near = np.abs(table.mz - benzoyl) < 1e-4
    assert near.any() and table.cuts[near].min() == 1
    # the molecule itself is never a fragment
    whole = PROTON.ion_mz(formula_mass({"C": 9, "H": 10, "O": 2}))
    assert not (np.abs(table.mz - whole) < 1e-4).any()


def test_a_ring_opens_only_with_two_cuts():
    table = fragment_table("C1CCCCC1")  # every fragment needs two ring cuts
    assert set(table.cuts.tolist()) == {2}


def test_the_true_isomer_explains_its_own_fragments_better():
    true, decoy = "CCOC(=O)c1ccccc1", "COC(=O)c1ccc(C)cc1"
    benzoyl = formula_mass({"C": 7, "H": 5, "O": 1}) - 0.000549
    phenyl = formula_mass({"C": 6, "H": 5}) - 0.000549
    mz, intensity = np.array([phenyl, benzoyl]), np.array([40.0, 100.0])
    precursor = PROTON.ion_mz(formula_mass({"C": 9, "H": 10, "O": 2}))
    s_true = explained_intensity(fragment_table(true), mz, intensity, precursor_mz=precursor)
    s_decoy = explained_intensity(fragment_table(decoy), mz, intensity, precursor_mz=precursor)
    # the decoy needs two cuts (and a hydrogen shift) for each ion
    assert s_true == pytest.approx(1.0) and s_decoy == pytest.approx(TWO_BREAK_WEIGHT)


def test_the_precursor_and_small_ions_are_not_scored():
    table = fragment_table("CCO")
    assert explained_intensity(table, [47.049], [100.0], precursor_mz=47.049) == 0.0
    assert explained_intensity(table, [15.02], [100.0], precursor_mz=47.049) == 0.0
    with pytest.raises(ValueError, match="invalid SMILES"):
        fragment_table("not a smiles")
