"""Random and scaffold splits."""

import numpy as np
import pytest

from mspectmol.data.splits import murcko_scaffold, random_split, scaffold_split
from mspectmol.errors import InvalidSmilesError, MspectmolError

SMILES = (["c1ccccc1" + "C" * k for k in range(1, 11)]            # benzene scaffold
          + ["C1CCCCC1" + "O" * (k % 2) + "C" * k for k in range(1, 7)]  # cyclohexane
          + ["CCO", "CCCN", "CC(C)=O", "CCCC", "OCCO", "CC#N"]       # acyclic
          + ["c1ccncc1C", "c1ccoc1C", "C1CCNC1C", "c1ccsc1C", "C1CC1C", "C1CCC1C"])


def test_random_split_is_8_1_1_and_reproducible():
    s = random_split(1000, seed=3)
    names, counts = np.unique(s, return_counts=True)
    assert dict(zip(names, counts, strict=True)) == {"test": 100, "train": 800, "val": 100}
    np.testing.assert_array_equal(s, random_split(1000, seed=3))
    assert (s != random_split(1000, seed=4)).any()


def test_scaffolds():
    assert murcko_scaffold("c1ccccc1CCO") == "c1ccccc1"
    assert murcko_scaffold("CCO") == ""
    with pytest.raises(InvalidSmilesError):
        murcko_scaffold("C1CC")


def test_scaffold_split_keeps_scaffolds_together():
    s = scaffold_split(SMILES, seed=0)
    assert len(s) == len(SMILES) and set(s) <= {"train", "val", "test"}
    by_scaffold = {}
    for smi, part in zip(SMILES, s, strict=True):
        by_scaffold.setdefault(murcko_scaffold(smi), set()).add(part)
    assert all(len(parts) == 1 for parts in by_scaffold.values())
    assert (s == "train").sum() >= 0.6 * len(SMILES)
    assert (s == "test").sum() >= 1
    np.testing.assert_array_equal(s, scaffold_split(SMILES, seed=0))


def test_bad_fractions():
    with pytest.raises(MspectmolError, match="fractions"):
        random_split(10, 0, (0.5, 0.5, 0.5))
