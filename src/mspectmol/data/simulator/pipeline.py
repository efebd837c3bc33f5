"""Simulate IR, Raman, 1H and 13C NMR peak lists of one molecule (GFN2-xTB + CSP5).

:func:`simulate_molecule` is a pure function of its arguments (no global state, no files), so a
process pool can call it directly; it runs tblite, numpy and torch on one thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdMolDescriptors

from mspectmol.data.simulator import geometry, nmr, vibrations
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.data.simulator.xtb import BOHR_ANGSTROM, GFN2Engine, single_thread

#: Packages whose versions are stored with each record.
VERSIONED_PACKAGES = ("mspectmol", "tblite", "csp5", "rdkit", "ase", "numpy")


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_PACKAGES` ("missing" when not installed)."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


@contextlib.contextmanager
def _stage(name: str, smiles: str, timings: dict[str, float]) -> Iterator[None]:
    """Time a stage and re-raise its failures as ``SimulationError(name, ...)``."""
    start = time.perf_counter()
    try:
        yield
    except SimulationError as exc:
        raise SimulationError(name, exc.reason, smiles) from exc
    except (RuntimeError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        raise SimulationError(name, f"{type(exc).__name__}: {exc}", smiles) from exc
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def _starting_geometry(
    mol: Chem.Mol,
    engine: GFN2Engine,
    settings: SimulationSettings,
    coords: np.ndarray | None,
    smiles: str,
    timings: dict[str, float],
) -> np.ndarray:
    """The given coordinates, else the best of the ETKDG/MMFF conformers by GFN2-xTB energy."""
    if coords is not None:
        with _stage("parse", smiles, timings):
            start = np.array(coords, dtype=float)
            if start.shape != (mol.GetNumAtoms(), 3) or not np.isfinite(start).all():
                raise SimulationError(
                    "parse",
                    f"coords must be finite, of shape ({mol.GetNumAtoms()}, 3) in the atom order "
                    f"of the SMILES with explicit hydrogens; got shape {start.shape}",
                )
        return start
    with _stage("conformers", smiles, timings):
        candidates = geometry.embed_conformers(
            mol, settings.n_conformers, settings.seed, settings.chirality_check
        )
    with _stage("rerank", smiles, timings):
        if len(candidates) == 1 or settings.n_rerank == 1:
            return candidates[0]
        best, _ = geometry.rerank(engine, candidates[: settings.n_rerank])
    return candidates[best]


def _identifiers(mol: Chem.Mol, smiles: str) -> tuple[str, str, str, list[str]]:
    """Canonical SMILES, InChIKey and formula (and warnings when the InChIKey fails)."""
    heavy = Chem.RemoveHs(mol)
    with rdBase.BlockLogs():
        inchikey = Chem.MolToInchiKey(heavy)
    warnings = [] if inchikey else [f"RDKit could not make an InChIKey for {smiles}"]
    return Chem.MolToSmiles(heavy), inchikey, rdMolDescriptors.CalcMolFormula(mol), warnings


def simulate_molecule(
    smiles: str,
    settings: SimulationSettings | None = None,
    *,
    coords: np.ndarray | None = None,
) -> SimulationRecord:
    """Simulate the vibrational (IR, Raman) and NMR (1H, 13C) peak lists of one molecule.

    Geometry: ETKDG conformers (stereo checked as ``settings.chirality_check`` says) + MMFF, the
    lowest ``n_rerank`` re-ranked by a GFN2-xTB single point, GFN2-xTB optimisation
    (``settings.optimizer``: ASE's preconditioned L-BFGS by default, or its BFGS).
    Vibrations: finite-difference Hessian of analytic gradients; while a mode is below
    ``imaginary_threshold``, displace along it and re-optimise (at most
    ``max_imaginary_rounds`` times). IR from dipole derivatives, Raman from
    polarisability derivatives under static fields. NMR: CSP5 on the optimised geometry.

    Parameters
    ----------
    smiles
        One molecule. Its charge and radicals are passed to GFN2-xTB.
    settings
        Simulation settings (defaults when None).
    coords
        Optional starting geometry, Angstrom, shape (N, 3) in the atom order of
        ``Chem.AddHs(Chem.MolFromSmiles(smiles))`` (see
        :func:`mspectmol.data.simulator.geometry.coords_for_smiles` to reorder an SDF
        molecule); it replaces the conformer search and is then optimised.

    Returns
    -------
    SimulationRecord
        Geometry, frequencies, IR intensities, Raman activities, NMR peak lists, timings,
        settings and package versions.

    Raises
    ------
    SimulationError
        With the failing stage: ``parse`` (bad SMILES or coords), ``conformers``, ``rerank``,
        ``optimise``, ``hessian`` or ``raman``. A failed NMR prediction is not fatal: its peak
        list is None and the record carries a warning.
    """
    settings = settings or SimulationSettings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with _stage("parse", str(smiles), timings):
        mol = geometry.parse_smiles(smiles)
        canonical, inchikey, formula, warnings = _identifiers(mol, smiles)
    numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()])
    masses = np.array([atom.GetMass() for atom in mol.GetAtoms()])
    charge, unpaired = geometry.charge_and_unpaired(mol)
    with single_thread():
        engine = GFN2Engine(numbers, charge=charge, uhf=unpaired, accuracy=settings.accuracy)
        start = _starting_geometry(mol, engine, settings, coords, smiles, timings)
        with _stage("optimise", smiles, timings):
            positions, energy, _ = geometry.optimise(
                engine, start, settings.fmax, settings.max_opt_steps, settings.optimizer
            )
        rounds = 0
        while True:
            with _stage("hessian", smiles, timings):
                hessian, dipole_derivatives = vibrations.finite_difference_hessian(
                    engine, positions / BOHR_ANGSTROM, settings.hessian_step / BOHR_ANGSTROM
                )
                modes = vibrations.normal_modes(hessian, positions / BOHR_ANGSTROM, masses)
            imaginary = np.flatnonzero(modes.frequencies < settings.imaginary_threshold)
            if imaginary.size == 0 or rounds >= settings.max_imaginary_rounds:
                break
            rounds += 1
            with _stage("optimise", smiles, timings):
                direction = modes.cartesian[:, imaginary[0]].reshape(-1, 3)
                displaced = geometry.displace(positions, direction, settings.displacement)
                positions, energy, _ = geometry.optimise(
                    engine, displaced, settings.fmax, settings.max_opt_steps, settings.optimizer
                )
        if imaginary.size:
            warnings.append(
                f"{imaginary.size} mode(s) below {settings.imaginary_threshold} cm-1 remain after "
                f"{rounds} displace-and-reoptimise round(s)"
            )
        with _stage("raman", smiles, timings):
            field_engine_accuracy = min(settings.accuracy, settings.field_accuracy)
            response = vibrations.polarizability_derivatives(
                engine.with_accuracy(field_engine_accuracy),
                positions / BOHR_ANGSTROM,
                settings.field_strength,
            )
    shifts: dict[str, list[tuple[float, int]] | None] = {}
    with _stage("nmr", smiles, timings):
        for nucleus in nmr.NUCLEI:
            try:
                shifts[nucleus] = nmr.nmr_peaks(mol, positions, nucleus)
            except SimulationError as exc:
                shifts[nucleus] = None
                warnings.append(f"{nucleus} NMR: {exc.reason}")
    timings["total"] = time.perf_counter() - started
    return SimulationRecord(
        smiles=smiles,
        canonical_smiles=canonical,
        inchikey=inchikey,
        formula=formula,
        charge=charge,
        unpaired_electrons=unpaired,
        atomic_numbers=numbers,
        coordinates=positions,
        energy=energy,
        frequencies=modes.frequencies,
        ir_intensities=vibrations.ir_intensities(dipole_derivatives, modes),
        raman_activities=vibrations.raman_activities(response.derivatives, modes),
        dipole=response.dipole,
        polarizability=response.polarizability,
        h_shifts=shifts["1H"],
        c_shifts=shifts["13C"],
        imaginary_rounds=rounds,
        n_imaginary=int(imaginary.size),
        timings={k: round(v, 4) for k, v in timings.items()},
        settings=settings.to_dict(),
        versions=package_versions(),
        warnings=warnings,
    )
