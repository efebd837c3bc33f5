"""1H and 13C chemical shifts from CSP5 on a given 3D geometry, grouped by equivalent atoms.

CSP5 (a graph network trained on experimental shifts; models ship inside its wheel and run
offline) predicts one shift per atom. Atoms that are topologically equivalent (RDKit canonical
ranks with ``breakTies=False``, e.g. the three protons of a methyl group) are averaged into one
line whose multiplicity is the number of atoms, giving a peak list ``[(shift_ppm, n_atoms)]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from rdkit import Chem

from mspectmol.chem import molecules
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.errors import MspectmolError

#: The nuclei simulated, with their atomic numbers.
NUCLEI: dict[str, int] = {"1H": 1, "13C": 6}


def with_coordinates(mol: Chem.Mol, coords: np.ndarray) -> Chem.Mol:
    """Return a copy of ``mol`` whose only conformer has ``coords`` (Angstrom, N x 3)."""
    try:
        return molecules.with_coordinates(mol, coords)
    except MspectmolError as exc:
        raise SimulationError("nmr", str(exc)) from None


@contextlib.contextmanager
def _torch_single_thread() -> Iterator[None]:
    """Run CSP5's torch model on one thread, restoring the caller's setting afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def atom_shifts(mol: Chem.Mol, coords: np.ndarray, nucleus: str) -> np.ndarray:
    """CSP5 shift (ppm) of every atom of ``nucleus``; NaN for the other atoms.

    Parameters
    ----------
    mol
        Molecule with explicit hydrogens.
    coords
        Its geometry, Angstrom (N x 3), e.g. the GFN2-xTB optimum.
    nucleus
        ``"1H"`` or ``"13C"``.

    Raises
    ------
    SimulationError
        Stage ``"nmr"`` when CSP5 is missing or gives no shift for some atom of the nucleus.
    """
    if nucleus not in NUCLEI:
        raise SimulationError("nmr", f"unsupported nucleus {nucleus!r}; use one of {list(NUCLEI)}")
    shifts = np.full(mol.GetNumAtoms(), np.nan)
    targets = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == NUCLEI[nucleus]]
    if not targets:
        return shifts
    try:
        import csp5
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SimulationError("nmr", f"csp5 is not installed ({exc})") from exc
    with _torch_single_thread():
        try:
            result = csp5.predict_mols(
                [with_coordinates(mol, coords)], nucleus=nucleus, device="cpu"
            )
        except Exception as exc:  # csp5 raises plain ValueError/RuntimeError
            raise SimulationError("nmr", f"CSP5 {nucleus} prediction failed: {exc}") from exc
    table = result.predictions
    if len(table):
        shifts[table["atom_index"].to_numpy(dtype=int)] = table["shift_ppm"].to_numpy(dtype=float)
    missing = [i for i in targets if not np.isfinite(shifts[i])]
    if missing:
        reasons = "; ".join(f.split("\t")[0] for f in result.failures) or "no prediction"
        raise SimulationError(
            "nmr", f"CSP5 gave no {nucleus} shift for atoms {missing[:5]} ({reasons})"
        )
    return shifts


def equivalence_classes(mol: Chem.Mol) -> np.ndarray:
    """Canonical rank of each atom without tie breaking: equal ranks = equivalent atoms."""
    return np.array(list(Chem.CanonicalRankAtoms(mol, breakTies=False)), dtype=int)


def group_equivalent(shifts: np.ndarray, classes: np.ndarray) -> list[tuple[float, int]]:
    """Average the shifts of equivalent atoms into ``[(shift_ppm, n_atoms)]``, highest shift first.

    Atoms whose shift is NaN (other elements) are skipped.
    """
    shifts = np.asarray(shifts, dtype=float)
    lines = []
    for rank in np.unique(classes[np.isfinite(shifts)]):
        members = shifts[(classes == rank) & np.isfinite(shifts)]
        lines.append((round(float(members.mean()), 4), int(members.size)))
    return sorted(lines, key=lambda line: -line[0])


def nmr_peaks(mol: Chem.Mol, coords: np.ndarray, nucleus: str) -> list[tuple[float, int]]:
    """The ``[(shift_ppm, n_atoms)]`` peak list of one nucleus (empty when it has no such atom)."""
    return group_equivalent(atom_shifts(mol, coords, nucleus), equivalence_classes(mol))
