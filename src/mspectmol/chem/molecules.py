"""Molecule utilities: parsing SMILES with clear errors, identifiers, and SMILES files.

Every function that takes a molecule accepts either a SMILES string or an RDKit ``Mol``.
Invalid SMILES raise :class:`~mspectmol.errors.InvalidSmilesError` naming the SMILES (and
the file and line when they are known); RDKit's own stderr logging is silenced meanwhile.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import TextIO

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdMolDescriptors
from rdkit.Geometry import Point3D

from mspectmol.errors import InvalidSmilesError, MspectmolError

__all__ = [
    "SmilesFileError",
    "MolLike",
    "mol_from_smiles",
    "as_mol",
    "canonical_smiles",
    "inchikey",
    "heavy_atom_count",
    "formula",
    "read_smiles_file",
    "SMILES_FILE_SUFFIXES",
]

MolLike = str | Chem.Mol
"""A SMILES string or an RDKit molecule."""

SMILES_FILE_SUFFIXES: tuple[str, ...] = (".smi", ".txt", ".csv", ".tsv")
"""File types :func:`read_smiles_file` reads (each optionally gzipped, ``.gz``)."""

_NAME_COLUMNS: tuple[str, ...] = ("name", "id")


class SmilesFileError(MspectmolError, ValueError):
    """A SMILES file cannot be read: missing, empty, malformed or of an unsupported type.

    Parameters
    ----------
    message
        What is wrong.
    source
        The file, named in the message.
    line
        The 1-based line the problem is on, named in the message when given.
    """

    def __init__(self, message: str, source: str | PathLike[str], line: int | None = None) -> None:
        self.source = str(source)
        self.line = line
        self.problem = message
        super().__init__(f"{_where(self.source, line)}: {message}")


def _where(source: str | PathLike[str] | None, line: int | None) -> str:
    """Return ``"file:line"``, ``"file"``, ``"line N"`` or ``""`` for an error message."""
    if source is None:
        return "" if line is None else f"line {line}"
    return f"{source}" if line is None else f"{source}:{line}"


def _smiles_error(
    smiles: object, reason: str, source: str | PathLike[str] | None, line: int | None
) -> InvalidSmilesError:
    """Build an :class:`InvalidSmilesError` naming the SMILES, the reason and the location."""
    where = _where(source, line)
    prefix = f"{where}: " if where else ""
    return InvalidSmilesError(f"{prefix}invalid SMILES {smiles!r}: {reason}")


def _diagnose(smiles: str) -> str:
    """Explain why RDKit rejects ``smiles`` (syntax error or the sanitisation message)."""
    with rdBase.BlockLogs():
        raw = Chem.MolFromSmiles(smiles, sanitize=False)
        if raw is None:
            return "RDKit cannot parse it (syntax error)"
        try:
            Chem.SanitizeMol(raw)
        except Exception as exc:  # RDKit raises several unrelated types
            return f"RDKit rejects it: {exc}"
    return "RDKit rejects it"


def mol_from_smiles(
    smiles: str,
    *,
    source: str | PathLike[str] | None = None,
    line: int | None = None,
) -> Chem.Mol:
    """Parse a SMILES string into a sanitised RDKit molecule.

    Parameters
    ----------
    smiles
        The SMILES; surrounding whitespace is ignored.
    source, line
        Where the SMILES came from (a file and its 1-based line), named in errors.

    Returns
    -------
    rdkit.Chem.Mol
        The molecule with implicit hydrogens (as ``Chem.MolFromSmiles`` gives it).

    Raises
    ------
    InvalidSmilesError
        When ``smiles`` is not a string, is empty, contains whitespace inside it, or RDKit
        cannot parse or sanitise it. The message names the SMILES, the reason and, when
        given, the file and line.
    """
    if not isinstance(smiles, str):
        raise _smiles_error(
            smiles, f"expected a SMILES string, got {type(smiles).__name__}", source, line
        )
    text = smiles.strip()
    if not text:
        raise _smiles_error(smiles, "empty SMILES", source, line)
    if any(ch.isspace() for ch in text):
        raise _smiles_error(smiles, "whitespace inside the SMILES", source, line)
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise _smiles_error(smiles, _diagnose(text), source, line)
    if mol.GetNumAtoms() == 0:
        raise _smiles_error(smiles, "no atoms", source, line)
    return mol


def as_mol(smiles_or_mol: MolLike) -> Chem.Mol:
    """Return an RDKit molecule for a SMILES string or pass a ``Mol`` through unchanged.

    Raises
    ------
    InvalidSmilesError
        For an invalid SMILES, ``None`` or any other type.
    """
    if isinstance(smiles_or_mol, Chem.Mol):
        return smiles_or_mol
    return mol_from_smiles(smiles_or_mol)  # type: ignore[arg-type]


def canonical_smiles(smiles_or_mol: MolLike, *, isomeric: bool = True) -> str:
    """Return RDKit's canonical SMILES.

    Parameters
    ----------
    smiles_or_mol
        A SMILES string or an RDKit molecule.
    isomeric
        Keep stereochemistry and isotopes (default) or drop them.
    """
    return Chem.MolToSmiles(as_mol(smiles_or_mol), isomericSmiles=isomeric)


def inchikey(smiles_or_mol: MolLike) -> str:
    """Return the standard InChIKey (27 characters).

    Raises
    ------
    InvalidSmilesError
        When the SMILES is invalid or InChI cannot describe the molecule (e.g. dummy atoms).
    """
    mol = as_mol(smiles_or_mol)
    with rdBase.BlockLogs():
        key = Chem.MolToInchiKey(mol)
    if not key:
        raise InvalidSmilesError(
            f"cannot compute an InChIKey for {Chem.MolToSmiles(mol)!r} (InChI rejects it)"
        )
    return key


def heavy_atom_count(smiles_or_mol: MolLike) -> int:
    """Return the number of non-hydrogen atoms."""
    return int(as_mol(smiles_or_mol).GetNumHeavyAtoms())


def formula(smiles_or_mol: MolLike) -> str:
    """Return the molecular formula in Hill notation (e.g. ``"C2H6O"``; charges as ``+``/``-``)."""
    return rdMolDescriptors.CalcMolFormula(as_mol(smiles_or_mol))


# --------------------------------------------------------------------------- SMILES files


def _suffix(path: Path) -> tuple[str, bool]:
    """Return the file type suffix (ignoring a trailing ``.gz``) and whether it is gzipped."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), gz


def _open_text(path: Path, gz: bool) -> TextIO:
    """Open ``path`` for reading text (UTF-8, BOM tolerated), decompressing ``.gz``."""
    if gz:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # closed by the caller


def _check(smiles: str, path: Path, line: int, validate: bool) -> str:
    """Return the stripped SMILES of a record, raising for empty or (if validating) bad ones."""
    text = smiles.strip()
    if not text:
        raise _smiles_error(smiles, "empty SMILES", path, line)
    if validate:
        mol_from_smiles(text, source=path, line=line)
    return text


def _iter_smi(handle: TextIO, path: Path, validate: bool) -> Iterator[tuple[str, str]]:
    """Yield ``(name, smiles)`` from a ``.smi``/``.txt`` file: ``SMILES [whitespace name]``.

    Blank lines and lines starting with ``#`` are skipped, and so is a first record whose
    SMILES column reads ``smiles`` (a header). Unnamed records are named ``stem:line``.
    """
    first = True
    stem = path.name.split(".")[0]
    for lineno, raw in enumerate(handle, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(maxsplit=1)
        if first and parts[0].lower() == "smiles":
            first = False
            continue
        first = False
        smiles = _check(parts[0], path, lineno, validate)
        name = parts[1].strip() if len(parts) > 1 else f"{stem}:{lineno}"
        yield name, smiles


def _header_index(header: list[str], wanted: tuple[str, ...]) -> int | None:
    """Return the index of the first column whose name is in ``wanted`` (case-insensitive)."""
    lowered = [h.strip().lower() for h in header]
    for name in wanted:
        if name in lowered:
            return lowered.index(name)
    return None


def _iter_table(
    handle: TextIO, path: Path, delimiter: str, validate: bool
) -> Iterator[tuple[str, str]]:
    """Yield ``(name, smiles)`` from a delimited file with a ``smiles`` column."""
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise SmilesFileError("empty file: no header row", path) from None
    except csv.Error as exc:
        raise SmilesFileError(f"malformed header: {exc}", path, 1) from exc
    smiles_col = _header_index(header, ("smiles",))
    if smiles_col is None:
        raise SmilesFileError(
            f"no 'smiles' column in the header (columns: {', '.join(header) or 'none'})",
            path,
            reader.line_num,
        )
    name_col = _header_index(header, _NAME_COLUMNS)
    stem = path.name.split(".")[0]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SmilesFileError(f"malformed row: {exc}", path, reader.line_num) from exc
        lineno = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= smiles_col:
            raise SmilesFileError(
                f"row has {len(row)} fields, the 'smiles' column is field {smiles_col + 1}",
                path,
                lineno,
            )
        smiles = _check(row[smiles_col], path, lineno, validate)
        name = ""
        if name_col is not None and name_col < len(row):
            name = row[name_col].strip()
        yield (name or f"{stem}:{lineno}"), smiles


def _iter_file(path: Path, kind: str, gz: bool, validate: bool) -> Iterator[tuple[str, str]]:
    """Open ``path`` and stream its records, turning decode errors into SmilesFileError."""
    count = 0
    try:
        with _open_text(path, gz) as handle:
            if kind in (".csv", ".tsv"):
                records = _iter_table(handle, path, "," if kind == ".csv" else "\t", validate)
            else:
                records = _iter_smi(handle, path, validate)
            for record in records:
                count += 1
                yield record
    except UnicodeDecodeError as exc:
        raise SmilesFileError(f"not UTF-8 text ({exc.reason})", path) from exc
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise SmilesFileError(f"cannot read the file: {exc}", path) from exc
    if count == 0:
        raise SmilesFileError("no SMILES records in the file", path)


def read_smiles_file(
    path: str | PathLike[str], *, validate: bool = True
) -> Iterator[tuple[str, str]]:
    """Stream ``(name, smiles)`` records from a SMILES file.

    Supported types (each optionally gzipped as ``.gz``):

    * ``.smi`` / ``.txt``: one record a line, ``SMILES [whitespace name]``; blank lines,
      ``#`` comments and a ``smiles ...`` header line are skipped.
    * ``.csv`` / ``.tsv``: a header row with a column named ``smiles`` (any case) and
      optionally ``name`` or ``id`` (first found).

    Records without a name are named ``"<file stem>:<line>"``.

    Parameters
    ----------
    path
        The file.
    validate
        Parse every SMILES with RDKit while reading (default), so a bad one stops the
        stream with an error naming the file and line.

    Returns
    -------
    Iterator[tuple[str, str]]
        ``(name, smiles)`` pairs in file order, the SMILES as written (stripped).

    Raises
    ------
    SmilesFileError
        At the call for a missing file, a directory or an unsupported type; while
        iterating for an undecodable, malformed or empty file (messages name the file and,
        where it applies, the line).
    InvalidSmilesError
        While iterating, for an empty SMILES or (when ``validate``) one RDKit rejects.
    """
    file = Path(path)
    kind, gz = _suffix(file)
    if kind not in SMILES_FILE_SUFFIXES:
        supported = ", ".join(SMILES_FILE_SUFFIXES)
        raise SmilesFileError(
            f"unsupported file type {kind or '(none)'!r}; expected one of {supported} "
            "(optionally .gz)",
            file,
        )
    if not file.exists():
        raise SmilesFileError("file not found", file)
    if not file.is_file():
        raise SmilesFileError("not a regular file", file)
    return _iter_file(file, kind, gz, validate)


def with_coordinates(mol: Chem.Mol, coords: np.ndarray) -> Chem.Mol:
    """A copy of ``mol`` whose only conformer holds ``coords`` (n_atoms x 3, Angstrom).

    Raises
    ------
    MspectmolError
        When the shape does not match the molecule's atoms or a coordinate is not finite.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (mol.GetNumAtoms(), 3):
        raise MspectmolError(f"coordinates of shape {coords.shape} for a molecule of "
                             f"{mol.GetNumAtoms()} atoms")
    if not np.isfinite(coords).all():
        raise MspectmolError("non-finite coordinates")
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    conformer = Chem.Conformer(mol.GetNumAtoms())
    for i, (x, y, z) in enumerate(coords):
        conformer.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    conformer.Set3D(True)
    out.AddConformer(conformer, assignId=True)
    return out
