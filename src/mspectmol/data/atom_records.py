"""A dataset record's per-atom NMR columns, read against its SMILES.

The per-atom columns (``h_atom_shift``, ``c_atom_shift``, ``atom_class``; see
:mod:`mspectmol.data.simulator.nmr_atoms`) follow the atom order of
``Chem.AddHs(Chem.MolFromSmiles(smiles))``. :func:`atom_record` checks that they match and
returns the molecule with them, for :mod:`~mspectmol.data.carbon_environments` and
:mod:`~mspectmol.data.proton_environments`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, rdBase


def atom_record(smiles: str, atom_shift: Sequence[float] | None,
                atom_class: Sequence[int] | None
                ) -> tuple[Chem.Mol, np.ndarray, np.ndarray, np.ndarray] | None:
    """A record's molecule (hydrogens added), per-atom shifts and classes, and the atoms
    that have a shift; None where the columns are missing, empty or do not match the
    SMILES, or no atom has a shift."""
    if not smiles or not atom_shift or not atom_class:
        return None
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    mol = Chem.AddHs(mol)
    shifts = np.asarray(atom_shift, dtype=np.float64)
    classes = np.asarray(atom_class)
    if shifts.size != mol.GetNumAtoms() or classes.size != shifts.size:
        return None
    atoms = np.flatnonzero(np.isfinite(shifts))
    if atoms.size == 0:
        return None
    return mol, shifts, classes, atoms
