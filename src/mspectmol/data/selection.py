"""Choose molecules for the embedded dataset so that the 37 functional groups are covered.

The selection is deterministic for a given seed: candidates are filtered (one neutral
fragment, organic elements only, a heavy-atom window), labelled with the 37 SMARTS, and
picked group by group from the rarest group up until each group has ``per_group`` molecules
(or all the sources hold), then filled at random to the requested size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, RDLogger

from mspectmol.chem.functional_groups import GROUP_NAMES, label

#: Elements GFN2-xTB and csp5 handle well and that organic spectra databases cover.
ORGANIC_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})


@dataclass(frozen=True)
class Candidate:
    """A molecule that passed the filters, with its canonical SMILES and labels."""

    source: str
    name: str
    smiles: str
    heavy_atoms: int
    labels: np.ndarray


def filter_candidate(source: str, name: str, smiles: str, min_heavy: int,
                     max_heavy: int) -> Candidate | None:
    """Return a :class:`Candidate` when the SMILES passes the filters, else ``None``."""
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    if len(Chem.GetMolFrags(mol)) != 1:
        return None
    heavy = mol.GetNumHeavyAtoms()
    if not min_heavy <= heavy <= max_heavy:
        return None
    # charge-separated neutral groups (nitro, N-oxides, azides) are kept; ions are not
    if Chem.GetFormalCharge(mol) != 0 or any(
            a.GetSymbol() not in ORGANIC_ELEMENTS or a.GetNumRadicalElectrons()
            for a in mol.GetAtoms()):
        return None
    return Candidate(source, name, Chem.MolToSmiles(mol), heavy, label(mol))


def candidates_from(source: str, items: Iterable[tuple[str, str]], min_heavy: int,
                    max_heavy: int) -> list[Candidate]:
    """Filter ``(name, smiles)`` pairs of one source into candidates (unique SMILES)."""
    seen: set[str] = set()
    out = []
    for name, smi in items:
        cand = filter_candidate(source, name, smi, min_heavy, max_heavy)
        if cand is not None and cand.smiles not in seen:
            seen.add(cand.smiles)
            out.append(cand)
    return out


def select_covering(candidates: list[Candidate], n_total: int, per_group: int,
                    seed: int, exclude: set[str] | None = None) -> list[Candidate]:
    """Pick ``n_total`` candidates covering every group with up to ``per_group`` molecules.

    Parameters
    ----------
    candidates
        Filtered, labelled candidates (any order).
    n_total
        Size of the selection.
    per_group
        Target number of molecules containing each group.
    seed
        Seed of the random generator (the selection is deterministic).
    exclude
        Canonical SMILES that must not be selected (e.g. already in another part).
    """
    rng = np.random.default_rng(seed)
    exclude = exclude or set()
    pool = [c for c in candidates if c.smiles not in exclude]
    order = rng.permutation(len(pool))
    pool = [pool[i] for i in order]
    labels = np.vstack([c.labels for c in pool]) if pool else np.zeros((0, len(GROUP_NAMES)))
    chosen: list[int] = []
    taken = np.zeros(len(pool), dtype=bool)
    counts = np.zeros(len(GROUP_NAMES), dtype=int)
    for g in np.argsort(labels.sum(axis=0), kind="stable"):
        for i in np.flatnonzero(labels[:, g]):
            if counts[g] >= per_group or len(chosen) >= n_total:
                break
            if not taken[i]:
                taken[i] = True
                chosen.append(int(i))
                counts += labels[i].astype(int)
    for i in range(len(pool)):
        if len(chosen) >= n_total:
            break
        if not taken[i]:
            taken[i] = True
            chosen.append(i)
    return [pool[i] for i in chosen]


def coverage_table(selected: list[Candidate]) -> dict[str, int]:
    """Number of selected molecules containing each group."""
    if not selected:
        return dict.fromkeys(GROUP_NAMES, 0)
    sums = np.vstack([c.labels for c in selected]).sum(axis=0)
    return {g: int(n) for g, n in zip(GROUP_NAMES, sums, strict=True)}
