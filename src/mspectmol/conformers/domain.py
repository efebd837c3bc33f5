"""The training domain of a conformer model: how many heavy atoms and which elements it has seen.

A model file states its domain in ``model.json`` (``"domain"``: ``max_heavy_atoms``,
``elements``, ``source``), written by :func:`domain_of_records` when a model is trained. The
packaged model predates that field; its domain is declared here (:data:`PACKAGED_DOMAIN`),
taken from its training data: the 3,176 QM9 molecules of the embedded dataset's
scaffold-split training part, 4-9 heavy atoms, elements H, C, N, O and F (README, "The
packaged conformer model"; recounted from the dataset). A molecule outside the domain still
gets conformers, but the model has never seen anything like it, and the command says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rdkit import Chem

from mspectmol.errors import ModelFileError


@dataclass(frozen=True)
class TrainingDomain:
    """Heavy-atom count and elements of a model's training molecules.

    Attributes
    ----------
    max_heavy_atoms
        The largest number of heavy (non-hydrogen) atoms of a training molecule.
    elements
        Element symbols of the training molecules (hydrogen included).
    source
        Where the numbers come from (for the warning and the output).
    """

    max_heavy_atoms: int
    elements: tuple[str, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored in ``model.json``."""
        return {"max_heavy_atoms": self.max_heavy_atoms, "elements": list(self.elements),
                "source": self.source}


#: The packaged model's declared domain (its model.json has no ``domain`` field).
PACKAGED_DOMAIN = TrainingDomain(
    max_heavy_atoms=9, elements=("C", "F", "H", "N", "O"),
    source="3,176 QM9 molecules (scaffold-split training part of the embedded dataset)")
#: SHA-256 of the packaged model's weights: the model :data:`PACKAGED_DOMAIN` describes.
PACKAGED_CONTENT_HASH = "229c0ee13bbae1226d50900d91bb700a23ba16935a08ebbe3eae1c8b71b952f2"


def domain_from_dict(data: Mapping[str, Any], where: str = "model.json") -> TrainingDomain:
    """Parse the ``domain`` field of a model file.

    Raises
    ------
    ModelFileError
        A missing or mistyped key.
    """
    try:
        n = data["max_heavy_atoms"]
        elements = data["elements"]
        if not isinstance(n, int) or n < 1 or isinstance(n, bool):
            raise ValueError("max_heavy_atoms must be a positive integer")
        if not isinstance(elements, list) or not all(isinstance(e, str) for e in elements):
            raise ValueError("elements must be a list of element symbols")
        return TrainingDomain(n, tuple(sorted(elements)), str(data.get("source", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: invalid training domain ({exc})") from None


def model_domain(meta: Mapping[str, Any]) -> TrainingDomain | None:
    """The training domain of a loaded model: its ``domain`` field, else the declared one.

    Returns ``None`` for a model that states no domain and is not the packaged model.
    """
    if meta.get("domain") is not None:
        return domain_from_dict(meta["domain"])
    if meta.get("content_hash") == PACKAGED_CONTENT_HASH:
        return PACKAGED_DOMAIN
    return None


def domain_of_records(smiles: Iterable[str], source: str) -> TrainingDomain:
    """The domain spanned by training molecules (stored in the model file at training time)."""
    most, elements = 0, {"H"}
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            continue
        most = max(most, mol.GetNumHeavyAtoms())
        elements.update(a.GetSymbol() for a in mol.GetAtoms())
    return TrainingDomain(most, tuple(sorted(elements)), source)


def outside_domain(mol: Chem.Mol, domain: TrainingDomain) -> list[str]:
    """Why ``mol`` lies outside ``domain`` (empty when inside), e.g. ``["13 heavy atoms (max
    9)"]``."""
    reasons = []
    heavy = mol.GetNumHeavyAtoms()
    if heavy > domain.max_heavy_atoms:
        reasons.append(f"{heavy} heavy atoms (the model saw at most {domain.max_heavy_atoms})")
    other = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(domain.elements))
    if other:
        reasons.append(f"element{'s' if len(other) > 1 else ''} {', '.join(other)} (the model "
                       f"saw only {' '.join(domain.elements)})")
    return reasons
