"""Molecules to simulate: SMILES strings, SMILES files and SDF files, as :class:`MoleculeTask`.

Each command-line item is a SMILES string or a file:

* ``.smi``/``.txt``/``.csv``/``.tsv`` (optionally ``.gz``) through
  :func:`mspectmol.chem.molecules.read_smiles_file`; a SMILES string given directly is named
  by itself.
* ``.sdf``/``.sd``/``.mol`` (optionally ``.gz``), streamed record by record and parsed with
  RDKit's ``ForwardSDMolSupplier``. A record with 3D coordinates keeps them as the starting
  geometry of the simulation (reordered into the atom order of its SMILES by
  :func:`~mspectmol.data.simulator.geometry.coords_for_smiles`); hydrogens missing from a 3D
  record are added with coordinates (``Chem.AddHs(addCoords=True)``) and logged. Records
  with 2D or no coordinates get a conformer search. Names come from the title line
  (``_Name``) or an ``ID``/``name`` data field, else ``<file stem>:<line>``.

A problem with one molecule (an invalid SMILES, an unreadable SDF record, a geometry that is
not the molecule, a duplicate name) raises :class:`MoleculeInputError` naming the file and
the record, or, with ``skip_invalid``, becomes a :class:`~mspectmol.data.simulator.runner.Failure`
at stage ``"input"``. Problems with a whole file (missing, empty, unsupported) always raise.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase

from mspectmol.chem.molecules import SMILES_FILE_SUFFIXES, mol_from_smiles, read_smiles_file
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.geometry import coords_for_smiles
from mspectmol.data.simulator.runner import Failure, MoleculeTask
from mspectmol.errors import InvalidSmilesError, MspectmolError

log = logging.getLogger("mspectmol.simulate")

#: Stage reported for molecules rejected while reading the input.
INPUT_STAGE = "input"

#: Structure-file types read with RDKit's SDF reader (each optionally gzipped, ``.gz``).
SDF_SUFFIXES: tuple[str, ...] = (".sdf", ".sd", ".mol")

#: Atoms closer than this (Angstrom) make a given geometry unusable.
MIN_ATOM_DISTANCE = 0.5

_NAME_FIELDS = ("id", "name")


class MoleculeInputError(MspectmolError, ValueError):
    """A molecule input cannot be used: missing or empty file, unreadable record, bad geometry.

    Parameters
    ----------
    message
        What is wrong.
    source
        The file (or ``"argument"`` for a SMILES given directly), named in the message.
    """

    def __init__(self, message: str, source: str | PathLike[str]) -> None:
        self.source = str(source)
        self.problem = message
        super().__init__(f"{self.source}: {message}")


@dataclass(frozen=True)
class _Entry:
    """One molecule read from an input, or the reason it cannot be used."""

    name: str
    smiles: str
    where: str
    coords: np.ndarray | None = None
    problem: str | None = None


def iter_tasks(items: Iterable[str | PathLike[str]], *, skip_invalid: bool = False,
               failures: list[Failure] | None = None) -> Iterator[MoleculeTask]:
    """Stream the molecules of SMILES strings and molecule files as simulation tasks.

    Parameters
    ----------
    items
        SMILES strings and/or paths of ``.smi``/``.txt``/``.csv``/``.tsv``/``.sdf``/``.sd``/
        ``.mol`` files (each optionally ``.gz``).
    skip_invalid
        Report unusable molecules as failures (stage ``"input"``) instead of raising.
    failures
        List that receives those failures (in input order) when ``skip_invalid`` is true.

    Yields
    ------
    MoleculeTask
        One per usable molecule, with unique names, in input order.

    Raises
    ------
    MoleculeInputError, SmilesFileError, InvalidSmilesError
        For a missing, empty or unsupported file, and (unless ``skip_invalid``) for the first
        unusable molecule; messages name the file and the record.
    """
    seen: dict[str, str] = {}
    for item in items:
        for entry in _entries(item, skip_invalid):
            problem = entry.problem
            if problem is None and entry.name in seen:
                problem = f"duplicate molecule name {entry.name!r} (first at {seen[entry.name]})"
            if problem is None:
                seen[entry.name] = entry.where
                yield MoleculeTask(entry.name, entry.smiles, entry.coords)
                continue
            message = f"{entry.where}: {problem}"
            if not skip_invalid:
                raise MoleculeInputError(problem, entry.where)
            log.warning("skipped %s", message)
            if failures is not None:
                name = entry.name if entry.name not in seen else f"{entry.name}@{entry.where}"
                failures.append(Failure(name, entry.smiles, INPUT_STAGE, message))


def read_tasks(items: Iterable[str | PathLike[str]], *, skip_invalid: bool = False
               ) -> tuple[list[MoleculeTask], list[Failure]]:
    """All tasks of ``items`` and the input failures (see :func:`iter_tasks`)."""
    failures: list[Failure] = []
    tasks = list(iter_tasks(items, skip_invalid=skip_invalid, failures=failures))
    return tasks, failures


def _file_type(path: Path) -> tuple[str, bool]:
    """The type suffix of ``path`` (ignoring a trailing ``.gz``) and whether it is gzipped."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), gz


def _entries(item: str | PathLike[str], skip_invalid: bool) -> Iterator[_Entry]:
    """The entries of one command-line item (a SMILES string or a file)."""
    text = str(item)
    path = Path(text)
    kind, gz = _file_type(path)
    known = kind in SDF_SUFFIXES or kind in SMILES_FILE_SUFFIXES or gz
    found = _path_kind(path) if len(text) < 4096 else None
    if not (known or found == "file" or isinstance(item, PathLike)):
        yield _smiles_argument(text)
        return
    if found is None:
        raise MoleculeInputError("file not found", path)
    if found != "file":
        raise MoleculeInputError("not a regular file", path)
    if kind in SDF_SUFFIXES:
        yield from _sdf_entries(path, gz)
    elif kind in SMILES_FILE_SUFFIXES:
        yield from _smiles_file_entries(path, skip_invalid)
    else:
        supported = ", ".join((*SMILES_FILE_SUFFIXES, *SDF_SUFFIXES))
        raise MoleculeInputError(
            f"unsupported file type {kind or '(none)'!r}; expected one of {supported} "
            "(optionally .gz)", path)


def _path_kind(path: Path) -> str | None:
    """``"file"``, ``"other"`` (a folder...) or None when nothing is there (or the OS rejects
    the name, e.g. a long SMILES)."""
    try:
        if path.is_file():
            return "file"
        return "other" if path.exists() else None
    except OSError:
        return None


def _smiles_argument(text: str) -> _Entry:
    """A SMILES string given directly; it names itself."""
    where = f"argument {text!r}"
    try:
        mol_from_smiles(text)
    except InvalidSmilesError as exc:
        return _Entry(text, text, where, problem=f"not a file, and {_reason(exc)}")
    return _Entry(text, text.strip(), where)


def _reason(exc: InvalidSmilesError) -> str:
    """The message of an invalid-SMILES error without a leading location."""
    text = str(exc)
    start = text.find("invalid SMILES")
    return text[start:] if start >= 0 else text


def _smiles_file_entries(path: Path, skip_invalid: bool) -> Iterator[_Entry]:
    """Entries of a SMILES file; validated while reading (file:line errors) unless skipping."""
    for name, smiles in read_smiles_file(path, validate=not skip_invalid):
        where = f"{path}, molecule {name!r}"
        problem = None
        if skip_invalid:
            try:
                mol_from_smiles(smiles)
            except InvalidSmilesError as exc:
                problem = _reason(exc)
        yield _Entry(name, smiles, where, problem=problem)


# --------------------------------------------------------------------------- SDF files


def _sdf_blocks(path: Path, gz: bool) -> Iterator[tuple[int, bytes]]:
    """Stream ``(first line number, record bytes)`` of an SDF file, skipping blank records."""
    opener = gzip.open if gz else open
    block: list[bytes] = []
    start = 1
    try:
        with opener(path, "rb") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not block:
                    start = lineno
                block.append(line)
                if line.rstrip() == b"$$$$":
                    if b"".join(block[:-1]).strip():
                        yield start, b"".join(block)
                    block = []
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise MoleculeInputError(f"cannot read the file: {exc}", path) from None
    if b"".join(block).strip():
        yield start, b"".join(block)


def _sdf_entries(path: Path, gz: bool) -> Iterator[_Entry]:
    """Entries of an SDF/molfile, one per record."""
    stem = path.name.split(".")[0]
    count = 0
    for record, (lineno, data) in enumerate(_sdf_blocks(path, gz), start=1):
        count += 1
        with rdBase.BlockLogs():
            supplier = Chem.ForwardSDMolSupplier(io.BytesIO(data), sanitize=False,
                                                 removeHs=False)
            mol = next(iter(supplier), None)
        yield _sdf_entry(mol, f"{path}:{lineno}", record, f"{stem}:{lineno}")
    if count == 0:
        raise MoleculeInputError("no molecules in the file", path)


def _record_name(mol: Chem.Mol) -> str:
    """The title line of a record, else its first ``ID``/``name`` data field, else ``""``."""
    title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    if title:
        return title
    fields = {key.lower(): key for key in mol.GetPropNames()}
    for wanted in _NAME_FIELDS:
        if wanted in fields:
            value = mol.GetProp(fields[wanted]).strip()
            if value:
                return value
    return ""


def _sdf_entry(mol: Chem.Mol | None, location: str, record: int, fallback: str) -> _Entry:
    """Turn one parsed SDF record into an entry (SMILES, optional 3D geometry) or a problem."""
    where = f"{location} (record {record})"
    if mol is None:
        return _Entry(fallback, "", where, problem="RDKit cannot parse this molfile record "
                      "(malformed header, counts line, atom or bond block)")
    name = _record_name(mol)
    if name:
        where = f"{location} (record {record}, {name!r})"
    name = name or fallback
    if mol.GetNumAtoms() == 0:
        return _Entry(name, "", where, problem="the record has no atoms")
    try:
        with rdBase.BlockLogs():
            Chem.SanitizeMol(mol)
            if _has_3d(mol):
                Chem.AssignStereochemistryFrom3D(mol)
            smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
    except Exception as exc:  # noqa: BLE001 - RDKit raises several unrelated types
        return _Entry(name, "", where, problem=f"RDKit rejects the structure: {exc}")
    if not _has_3d(mol):
        log.debug("%s: no 3D coordinates; a conformer search will be run", where)
        return _Entry(name, smiles, where)
    try:
        coords = _given_geometry(mol, smiles, where)
    except SimulationError as exc:
        return _Entry(name, smiles, where, problem=f"unusable 3D geometry: {exc.reason}")
    return _Entry(name, smiles, where, coords=coords)


def _has_3d(mol: Chem.Mol) -> bool:
    """Whether the record has a 3D conformer with coordinates (not all zero)."""
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        return False
    return bool(np.any(mol.GetConformer().GetPositions() != 0.0))


def _given_geometry(mol: Chem.Mol, smiles: str, where: str) -> np.ndarray:
    """The record's coordinates in the atom order of ``parse_smiles(smiles)``, H added if needed.

    Raises
    ------
    SimulationError
        When atoms overlap or the geometry is not the molecule of ``smiles``.
    """
    if any(atom.GetTotalNumHs() > 0 for atom in mol.GetAtoms()):
        mol = Chem.AddHs(mol, addCoords=True)
        log.info("%s: the 3D record has no explicit hydrogens; added them with coordinates "
                 "(RDKit AddHs addCoords) before the GFN2-xTB optimisation", where)
    positions = np.asarray(mol.GetConformer().GetPositions(), dtype=float)
    if len(positions) > 1:
        gaps = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
        np.fill_diagonal(gaps, np.inf)
        i, j = np.unravel_index(int(np.argmin(gaps)), gaps.shape)
        if gaps[i, j] < MIN_ATOM_DISTANCE:
            raise SimulationError(
                "parse", f"atoms {i + 1} and {j + 1} are {gaps[i, j]:.3f} Angstrom apart "
                f"(less than {MIN_ATOM_DISTANCE})")
    return coords_for_smiles(mol, smiles)
