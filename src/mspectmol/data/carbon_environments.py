"""Carbon environments of a molecule: what a 13C rendering needs beyond a grouped peak list.

A measured proton-decoupled 13C spectrum differs from a list of ``(shift, count)`` lines in
two ways that matter for recognising functional groups:

* carbons near fluorine are split by C-F couplings, which proton decoupling leaves in place
  (a CF3 carbon is a 1:3:3:1 quartet with 1J(C,F) near 270 Hz, its neighbour a quartet of
  about 30 Hz, aromatic carbons doublets of 240-250, 20, 8 and 3 Hz);
* intensities are not proportional to carbon counts: carbons without attached protons
  (quaternary, carbonyl, nitrile and C-F carbons) relax slowly and get no NOE, so they are
  weak.

:func:`carbon_environments` derives, for every set of equivalent carbons, its shift, its
number of carbons and attached protons and the fluorine atoms one to four bonds away, from
the per-atom columns the v2 dataset stores (``c_atom_shift`` and ``atom_class``, in the atom
order of ``Chem.AddHs(Chem.MolFromSmiles(smiles))``). Records without them (the v1 part)
have no environments and are rendered from their grouped peak lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from mspectmol.data.atom_records import atom_record
from mspectmol.spectra.multiplets import split_lines

#: Longest C-F path (bonds) whose coupling is rendered.
MAX_CF_BONDS = 4


@dataclass(frozen=True)
class CarbonEnvironments:
    """Sets of equivalent carbons of one molecule, highest shift first.

    Attributes
    ----------
    shift
        ``(k,)`` shift of each set (ppm, mean over its atoms).
    count
        ``(k,)`` carbons in each set.
    n_h
        ``(k,)`` protons attached to each carbon of the set.
    fluorines
        ``(k, MAX_CF_BONDS)`` fluorine atoms 1, 2, ... bonds from each carbon of the set.
    """

    shift: np.ndarray
    count: np.ndarray
    n_h: np.ndarray
    fluorines: np.ndarray


def carbon_environments(smiles: str, c_atom_shift: Sequence[float] | None,
                        atom_class: Sequence[int] | None) -> CarbonEnvironments | None:
    """The carbon environments of one record, or None where its per-atom columns are
    missing, empty or do not match its SMILES (a record of the v1 part, a failed CSP5
    prediction)."""
    atoms = atom_record(smiles, c_atom_shift, atom_class)
    if atoms is None:
        return None
    mol, shifts, classes, carbons = atoms
    fluorine = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 9]
    distance = Chem.GetDistanceMatrix(mol)[:, fluorine] if fluorine else None
    rows = []
    for rank in np.unique(classes[carbons]):
        members = carbons[classes[carbons] == rank]
        first = int(members[0])
        n_h = mol.GetAtomWithIdx(first).GetTotalNumHs(includeNeighbors=True)
        if distance is None:
            near = np.zeros(MAX_CF_BONDS, dtype=np.int64)
        else:
            near = np.array([(distance[first] == d).sum()
                             for d in range(1, MAX_CF_BONDS + 1)], dtype=np.int64)
        rows.append((float(shifts[members].mean()), members.size, n_h, near))
    rows.sort(key=lambda r: -r[0])
    return CarbonEnvironments(
        shift=np.array([r[0] for r in rows]),
        count=np.array([r[1] for r in rows], dtype=np.int64),
        n_h=np.array([r[2] for r in rows], dtype=np.int64),
        fluorines=np.stack([r[3] for r in rows]))


def cf_multiplets(shift: np.ndarray, amp: np.ndarray, fluorines: np.ndarray,
                  couplings_ppm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-order C-F multiplets of carbon lines.

    Parameters
    ----------
    shift, amp
        ``(k,)`` line positions (ppm) and areas.
    fluorines
        ``(k, n)`` equivalent fluorine atoms 1..n bonds from each carbon.
    couplings_ppm
        ``(k, n)`` C-F coupling constant of each line and path length, in ppm (J in Hz
        divided by the 13C frequency in MHz).

    Returns
    -------
    positions, areas
        The split lines; each carbon's areas sum to its ``amp`` (binomial weights: ``m``
        equivalent fluorines split a line into ``m + 1``).
    """
    out_pos, out_amp = [], []
    for c, a, near, j in zip(shift, amp, fluorines, couplings_ppm, strict=True):
        pos, area = np.array([c]), np.array([a])
        for m, coupling in zip(near, j, strict=True):
            if m > 0:
                pos, area = split_lines(pos, area, m + 1, coupling)
        out_pos.append(pos)
        out_amp.append(area)
    return np.concatenate(out_pos), np.concatenate(out_amp)

