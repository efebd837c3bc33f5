"""QM9 as an isomer library: every QM9 molecule of a formula is a candidate structure.

``mspectmol elucidate --formula F --library qm9`` ranks every QM9 isomer of the formula (of
the 130,831 QM9 molecules in the ``qm9pack`` package's CSVs; a median of about 2,200 for the
formula of a QM9-size test molecule) after a pre-filter
(:mod:`~mspectmol.structure.ranking.prefilter`).

The index (formula -> canonical no-stereo SMILES, stereoisomers merged) is built once with
RDKit (about 15 s) and cached as a small Parquet file under ``$MSPECTMOL_CACHE`` (or
``~/.cache/mspectmol``) ``/isomers/``, tagged with the qm9pack version and
:data:`FORMAT_VERSION`; it is rebuilt when either differs or the file is unreadable.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem, RDLogger
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

from mspectmol.data.sources import qm9pack_files
from mspectmol.errors import MspectmolError
from mspectmol.fileio import OutputError, atomic_path
from mspectmol.structure.cache import cache_root
from mspectmol.structure.model.tokens import hill

log = logging.getLogger("mspectmol.structure")

#: Bumped when the cache file's layout or the canonicalisation changes.
FORMAT_VERSION = 1
INSTALL_HINT = "pip install qm9pack (or pip install 'mspectmol[qm9]')"
_META_KEY = b"mspectmol.isomers"


@dataclass(frozen=True)
class QM9Source:
    """The QM9 CSV files (``Index`` and ``SMILES`` columns are read) and their version."""

    files: tuple[Path, ...]
    version: str

    @classmethod
    def installed(cls) -> QM9Source:
        """The installed ``qm9pack`` package's CSVs (its own loader needs pkg_resources)."""
        if importlib.util.find_spec("qm9pack") is None:
            raise MspectmolError(f"the QM9 isomer library needs the qm9pack package: "
                                 f"{INSTALL_HINT}")
        return cls(tuple(qm9pack_files()), version("qm9pack"))


class IsomerIndex:
    """Canonical no-stereo SMILES by Hill formula (each list sorted); ``meta``: ``format``,
    ``qm9pack`` (version), CSV ``rows`` read and ``unparsed`` SMILES."""

    def __init__(self, pairs: Sequence[tuple[str, str]], meta: dict[str, Any]) -> None:
        self.by_formula: dict[str, list[str]] = {}
        for formula, smiles in sorted(pairs):
            self.by_formula.setdefault(formula, []).append(smiles)
        self.meta = dict(meta)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_formula.values())

    def isomers(self, formula: str) -> list[str]:
        """Every molecule of ``formula`` (any element order), sorted by SMILES."""
        return list(self.by_formula.get(hill(formula), []))


def index_path() -> Path:
    """The cache file: ``$MSPECTMOL_CACHE`` (or ``~/.cache/mspectmol``)
    ``/isomers/qm9_isomers.parquet``."""
    return cache_root() / "isomers" / "qm9_isomers.parquet"


def build_index(source: QM9Source) -> IsomerIndex:
    """Read every QM9 SMILES, canonicalise it (no stereo) and group by formula."""
    csv.field_size_limit(10**8)
    seen: dict[str, str] = {}
    n_rows = unparsed = 0
    RDLogger.DisableLog("rdApp.*")
    try:
        for path in source.files:
            with Path(path).open(newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                header = next(reader, [])
                if "SMILES" not in header:
                    raise MspectmolError(f"{path}: not a QM9 CSV (no SMILES column)")
                col = header.index("SMILES")
                for line_no, row in enumerate(reader, start=2):
                    if len(row) <= col:
                        raise MspectmolError(f"{path}, line {line_no}: malformed QM9 row")
                    n_rows += 1
                    mol = Chem.MolFromSmiles(row[col])
                    if mol is None or mol.GetNumAtoms() == 0:
                        unparsed += 1
                        continue
                    try:
                        formula = hill(CalcMolFormula(mol))
                    except MspectmolError:  # a net charge ("+") or an unsupported element
                        unparsed += 1
                        continue
                    seen.setdefault(Chem.MolToSmiles(mol, isomericSmiles=False), formula)
    finally:
        RDLogger.EnableLog("rdApp.*")
    meta = {"format": FORMAT_VERSION, "qm9pack": source.version, "rows": n_rows,
            "unparsed": unparsed}
    return IsomerIndex([(f, s) for s, f in seen.items()], meta)


def _write(index: IsomerIndex, path: Path) -> None:
    pairs = [(f, s) for f, group in index.by_formula.items() for s in group]
    table = pa.table({"formula": [f for f, _ in pairs], "smiles": [s for _, s in pairs]})
    table = table.replace_schema_metadata({_META_KEY: json.dumps(index.meta).encode()})
    try:
        with atomic_path(path, clean=True, what="cannot write the QM9 isomer index") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    except OutputError as exc:
        raise MspectmolError(f"{exc}; set MSPECTMOL_CACHE to a writable folder") from None


def _read(path: Path) -> IsomerIndex:
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {})[_META_KEY])
    return IsomerIndex(list(zip(table.column("formula").to_pylist(),
                                table.column("smiles").to_pylist(), strict=True)), meta)


def load_index(source: QM9Source | None = None, path: Path | None = None, *,
               rebuild: bool = True) -> IsomerIndex:
    """The cached QM9 isomer index, built (and cached) when absent or stale.

    ``source``: the QM9 CSVs (default: the installed qm9pack package's); ``path``: the cache
    file (default :func:`index_path`); ``rebuild``: rebuild a stale (other qm9pack or format
    version) or unreadable cache, else raise. Also raises :class:`MspectmolError` when
    qm9pack is missing, a CSV is malformed or the cache folder cannot be written.
    """
    source = source or QM9Source.installed()
    path = Path(path or index_path())
    if path.is_file():
        try:
            index = _read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not rebuild:
                raise MspectmolError(f"{path}: unreadable QM9 isomer index ({exc}); delete it "
                                     "to rebuild") from None
            log.warning("%s: unreadable QM9 isomer index (%s), rebuilding", path, exc)
        else:
            found = (index.meta.get("format"), index.meta.get("qm9pack"))
            if found == (FORMAT_VERSION, source.version):
                return index
            if not rebuild:
                raise MspectmolError(f"{path}: built for format {found[0]}, qm9pack {found[1]}; "
                                     f"expected format {FORMAT_VERSION}, qm9pack "
                                     f"{source.version}: delete it to rebuild")
            log.info("%s: stale QM9 isomer index %s, rebuilding", path, found)
    log.info("building the QM9 isomer index from %d file(s) (once; about 15 s)",
             len(source.files))
    started = time.perf_counter()
    index = build_index(source)
    _write(index, path)
    log.info("QM9 isomer index: %d molecules, %d formulas, %.0f s; cached in %s", len(index),
             len(index.by_formula), time.perf_counter() - started, path)
    return index
