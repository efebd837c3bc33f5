"""SMILES tokens, the decoder's vocabulary, molecular formulas as element counts.

Tokenisation is atom-level: a bracket atom (``[nH]``, ``[N+]``), a two-letter organic-subset
atom (``Cl``, ``Br``), a one-letter atom, a bond, a branch parenthesis, a ring-bond number
(``1``, ``%12``) or a dot. Generated and trained SMILES carry no stereochemistry (the
benchmark compares structures by the connectivity block of the InChIKey, stereo ignored).

A molecular formula conditions the decoder as one count per element of :data:`ELEMENTS`
(hydrogens included): :func:`formula_counts` parses ``"C9H8O4"`` and :func:`smiles_formula`
computes it from a structure with RDKit's ``CalcMolFormula``; :func:`token_elements` says
which element each vocabulary token writes. RDKit is imported inside the functions that
parse structures: tokenising and the vocabulary work without it (a GPU training node may
lack it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mspectmol.errors import InvalidSmilesError, MspectmolError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
#: Elements the formula tokens count (the embedded dataset's, plus common ones).
ELEMENTS = ("C", "H", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se")
#: Counts are clipped to this value in the formula embedding.
MAX_COUNT = 63

_TOKEN = re.compile(r"(\[[^\]]+\]|Br|Cl|%\d{2}|[BCNOPSFIbcnops]|[=#\-+\\/:~().*$@]|\d|\.)")
_FORMULA = re.compile(r"([A-Z][a-z]?)(\d*)")
_ATOM = re.compile(r"\d*([A-Z][a-z]?|[a-z][a-z]?)")


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES string into atom-level tokens.

    Raises
    ------
    InvalidSmilesError
        When characters are left over that no token pattern covers.
    """
    tokens = _TOKEN.findall(smiles)
    if "".join(tokens) != smiles:
        raise InvalidSmilesError(f"cannot tokenise SMILES {smiles!r}")
    return tokens


def mol_or_none(smiles: str):  # noqa: ANN201 - rdkit Mol or None
    """RDKit molecule of a SMILES string, or None (RDKit's warnings silenced)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        return Chem.MolFromSmiles(smiles) if smiles else None
    finally:
        RDLogger.EnableLog("rdApp.*")


def canonical(smiles: str) -> str | None:
    """Canonical SMILES without stereochemistry, or None when RDKit cannot parse it."""
    from rdkit import Chem

    mol = mol_or_none(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def randomised(smiles: str, rng: np.random.Generator) -> str:
    """A random (non-canonical) SMILES of the same molecule, no stereo (RDKit ``doRandom``).

    Raises
    ------
    InvalidSmilesError
        When ``smiles`` is not a valid structure.
    """
    from rdkit import Chem

    mol = mol_or_none(smiles)
    if mol is None:
        raise InvalidSmilesError(f"invalid SMILES {smiles!r}")
    Chem.rdBase.SeedRandomNumberGenerator(int(rng.integers(0, 2**31 - 1)))
    return Chem.MolToSmiles(mol, doRandom=True, canonical=False, isomericSmiles=False)


@dataclass(frozen=True)
class Vocabulary:
    """Token strings in index order; index 0..3 are the specials ``<pad> <bos> <eos> <unk>``."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if tuple(self.tokens[:4]) != SPECIALS:
            raise MspectmolError(f"a vocabulary must start with {SPECIALS}")
        if len(set(self.tokens)) != len(self.tokens):
            raise MspectmolError("a vocabulary holds each token once")

    @classmethod
    def build(cls, smiles: Iterable[str]) -> Vocabulary:
        """The sorted set of tokens in ``smiles`` after the specials."""
        seen: set[str] = set()
        for s in smiles:
            seen.update(tokenize(s))
        return cls(SPECIALS + tuple(sorted(seen)))

    @cached_property
    def index(self) -> dict[str, int]:
        """Token -> index."""
        return {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    pad = 0
    bos = 1
    eos = 2
    unk = 3

    def encode(self, smiles: str) -> list[int]:
        """``<bos>`` + token indices + ``<eos>`` (unknown tokens map to ``<unk>``)."""
        index = self.index
        return [self.bos, *(index.get(t, self.unk) for t in tokenize(smiles)), self.eos]

    def decode(self, ids: Sequence[int]) -> str:
        """The SMILES of token indices, stopping at ``<eos>`` and skipping other specials."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
        return "".join(out)


def token_elements(vocab: Vocabulary) -> np.ndarray:
    """``(len(vocab), len(ELEMENTS))`` heavy-atom counts contributed by each token."""
    out = np.zeros((len(vocab), len(ELEMENTS)), dtype=np.int64)
    for i, tok in enumerate(vocab.tokens):
        if tok.startswith("<"):
            continue
        body = tok[1:-1] if tok.startswith("[") else tok
        match = _ATOM.match(body)
        if not match:
            continue
        symbol = match.group(1)
        symbol = symbol if symbol[0].isupper() else symbol.capitalize()
        if symbol not in ELEMENTS and symbol[:1] in ELEMENTS:
            symbol = symbol[:1]  # aromatic "cn"-like tokens do not occur; keep one letter
        if symbol in ELEMENTS and symbol != "H":
            out[i, ELEMENTS.index(symbol)] = 1
    return out


def formula_counts(formula: str) -> dict[str, int]:
    """Element counts of a Hill-style formula (``"C9H8O4"`` -> ``{"C": 9, "H": 8, "O": 4}``).

    Raises
    ------
    MspectmolError
        For a malformed formula, charges, or an element outside :data:`ELEMENTS`.
    """
    text = str(formula).strip()
    parts = _FORMULA.findall(text)
    if not text or "".join(e + n for e, n in parts) != text:
        raise MspectmolError(f"malformed molecular formula {formula!r} (expected e.g. C9H8O4)")
    counts: dict[str, int] = {}
    for element, number in parts:
        if element not in ELEMENTS:
            raise MspectmolError(f"formula {formula!r}: element {element!r} is not supported "
                                 f"(supported: {' '.join(ELEMENTS)})")
        counts[element] = counts.get(element, 0) + (int(number) if number else 1)
    return counts


def smiles_formula(smiles: str) -> str | None:
    """Molecular formula of a structure (RDKit ``CalcMolFormula``), or None when invalid."""
    from rdkit.Chem import rdMolDescriptors

    mol = mol_or_none(smiles)
    return None if mol is None else rdMolDescriptors.CalcMolFormula(mol)


def hill(formula: str) -> str:
    """Hill-order formula (``"H6OC3"`` -> ``"C3H6O"``)."""
    counts = {e: n for e, n in formula_counts(formula).items() if n > 0}
    first = [e for e in ("C", "H") if e in counts] if "C" in counts else []
    order = first + sorted(e for e in counts if e not in first)
    return "".join(e + (str(counts[e]) if counts[e] > 1 else "") for e in order)


def same_formula(a: str, b: str) -> bool:
    """Whether two formulas count the same atoms (order-insensitive)."""
    return formula_counts(a) == formula_counts(b)


def formula_vector(formula: str | None) -> np.ndarray:
    """Counts in :data:`ELEMENTS` order (int64, clipped to :data:`MAX_COUNT`); -1 if None."""
    if formula is None:
        return np.full(len(ELEMENTS), -1, dtype=np.int64)
    counts = formula_counts(formula)
    return np.asarray([min(counts.get(e, 0), MAX_COUNT) for e in ELEMENTS], dtype=np.int64)
