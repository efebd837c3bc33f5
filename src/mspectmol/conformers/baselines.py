"""Baseline conformer generators: RDKit ETKDG (+ MMFF), Open Babel and a spectrum-matching selector.

Every generator takes the molecule with hydrogens built from an isomeric SMILES (so the stereo
of the reference is given to all of them) and returns coordinates in that molecule's atom order
``(n, n_atoms, 3)``, except Open Babel, which returns RDKit molecules in its own atom order
(the RMSD is computed by graph matching, so the order does not matter).

The spectrum-matching selector generates an ETKDG + MMFF ensemble, simulates each member's IR
spectrum with GFN2-xTB (finite-difference Hessian and dipole derivatives at the MMFF geometry,
no re-optimisation, the project's simulator pieces and the dataset's broadening) and keeps the
member whose spectrum has the highest cosine similarity to the observed one.
"""

from __future__ import annotations

import time

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from mspectmol.errors import MspectmolError


def embed_etkdg(mol: Chem.Mol, n: int, seed: int, *, mmff: bool = False) -> np.ndarray:
    """``n`` ETKDGv3 conformers (optionally MMFF94-optimised) of ``mol`` (with hydrogens)."""
    m = Chem.Mol(mol)
    # strained polycycles (QM9 has many) can defeat plain ETKDG: retry with random starting
    # coordinates, then small-ring torsions, then without enforced chirality, then plain
    # distance geometry (no torsion preferences or basic knowledge)
    attempts = ({}, {"useRandomCoords": True},
                {"useRandomCoords": True, "useSmallRingTorsions": True},
                {"useRandomCoords": True, "enforceChirality": False},
                {"useRandomCoords": True, "useBasicKnowledge": False,
                 "useExpTorsionAnglePrefs": False})
    ids: list[int] = []
    with rdBase.BlockLogs():
        for extra in attempts:
            params = AllChem.ETKDGv3()
            params.randomSeed = int(seed)
            for key, value in extra.items():
                setattr(params, key, value)
            m.RemoveAllConformers()
            ids = list(AllChem.EmbedMultipleConfs(m, numConfs=n, params=params))
            if ids:
                break
        if not ids:
            raise MspectmolError(f"{Chem.MolToSmiles(Chem.RemoveHs(mol))}: ETKDG found no "
                                 "conformer")
        if mmff and AllChem.MMFFHasAllMoleculeParams(m):
            AllChem.MMFFOptimizeMoleculeConfs(m, numThreads=1, maxIters=2000)
    coords = np.stack([m.GetConformer(i).GetPositions() for i in ids])
    while coords.shape[0] < n:  # fewer distinct embeddings than asked: repeat
        coords = np.concatenate([coords, coords[: n - coords.shape[0]]])
    return coords


def openbabel_conformers(smiles: str, n: int) -> list[Chem.Mol]:
    """``n`` Open Babel ``make3D`` geometries (MMFF94, 50 steps) as RDKit molecules."""
    from openbabel import pybel

    out = []
    for _ in range(n):
        try:
            ob = pybel.readstring("smi", smiles)
        except OSError as exc:
            raise MspectmolError(f"Open Babel cannot read SMILES {smiles!r}: {exc}") from None
        ob.addh()
        ob.make3D(forcefield="mmff94", steps=50)
        with rdBase.BlockLogs():
            mol = Chem.MolFromMolBlock(ob.write("mol"), removeHs=False)
        if mol is None:
            raise MspectmolError(f"{smiles}: RDKit cannot read Open Babel's output")
        out.append(mol)
    return out


def simulate_ir(mol: Chem.Mol, coords: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """GFN2-xTB IR spectrum at ``coords`` (no optimisation), broadened on ``grid``, max 1."""
    from mspectmol.data.dataset import BROADENING, broaden_many
    from mspectmol.data.simulator import vibrations
    from mspectmol.data.simulator.geometry import charge_and_unpaired
    from mspectmol.data.simulator.settings import SimulationSettings
    from mspectmol.data.simulator.xtb import BOHR_ANGSTROM, GFN2Engine, single_thread

    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    masses = np.array([a.GetMass() for a in mol.GetAtoms()])
    charge, unpaired = charge_and_unpaired(mol)
    settings = SimulationSettings()
    bohr = np.asarray(coords, dtype=float) / BOHR_ANGSTROM
    with single_thread():
        engine = GFN2Engine(numbers, charge=charge, uhf=unpaired, accuracy=settings.accuracy)
        hessian, dipole_derivatives = vibrations.finite_difference_hessian(
            engine, bohr, settings.hessian_step / BOHR_ANGSTROM)
    modes = vibrations.normal_modes(hessian, bohr, masses)
    intensity = vibrations.ir_intensities(dipole_derivatives, modes)
    keep = modes.frequencies > 0
    shape, fwhm = BROADENING["ir"]
    step = float(grid[1] - grid[0])
    pos = modes.frequencies[keep]
    spec = broaden_many(pos, intensity[keep], np.zeros(pos.size, dtype=np.int64), 1, grid,
                        max(fwhm, 2 * step), shape)[0]
    top = spec.max()
    return spec / top if top > 0 else spec


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two spectra (0 when either is zero)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def spectrum_matching_select(mol: Chem.Mol, ensemble: np.ndarray, observed_ir: np.ndarray,
                             grid: np.ndarray) -> tuple[int, np.ndarray, float]:
    """Index of the ensemble member whose simulated IR best matches ``observed_ir``.

    Returns ``(index, similarities, seconds spent simulating)``.
    """
    started = time.perf_counter()
    sims = np.array([cosine(simulate_ir(mol, c, grid), observed_ir) for c in ensemble])
    return int(np.argmax(sims)), sims, time.perf_counter() - started
