"""Heavy-atom RMSD: zero for identical conformers, symmetry-aware, order independent."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.conformers.baselines import embed_etkdg
from mspectmol.conformers.data import mol_with_hs
from mspectmol.conformers.rmsd import (
    heavy_atom_rmsd,
    rmsd_to_coords,
    stereo_matches,
    with_coordinates,
)
from mspectmol.errors import MspectmolError


def test_identical_conformers_give_zero():
    mol = mol_with_hs("CC(O)CC=O")
    xyz = embed_etkdg(mol, 1, 0)[0]
    assert rmsd_to_coords(mol, xyz, xyz) == pytest.approx(0.0, abs=1e-6)
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert rmsd_to_coords(mol, xyz @ rot.T + 3.0, xyz) == pytest.approx(0.0, abs=1e-6)


def test_invariant_to_permuting_symmetric_atoms():
    mol = mol_with_hs("CC(C)(C)O")  # three equivalent methyl carbons: atoms 0, 2, 3
    a, b = embed_etkdg(mol, 2, 7, mmff=True)
    perm = np.arange(mol.GetNumAtoms())
    perm[[0, 2, 3]] = [2, 3, 0]
    swapped = a[perm]  # the same geometry with the methyl carbons' positions exchanged
    assert rmsd_to_coords(mol, swapped, a) == pytest.approx(0.0, abs=1e-6)
    assert rmsd_to_coords(mol, swapped, b) == pytest.approx(rmsd_to_coords(mol, a, b), abs=1e-6)
    # a naive (order-fixed) RMSD of the swapped coordinates is far from zero
    heavy = [i for i, at in enumerate(mol.GetAtoms()) if at.GetAtomicNum() > 1]
    d = swapped[heavy] - a[heavy]
    assert np.sqrt((d**2).sum(1).mean()) > 0.5


def test_different_conformers_and_atom_orders():
    mol = mol_with_hs("CCCCCO")
    a, b = embed_etkdg(mol, 2, 3)
    assert rmsd_to_coords(mol, a, b) > 0.05
    other = mol_with_hs("OCCCCC")  # same molecule, another atom order
    match = other.GetSubstructMatch(mol)
    xyz = np.empty_like(a)
    xyz[list(match)] = a
    assert heavy_atom_rmsd(with_coordinates(other, xyz), with_coordinates(mol, a)) == \
        pytest.approx(0.0, abs=1e-6)


def test_stereo_check_detects_mirror_image():
    mol = mol_with_hs("C[C@H](N)O")
    xyz = embed_etkdg(mol, 1, 0)[0]
    assert stereo_matches(mol, xyz, "C[C@H](N)O")
    assert not stereo_matches(mol, xyz * np.array([-1, 1, 1]), "C[C@H](N)O")


def test_bad_coordinates_raise():
    mol = mol_with_hs("CCO")
    with pytest.raises(MspectmolError, match="shape"):
        with_coordinates(mol, np.zeros((2, 3)))
    with pytest.raises(MspectmolError, match="non-finite"):
        with_coordinates(mol, np.full((mol.GetNumAtoms(), 3), np.nan))
