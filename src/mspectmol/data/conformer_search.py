"""The lowest few GFN2-xTB conformers of one molecule, each with its own IR, Raman and NMR.

:func:`simulate_conformers` extends the simulator's recipe
(:func:`~mspectmol.data.simulator.pipeline.simulate_molecule`, which keeps only the lowest
conformer) to several conformers:

1. ETKDG conformers, MMFF-optimised (:func:`~mspectmol.data.simulator.geometry.embed_conformers`,
   stereo checked as the simulator does), duplicates dropped (heavy-atom RMSD; mirror images
   count as duplicates for molecules without specified stereocentres);
2. a GFN2-xTB single point of each; the ``n_optimise`` lowest GFN2-xTB-optimised;
3. optimised geometries that coincide (heavy-atom RMSD below ``rmsd_threshold``) merged; the
   ``n_keep`` lowest within ``window_kcal`` of the lowest kept;
4. each kept conformer simulated by ``simulate_molecule`` started from its geometry (Hessian,
   IR, Raman, CSP5 NMR, with the simulator's displace-and-reoptimise rounds), plus the per-atom
   NMR columns of :func:`~mspectmol.data.simulator.nmr_atoms.atom_nmr_columns`; conformers that
   end up the same after those rounds are merged again.

Energies are relative to the lowest simulated conformer; Boltzmann weights are at 298.15 K.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolAlign

from mspectmol.data.simulator import geometry
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.nmr_atoms import atom_nmr_columns
from mspectmol.data.simulator.pipeline import simulate_molecule
from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.data.simulator.xtb import GFN2Engine, single_thread
from mspectmol.errors import MspectmolError

#: Hartree in kcal/mol.
HARTREE_KCAL = 627.5094740631
#: Boltzmann constant in kcal/(mol K).
KB_KCAL = 0.0019872042586
#: Temperature of the Boltzmann weights, K.
TEMPERATURE = 298.15


@dataclass(frozen=True)
class ConformerSettings:
    """How many conformers are searched, optimised and kept.

    Attributes
    ----------
    n_embed
        ETKDG conformers embedded and MMFF-optimised.
    n_optimise
        The lowest (GFN2-xTB single point) distinct conformers optimised with GFN2-xTB.
    n_keep
        Most distinct optimised conformers kept and simulated.
    window_kcal
        Kept conformers lie within this many kcal/mol of the lowest.
    rmsd_threshold
        Heavy-atom RMSD (Angstrom, symmetry-aware) below which two geometries are one
        conformer.
    """

    n_embed: int = 20
    n_optimise: int = 6
    n_keep: int = 3
    window_kcal: float = 5.0
    rmsd_threshold: float = 0.25

    def __post_init__(self) -> None:
        ok = (self.n_embed >= 1 and 1 <= self.n_keep <= self.n_optimise <= self.n_embed
              and self.window_kcal > 0 and self.rmsd_threshold > 0)
        if not ok:
            raise MspectmolError(f"invalid conformer settings {dataclasses.asdict(self)}: need "
                                 "1 <= n_keep <= n_optimise <= n_embed and positive window "
                                 "and RMSD threshold")


def settings_hash(settings: SimulationSettings, conformers: ConformerSettings) -> str:
    """16 hex digits identifying a simulation recipe and conformer settings together."""
    text = json.dumps({"simulation": settings.stable_hash(),
                       "conformers": dataclasses.asdict(conformers)}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ConformerResult:
    """One simulated conformer of a molecule.

    Attributes
    ----------
    rank
        0 for the lowest conformer, then by energy.
    record
        Geometry, energy, IR/Raman peak lists and NMR peak lists of the conformer.
    atom_columns
        The per-atom NMR columns (``h_atom_shift``, ``c_atom_shift``, ``atom_class``,
        ``hh_pairs``, ``hh_dihedral``) at the conformer's geometry.
    rel_energy_kcal
        GFN2-xTB energy above the lowest conformer, kcal/mol.
    boltzmann_weight
        Weight among the molecule's kept conformers at :data:`TEMPERATURE`.
    n_distinct
        Distinct GFN2-xTB-optimised conformers found before the window and ``n_keep`` cut.
    """

    rank: int
    record: SimulationRecord
    atom_columns: dict[str, Any]
    rel_energy_kcal: float
    boltzmann_weight: float
    n_distinct: int


def _heavy_rmsd(mol: Chem.Mol, a: np.ndarray, b: np.ndarray) -> float:
    """Symmetry-aware heavy-atom RMSD (Angstrom) between two geometries of ``mol``."""
    heavy = Chem.RemoveAllHs(mol, sanitize=False)
    keep = [atom.GetIdx() for atom in mol.GetAtoms() if atom.GetAtomicNum() > 1]
    if heavy.GetNumAtoms() != len(keep):  # pragma: no cover - RemoveAllHs keeps atom order
        raise MspectmolError("heavy-atom RMSD: hydrogens left after RemoveAllHs")
    probe, ref = Chem.Mol(heavy), Chem.Mol(heavy)
    for target, xyz in ((probe, a), (ref, b)):
        conf = Chem.Conformer(len(keep))
        for k, i in enumerate(keep):
            conf.SetAtomPosition(k, xyz[i].tolist())
        target.RemoveAllConformers()
        target.AddConformer(conf, assignId=True)
    return float(rdMolAlign.GetBestRMS(probe, ref, maxMatches=1000))


def distinct(mol: Chem.Mol, geometries: list[np.ndarray], threshold: float) -> list[int]:
    """Indices of ``geometries`` (in order) that are not within ``threshold`` of an earlier
    kept one (heavy-atom RMSD).

    For a molecule without specified stereocentres the mirror image of a geometry counts as
    the same conformer (its spectra are the same).
    """
    mirror = all(a.GetChiralTag() == Chem.ChiralType.CHI_UNSPECIFIED for a in mol.GetAtoms())
    flip = np.array([-1.0, 1.0, 1.0])
    kept: list[int] = []
    for i, xyz in enumerate(geometries):
        if all(_heavy_rmsd(mol, xyz, geometries[j]) >= threshold
               and not (mirror and _heavy_rmsd(mol, xyz * flip, geometries[j]) < threshold)
               for j in kept):
            kept.append(i)
    return kept


def optimised_conformers(smiles: str, settings: SimulationSettings,
                         conformers: ConformerSettings) -> tuple[list[np.ndarray], list[float]]:
    """Distinct GFN2-xTB-optimised conformers of ``smiles``, lowest energy first.

    Returns
    -------
    geometries, energies
        Coordinates (Angstrom, atom order of ``parse_smiles(smiles)``) and GFN2-xTB energies
        (Hartree) of every distinct optimised conformer.

    Raises
    ------
    SimulationError
        When no conformer can be embedded, scored or optimised.
    """
    mol = geometry.parse_smiles(smiles)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    charge, unpaired = geometry.charge_and_unpaired(mol)
    with single_thread():
        candidates = geometry.embed_conformers(mol, conformers.n_embed, settings.seed,
                                               settings.chirality_check)
        candidates = [candidates[i] for i in distinct(mol, candidates,
                                                      conformers.rmsd_threshold)]
        engine = GFN2Engine(numbers, charge=charge, uhf=unpaired, accuracy=settings.accuracy)
        _, single_points = geometry.rerank(engine, candidates)
        chosen = [i for i in np.argsort(single_points, kind="stable")
                  if np.isfinite(single_points[i])][: conformers.n_optimise]
        optimised, energies, errors = [], [], []
        for i in chosen:
            try:
                xyz, energy, _ = geometry.optimise(engine, candidates[i], settings.fmax,
                                                   settings.max_opt_steps, settings.optimizer)
            except SimulationError as exc:
                errors.append(exc.reason)
                continue
            optimised.append(xyz)
            energies.append(energy)
    if not optimised:
        raise SimulationError("optimise", f"no conformer could be optimised: {errors[:1]}",
                              smiles)
    order = np.argsort(energies, kind="stable")
    optimised = [optimised[i] for i in order]
    energies = [energies[i] for i in order]
    keep = distinct(mol, optimised, conformers.rmsd_threshold)
    return [optimised[i] for i in keep], [float(energies[i]) for i in keep]


def simulate_conformers(smiles: str, settings: SimulationSettings | None = None,
                        conformers: ConformerSettings | None = None) -> list[ConformerResult]:
    """The lowest few conformers of one molecule, each simulated (see the module docstring).

    Raises
    ------
    SimulationError
        With the failing stage when the conformer search fails or no conformer can be
        simulated.
    """
    settings = settings or SimulationSettings()
    conformers = conformers or ConformerSettings()
    found, energies = optimised_conformers(smiles, settings, conformers)
    lowest = energies[0]
    kept = [k for k, e in enumerate(energies)
            if (e - lowest) * HARTREE_KCAL <= conformers.window_kcal][: conformers.n_keep]
    records: list[SimulationRecord] = []
    errors: list[SimulationError] = []
    for k in kept:
        try:
            records.append(simulate_molecule(smiles, settings, coords=found[k]))
        except SimulationError as exc:
            errors.append(exc)
    if not records:
        raise errors[0]
    records.sort(key=lambda r: r.energy)
    mol = geometry.parse_smiles(smiles)
    unique = distinct(mol, [r.coordinates for r in records], conformers.rmsd_threshold)
    records = [records[i] for i in unique]
    rel = (np.array([r.energy for r in records]) - records[0].energy) * HARTREE_KCAL
    weights = np.exp(-rel / (KB_KCAL * TEMPERATURE))
    weights /= weights.sum()
    return [ConformerResult(rank, record, atom_nmr_columns(smiles, record.coordinates),
                            round(float(e), 4), round(float(w), 6), len(found))
            for rank, (record, e, w) in enumerate(zip(records, rel, weights, strict=True))]
