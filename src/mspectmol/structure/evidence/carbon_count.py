"""Counting carbons by 13C shift region: a cheap structural filter before any simulation.

What a chemist reads off a 13C spectrum first: how many distinct carbons there are, and how
many sit in each broad region: below 95 ppm (sp3 carbons, including those bound to O or N,
and alkyne carbons), 95-155 ppm (aromatic and alkene carbons, nitriles, most C=N) and from
155 ppm (carbonyl carbons: ketones and aldehydes above 190, acids, esters and amides 160-180).
A candidate structure predicts those counts from its graph alone (symmetry-equivalent carbons
give one line), so candidates can be compared with the observed spectrum without simulating
them.

The counts are approximate on both sides: overlapping lines or weak ones merge or vanish in the
observed spectrum, and strongly shifted carbons (a C=N carbon at 160 ppm, an sp3 carbon of an
orthoester above 95) land in a neighbouring region. :func:`region_mismatch` is therefore used
as a soft penalty (an L1 distance between counts), never a hard filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem

from mspectmol.chem.molecules import mol_from_smiles
from mspectmol.errors import MspectmolError

#: Region boundaries (ppm): [< 95), [95, 155), [>= 155).
REGION_EDGES_PPM = (95.0, 155.0)
REGION_NAMES = ("sp3 / alkyne (< 95 ppm)", "sp2 / aromatic / nitrile (95-155 ppm)",
                "carbonyl (>= 155 ppm)")
#: Peaks below this fraction of the spectrum's maximum are not counted.
DEFAULT_RELATIVE_HEIGHT = 0.02


def carbon_regions(smiles: str) -> np.ndarray:
    """Symmetry-distinct carbons of a structure per shift region, shape ``(3,)``.

    Carbons are grouped by canonical rank without tie breaking (equal rank = one 13C line).
    A carbon double-bonded to oxygen counts as carbonyl; sp3 and non-nitrile sp carbons as
    the first region; every other carbon (aromatic, alkene, nitrile, C=N) as the second.

    Raises
    ------
    InvalidSmilesError
        When RDKit cannot parse ``smiles``.
    """
    mol = mol_from_smiles(smiles)
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    counts = np.zeros(3, dtype=np.int64)
    seen: set[int] = set()
    for atom, rank in zip(mol.GetAtoms(), ranks, strict=True):
        if atom.GetSymbol() != "C" or rank in seen:
            continue
        seen.add(rank)
        multiple = {(b.GetBondType(), b.GetOtherAtom(atom).GetSymbol()) for b in atom.GetBonds()}
        hybrid = atom.GetHybridization()
        if (Chem.BondType.DOUBLE, "O") in multiple:
            counts[2] += 1
        elif hybrid == Chem.HybridizationType.SP3 or (
                hybrid == Chem.HybridizationType.SP and (Chem.BondType.TRIPLE, "N")
                not in multiple):
            counts[0] += 1
        else:
            counts[1] += 1
    return counts


def carbon_regions_many(smiles: Sequence[str]) -> np.ndarray:
    """:func:`carbon_regions` of each structure, shape ``(n, 3)``."""
    return np.array([carbon_regions(s) for s in smiles], dtype=np.int64).reshape(-1, 3)


def pick_peaks(intensity: np.ndarray, axis: np.ndarray,
               relative_height: float = DEFAULT_RELATIVE_HEIGHT) -> np.ndarray:
    """Positions (axis units) of the local maxima above ``relative_height`` x the maximum.

    A maximum is a point higher than its left neighbour and at least as high as its right
    one, so a flat-topped peak counts once. An all-zero spectrum has no peaks.
    """
    y = np.asarray(intensity, dtype=np.float64)
    x = np.asarray(axis, dtype=np.float64)
    if y.ndim != 1 or y.shape != x.shape:
        raise MspectmolError(f"spectrum of shape {y.shape} does not match its axis {x.shape}")
    if not np.all(np.isfinite(y)):
        raise MspectmolError("spectrum has NaN or infinite intensities: cannot pick peaks")
    if y.size < 3 or y.max() <= 0:
        return np.zeros(0)
    top = y.max() * relative_height
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > top)
    return x[1:-1][inner]


def observed_carbon_regions(intensity: np.ndarray, ppm: np.ndarray,
                            relative_height: float = DEFAULT_RELATIVE_HEIGHT) -> np.ndarray:
    """Observed 13C lines per shift region (:data:`REGION_EDGES_PPM`), shape ``(3,)``."""
    return lines_per_region(pick_peaks(intensity, ppm, relative_height))


def lines_per_region(lines: np.ndarray) -> np.ndarray:
    """How many of the 13C ``lines`` (ppm) fall in each :data:`REGION_EDGES_PPM` region."""
    lines = np.asarray(lines, dtype=np.float64)
    low, high = REGION_EDGES_PPM
    return np.array([np.sum(lines < low), np.sum((lines >= low) & (lines < high)),
                     np.sum(lines >= high)], dtype=np.int64)


def region_mismatch(candidates: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """L1 distance between each candidate's region counts ``(n, 3)`` and the observed ``(3,)``."""
    c = np.asarray(candidates, dtype=np.float64).reshape(-1, 3)
    o = np.asarray(observed, dtype=np.float64)
    if o.shape != (3,):
        raise MspectmolError(f"observed region counts must have shape (3,), got {o.shape}")
    return np.abs(c - o).sum(axis=1)
