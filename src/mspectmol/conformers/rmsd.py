"""Heavy-atom RMSD after optimal, symmetry-aware alignment, and stereo checks.

The RMSD is GeoDiff's: hydrogens removed from both molecules, then RDKit's
``rdMolAlign.GetBestRMS``, which aligns every symmetry-equivalent atom mapping (graph
automorphisms) with a proper rotation and returns the smallest RMSD.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolAlign

from mspectmol.chem.molecules import with_coordinates
from mspectmol.errors import MspectmolError


def heavy_atom_rmsd(probe: Chem.Mol, reference: Chem.Mol, probe_conf: int = -1,
                    ref_conf: int = -1) -> float:
    """Symmetry-aware heavy-atom RMSD (A) of one conformer of ``probe`` to one of ``reference``.

    The two molecules may list their atoms in different orders (e.g. an Open Babel output);
    they must be the same constitution.
    """
    p = Chem.RemoveHs(Chem.Mol(probe, confId=probe_conf) if probe_conf >= 0 else probe,
                      sanitize=False)
    r = Chem.RemoveHs(Chem.Mol(reference, confId=ref_conf) if ref_conf >= 0 else reference,
                      sanitize=False)
    if p.GetNumAtoms() != r.GetNumAtoms():
        raise MspectmolError(f"heavy-atom counts differ ({p.GetNumAtoms()} vs "
                             f"{r.GetNumAtoms()})")
    if p.GetNumAtoms() == 1:
        return 0.0
    try:
        return float(rdMolAlign.GetBestRMS(p, r))
    except RuntimeError as exc:
        raise MspectmolError(f"no atom mapping between the two molecules ({exc})") from None


def rmsd_to_coords(mol: Chem.Mol, coords: np.ndarray, reference: np.ndarray) -> float:
    """Heavy-atom RMSD between two coordinate sets of the same molecule ``mol``."""
    return heavy_atom_rmsd(with_coordinates(mol, coords), with_coordinates(mol, reference))


def stereo_smiles(mol: Chem.Mol, coords: np.ndarray | None = None) -> str:
    """Canonical isomeric SMILES with stereo perceived from 3D (the given or first conformer)."""
    m = with_coordinates(mol, coords) if coords is not None else Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(m)
    return Chem.MolToSmiles(Chem.RemoveHs(m))


def stereo_matches(mol: Chem.Mol, coords: np.ndarray, target_smiles: str) -> bool:
    """True when the 3D stereo of ``coords`` is that of ``target_smiles`` (canonical compare)."""
    target = Chem.MolFromSmiles(target_smiles)
    if target is None:
        raise MspectmolError(f"invalid SMILES {target_smiles!r}")
    return stereo_smiles(mol, coords) == Chem.MolToSmiles(target)


def has_stereo(smiles: str) -> bool:
    """Whether a SMILES carries tetrahedral or double-bond stereo tags."""
    return "@" in smiles or "/" in smiles or "\\" in smiles
