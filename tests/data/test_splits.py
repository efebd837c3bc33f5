"""Random and scaffold splits."""

import numpy as np
import pytest

from mspectmol.data.splits import (
    extend_scaffold_split,
    murcko_scaffold,
    random_split,
    scaffold_split,
)
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


def test_extended_scaffold_split_keeps_the_known_split_and_its_scaffolds():
    known = SMILES[:22]
    known_split = scaffold_split(known, seed=0)
    new = (["c1ccccc1CC(=O)O", "C1CCCCC1CCN", "CCCCCO"]                   # known scaffolds
           + ["c1ccc2ccccc2c1" + "C" * k for k in range(1, 5)]             # new: naphthalene
           + ["C1CCOC1C", "c1ccc(-c2ccccc2)cc1", "C1CCC2CCCCC2C1", "c1cnc2ccccc2c1"])
    out = extend_scaffold_split(known, known_split, new, seed=1)
    assert len(out) == len(new) and set(out) <= {"train", "val", "test"}
    part_of = {murcko_scaffold(s): p for s, p in zip(known, known_split, strict=True)}
    for smi, part in zip(new, out, strict=True):
        if murcko_scaffold(smi) in part_of:
            assert part == part_of[murcko_scaffold(smi)], smi
    union = list(known) + new
    parts = list(known_split) + list(out)
    by_scaffold = {}
    for smi, part in zip(union, parts, strict=True):
        by_scaffold.setdefault(murcko_scaffold(smi), set()).add(part)
    assert all(len(p) == 1 for p in by_scaffold.values())
    np.testing.assert_array_equal(out, extend_scaffold_split(known, known_split, new, seed=1))


def test_extended_scaffold_split_fills_the_fractions_of_the_union():
    known = [f"c1ccc({'C' * k}O)cc1" for k in range(1, 41)]  # one scaffold, all train
    new = [f"C1CC{'C' * (k % 5)}C1{'C' * (k // 5 + 1)}N" for k in range(30)]
    new += [f"c1ccc2c(c1){'C' * (k % 4 + 1)}C2{'C' * (k // 4 + 1)}" for k in range(20)]
    out = extend_scaffold_split(known, ["train"] * 40, new, seed=0)
    counts = {p: int((out == p).sum()) for p in ("train", "val", "test")}
    assert counts["train"] + 40 <= 72 and counts["val"] <= 9
    assert counts["test"] >= 1 and counts["val"] >= 1


def test_extended_scaffold_split_refuses_a_straddling_known_split():
    with pytest.raises(MspectmolError, match="both"):
        extend_scaffold_split(["c1ccccc1C", "c1ccccc1CC"], ["train", "test"], ["CCO"], 0)
    with pytest.raises(MspectmolError, match="unknown split part"):
        extend_scaffold_split(["CCO"], ["holdout"], ["CCN"], 0)
