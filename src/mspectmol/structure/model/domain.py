"""What a structure model was trained on, and whether a molecule's formula lies outside it.

A decoder proposes structures like those it learnt from: the packaged generator
(``pretrained/prior``) was trained on QM9 structures (at most 9 heavy atoms of C, N, O and
F), the packaged decoder (``pretrained/default``) on the embedded dataset's scaffold-split
training molecules (at most 16 heavy atoms). For a larger molecule, or one with an element
its vocabulary cannot write, its proposals are confident and wrong; :func:`outside` says
which limit a formula exceeds.

The limits come from the model file's training record (``training["domain"]``, written by
:func:`~mspectmol.structure.training.train_variant` from :func:`training_domain`). Files
without it get the limits declared here for their training ``variant`` (:data:`DECLARED`,
measured on the training molecules of the packaged models); the elements default to those
the vocabulary writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mspectmol.errors import MspectmolError
from mspectmol.structure.model.tokens import (
    ELEMENTS,
    Vocabulary,
    formula_counts,
    mol_or_none,
    token_elements,
)


@dataclass(frozen=True)
class ModelDomain:
    """A model's training domain: the most heavy atoms of its training molecules (None:
    unknown), the heavy elements it can write and what it was trained on."""

    max_heavy_atoms: int | None
    elements: tuple[str, ...]
    trained_on: str

    def describe(self) -> str:
        """``"QM9 structures: at most 9 heavy atoms of C, F, N, O"``-like text."""
        size = ("" if self.max_heavy_atoms is None
                else f"at most {self.max_heavy_atoms} heavy atoms of ")
        return f"{self.trained_on}: {size}{', '.join(self.elements)}"

    def outside(self, formula: str) -> list[str]:
        """What puts ``formula`` outside the domain (empty when nothing does).

        Raises
        ------
        MspectmolError
            For a malformed formula.
        """
        counts = formula_counts(formula)
        heavy = sum(n for e, n in counts.items() if e != "H")
        reasons = []
        if self.max_heavy_atoms is not None and heavy > self.max_heavy_atoms:
            reasons.append(f"{heavy} heavy atoms")
        extra = [e for e in ELEMENTS if e != "H" and counts.get(e) and e not in self.elements]
        if extra:
            reasons.append(f"element{'s' * (len(extra) > 1)} {', '.join(extra)}")
        return reasons


#: Limits of models whose file stores none, by training ``variant``: the decoders trained on
#: the embedded dataset's scaffold-split training part (5,118 molecules of 1-16 heavy atoms)
#: and the generator trained on QM9 (at most 9 heavy atoms).
DECLARED: dict[str, tuple[int, str]] = {
    **{v: (16, "the embedded dataset's training molecules")
       for v in ("pa_ib", "ungated", "transformer")},
    "evidence-prior": (9, "QM9 structures"),
}


def vocabulary_elements(vocab: Vocabulary) -> tuple[str, ...]:
    """The heavy elements the vocabulary's tokens write, sorted."""
    written = token_elements(vocab).any(axis=0)
    return tuple(sorted(e for e, w in zip(ELEMENTS, written, strict=True) if w))


def training_domain(smiles: Sequence[str], trained_on: str) -> dict[str, Any]:
    """The domain record of training molecules (for a model file's ``training["domain"]``).

    Raises
    ------
    MspectmolError
        When a SMILES is invalid or none is given.
    """
    heavy, elements = 0, set()
    for s in smiles:
        mol = mol_or_none(s)
        if mol is None:
            raise MspectmolError(f"training molecule {s!r} is not a valid SMILES")
        heavy = max(heavy, mol.GetNumHeavyAtoms())
        elements.update(a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() > 1)
    if not elements:
        raise MspectmolError("no training molecules to describe")
    return {"max_heavy_atoms": heavy, "elements": sorted(elements), "trained_on": trained_on}


def model_domain(training: Mapping[str, Any], vocab: Vocabulary) -> ModelDomain:
    """The domain of a model from its training record and vocabulary (see the module
    docstring)."""
    stored = training.get("domain")
    if isinstance(stored, Mapping):
        return ModelDomain(stored.get("max_heavy_atoms"), tuple(stored.get("elements", ())),
                           str(stored.get("trained_on", "its training molecules")))
    limit, trained_on = DECLARED.get(training.get("variant", ""),
                                     (None, "its vocabulary"))
    return ModelDomain(limit, vocabulary_elements(vocab), trained_on)
