"""Combinatorial fragments of a molecule and how well they explain an MS/MS spectrum.

In-silico fragmentation in the manner of MetFrag (Wolf et al., BMC Bioinformatics 2010,
11:148): every fragment reachable by cutting one or two bonds of the molecular graph (a ring
opens only when two of its bonds are cut), each fragment's ion m/z with hydrogen
rearrangements of up to :data:`MAX_H_SHIFT` hydrogens either way, and a score for a
candidate structure: the share of the observed peak intensity (square-root weighted, so that
many small fragments count) whose m/z a fragment explains within the tolerance, with
two-bond fragments counting :data:`TWO_BREAK_WEIGHT` of one-bond ones. The precursor itself
is not counted (every candidate of the formula explains it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from rdkit import Chem

from mspectmol.chem.formula.composition import ELECTRON_MASS, monoisotopic

#: Hydrogens a fragment may gain or lose by rearrangement.
MAX_H_SHIFT = 2
#: Weight of a peak explained only by fragments that need two bond cuts.
TWO_BREAK_WEIGHT = 0.6
#: Peaks within this m/z of the precursor are the precursor (not scored).
PRECURSOR_WINDOW = 0.5
#: Peaks below this m/z are ignored (too many small ions fit anything).
MIN_MZ = 40.0


@dataclass(frozen=True)
class FragmentTable:
    """Ion m/z values of a molecule's fragments, sorted, with the bond cuts each needs."""

    mz: np.ndarray
    cuts: np.ndarray


def _components(n_atoms: int, adjacency: list[set[int]], removed: set[tuple[int, int]]
                ) -> list[frozenset[int]]:
    seen: set[int] = set()
    parts = []
    for start in range(n_atoms):
        if start in seen:
            continue
        stack, part = [start], {start}
        while stack:
            a = stack.pop()
            for b in adjacency[a]:
                if b not in part and (min(a, b), max(a, b)) not in removed:
                    part.add(b)
                    stack.append(b)
        seen |= part
        parts.append(frozenset(part))
    return parts


def fragment_table(smiles_or_mol: str | Chem.Mol, charge: int = 1) -> FragmentTable:
    """The ion m/z of every one- and two-cut fragment with hydrogen shifts (see the module
    docstring); ``charge`` +1 or -1 (protonated or deprotonated, even-electron and radical
    ions alike through the hydrogen shifts)."""
    mol = Chem.MolFromSmiles(smiles_or_mol) if isinstance(smiles_or_mol, str) else smiles_or_mol
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles_or_mol!r}")
    n = mol.GetNumAtoms()
    heavy = np.array([monoisotopic(a.GetSymbol()) for a in mol.GetAtoms()])
    hydrogens = np.array([a.GetTotalNumHs() for a in mol.GetAtoms()])
    adjacency: list[set[int]] = [set() for _ in range(n)]
    bonds = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        adjacency[i].add(j)
        adjacency[j].add(i)
        bonds.append((min(i, j), max(i, j)))
    found: dict[frozenset[int], int] = {}
    for k in (1, 2):
        for cut in combinations(bonds, k):
            parts = _components(n, adjacency, set(cut))
            if len(parts) < 2:
                continue
            for part in parts:
                if len(part) < n and part not in found:
                    found[part] = k
    m_h = monoisotopic("H")
    mz, cuts = [], []
    for part, k in found.items():
        idx = list(part)
        neutral = float(heavy[idx].sum() + hydrogens[idx].sum() * m_h)
        for shift in range(-MAX_H_SHIFT, MAX_H_SHIFT + 1):
            mz.append(neutral + shift * m_h - charge * ELECTRON_MASS)
            cuts.append(k)
    order = np.argsort(mz)
    return FragmentTable(np.asarray(mz)[order], np.asarray(cuts)[order])


def explained_intensity(table: FragmentTable, peaks_mz: Sequence[float],
                        peaks_intensity: Sequence[float], *, precursor_mz: float | None,
                        ppm: float = 10.0, min_tolerance: float = 0.002) -> float:
    """Share (0-1) of the square-root peak intensity that the fragments explain."""
    mz = np.asarray(peaks_mz, dtype=float)
    weight = np.sqrt(np.clip(np.asarray(peaks_intensity, dtype=float), 0.0, None))
    keep = (mz >= MIN_MZ) & (weight > 0)
    if precursor_mz is not None:
        keep &= np.abs(mz - precursor_mz) > PRECURSOR_WINDOW
    mz, weight = mz[keep], weight[keep]
    if not mz.size or not weight.sum():
        return 0.0
    tol = np.maximum(mz * ppm * 1e-6, min_tolerance)
    lo = np.searchsorted(table.mz, mz - tol, side="left")
    hi = np.searchsorted(table.mz, mz + tol, side="right")
    credit = np.zeros(mz.size)
    for p in np.nonzero(hi > lo)[0]:
        best = int(table.cuts[lo[p]:hi[p]].min())
        credit[p] = 1.0 if best == 1 else TWO_BREAK_WEIGHT
    return float((credit * weight).sum() / weight.sum())
