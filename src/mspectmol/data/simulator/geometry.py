"""Starting geometries and GFN2-xTB optimisation.

RDKit ETKDG conformers are MMFF-optimised (UFF where MMFF lacks parameters), the lowest few
re-ranked by a GFN2-xTB single point, and the best one optimised with GFN2-xTB gradients by
ASE's preconditioned L-BFGS (or its BFGS). Coordinates are in Angstrom unless a name says Bohr.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import lru_cache
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.settings import CHIRALITY_CHECKS, OPTIMIZERS
from mspectmol.data.simulator.xtb import BOHR_ANGSTROM, HARTREE_EV, GFN2Engine

#: Heaviest element GFN2-xTB is parametrised for (radon).
MAX_ATOMIC_NUMBER = 86
#: Embedding rounds (seeds ``seed``, ``seed + 1``, ...) that replace conformers of the wrong
#: stereo when :func:`embed_conformers` checks the perceived stereochemistry.
PERCEIVED_ROUNDS = 5
#: ETKDG attempts of the first feasibility probe (RDKit's own limit is 10 per atom).
PROBE_ITERATIONS = 50


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


def embed_conformers(
    mol: Chem.Mol, n_conformers: int, seed: int, chirality_check: str = "perceived"
) -> list[np.ndarray]:
    """Embed ETKDG conformers, force-field optimise them and return them lowest energy first.

    MMFF94 is used where it has parameters, otherwise UFF, otherwise the ETKDG geometries are
    returned in embedding order.

    Parameters
    ----------
    mol
        Molecule with explicit hydrogens (from :func:`parse_smiles`).
    n_conformers
        Conformers to embed.
    seed
        ETKDG random seed.
    chirality_check
        ``"perceived"``: embed without ETKDG's final chirality and tetrahedral-volume checks
        (they reject valid geometries of strained ring systems, e.g. bicyclobutanes and
        azabicycles, and retry for seconds) and keep the conformers whose stereochemistry,
        perceived from their 3D coordinates, is that of ``mol``, embedding again with the next
        seeds to replace the others (:data:`PERCEIVED_ROUNDS` rounds at most); ETKDG with its
        checks is the fallback when no conformer matches. Like ETKDG's own checks, this one
        looks at the embedded geometries, before the force-field optimisation. ``"etkdg"``:
        ETKDG with its checks only.

    Raises
    ------
    SimulationError
        Stage ``"conformers"`` when no conformer can be embedded, at once when
        :func:`embeddable`'s probe fails (a structure no geometry fits, such as a benzene
        bridged across by two atoms, otherwise costs ETKDG minutes of failed attempts).
    """
    if chirality_check not in CHIRALITY_CHECKS:
        raise SimulationError(
            "conformers",
            f"unknown chirality_check {chirality_check!r}; use one of {list(CHIRALITY_CHECKS)}",
        )
    with rdBase.BlockLogs():
        if not embeddable(mol, seed):
            raise SimulationError("conformers", "RDKit ETKDG could not embed any conformer "
                                                "(not even one, from random coordinates)")
        work = Chem.Mol(mol)
        work.RemoveAllConformers()
        if chirality_check == "perceived":
            work = _embed_perceived(mol, int(n_conformers), int(seed))
        ids = [conformer.GetId() for conformer in work.GetConformers()]
        if not ids:
            ids = _embed(work, n_conformers, seed, enforce_chirality=True)
        if not ids:
            ids = _embed(work, n_conformers, seed, enforce_chirality=True, random_coords=True)
        if not ids:
            raise SimulationError("conformers", "RDKit ETKDG could not embed any conformer")
        energies = _force_field_energies(work)
    order = np.argsort(energies, kind="stable") if energies is not None else range(len(ids))
    return [np.asarray(work.GetConformer(ids[i]).GetPositions(), dtype=float) for i in order]


def embeddable(mol: Chem.Mol, seed: int) -> bool:
    """Whether one conformer of ``mol`` embeds (on a copy): ETKDG without its chirality
    checks and at most :data:`PROBE_ITERATIONS` attempts, else from random coordinates with
    RDKit's own limit.

    :func:`embed_conformers` runs this probe first: a molecule that passes it is embedded
    exactly as without it, and one that fails it would have cost up to 70 conformer
    embeddings of 10 attempts per atom each before failing.
    """
    probe = Chem.Mol(mol)
    probe.RemoveAllConformers()
    if _embed(probe, 1, seed, enforce_chirality=False, max_iterations=PROBE_ITERATIONS):
        return True
    probe.RemoveAllConformers()
    return bool(_embed(probe, 1, seed, enforce_chirality=False, random_coords=True))


def _embed(
    mol: Chem.Mol,
    n_conformers: int,
    seed: int,
    *,
    enforce_chirality: bool,
    random_coords: bool = False,
    max_iterations: int = 0,
) -> list[int]:
    """Embed ETKDGv3 conformers into ``mol``; return their ids (empty when none embeds).
    ``max_iterations`` limits the attempts per conformer (0: RDKit's 10 per atom)."""
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    params.enforceChirality = enforce_chirality
    params.useRandomCoords = random_coords
    params.maxIterations = int(max_iterations)
    return list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n_conformers), params=params))


def _embed_perceived(mol: Chem.Mol, n_conformers: int, seed: int) -> Chem.Mol:
    """A copy of ``mol`` with up to ``n_conformers`` ETKDG conformers of the right stereo.

    ETKDG runs without its final chirality checks; conformers whose perceived stereo differs
    from ``mol`` are dropped and replaced by embedding again with the next seed, at most
    :data:`PERCEIVED_ROUNDS` rounds (deterministic for a given ``seed``).
    """
    work = Chem.Mol(mol)
    work.RemoveAllConformers()
    for round_ in range(PERCEIVED_ROUNDS):
        missing = n_conformers - work.GetNumConformers()
        if missing <= 0:
            break
        trial = Chem.Mol(mol)
        for cid in _embed(trial, missing, seed + round_, enforce_chirality=False):
            if stereo_matches(trial, mol, cid):
                work.AddConformer(Chem.Conformer(trial.GetConformer(cid)), assignId=True)
    return work


def stereo_matches(embedded: Chem.Mol, reference: Chem.Mol, conf_id: int = -1) -> bool:
    """Whether conformer ``conf_id`` of ``embedded`` has the stereochemistry of ``reference``.

    ``reference`` is the same molecule in the same atom and bond order (e.g. from
    :func:`parse_smiles`). Each chiral centre and double bond it specifies must have the same
    chiral tag or E/Z label when perceived from the 3D coordinates; stereo that ``reference``
    leaves unspecified is ignored. A centre that 3D perception does not label counts as a
    mismatch.
    """
    perceived = Chem.Mol(embedded, confId=int(conf_id))
    Chem.AssignStereochemistryFrom3D(perceived)
    for atom, ref in zip(perceived.GetAtoms(), reference.GetAtoms(), strict=True):
        tag = ref.GetChiralTag()
        if tag != Chem.ChiralType.CHI_UNSPECIFIED and atom.GetChiralTag() != tag:
            return False
    for bond, ref in zip(perceived.GetBonds(), reference.GetBonds(), strict=True):
        stereo = ref.GetStereo()
        if stereo in (Chem.BondStereo.STEREONONE, Chem.BondStereo.STEREOANY):
            continue
        if bond.GetStereo() != stereo:
            return False
        relative = stereo in (Chem.BondStereo.STEREOCIS, Chem.BondStereo.STEREOTRANS)
        if relative and list(bond.GetStereoAtoms()) != list(ref.GetStereoAtoms()):
            return False
    return True


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

        def check_state(self, atoms, tol=1e-15):
            # Only the atoms and their positions matter for an isolated molecule; ASE's full
            # comparison (cell, pbc, every per-atom array) costs a sizeable share of a step.
            if self.atoms is None or not np.array_equal(self.atoms.numbers, atoms.numbers):
                return list(all_changes)
            return [] if np.array_equal(self.atoms.positions, atoms.positions) else ["positions"]

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
    engine: GFN2Engine,
    coords: np.ndarray,
    fmax: float,
    max_steps: int,
    optimizer: str = "precon_lbfgs",
) -> tuple[np.ndarray, float, int]:
    """Optimise a geometry with GFN2-xTB gradients until the largest atomic force is <= fmax.

    Parameters
    ----------
    engine
        The GFN2-xTB engine of the molecule.
    coords
        Starting coordinates, Angstrom (N x 3).
    fmax
        Convergence threshold on the largest atomic force, eV/Angstrom.
    max_steps
        Most optimiser steps.
    optimizer
        ``"precon_lbfgs"``: ASE's L-BFGS preconditioned by its ``Exp`` model Hessian with an
        Armijo line search (should the line search break down, ASE's BFGS continues from where it
        stopped, within the same step budget). ``"bfgs"``: ASE's Cartesian BFGS.

    Returns
    -------
    tuple
        Optimised coordinates (Angstrom), energy (Hartree) and number of optimiser steps.

    Raises
    ------
    SimulationError
        Stage ``"optimise"`` when a single point fails or the optimiser does not converge.
    """
    from ase import Atoms

    if optimizer not in OPTIMIZERS:
        raise SimulationError(
            "optimise", f"unknown optimizer {optimizer!r}; use one of {list(OPTIMIZERS)}"
        )
    start = np.asarray(coords, dtype=float)
    # Centred: the Exp preconditioner's scale estimate depends on absolute positions.
    centre = start.mean(axis=0)
    atoms = Atoms(numbers=engine.numbers, positions=start - centre)
    atoms.calc = ase_calculator(engine)
    steps = 0
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if optimizer == "precon_lbfgs":
            steps = _run_precon_lbfgs(atoms, float(fmax), int(max_steps))
        if _largest_force(atoms) > fmax and steps < max_steps:
            steps += _run_bfgs(atoms, float(fmax), int(max_steps) - steps)
    largest = _largest_force(atoms)
    if largest > fmax:
        raise SimulationError(
            "optimise",
            f"{optimizer} did not reach fmax={fmax} eV/A in {max_steps} steps (largest force "
            f"{largest:.4f} eV/A)",
        )
    energy = float(atoms.get_potential_energy()) / HARTREE_EV
    return np.array(atoms.get_positions(), dtype=float) + centre, energy, steps


def _largest_force(atoms: Any) -> float:
    """Largest atomic force of ``atoms``, eV/Angstrom."""
    return float(np.linalg.norm(atoms.get_forces(), axis=1).max())


def _run_bfgs(atoms: Any, fmax: float, max_steps: int) -> int:
    """Run ASE's BFGS on ``atoms``; return the steps taken."""
    from ase.optimize import BFGS

    optimizer = BFGS(atoms, logfile=None)
    optimizer.run(fmax=fmax, steps=max_steps)
    return int(optimizer.nsteps)


def _run_precon_lbfgs(atoms: Any, fmax: float, max_steps: int) -> int:
    """Run ASE's Exp-preconditioned L-BFGS on ``atoms``; return the steps taken.

    A line search that breaks down twice in a row (ASE raises RuntimeError) ends the run early,
    leaving ``atoms`` at the last accepted geometry; a failed GFN2-xTB single point is re-raised.
    """
    from ase.optimize.precon import Exp, PreconLBFGS

    positions = atoms.positions
    atoms.set_cell(np.diag(np.ptp(positions, axis=0) + 10.0))  # for ASE's neighbour search
    atoms.pbc = False
    # The largest nearest-neighbour distance, which ASE would find by repeated neighbour searches.
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    r_nn = float(distances.min(axis=1).max()) if len(positions) > 1 else 1.0
    optimizer = PreconLBFGS(atoms, precon=Exp(A=3.0, r_NN=r_nn), logfile=None)
    try:
        optimizer.run(fmax=fmax, steps=max_steps)
    except SimulationError:
        raise
    except (RuntimeError, ValueError, ArithmeticError, np.linalg.LinAlgError):
        pass
    return int(optimizer.nsteps)


def displace(coords: np.ndarray, direction: np.ndarray, amplitude: float) -> np.ndarray:
    """Move ``coords`` along a Cartesian ``direction`` (N x 3) so the largest atom shift is
    ``amplitude`` (Angstrom)."""
    direction = np.asarray(direction, dtype=float).reshape(coords.shape)
    largest = float(np.linalg.norm(direction, axis=1).max())
    if largest == 0.0:
        return np.array(coords, dtype=float)
    return coords + direction * (amplitude / largest)
