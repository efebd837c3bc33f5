"""Turn a QM9 entry (elements + DFT coordinates + SMILES) into an RDKit molecule.

QM9's SMILES carry no stereo tags; stereochemistry is taken from the DFT geometry, so the
isomeric SMILES returned here describes the reference conformation's stereoisomer. The
recipe: ``MolFromXYZBlock``, ``DetermineConnectivity``, ``AssignBondOrdersFromTemplate``
with QM9's SMILES, then ``AssignStereochemistryFrom3D``.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem, rdDetermineBonds

from mspectmol.data.sources import QM9Molecule
from mspectmol.errors import MspectmolError


def qm9_to_mol(entry: QM9Molecule) -> Chem.Mol:
    """RDKit molecule with explicit hydrogens and QM9's DFT conformer, stereo from 3D.

    Raises
    ------
    MspectmolError
        When the connectivity of the geometry does not match QM9's SMILES.
    """
    lines = [str(len(entry.elements)), f"QM9 {entry.index}"]
    lines += [f"{e} {x:.10f} {y:.10f} {z:.10f}" for e, (x, y, z) in
              zip(entry.elements, entry.coords, strict=True)]
    with rdBase.BlockLogs():
        raw = Chem.MolFromXYZBlock("\n".join(lines) + "\n")
        if raw is None:
            raise MspectmolError(f"QM9 {entry.index}: unreadable geometry")
        try:
            rdDetermineBonds.DetermineConnectivity(raw)
            template = Chem.MolFromSmiles(entry.smiles)
            if template is None:
                raise ValueError("invalid SMILES")
            # the template needs explicit hydrogens to match the hydrogens of the geometry
            mol = AllChem.AssignBondOrdersFromTemplate(Chem.AddHs(template), raw)
            Chem.SanitizeMol(mol)
            Chem.AssignStereochemistryFrom3D(mol)
        except (ValueError, RuntimeError) as exc:
            raise MspectmolError(f"QM9 {entry.index} ({entry.smiles}): the geometry does not "
                                 f"match the SMILES ({exc})") from None
    return mol


def qm9_smiles_and_coords(entry: QM9Molecule) -> tuple[str, np.ndarray]:
    """Isomeric SMILES and the DFT coordinates in the atom order of ``AddHs(MolFromSmiles)``."""
    from mspectmol.data.simulator.geometry import coords_for_smiles

    mol = qm9_to_mol(entry)
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
    try:
        coords = coords_for_smiles(mol, smiles)
    except Exception as exc:  # SimulationError
        raise MspectmolError(f"QM9 {entry.index}: {exc}") from None
    return smiles, coords
