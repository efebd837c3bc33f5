"""The SMILES syntax and valence constraint of generator decoding."""

import numpy as np
import pytest
import torch
from rdkit import Chem, RDLogger

from mspectmol.structure.generation.beam import FormulaConstraint
from mspectmol.structure.generation.syntax import (
    ATOM,
    BOND,
    CLOSE,
    EOS,
    FORBIDDEN,
    OPEN,
    RING,
    SmilesSyntax,
    token_kinds,
    unsaturation_halves,
)
from mspectmol.structure.model.tokens import (
    ELEMENTS as NAMES,
)
from mspectmol.structure.model.tokens import (
    SPECIALS,
    Vocabulary,
    formula_vector,
    smiles_formula,
    token_elements,
    tokenize,
)

RDLogger.DisableLog("rdApp.*")
TOKENS = SPECIALS + ("#", "(", ")", "-", "1", "2", "=", "Br", "C", "Cl", "F", "N", "O", "S",
                     "[nH]", "c", "n", "o", ".")
VOCAB = Vocabulary(TOKENS)
ELEMENTS = token_elements(VOCAB)


def _walk(smiles: str, formula: str | None = None) -> list[bool]:
    """For each token of ``smiles``, whether the constraint allowed it (and then ``<eos>``),
    decoding ``formula`` (by default that of ``smiles``)."""
    formula = torch.as_tensor(formula_vector(formula or smiles_formula(smiles)))[None]
    syntax = SmilesSyntax(VOCAB.tokens, ELEMENTS, 1,
                          torch.as_tensor(unsaturation_halves(formula.numpy(), NAMES)))
    limit = FormulaConstraint(ELEMENTS, formula)
    out = []
    for tok in [*tokenize(smiles), "<eos>"]:
        index = torch.tensor([VOCAB.index[tok]])
        formula_ok = torch.isfinite(limit.apply(torch.zeros(1, len(VOCAB))))
        allowed = syntax.allowed(limit.remaining(), formula_ok)[0] & formula_ok[0]
        out.append(bool(allowed[index]))
        syntax.advance(None, index)
        limit.advance(None, index)
    return out


def test_token_kinds():
    kinds, labels, sizes = token_kinds(VOCAB.tokens, ELEMENTS)
    kind = dict(zip(VOCAB.tokens, kinds, strict=True))
    assert kind["<eos>"] == EOS and kind["<pad>"] == FORBIDDEN and kind["."] == FORBIDDEN
    assert kind["C"] == kind["[nH]"] == kind["Cl"] == ATOM and kind["="] == BOND
    assert (kind["("], kind[")"], kind["1"]) == (OPEN, CLOSE, RING)
    size = dict(zip(VOCAB.tokens, sizes, strict=True))
    assert (size["C"], size["F"], size["O"], size["="], size["#"], size["-"]) == (4, 1, 2, 2, 3, 1)
    label = dict(zip(VOCAB.tokens, labels, strict=True))
    assert label["1"] != label["2"] and label["C"] == -1


@pytest.mark.parametrize("smiles", [
    "CC(=O)Oc1ccccc1C(=O)O", "C1CC1", "O=C1CCCCN1", "c1ccc2[nH]ccc2c1", "FC(F)(F)c1ccccc1",
    "N#CC(C)(C)Br", "O=c1cccc[nH]1", "CC1(C)CC2(CC2)C1", "C(Cl)(Cl)Cl", "C-1CCCCC-1", "C(F)C",
    "CSC(=O)N(C)C", "OC1=CC(=O)C=CC1=O"])
def test_valid_smiles_pass_token_by_token(smiles):
    assert all(_walk(smiles)), _walk(smiles)


@pytest.mark.parametrize(("smiles", "formula", "blocked"), [
    ("CFC", "C2H5F", 1),      # a fluorine on the main chain before the last atom
    ("C(FC", "C2H5F", 3),     # ... but takes no second bond
    ("CC)C", "C3H8", 2),      # no branch to close
    ("C1CC", "C3H6", 4),      # <eos> with a ring open
    ("C(C", "C2H6", 3),       # <eos> with a branch open
    ("C=F", "CH2F", 1),       # a double bond that only a fluorine could end
    ("C1C1", "C3H6", 3),      # a ring of two atoms
    ("C1(C)C1", "C3H6", 6),   # a ring closing on the opener's neighbour
    ("CC1(-1", "C4H8", 5),    # a ring label on the atom that opened it
    ("CC1CC#1", "C5H8", 6),   # a ring bond of order 3
    ("C12CCC12", "C5H8", 7),  # a second ring bond between the same atoms
    ("CC(C1C)-1", "C5H10", 8),  # a ring closing on the parent of its opener
    ("CO(C)C", "C3H8O", 5),   # a third bond on oxygen, after its branch
    ("C(=O)=", "CH2O", 5),    # a bond after which no atom is left
    ("C.C", "C2H6", 1),       # two molecules
    ("C=CC", "C3H8", 1),      # a double bond in a saturated formula
    ("C1CC1", "C3H8", 4),     # a ring in a saturated formula
    ("CCC", "C3H6", 3),       # <eos> with a ring or double bond still owed
    ("Ccc", "C7H8", 2),       # an aromatic atom outside a ring that opens none
    ("c1ccccc1C", "C7H14", 4),  # an aromatic ring in a formula with one degree
])
def test_invalid_continuations_are_blocked(smiles, formula, blocked):
    allowed = _walk(smiles, formula)
    assert all(allowed[:blocked]) and not allowed[blocked], allowed


def test_random_draws_always_parse_with_sound_valences():
    rng = torch.Generator().manual_seed(0)
    formula = "C7H9NO2"  # any draw completing it is a parseable string
    n = 300
    syntax = SmilesSyntax(VOCAB.tokens, ELEMENTS, n)
    limit = FormulaConstraint(ELEMENTS, torch.as_tensor(formula_vector(formula))[None]
                              .expand(n, -1))
    seqs = torch.full((n, 0), VOCAB.pad, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool)
    dead = torch.zeros(n, dtype=torch.bool)
    aromatic = {VOCAB.index[t] for t in ("c", "n", "o", "[nH]")}
    for _ in range(60):
        logp = limit.apply(torch.zeros(n, len(VOCAB)))
        logp = syntax.apply(logp, limit.remaining())
        logp[:, list(aromatic)] = float("-inf")  # aromaticity is RDKit's business
        none = ~torch.isfinite(logp).any(1)
        dead |= none & ~done
        logp[none, VOCAB.eos] = 0.0
        token = torch.multinomial(torch.softmax(logp, -1), 1, generator=rng).squeeze(1)
        token = torch.where(done, torch.full_like(token, VOCAB.pad), token)
        seqs = torch.cat((seqs, token[:, None]), dim=1)
        syntax.advance(None, token)
        limit.advance(None, token)
        done |= token == VOCAB.eos
        if bool(done.all()):
            break
    finished = done & ~dead
    assert int(finished.sum()) > n // 10  # random tokens walk into dead ends; a model less
    for row in seqs[finished].numpy():
        text = VOCAB.decode(row)
        mol = Chem.MolFromSmiles(text)  # parsed and sanitised: valences hold
        assert mol is not None, text
        heavy = {a.GetSymbol() for a in mol.GetAtoms()}
        assert heavy <= {"C", "N", "O"} and mol.GetNumHeavyAtoms() == 10, text


def test_beam_parents_carry_their_state():
    syntax = SmilesSyntax(VOCAB.tokens, ELEMENTS, 2)
    index = VOCAB.index
    syntax.advance(None, torch.tensor([index["C"], index["C"]]))
    syntax.advance(None, torch.tensor([index["("], index["1"]]))
    syntax.advance(torch.tensor([1, 1]), torch.tensor([index["C"], index["C"]]))
    allowed = syntax.allowed()
    assert not bool(allowed[:, VOCAB.eos].any())  # both now continue the open ring
    assert bool(allowed[:, index[")"]].logical_not().all())
    np.testing.assert_array_equal(syntax.depth.numpy(), [0, 0])
