"""Combinatorial fragments of a molecule and how well they explain an MS/MS spectrum.

In-silico fragmentation in the manner of MetFrag (Wolf et al., BMC Bioinformatics 2010,
11:148): every fragment reachable by cutting one or two bonds of the molecular graph (a ring
opens only when two of its bonds are cut), each fragment's ion m/z with hydrogen
rearrangements of up to :data:`MAX_H_SHIFT` hydrogens either way, and a score for a
candidate structure: the share of the observed peak intensity (square-root weighted, so that
many small fragments count) whose m/z a fragment explains within the tolerance, with
two-bond fragments counting :data:`TWO_BREAK_WEIGHT` of one-bond ones. The precursor itself
is not counted (every candidate of the formula explains it).

:func:`explain_peaks` says, peak by peak, which fragment explains it: the fragment's ion m/z,
cuts, hydrogen shift, atoms and ion formula (the same matches and share as
:func:`explained_intensity`; among the fragments within the tolerance the one with the fewest
cuts, then the smallest hydrogen shift, then the smallest mass error is reported).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from rdkit import Chem

from mspectmol.chem.formula.composition import ELECTRON_MASS, hill, monoisotopic

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
    """Ion m/z values of a molecule's fragments, sorted, with the bond cuts each needs, the
    hydrogen shift of each ion and which fragment (index into ``parts``, atom sets) it is."""

    mz: np.ndarray
    cuts: np.ndarray
    shift: np.ndarray
    part: np.ndarray
    parts: tuple[frozenset[int], ...]


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


def _molecule(smiles_or_mol: str | Chem.Mol) -> Chem.Mol:
    mol = Chem.MolFromSmiles(smiles_or_mol) if isinstance(smiles_or_mol, str) else smiles_or_mol
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles_or_mol!r}")
    return mol


def _fragments(mol: Chem.Mol) -> dict[frozenset[int], int]:
    """Atom sets of the one- and two-cut fragments, with the fewest cuts each needs."""
    n = mol.GetNumAtoms()
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
    return found


def _neutral_masses(mol: Chem.Mol, parts: Sequence[frozenset[int]]) -> np.ndarray:
    """Monoisotopic mass of each fragment's atoms with their hydrogens in the molecule."""
    heavy = np.array([monoisotopic(a.GetSymbol()) for a in mol.GetAtoms()])
    hydrogens = np.array([a.GetTotalNumHs() for a in mol.GetAtoms()])
    m_h = monoisotopic("H")
    return np.array([float(heavy[list(p)].sum() + hydrogens[list(p)].sum() * m_h)
                     for p in parts])


def fragment_table(smiles_or_mol: str | Chem.Mol, charge: int = 1) -> FragmentTable:
    """The ion m/z of every one- and two-cut fragment with hydrogen shifts (see the module
    docstring); ``charge`` +1 or -1 (protonated or deprotonated, even-electron and radical
    ions alike through the hydrogen shifts)."""
    mol = _molecule(smiles_or_mol)
    found = _fragments(mol)
    parts = tuple(found)
    shifts = np.arange(-MAX_H_SHIFT, MAX_H_SHIFT + 1)
    mz = (_neutral_masses(mol, parts)[:, None] + shifts[None, :] * monoisotopic("H")
          - charge * ELECTRON_MASS).ravel()
    cuts = np.repeat([found[p] for p in parts], shifts.size)
    part = np.repeat(np.arange(len(parts)), shifts.size)
    order = np.argsort(mz, kind="stable")
    return FragmentTable(mz[order], cuts[order], np.tile(shifts, len(parts))[order],
                         part[order], parts)


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


@dataclass(frozen=True)
class PeakMatch:
    """One observed peak and the fragment that explains it.

    ``status`` is ``"explained"``, ``"unexplained"``, ``"precursor"`` (within
    :data:`PRECURSOR_WINDOW` of it) or ``"below range"`` (under :data:`MIN_MZ`); the last two
    are not scored. The fragment fields are None unless the peak is explained: ``fragment_mz``
    the fragment ion's m/z, ``error_ppm`` observed minus fragment, ``cuts`` the bonds cut,
    ``h_shift`` the hydrogens gained (+) or lost (-) against the fragment's atoms in the
    molecule, ``formula`` the ion's formula (Hill notation and charge sign, ``"C7H5O2+"``) and
    ``atoms`` the fragment's atom indices in the molecule.
    """

    mz: float
    intensity: float
    status: str
    fragment_mz: float | None = None
    error_ppm: float | None = None
    cuts: int | None = None
    h_shift: int | None = None
    formula: str | None = None
    atoms: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"mz": self.mz, "intensity": self.intensity, "status": self.status,
                "fragment_mz": None if self.fragment_mz is None else round(self.fragment_mz, 6),
                "error_ppm": None if self.error_ppm is None else round(self.error_ppm, 2),
                "cuts": self.cuts, "h_shift": self.h_shift, "formula": self.formula,
                "atoms": list(self.atoms)}


@dataclass(frozen=True)
class PeakExplanation:
    """Every peak of a spectrum with its explaining fragment, the explained share (the
    value of :func:`explained_intensity` for the same peaks and tolerance) and the number of
    peaks scored (neither the precursor nor below :data:`MIN_MZ`)."""

    peaks: list[PeakMatch]
    explained: float
    charge: int
    precursor_mz: float | None
    ppm: float
    min_tolerance: float
    scored: int

    @property
    def n_explained(self) -> int:
        """Peaks a fragment explains."""
        return sum(p.status == "explained" for p in self.peaks)


def _ion_formula(mol: Chem.Mol, atoms: Sequence[int], shift: int, charge: int) -> str:
    counts: Counter[str] = Counter()
    for i in atoms:
        atom = mol.GetAtomWithIdx(int(i))
        counts[atom.GetSymbol()] += 1
        counts["H"] += atom.GetTotalNumHs()
    counts["H"] += shift
    return hill(counts) + ("+" if charge > 0 else "-")


def explain_peaks(smiles_or_mol: str | Chem.Mol, peaks_mz: Sequence[float],
                  peaks_intensity: Sequence[float], *, precursor_mz: float | None,
                  charge: int = 1, ppm: float = 10.0, min_tolerance: float = 0.002
                  ) -> PeakExplanation:
    """Which fragment of the molecule explains each peak (see the module docstring).

    Parameters
    ----------
    smiles_or_mol
        The structure.
    peaks_mz, peaks_intensity
        The observed peaks.
    precursor_mz
        m/z of the fragmented ion (its peak is not scored), or None.
    charge
        +1 or -1, as for :func:`fragment_table`.
    ppm, min_tolerance
        Match tolerance: ``ppm`` of the peak's m/z, at least ``min_tolerance``.

    Returns
    -------
    PeakExplanation
        One :class:`PeakMatch` per peak, in the given order, and the explained share.

    Raises
    ------
    ValueError
        For an invalid SMILES.
    """
    mol = _molecule(smiles_or_mol)
    table = fragment_table(mol, charge)
    table_mz, table_cuts, table_shift = table.mz, table.cuts, table.shift
    mz = np.asarray(peaks_mz, dtype=float)
    intensity = np.asarray(peaks_intensity, dtype=float)
    weight = np.sqrt(np.clip(intensity, 0.0, None))
    out: list[PeakMatch] = []
    credit, total = 0.0, 0.0
    for m, y, w in zip(mz, intensity, weight, strict=True):
        if precursor_mz is not None and abs(m - precursor_mz) <= PRECURSOR_WINDOW:
            out.append(PeakMatch(float(m), float(y), "precursor"))
            continue
        if m < MIN_MZ or w <= 0:
            out.append(PeakMatch(float(m), float(y), "below range"))
            continue
        total += w
        tol = max(m * ppm * 1e-6, min_tolerance)
        near = np.flatnonzero(np.abs(table_mz - m) <= tol)
        if not near.size:
            out.append(PeakMatch(float(m), float(y), "unexplained"))
            continue
        best = min(near, key=lambda j: (table_cuts[j], abs(table_shift[j]),
                                        abs(table_mz[j] - m)))
        atoms = tuple(sorted(table.parts[table.part[best]]))
        shift = int(table_shift[best])
        credit += w * (1.0 if table_cuts[best] == 1 else TWO_BREAK_WEIGHT)
        out.append(PeakMatch(float(m), float(y), "explained", float(table_mz[best]),
                             float((m - table_mz[best]) / table_mz[best] * 1e6),
                             int(table_cuts[best]), shift,
                             _ion_formula(mol, atoms, shift, charge), atoms))
    share = credit / total if total > 0 else 0.0
    scored = sum(p.status in ("explained", "unexplained") for p in out)
    return PeakExplanation(out, float(share), charge, precursor_mz, ppm, min_tolerance, scored)
