"""Geometry check of generated conformers: bond lengths, clashes and force-field energy.

A conformer passes when

* every bond length lies within :data:`BOND_SHORT` - :data:`BOND_LONG` times the sum of the two
  atoms' covalent radii (RDKit's periodic table, ``GetRcovalent``);
* no two atoms that share a neighbour (1-3 pairs) are closer than :data:`CLASH_13` times their
  covalent-radius sum (a collapsed angle), and no two atoms three or more bonds apart (or in
  different fragments) are closer than :data:`CLASH_VDW` times their van der Waals radius sum
  (``GetRvdw``), or :data:`CLASH_HBOND` times it for a hydrogen on N, O, F, S or Cl and one of
  those acceptors (hydrogen bonds and salt bridges are legitimately short);
* its MMFF94 energy is at most :data:`ENERGY_MARGIN_PER_ATOM` kcal/mol per atom (and at least
  :data:`ENERGY_MARGIN_MIN` kcal/mol) above the lowest energy of :data:`REFERENCE_CONFORMERS`
  ETKDG + MMFF conformers of the same molecule (skipped when MMFF has no parameters for it).

Calibration: 1,889 molecules of the embedded dataset drawn at random
(seed 0; 1,229 of them QM9 with DFT geometries), five ETKDG + MMFF conformers each (seed 42),
plus each molecule's GFN2-xTB geometry and QM9 DFT geometry. Over the 9,445 ETKDG + MMFF
conformers, 1,889 GFN2 and 1,229 DFT geometries, bonds span 0.775-1.236 x the covalent radii
(triple bonds such as C#N and C#C are the shortest, strained bicyclic aziridines the
longest); 1-3 pairs are at least 1.27 x; pairs three or more bonds apart at least 0.68 x the
van der Waals sum except hydrogen-bonded polar H ... acceptor pairs, which go down to 0.52 x
(an MMFF salt bridge); and the energy above the ETKDG + MMFF reference is at most 4.7
kcal/mol per atom (an MMFF local minimum of a five-conformer search: 2.8). Each bound keeps a
margin to these extremes. The only valid-looking geometries that fail are two GFN2 structures
in which a proton moved to another atom (their connectivity no longer matches the SMILES).
Raw ETKDG geometries before MMFF fail in about 0.1% of cases (a collapsed bond or angle); the
same molecules pass after MMFF.

Held out: 1,000 other molecules of the dataset (seed 1): none of 5,000 ETKDG + MMFF
conformers (seed 7) and none of 641 DFT geometries fails; 2 of 1,000 GFN2 geometries do, one
cyclised during the GFN2 optimisation (a new C-O bond of 1.51 A) and one bis-isothiocyanate
6.3 kcal/mol per atom above MMFF's minimum (MMFF describes N=C=S poorly). The packaged model
on 40 QM9 test molecules (3 samples each, their own IR and Raman spectra): all 120 ``refine``
samples pass (bonds 0.72-1.20 x, at most 4.8 kcal/mol per atom); all 120 ``noise`` samples
fail (73% on bond lengths; those with bonds in range are 7.7-29 kcal/mol per atom above).
Ibuprofen from noise: bonds at 0.38-3.7 x, energies of 20,000-58,000 kcal/mol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from mspectmol.conformers.baselines import embed_etkdg
from mspectmol.errors import MspectmolError

#: Shortest and longest allowed bond, as a fraction of the covalent-radius sum.
BOND_SHORT = 0.70
BOND_LONG = 1.30
#: Closest allowed 1-3 pair (atoms bonded to a common atom), fraction of the covalent sum.
CLASH_13 = 1.00
#: Closest allowed pair three or more bonds apart, fraction of the van der Waals radius sum.
CLASH_VDW = 0.60
#: The same for a polar hydrogen (on N, O, F, S, Cl) and an acceptor (N, O, F, S, Cl).
CLASH_HBOND = 0.40
#: Elements that carry polar hydrogens and accept hydrogen bonds (atomic numbers).
HBOND_ELEMENTS = frozenset({7, 8, 9, 16, 17})
#: Allowed MMFF94 energy above the ETKDG + MMFF reference: per atom, and at least.
ENERGY_MARGIN_PER_ATOM = 6.0
ENERGY_MARGIN_MIN = 50.0
#: The reference: the lowest of this many ETKDG + MMFF conformers, embedded with this seed
#: (not 0: RDKit seeds every conformer alike for seed 0, so all five would be one).
REFERENCE_CONFORMERS = 5
REFERENCE_SEED = 42

PROBLEM_KINDS = ("bond_short", "bond_long", "clash", "energy")


@dataclass
class GeometryCheck:
    """The check of one conformer.

    Attributes
    ----------
    problems
        ``{kind: description}`` with kinds from :data:`PROBLEM_KINDS`; empty when it passes.
    bond_range
        Shortest and longest bond (A).
    bond_ratio_range
        Shortest and longest bond over its covalent-radius sum.
    energy
        MMFF94 energy (kcal/mol), ``None`` without MMFF parameters.
    reference_energy
        Lowest ETKDG + MMFF energy of the molecule (kcal/mol), ``None`` without parameters.
    severity
        ``{kind: how far past the bound}`` (larger is worse; compares conformers).
    energy_note
        Why the energy was not checked (empty when it was).
    """

    problems: dict[str, str] = field(default_factory=dict)
    severity: dict[str, float] = field(default_factory=dict)
    bond_range: tuple[float, float] = (0.0, 0.0)
    bond_ratio_range: tuple[float, float] = (0.0, 0.0)
    energy: float | None = None
    reference_energy: float | None = None
    energy_note: str = ""

    @property
    def ok(self) -> bool:
        """Whether the conformer passed every test."""
        return not self.problems

    def properties(self) -> dict[str, str]:
        """The check as string properties (for SDF records)."""
        out = {"geometry_ok": str(self.ok),
               "geometry_problems": "; ".join(self.problems.values()) or "none",
               "bond_length_range": f"{self.bond_range[0]:.3f}-{self.bond_range[1]:.3f} A",
               "bond_ratio_range": (f"{self.bond_ratio_range[0]:.3f}-"
                                    f"{self.bond_ratio_range[1]:.3f} (allowed {BOND_SHORT:.2f}-"
                                    f"{BOND_LONG:.2f} x covalent radii)")}
        if self.energy is None or self.reference_energy is None:
            out["mmff_energy"] = f"not checked ({self.energy_note or 'no MMFF94 energy'})"
        else:
            out["mmff_energy"] = f"{self.energy:.2f}"
            out["mmff_reference_energy"] = f"{self.reference_energy:.2f}"
            out["mmff_energy_above_reference"] = f"{self.energy - self.reference_energy:.2f}"
        return out


def _conformer_mol(mol: Chem.Mol, coords: np.ndarray) -> Chem.Mol:
    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    conf = Chem.Conformer(m.GetNumAtoms())
    for i, p in enumerate(np.asarray(coords, dtype=np.float64)):
        conf.SetAtomPosition(i, p.tolist())
    m.AddConformer(conf, assignId=True)
    return m


def mmff_energy(mol: Chem.Mol, coords: np.ndarray, props: Any | None = None) -> float | None:
    """MMFF94 energy (kcal/mol) of ``coords``; ``None`` when MMFF lacks parameters."""
    with rdBase.BlockLogs():
        props = props or AllChem.MMFFGetMoleculeProperties(mol)
        if props is None:
            return None
        m = _conformer_mol(mol, coords)  # the force field points into m: keep it alive
        ff = AllChem.MMFFGetMoleculeForceField(m, props)
        return None if ff is None else float(ff.CalcEnergy())


def reference_energy(mol: Chem.Mol) -> float | None:
    """Lowest MMFF94 energy of :data:`REFERENCE_CONFORMERS` ETKDG + MMFF conformers of ``mol``.

    ``None`` when MMFF has no parameters for the molecule.
    """
    with rdBase.BlockLogs():
        props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is None:
        return None
    coords = embed_etkdg(mol, REFERENCE_CONFORMERS, REFERENCE_SEED, mmff=True)
    energies = [mmff_energy(mol, c, props) for c in coords]
    return min(e for e in energies if e is not None)


def relax_mmff(mol: Chem.Mol, coords: np.ndarray, max_iters: int = 2000) -> np.ndarray:
    """``coords`` minimised with MMFF94 (unchanged when MMFF lacks parameters)."""
    m = _conformer_mol(mol, coords)
    with rdBase.BlockLogs():
        if not AllChem.MMFFHasAllMoleculeParams(m):
            return np.asarray(coords, dtype=np.float64)
        AllChem.MMFFOptimizeMolecule(m, maxIters=max_iters)
    return m.GetConformer().GetPositions()


def _pair_limits(mol: Chem.Mol, rcov: np.ndarray, rvdw: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Non-bonded atom pairs ``(k, 2)`` and the closest distance allowed for each (A)."""
    topo = Chem.GetDistanceMatrix(mol)
    i, j = np.triu_indices(mol.GetNumAtoms(), 1)
    near = topo[i, j] == 2
    far = topo[i, j] >= 3  # also atoms of different fragments (topological distance 1e8)
    polar_h = np.array([a.GetAtomicNum() == 1 and any(n.GetAtomicNum() in HBOND_ELEMENTS
                                                      for n in a.GetNeighbors())
                        for a in mol.GetAtoms()], dtype=bool)
    acceptor = np.array([a.GetAtomicNum() in HBOND_ELEMENTS for a in mol.GetAtoms()])
    fi, fj = i[far], j[far]
    hbond = (polar_h[fi] & acceptor[fj]) | (polar_h[fj] & acceptor[fi])
    pairs = np.stack([np.concatenate([i[near], fi]), np.concatenate([j[near], fj])], axis=1)
    limits = np.concatenate([CLASH_13 * (rcov[i[near]] + rcov[j[near]]),
                             np.where(hbond, CLASH_HBOND, CLASH_VDW) * (rvdw[fi] + rvdw[fj])])
    return pairs, limits


class GeometryChecker:
    """Checks conformers of one molecule (radii, pair lists and reference energy computed once).

    Parameters
    ----------
    mol
        The molecule with hydrogens (the atom order of the coordinates).
    energy
        Compare MMFF energies with the ETKDG + MMFF reference (costs one small conformer
        search).
    """

    def __init__(self, mol: Chem.Mol, *, energy: bool = True) -> None:
        table = Chem.GetPeriodicTable()
        self.mol = mol
        z = [a.GetAtomicNum() for a in mol.GetAtoms()]
        self.symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        rcov = np.array([table.GetRcovalent(n) for n in z])
        rvdw = np.array([table.GetRvdw(n) for n in z])
        self.bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()],
                              dtype=int).reshape(-1, 2)
        self.bond_sum = rcov[self.bonds[:, 0]] + rcov[self.bonds[:, 1]]
        self.pairs, self.min_pair = _pair_limits(mol, rcov, rvdw)
        self.props = None
        self.reference = None
        self.energy_note = "not asked for"
        if energy:
            with rdBase.BlockLogs():
                self.props = AllChem.MMFFGetMoleculeProperties(mol)
            self.energy_note = "no MMFF94 parameters for this molecule"
            if self.props is not None:
                try:
                    self.reference = reference_energy(mol)
                    self.energy_note = ""
                except MspectmolError:  # ETKDG found no conformer: nothing to compare with
                    self.energy_note = "ETKDG found no reference conformer"

    def energy_margin(self) -> float:
        """Allowed MMFF energy above the reference for this molecule (kcal/mol)."""
        return max(ENERGY_MARGIN_MIN, ENERGY_MARGIN_PER_ATOM * self.mol.GetNumAtoms())

    def _atom(self, k: int) -> str:
        return f"{self.symbols[k]}{k + 1}"

    def check(self, coords: np.ndarray) -> GeometryCheck:
        """Check one conformer ``coords`` ``(n_atoms, 3)`` (A)."""
        pos = np.asarray(coords, dtype=np.float64)
        if pos.shape != (self.mol.GetNumAtoms(), 3):
            raise MspectmolError(f"coordinates of shape {pos.shape} for "
                                 f"{self.mol.GetNumAtoms()} atoms")
        result = GeometryCheck(energy_note=self.energy_note)
        if len(self.bonds):
            length = np.linalg.norm(pos[self.bonds[:, 0]] - pos[self.bonds[:, 1]], axis=1)
            ratio = length / self.bond_sum
            result.bond_range = (float(length.min()), float(length.max()))
            result.bond_ratio_range = (float(ratio.min()), float(ratio.max()))
            for kind, bad, pick in (("bond_short", ratio < BOND_SHORT, np.argmin),
                                    ("bond_long", ratio > BOND_LONG, np.argmax)):
                if bad.any():
                    k = int(pick(ratio))
                    a, b = self.bonds[k]
                    word = "short" if kind == "bond_short" else "long"
                    result.severity[kind] = float(abs(np.log(ratio[k])))
                    result.problems[kind] = (
                        f"{int(bad.sum())} bond(s) too {word} (worst {self._atom(a)}-"
                        f"{self._atom(b)} {length[k]:.2f} A, {ratio[k]:.2f} x the covalent "
                        f"radii; allowed {BOND_SHORT:.2f}-{BOND_LONG:.2f})")
        if len(self.pairs):
            dist = np.linalg.norm(pos[self.pairs[:, 0]] - pos[self.pairs[:, 1]], axis=1)
            short = dist < self.min_pair
            if short.any():
                k = int(np.argmin(dist / self.min_pair))
                a, b = self.pairs[k]
                result.severity["clash"] = float(self.min_pair[k] / max(dist[k], 1e-6))
                result.problems["clash"] = (
                    f"{int(short.sum())} non-bonded pair(s) too close (worst "
                    f"{self._atom(a)}...{self._atom(b)} {dist[k]:.2f} A, allowed "
                    f">= {self.min_pair[k]:.2f} A)")
        if self.props is not None and self.reference is not None:
            result.energy = mmff_energy(self.mol, pos, self.props)
            result.reference_energy = self.reference
            margin = self.energy_margin()
            if result.energy is not None and result.energy - self.reference > margin:
                result.severity["energy"] = result.energy - self.reference
                result.problems["energy"] = (
                    f"MMFF94 energy {result.energy:.0f} kcal/mol, "
                    f"{result.energy - self.reference:.0f} above the ETKDG + MMFF conformers' "
                    f"{self.reference:.1f} (allowed {margin:.0f})")
        return result


_KIND_TEXT = {"bond_short": "bonds too short", "bond_long": "bonds too long",
              "clash": "clashing atoms", "energy": "an MMFF94 energy far above ETKDG + MMFF"}


def problem_lines(name: str, checks: list[GeometryCheck]) -> list[str]:
    """One line per problem kind found in ``checks``, naming the molecule and the worst case.

    E.g. ``"CCO: 3 of 5 conformers have bonds too long (worst: 2 bond(s) too long ...)"``.
    """
    lines = []
    for kind in PROBLEM_KINDS:
        failed = [c for c in checks if kind in c.problems]
        if failed:
            worst = max(failed, key=lambda c: c.severity.get(kind, 0.0))
            lines.append(f"{name}: {len(failed)} of {len(checks)} conformers have "
                         f"{_KIND_TEXT[kind]}; worst conformer: {worst.problems[kind]}")
    return lines
