"""Per-atom NMR data for rendering spectra with multiplets: shifts, equivalence, H-H paths.

The grouped peak lists of :mod:`mspectmol.data.simulator.nmr` (one line per set of
equivalent atoms) are enough for singlet spectra. Rendering first-order 1H multiplets needs
more: which protons couple, over how many bonds, and (for vicinal couplings, Karplus) the
H-C-C-H dihedral. :func:`atom_nmr_columns` computes these from a molecule's SMILES and its
optimised geometry, as extra columns of a dataset chunk:

``h_atom_shift``, ``c_atom_shift``
    CSP5 shift of every atom (NaN for atoms of other elements), in the atom order of the
    record (``Chem.AddHs(Chem.MolFromSmiles(smiles))``).
``atom_class``
    Topological equivalence class of every atom (equal values: equivalent atoms).
``hh_pairs``
    Flattened ``(i, j, n_bonds)`` triples of protons 2 to 4 bonds apart (``i < j``).
``hh_dihedral``
    For each pair, the H-X-Y-H dihedral in degrees for 3-bond paths, NaN otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolTransforms

from mspectmol.data.simulator import nmr
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.geometry import parse_smiles

#: Longest H-H path (bonds) kept in ``hh_pairs`` (4: aromatic meta and allylic couplings).
MAX_PATH_BONDS = 4


def proton_pairs(mol: Chem.Mol, coords: np.ndarray, max_bonds: int = MAX_PATH_BONDS
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Protons 2 to ``max_bonds`` bonds apart and the dihedral of each 3-bond path.

    Returns
    -------
    pairs : numpy.ndarray
        ``(n, 3)`` int array of ``(i, j, n_bonds)`` with ``i < j``.
    dihedral : numpy.ndarray
        ``(n,)`` H-X-Y-H dihedral angles in degrees (3-bond pairs), NaN for the others.
    """
    hydrogens = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1]
    if len(hydrogens) < 2:
        return np.zeros((0, 3), dtype=np.int32), np.zeros(0)
    distance = Chem.GetDistanceMatrix(mol)
    conf = Chem.Conformer(mol.GetNumAtoms())
    for k, xyz in enumerate(np.asarray(coords, dtype=float).reshape(-1, 3)):
        conf.SetAtomPosition(k, xyz.tolist())
    pairs, angles = [], []
    for a, i in enumerate(hydrogens):
        for j in hydrogens[a + 1:]:
            n_bonds = int(distance[i, j])
            if not 2 <= n_bonds <= max_bonds:
                continue
            pairs.append((i, j, n_bonds))
            if n_bonds == 3:
                path = Chem.GetShortestPath(mol, i, j)
                angles.append(rdMolTransforms.GetDihedralDeg(conf, *path))
            else:
                angles.append(np.nan)
    if not pairs:
        return np.zeros((0, 3), dtype=np.int32), np.zeros(0)
    return np.asarray(pairs, dtype=np.int32), np.asarray(angles, dtype=float)


def atom_nmr_columns(smiles: str, coords: np.ndarray) -> dict[str, Any]:
    """The per-atom NMR columns of one molecule (see the module docstring).

    A failed CSP5 prediction leaves that nucleus's column empty (the grouped peak list of
    the record carries the failure as a warning already).
    """
    mol = parse_smiles(smiles)
    xyz = np.asarray(coords, dtype=float).reshape(-1, 3)
    if xyz.shape[0] != mol.GetNumAtoms():
        raise SimulationError("nmr", f"{xyz.shape[0]} coordinates for {mol.GetNumAtoms()} "
                                     "atoms", smiles)
    out: dict[str, Any] = {}
    for nucleus, column in (("1H", "h_atom_shift"), ("13C", "c_atom_shift")):
        try:
            out[column] = [round(float(v), 4) for v in nmr.atom_shifts(mol, xyz, nucleus)]
        except SimulationError:
            out[column] = []
    out["atom_class"] = nmr.equivalence_classes(mol).astype(int).tolist()
    pairs, dihedral = proton_pairs(mol, xyz)
    out["hh_pairs"] = pairs.ravel().astype(int).tolist()
    out["hh_dihedral"] = [round(float(v), 2) for v in dihedral]
    return out
