"""Tokeniser, formulas and the structure metrics against hand-computed values."""

import numpy as np
import pytest

from mspectmol.errors import InvalidSmilesError, MspectmolError
from mspectmol.structure import metrics as sm
from mspectmol.structure.model.tokens import (
    Vocabulary,
    canonical,
    formula_counts,
    formula_vector,
    randomised,
    smiles_formula,
    tokenize,
)


def test_tokenize_round_trip_and_atoms():
    smi = "CC(=O)Oc1ccccc1C(=O)[O-].Cl[nH]1%10Br"
    tokens = tokenize(smi)
    assert "".join(tokens) == smi
    assert "Cl" in tokens and "Br" in tokens and "[nH]" in tokens and "%10" in tokens
    assert "[O-]" in tokens
    with pytest.raises(InvalidSmilesError):
        tokenize("CC?C")


def test_vocabulary_encode_decode():
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl"])
    ids = vocab.encode("CCO")
    assert ids[0] == vocab.bos and ids[-1] == vocab.eos
    assert vocab.decode(ids[1:]) == "CCO"
    assert vocab.encode("CCBr")[3] == vocab.unk  # Br was never seen
    with pytest.raises(MspectmolError):
        Vocabulary(("C", "O"))


def test_randomised_smiles_same_molecule():
    rng = np.random.default_rng(0)
    forms = {randomised("CC(=O)Oc1ccccc1C(=O)O", rng) for _ in range(10)}
    assert len(forms) > 1
    assert {canonical(s) for s in forms} == {canonical("CC(=O)Oc1ccccc1C(=O)O")}


def test_formula():
    assert formula_counts("C9H8O4") == {"C": 9, "H": 8, "O": 4}
    assert formula_counts("CH3Cl") == {"C": 1, "H": 3, "Cl": 1}
    assert smiles_formula("CC(=O)Oc1ccccc1C(=O)O") == "C9H8O4"
    vec = formula_vector("C9H8O4")
    assert vec[0] == 9 and vec[1] == 8 and vec.sum() == 21
    assert (formula_vector(None) == -1).all()
    for bad in ("C9H8O4+", "c9h8", "C2Xx3", ""):
        with pytest.raises(MspectmolError):
            formula_counts(bad)


def test_inchikey_match_ignores_stereo():
    assert sm.same_structure("C[C@H](O)CC", "CCC(C)O")
    assert sm.same_structure("OCC", "CCO")
    assert not sm.same_structure("CCO", "COC")
    assert not sm.same_structure("not a smiles", "CCO")
    assert sm.hit_rank(["COC", "CC=O", "OCC"], "CCO") == 2
    assert sm.hit_rank(["COC"], "CCO") is None


def test_top_k_accuracy_hand_computed():
    ranks = [0, 3, None, 9, 1]
    assert sm.top_k_accuracy(ranks, 1) == pytest.approx(1 / 5)
    assert sm.top_k_accuracy(ranks, 5) == pytest.approx(3 / 5)
    assert sm.top_k_accuracy(ranks, 10) == pytest.approx(4 / 5)


def test_tanimoto_hand_computed():
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    a = set(gen.GetFingerprint(Chem.MolFromSmiles("CCO")).GetOnBits())
    b = set(gen.GetFingerprint(Chem.MolFromSmiles("CCN")).GetOnBits())
    assert sm.tanimoto("CCO", "CCN") == pytest.approx(len(a & b) / len(a | b))
    assert sm.tanimoto("CCO", "OCC") == 1.0
    assert sm.tanimoto("CCO", "C1CC") == 0.0  # invalid counts 0


def test_mces_hand_computed():
    assert sm.mces("CCO", "OCC") == 0.0
    assert sm.mces("CCCO", "CCO") == 1.0  # one bond (and carbon) removed
    assert sm.mces("CCO", "X") == sm.MCES_INVALID
    assert sm.mces_score(1.0, 4) == pytest.approx(0.75)
    assert sm.mces_score(sm.MCES_INVALID, 4) == 0.0


def test_candidate_metrics():
    out = sm.candidate_metrics(["CCCO", "CCO", "bad("], "OCC", ks=(1, 2))
    assert out["rank"] == 1
    assert out["valid"] == pytest.approx(2 / 3)
    assert out["mces@1"] == 1.0 and out["mces@2"] == 0.0
    assert out["mces_score@2"] == 1.0
    assert out["tanimoto@2"] == 1.0 and out["tanimoto@1"] < 1.0
