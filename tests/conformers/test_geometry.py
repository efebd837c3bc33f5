"""Geometry check of conformers and the training-domain test (golden and behavioural)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rdkit import Chem

from mspectmol.conformers.baselines import embed_etkdg
from mspectmol.conformers.data import mol_with_hs
from mspectmol.conformers.domain import (
    PACKAGED_CONTENT_HASH,
    PACKAGED_DOMAIN,
    TrainingDomain,
    domain_from_dict,
    domain_of_records,
    model_domain,
    outside_domain,
)
from mspectmol.conformers.geometry import (
    BOND_LONG,
    BOND_SHORT,
    GeometryChecker,
    problem_lines,
    relax_mmff,
)
from mspectmol.conformers.io import PRETRAINED_DIR
from mspectmol.errors import ModelFileError

IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"


@pytest.mark.parametrize("smiles", ["CCO", "N#CC(=O)N", "C[C@H](O)C=O", "FC1CC1",
                                    IBUPROFEN, "Clc1ccc(Br)cc1S"])
def test_etkdg_mmff_conformers_pass(smiles):
    mol = mol_with_hs(smiles)
    checker = GeometryChecker(mol)
    for coords in embed_etkdg(mol, 3, 7, mmff=True):
        result = checker.check(coords)
        assert result.ok, result.problems
        assert BOND_SHORT < result.bond_ratio_range[0] <= result.bond_ratio_range[1] < BOND_LONG
        assert result.energy is not None
        assert result.energy - result.reference_energy < checker.energy_margin()
        assert result.properties()["geometry_ok"] == "True"


def _ethanol():
    mol = mol_with_hs("CCO")
    return mol, GeometryChecker(mol), embed_etkdg(mol, 1, 3, mmff=True)[0]


def test_stretched_bond_fails_as_too_long():
    mol, checker, coords = _ethanol()
    o, h = 2, next(a.GetIdx() for a in mol.GetAtomWithIdx(2).GetNeighbors()
                   if a.GetSymbol() == "H")
    stretched = coords.copy()
    stretched[h] = coords[o] + 2.0 * (coords[h] - coords[o])  # O-H 0.97 -> 1.94 A
    result = checker.check(stretched)
    assert "bond_long" in result.problems and "bond_short" not in result.problems
    assert f"O3-H{h + 1} 1.9" in result.problems["bond_long"]
    assert result.bond_range[1] == pytest.approx(2 * np.linalg.norm(coords[h] - coords[o]))
    assert result.properties()["geometry_ok"] == "False"


def test_collapsed_geometry_fails_short_clash_and_energy():
    _, checker, coords = _ethanol()
    result = checker.check(0.5 * coords)
    assert set(result.problems) == {"bond_short", "clash", "energy"}
    assert "too short" in result.problems["bond_short"]
    assert result.energy - result.reference_energy > 1000


def test_mild_compression_fails_on_energy_alone():
    mol = mol_with_hs("CC")
    checker = GeometryChecker(mol)
    result = checker.check(0.8 * embed_etkdg(mol, 1, 3, mmff=True)[0])
    assert set(result.problems) == {"energy"}  # bonds at 0.8 x are allowed, the energy is not
    assert "above the ETKDG + MMFF" in result.problems["energy"]


def test_overlapping_fragments_clash_without_bond_problems():
    mol = mol_with_hs("C.C")
    one = embed_etkdg(mol_with_hs("C"), 1, 3, mmff=True)[0]
    shift = np.array([0.4, 0.0, 0.0])  # AddHs order: C, C, then each carbon's hydrogens
    coords = np.concatenate([one[:1], one[:1] + shift, one[1:], one[1:] + shift])
    result = GeometryChecker(mol, energy=False).check(coords)
    assert set(result.problems) == {"clash"}
    assert result.properties()["mmff_energy"].startswith("not checked")


def test_molecule_without_mmff_parameters_gets_the_other_tests():
    mol = mol_with_hs("OB(O)c1ccccc1")  # MMFF94 has no boron
    checker = GeometryChecker(mol)
    coords = embed_etkdg(mol, 1, 5)[0]
    result = checker.check(coords)
    assert result.ok and result.energy is None
    assert result.properties()["mmff_energy"] == ("not checked (no MMFF94 parameters for this "
                                                  "molecule)")
    assert set(checker.check(0.5 * coords).problems) == {"bond_short", "clash"}


def test_relaxation_repairs_a_distorted_conformer():
    mol, checker, coords = _ethanol()
    rng = np.random.default_rng(0)
    bad = coords + rng.normal(0, 0.35, coords.shape)
    assert not checker.check(bad).ok
    assert checker.check(relax_mmff(mol, bad)).ok


def test_problem_lines_name_the_molecule_and_count():
    _, checker, coords = _ethanol()
    checks = [checker.check(coords), checker.check(0.5 * coords), checker.check(0.6 * coords)]
    lines = problem_lines("CCO", checks)
    assert len(lines) == 3  # one per kind: short bonds, clashes, energy
    assert lines[0].startswith("CCO: 2 of 3 conformers have bonds too short; worst conformer:")
    assert "0.50 x the covalent radii" in lines[0]  # the worse of the two
    assert problem_lines("CCO", checks[:1]) == []


def test_packaged_domain_is_qm9():
    meta = json.loads((PRETRAINED_DIR / "model.json").read_text())
    assert meta["content_hash"] == PACKAGED_CONTENT_HASH  # the model the declaration is for
    assert model_domain(meta) == PACKAGED_DOMAIN
    assert PACKAGED_DOMAIN.max_heavy_atoms == 9
    assert set(PACKAGED_DOMAIN.elements) == {"H", "C", "N", "O", "F"}
    assert model_domain({"content_hash": "0" * 64}) is None


@pytest.mark.parametrize("smiles, reasons", [
    ("CC(=O)Nc1ccc(O)cc1", []),  # paracetamol: 11 heavy atoms
    (IBUPROFEN, ["15 heavy atoms (the model saw at most 9)"]),
    ("CCCl", ["element Cl (the model saw only C F H N O)"]),
    ("OCC(=O)C", []),
])
def test_outside_domain(smiles, reasons):
    domain = PACKAGED_DOMAIN if smiles != "CC(=O)Nc1ccc(O)cc1" else TrainingDomain(
        11, ("C", "H", "N", "O"), "test")
    assert outside_domain(Chem.MolFromSmiles(smiles), domain) == reasons


def test_domain_round_trip_and_bad_field():
    domain = domain_of_records(["CCO", "c1ccncc1", "not a smiles"], "test set")
    assert domain == TrainingDomain(6, ("C", "H", "N", "O"), "test set")
    assert model_domain({"domain": domain.to_dict()}) == domain
    assert domain_from_dict(domain.to_dict()) == domain
    with pytest.raises(ModelFileError, match="invalid training domain"):
        domain_from_dict({"max_heavy_atoms": "nine", "elements": ["C"]})



def _facing_pair(smiles, gap):
    """Two copies of a one-heavy-atom molecule with the first's atom 1 (a hydrogen) ``gap`` A
    from the second's heavy atom (``"O"``: the second translated, an O-H...O line) or from the
    second's first hydrogen (``"C"``: the second reflected through a point, H facing H)."""
    one = embed_etkdg(mol_with_hs(smiles), 1, 3, mmff=True)[0]  # heavy atom, then hydrogens
    direction = (one[1] - one[0]) / np.linalg.norm(one[1] - one[0])
    target = one[1] + gap * direction
    other = one + (target - one[0]) if smiles == "O" else (target + one[1]) - one
    return np.concatenate([one[:1], other[:1], one[1:], other[1:]])  # AddHs order


def test_hydrogen_bond_is_not_a_clash_but_a_close_pair_is():
    waters = GeometryChecker(mol_with_hs("O.O"), energy=False)
    assert "clash" not in waters.check(_facing_pair("O", 1.5)).problems  # 0.55 x the vdW sum
    assert "clash" in waters.check(_facing_pair("O", 0.9)).problems  # 0.33 x
    methanes = GeometryChecker(mol_with_hs("C.C"), energy=False)
    assert "clash" not in methanes.check(_facing_pair("C", 2.0)).problems  # H...H 0.83 x
    result = methanes.check(_facing_pair("C", 1.3))  # H...H 1.3 A: 0.54 x, not a hydrogen bond
    assert set(result.problems) == {"clash"} and "1.30 A" in result.problems["clash"]
