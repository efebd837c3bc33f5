"""Functional-group labels on the 100-molecule sample of Alberts et al. (2024).

Reads only the ``smiles`` column of ``alberts-example/example_data_1.parquet`` from the shared
data folder (next to the repository, or ``$MSPECTMOL_SHARED``); skipped when it is absent.
The hand-checked molecules' groups were worked out from chemistry and the SMARTS; the
prevalence checks compare the SMARTS labels with independent RDKit atom/ring computations.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from mspectmol.chem import GROUP_KEYS, groups_present, label_many

SHARED = Path(os.environ.get("MSPECTMOL_SHARED", Path(__file__).resolve().parents[3] / "shared"))
SAMPLE = SHARED / "data" / "alberts-example" / "example_data_1.parquet"

pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"{SAMPLE} not available")

# row -> (SMILES, hand-checked groups)
HAND_CHECKED: dict[int, tuple[str, set[str]]] = {
    # ethynylcyclohexane: ring CH2 groups, terminal alkyne
    3: ("C#CC1CCCCC1", {"Alkane", "Alkyne"}),
    # Boc-protected N-phenyl aminoacetaldehyde: N on C=O is no amine, the Boc C=O has no
    # carbon neighbour so no ester; the Boc O-tBu is an ether O
    6: ("CC(C)(C)OC(=O)N(CC=O)c1ccccc1", {"Aldehyde", "Alkane", "Arene", "Carbamate", "Ether"}),
    # N-aryl dimethylmaleimide with an acyl chloride; C=C between the two ring carbonyls
    9: (
        "CC1=C(C)C(=O)N(c2cc(C(=O)Cl)c(Cl)cc2F)C1=O",
        {"Acyl halide", "Alkane", "Alkene", "Amide", "Arene", "Haloalkane", "Imide"},
    ),
    # 2-aryl ethanol with a diaryl ether and a CF3 group
    16: ("OCCc1ccc(Oc2ccc(C(F)(F)F)cc2)cc1", {"Alcohol", "Alkane", "Arene", "Ether", "Haloalkane"}),
    # cinnamic acid with a diaryl thioether: no CH3/CH2 at all, so no "Alkane"
    53: (
        "O=C(O)/C=C/c1ccc(Sc2ccccc2Br)c(Cl)c1",
        {"Alcohol", "Alkene", "Arene", "Carboxylic acid", "Haloalkane", "Sulfide"},
    ),
    # alpha-azido aldehyde ester: the azide N=[N+]=[N-] is no azo, imine or amine
    99: ("CCOC(=O)C(C)(C=O)N=[N+]=[N-]", {"Aldehyde", "Alkane", "Ester", "Ether"}),
}


@pytest.fixture(scope="module")
def smiles() -> list[str]:
    import pyarrow.parquet as pq

    column = pq.read_table(SAMPLE, columns=["smiles"]).column("smiles").to_pylist()
    assert len(column) == 100
    return column


@pytest.fixture(scope="module")
def labels(smiles: list[str]) -> np.ndarray:
    return label_many(smiles)


@pytest.mark.parametrize("row", sorted(HAND_CHECKED))
def test_hand_checked_rows(smiles: list[str], row: int) -> None:
    expected_smiles, expected = HAND_CHECKED[row]
    assert smiles[row] == expected_smiles
    assert set(groups_present(smiles[row])) == expected


def _has_ch2_or_ch3(mol: Chem.Mol) -> bool:
    return any(
        a.GetSymbol() == "C" and a.GetDegree() + a.GetTotalNumHs() == 4 and a.GetTotalNumHs() >= 2
        for a in mol.GetAtoms()
    )


def _has_benzene_ring(mol: Chem.Mol) -> bool:
    atoms = mol.GetAtoms()
    return any(
        len(ring) == 6
        and all(atoms[i].GetSymbol() == "C" and atoms[i].GetIsAromatic() for i in ring)
        for ring in mol.GetRingInfo().AtomRings()
    )


def _has_nitrile(mol: Chem.Mol) -> bool:
    return any(
        b.GetBondType() == Chem.BondType.TRIPLE
        and {b.GetBeginAtom().GetSymbol(), b.GetEndAtom().GetSymbol()} == {"C", "N"}
        for b in mol.GetBonds()
    )


def test_prevalences_agree_with_independent_checks(smiles: list[str], labels: np.ndarray) -> None:
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    col = {key: labels[:, i].astype(bool) for i, key in enumerate(GROUP_KEYS)}
    np.testing.assert_array_equal(col["alkane"], [_has_ch2_or_ch3(m) for m in mols])
    np.testing.assert_array_equal(col["arene"], [_has_benzene_ring(m) for m in mols])
    np.testing.assert_array_equal(col["nitrile"], [_has_nitrile(m) for m in mols])


def test_prevalence_profile(labels: np.ndarray) -> None:
    """Shape of the label distribution the dataset papers describe (alkane ~95%, arene ~75%)."""
    assert labels.shape == (100, 37)
    prevalence = labels.mean(axis=0)
    order = np.argsort(prevalence)[::-1]
    assert GROUP_KEYS[order[0]] == "alkane" and prevalence[order[0]] >= 0.85
    assert GROUP_KEYS[order[1]] == "arene" and 0.6 <= prevalence[order[1]] <= 0.9
    assert (prevalence == 0).sum() >= 5  # very imbalanced: several groups never occur
    # Every carboxylic acid and phenol OH is also an "alcohol" under [#6][OX2H].
    col = dict(zip(GROUP_KEYS, labels.T.astype(bool), strict=True))
    assert not (col["carboxylic_acid"] & ~col["alcohol"]).any()
    assert not (col["phenol"] & ~col["alcohol"]).any()
    assert 3.0 <= labels.sum(axis=1).mean() <= 7.0
