"""Proton environments of a molecule and their first-order couplings, for 1H rendering.

A grouped 1H peak list (one line per set of equivalent protons) says nothing about the
multiplets a spectrometer records. The per-atom columns the dataset stores (``h_atom_shift``,
``atom_class``, ``hh_pairs`` with ``hh_dihedral``) do: :func:`proton_environments` turns
them into, for every set of equivalent protons, its shift, its number of protons, whether
they exchange (O-H, N-H, S-H: broad lines, no resolved coupling) and the couplings of one of
its protons to each other set (number of partner protons, J in Hz), by rule:

* 3 bonds across a single bond: the Karplus relation
  ``J = 7.76 cos^2(phi) - 1.10 cos(phi) + 1.40`` of the H-C-C-H dihedral ``phi``;
* 3 bonds across an aromatic bond: 7.5 Hz (ortho); across a double bond: 10 Hz (cis,
  ``|phi| < 90``) or 17 Hz (trans);
* 2 bonds (geminal, only between non-equivalent protons): 12 Hz;
* 4 bonds (meta, allylic, W): 1.5 Hz.

Equivalent protons do not split each other (first order); protons of exchanging groups
couple to nothing. :func:`first_order_multiplet` draws one set's lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from mspectmol.data.atom_records import atom_record
from mspectmol.spectra.multiplets import split_lines

#: Karplus coefficients (Hz) of ``A cos^2 + B cos + C``.
KARPLUS = (7.76, -1.10, 1.40)
#: Rule couplings (Hz): aromatic ortho, cis and trans across a double bond, geminal, 4-bond.
J_ORTHO, J_CIS, J_TRANS, J_GEMINAL, J_LONG = 7.5, 10.0, 17.0, 12.0, 1.5


@dataclass(frozen=True)
class ProtonEnvironments:
    """Sets of equivalent protons of one molecule.

    Attributes
    ----------
    shift, count
        ``(k,)`` mean shift (ppm) and number of protons of each set.
    exchangeable
        ``(k,)`` True for protons on O, N or S.
    couplings
        For each set, ``(n_partners, J_hz)`` pairs: one of its protons couples with
        ``n_partners`` protons of another set with constant ``J_hz``.
    """

    shift: np.ndarray
    count: np.ndarray
    exchangeable: np.ndarray
    couplings: list[list[tuple[int, float]]]


def karplus(dihedral_deg: float) -> float:
    """Vicinal H-H coupling (Hz) for an H-C-C-H dihedral."""
    c = np.cos(np.radians(dihedral_deg))
    a, b, k = KARPLUS
    return float(a * c * c + b * c + k)


def proton_environments(smiles: str, h_atom_shift: Sequence[float] | None,
                        atom_class: Sequence[int] | None, hh_pairs: Sequence[int] | None,
                        hh_dihedral: Sequence[float] | None) -> ProtonEnvironments | None:
    """The proton environments of one record, or None where its per-atom columns are
    missing or do not match its SMILES."""
    atoms = atom_record(smiles, h_atom_shift, atom_class) if hh_pairs is not None else None
    if atoms is None:
        return None
    mol, shifts, classes, protons = atoms
    ranks = sorted(set(classes[protons].tolist()))
    set_of = {r: i for i, r in enumerate(ranks)}
    heavy = {int(h): mol.GetAtomWithIdx(int(h)).GetNeighbors()[0] for h in protons}
    exch = np.array([any(heavy[int(h)].GetAtomicNum() in (7, 8, 16)
                         for h in protons[classes[protons] == r]) for r in ranks])
    first = {r: int(protons[classes[protons] == r][0]) for r in ranks}
    # per set: partner set -> list of J over the partner protons of its first proton
    partner_j: list[dict[int, list[float]]] = [{} for _ in ranks]
    pairs = np.asarray(hh_pairs, dtype=np.int64).reshape(-1, 3)
    dihedral = np.asarray(hh_dihedral if hh_dihedral is not None else [], dtype=np.float64)
    for (i, j, n_bonds), phi in zip(pairs, dihedral, strict=True):
        if i not in heavy or j not in heavy:
            continue
        ci, cj = set_of[int(classes[i])], set_of[int(classes[j])]
        if ci == cj or exch[ci] or exch[cj]:
            continue
        coupling = _rule_j(mol, int(i), int(j), int(n_bonds), float(phi))
        for a, b, atom in ((ci, cj, i), (cj, ci, j)):
            if atom == first[ranks[a]]:
                partner_j[a].setdefault(b, []).append(coupling)
    return ProtonEnvironments(
        shift=np.array([shifts[protons[classes[protons] == r]].mean() for r in ranks]),
        count=np.array([(classes[protons] == r).sum() for r in ranks], dtype=np.int64),
        exchangeable=exch,
        couplings=[[(len(js), float(np.mean(js))) for js in p.values()] for p in partner_j])


def _rule_j(mol: Chem.Mol, i: int, j: int, n_bonds: int, phi: float) -> float:
    """The rule coupling (Hz) of protons ``i`` and ``j``, ``n_bonds`` apart."""
    if n_bonds == 2:
        return J_GEMINAL
    if n_bonds != 3:
        return J_LONG
    a = mol.GetAtomWithIdx(i).GetNeighbors()[0].GetIdx()
    b = mol.GetAtomWithIdx(j).GetNeighbors()[0].GetIdx()
    bond = mol.GetBondBetweenAtoms(a, b)
    if bond is None:
        return J_LONG
    if bond.GetIsAromatic():
        return J_ORTHO
    if bond.GetBondType() == Chem.BondType.DOUBLE:
        return J_CIS if np.isfinite(phi) and abs(phi) < 90.0 else J_TRANS
    return karplus(phi) if np.isfinite(phi) else J_LONG


def first_order_multiplet(centre: float, area: float, couplings: Sequence[tuple[int, float]],
                          mhz: float) -> tuple[np.ndarray, np.ndarray]:
    """Lines (ppm, areas summing to ``area``) of a first-order multiplet at ``centre``:
    ``n`` equivalent partners with constant ``J`` split every line into ``n + 1`` lines of
    binomial intensities ``J / mhz`` ppm apart."""
    pos, amp = np.array([centre]), np.array([area])
    for n, j in couplings:
        pos, amp = split_lines(pos, amp, n + 1, j / mhz)
    return pos, amp
