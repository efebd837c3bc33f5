"""Proton environments (rule couplings from per-atom data) and the 1H rendering that uses them."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from mspectmol.data.proton_environments import (
    J_ORTHO,
    first_order_multiplet,
    karplus,
    proton_environments,
)
from mspectmol.data.rendering import PeakRenderer, RenderSettings
from mspectmol.data.simulator.nmr_atoms import proton_pairs


def _columns(smiles, shifts_by_heavy):
    """Per-atom columns with made-up shifts: each H gets the shift of its heavy atom."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    xyz = mol.GetConformer().GetPositions()
    shifts = [shifts_by_heavy[a.GetNeighbors()[0].GetIdx()] if a.GetAtomicNum() == 1
              else float("nan") for a in mol.GetAtoms()]
    classes = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    pairs, dihedral = proton_pairs(mol, xyz)
    return shifts, classes, pairs.ravel().tolist(), dihedral.tolist()


def test_karplus_has_its_textbook_values():
    assert karplus(180.0) == pytest.approx(10.26)
    assert karplus(90.0) == pytest.approx(1.40)
    assert karplus(60.0) == pytest.approx(2.79)


def test_ethanol_is_a_quartet_a_triplet_and_a_broad_oh():
    env = proton_environments("CCO", *_columns("CCO", {0: 1.2, 1: 3.7, 2: 2.5}))
    by_shift = {round(s, 1): k for k, s in enumerate(env.shift)}
    ch3, ch2, oh = by_shift[1.2], by_shift[3.7], by_shift[2.5]
    assert env.count[[ch3, ch2, oh]].tolist() == [3, 2, 1]
    assert env.exchangeable[[ch3, ch2, oh]].tolist() == [False, False, True]
    assert [n for n, _ in env.couplings[ch3]] == [2]  # a triplet
    assert [n for n, _ in env.couplings[ch2]] == [3]  # a quartet; the OH couples to nothing
    assert env.couplings[oh] == []
    # a methyl's three dihedrals average the Karplus curve: 60, 180, 300 degrees -> 5.3 Hz
    assert env.couplings[ch2][0][1] == pytest.approx(5.3, abs=0.6)


def test_benzene_ring_protons_couple_ortho():
    shifts = {i: 7.0 + 0.1 * i for i in range(6)}
    env = proton_environments("c1ccncc1", *_columns("c1ccncc1", shifts))
    assert env is not None and env.count.sum() == 5
    assert any(j == J_ORTHO for c in env.couplings for _, j in c)


def test_first_order_multiplet_is_binomial():
    pos, amp = first_order_multiplet(2.0, 3.0, [(2, 7.0)], 350.0)
    np.testing.assert_allclose(pos, [1.98, 2.0, 2.02])
    np.testing.assert_allclose(amp, [0.75, 1.5, 0.75])


def test_rendering_with_rule_couplings(tmp_path):
    shifts, classes, pairs, dihedral = _columns("CCO", {0: 1.2, 1: 3.7, 2: 2.5})
    (tmp_path / "chunks").mkdir()
    pq.write_table(pa.table({
        "id": ["e"], "smiles": ["CCO"],
        "h_shift": pa.array([[3.7, 2.5, 1.2]], pa.list_(pa.float32())),
        "h_count": pa.array([[2, 1, 3]], pa.list_(pa.int16())),
        "h_atom_shift": [shifts], "atom_class": [classes], "hh_pairs": [pairs],
        "hh_dihedral": [dihedral]}), tmp_path / "chunks" / "c-000.parquet")
    grid = np.linspace(0.0, 5.0, 600)
    assert PeakRenderer(np.array(["e"]), ("h_nmr",), {"h_nmr": grid},
                        path=tmp_path).protons == [None]  # off by default
    settings = RenderSettings(probability=1.0, h_couplings=1.0, h_shift_sd=(0.0, 0.0),
                              h_mhz=(400.0, 400.0), h_width_hz=(0.5, 0.5), h_solvent=0.0,
                              h_exchange_broadening=(20.0, 20.0))
    r = PeakRenderer(np.array(["e"]), ("h_nmr",), {"h_nmr": grid}, settings, path=tmp_path)
    pos, amp, fwhm, _, _ = r._random_h_rules(r.protons[0], np.random.default_rng(0))
    ch3, ch2, oh = (np.abs(pos - c) < 0.05 for c in (1.2, 3.7, 2.5))
    assert ch3.sum() == 3 and ch2.sum() == 4 and oh.sum() == 1  # triplet, quartet, singlet
    np.testing.assert_allclose(amp[ch3] / amp[ch3].sum(), [0.25, 0.5, 0.25])
    np.testing.assert_allclose(amp[ch2] / amp[ch2].sum(), [0.125, 0.375, 0.375, 0.125])
    assert amp[ch3].sum() == pytest.approx(3.0) and amp[ch2].sum() == pytest.approx(2.0)
    np.testing.assert_allclose(fwhm[oh], 20.0 * 0.5 / 400.0)
    np.testing.assert_allclose(fwhm[ch3], 0.5 / 400.0)
    spacing = np.diff(pos[ch2]) * 400.0  # Hz: the jittered vicinal J, equal within a set
    assert np.allclose(spacing, spacing[0]) and 3.0 < spacing[0] < 9.0
    row = r.render("h_nmr", np.random.default_rng(0))[0]
    assert row.shape == (600,) and row.max() == pytest.approx(1.0)
