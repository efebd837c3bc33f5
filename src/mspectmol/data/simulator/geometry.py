"""Starting geometries and GFN2-xTB optimisation.

RDKit ETKDG conformers are MMFF-optimised (UFF where MMFF lacks parameters), the lowest few
re-ranked by a GFN2-xTB single point, and the best one optimised with GFN2-xTB gradients by
ASE's BFGS. Coordinates are in Angstrom unless a name says Bohr.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.xtb import BOHR_ANGSTROM, HARTREE_EV, GFN2Engine

#: Heaviest element GFN2-xTB is parametrised for (radon).
MAX_ATOMIC_NUMBER = 86


def parse_smiles(smiles: str) -> Chem.Mol:
    """Parse one molecule and add explicit hydrogens.

    Raises
    ------
    SimulationError
        Stage ``"parse"``: unreadable SMILES, several fragments, dummy atoms or elements that
        GFN2-xTB does not cover.
    """
    if not isinstance(smiles, str) or not smiles.strip():
        raise SimulationError("parse", "empty SMILES", None)
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None or mol.GetNumAtoms() == 0:
        raise SimulationError("parse", "RDKit cannot parse this SMILES", smiles)
    n_fragments = len(Chem.GetMolFrags(mol))
    if n_fragments > 1:
        reason = f"{n_fragments} disconnected fragments; simulate one molecule at a time"
        raise SimulationError("parse", reason, smiles)
    bad = sorted(
        {a.GetSymbol() for a in mol.GetAtoms() if not 1 <= a.GetAtomicNum() <= MAX_ATOMIC_NUMBER}
    )
    if bad:
        raise SimulationError("parse", f"elements not covered by GFN2-xTB: {bad}", smiles)
    return Chem.AddHs(mol)


def charge_and_unpaired(mol: Chem.Mol) -> tuple[int, int]:
    """Return the total formal charge and the number of unpaired (radical) electrons."""
    unpaired = sum(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms())
    return Chem.GetFormalCharge(mol), int(unpaired)


def coords_for_smiles(mol3d: Chem.Mol, smiles: str) -> np.ndarray:
    """Reorder the 3D coordinates of ``mol3d`` into the atom order of ``parse_smiles(smiles)``.

    Use this to start a simulation from a given geometry (e.g. read from an SDF file, which must
    include its hydrogens): the result is the ``coords`` argument of ``simulate_molecule``.

    Raises
    ------
    SimulationError
        Stage ``"parse"`` when ``mol3d`` has no conformer or is not the molecule of ``smiles``.
    """
    target = parse_smiles(smiles)
    if mol3d.GetNumConformers() == 0:
        raise SimulationError("parse", "the given molecule has no 3D coordinates", smiles)
    if mol3d.GetNumAtoms() != target.GetNumAtoms():
        raise SimulationError(
            "parse",
            f"the given geometry has {mol3d.GetNumAtoms()} atoms, the SMILES with hydrogens "
            f"{target.GetNumAtoms()} (explicit hydrogens are required)",
            smiles,
        )
    match = mol3d.GetSubstructMatch(target, useChirality=True)
    if len(match) != target.GetNumAtoms():
        raise SimulationError("parse", "the given geometry is not this molecule", smiles)
    positions = np.asarray(mol3d.GetConformer().GetPositions(), dtype=float)
    return positions[list(match)]


def embed_conformers(mol: Chem.Mol, n_conformers: int, seed: int) -> list[np.ndarray]:
    """Embed ETKDG conformers, force-field optimise them and return them lowest energy first.

    MMFF94 is used where it has parameters, otherwise UFF, otherwise the ETKDG geometries are
    returned in embedding order.

    Raises
    ------
    SimulationError
        Stage ``"conformers"`` when no conformer can be embedded.
    """
    work = Chem.Mol(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    with rdBase.BlockLogs():
        ids = list(AllChem.EmbedMultipleConfs(work, numConfs=int(n_conformers), params=params))
        if not ids:
            params.useRandomCoords = True
            ids = list(AllChem.EmbedMultipleConfs(work, numConfs=int(n_conformers), params=params))
        if not ids:
            raise SimulationError("conformers", "RDKit ETKDG could not embed any conformer")
        energies = _force_field_energies(work)
    order = np.argsort(energies, kind="stable") if energies is not None else range(len(ids))
    return [np.asarray(work.GetConformer(ids[i]).GetPositions(), dtype=float) for i in order]


def _force_field_energies(mol: Chem.Mol) -> np.ndarray | None:
    """MMFF94 (else UFF) optimise all conformers in place; return their energies or None."""
    if AllChem.MMFFHasAllMoleculeParams(mol):
        results = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=2000)
    elif AllChem.UFFHasAllMoleculeParams(mol):
        results = AllChem.UFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=2000)
    else:
        return None
    energies = np.array([energy for _, energy in results], dtype=float)
    return energies if np.isfinite(energies).all() else None


@lru_cache(maxsize=1)
def _engine_calculator_class() -> type:
    """The ASE calculator class wrapping a GFN2Engine (ASE is imported on first use)."""
    from ase.calculators.calculator import Calculator, all_changes

    class EngineCalculator(Calculator):
        """ASE calculator giving the GFN2-xTB energy (eV) and forces (eV/A) of a GFN2Engine."""

        implemented_properties = ["energy", "forces"]

        def __init__(self, engine: GFN2Engine) -> None:
            super().__init__()
            self.engine = engine

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            point = self.engine.compute(self.atoms.get_positions() / BOHR_ANGSTROM)
            self.results = {
                "energy": point.energy * HARTREE_EV,
                "forces": -point.gradient * (HARTREE_EV / BOHR_ANGSTROM),
            }

    return EngineCalculator


def ase_calculator(engine: GFN2Engine) -> Any:
    """An ASE calculator (energy in eV, forces in eV/Angstrom) backed by ``engine``."""
    return _engine_calculator_class()(engine)


def rerank(engine: GFN2Engine, candidates: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """Return the index of the candidate geometry with the lowest GFN2-xTB energy, and all energies.

    Raises
    ------
    SimulationError
        Stage ``"rerank"`` when every single point fails.
    """
    energies = np.full(len(candidates), np.inf)
    errors = []
    for i, coords in enumerate(candidates):
        try:
            energies[i] = engine.compute(coords / BOHR_ANGSTROM).energy
        except SimulationError as exc:
            errors.append(exc.reason)
    if not np.isfinite(energies).any():
        raise SimulationError("rerank", f"no conformer has a GFN2-xTB energy: {errors[:1]}")
    return int(np.argmin(energies)), energies


def optimise(
    engine: GFN2Engine, coords: np.ndarray, fmax: float, max_steps: int
) -> tuple[np.ndarray, float, int]:
    """Optimise a geometry with GFN2-xTB gradients and ASE's BFGS.

    Parameters
    ----------
    engine
        The GFN2-xTB engine of the molecule.
    coords
        Starting coordinates, Angstrom (N x 3).
    fmax
        Convergence threshold on the largest atomic force, eV/Angstrom.
    max_steps
        Most BFGS steps.

    Returns
    -------
    tuple
        Optimised coordinates (Angstrom), energy (Hartree) and number of BFGS steps.

    Raises
    ------
    SimulationError
        Stage ``"optimise"`` when a single point fails or BFGS does not converge.
    """
    from ase import Atoms
    from ase.optimize import BFGS

    atoms = Atoms(numbers=engine.numbers, positions=np.asarray(coords, dtype=float))
    atoms.calc = ase_calculator(engine)
    optimizer = BFGS(atoms, logfile=None)
    converged = optimizer.run(fmax=float(fmax), steps=int(max_steps))
    if not converged:
        largest = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
        raise SimulationError(
            "optimise",
            f"BFGS did not reach fmax={fmax} eV/A in {max_steps} steps (largest force "
            f"{largest:.4f} eV/A)",
        )
    energy = float(atoms.get_potential_energy()) / HARTREE_EV
    return np.array(atoms.get_positions(), dtype=float), energy, int(optimizer.nsteps)


def displace(coords: np.ndarray, direction: np.ndarray, amplitude: float) -> np.ndarray:
    """Move ``coords`` along a Cartesian ``direction`` (N x 3) so the largest atom shift is
    ``amplitude`` (Angstrom)."""
    direction = np.asarray(direction, dtype=float).reshape(coords.shape)
    largest = float(np.linalg.norm(direction, axis=1).max())
    if largest == 0.0:
        return np.array(coords, dtype=float)
    return coords + direction * (amplitude / largest)
