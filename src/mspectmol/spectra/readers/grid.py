"""Read the grid parquet files that :func:`mspectmol.spectra.writers.write_parquet` writes.

The grid, units and metadata are JSON under the schema metadata key ``mspectmol``; rows
hold ``name``, ``modality`` and the ``intensity`` vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.alberts import list_matrix
from mspectmol.spectra.readers.base import (
    PathArg,
    build_spectrum,
    check_file,
    check_units,
    resolve_modality,
)
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import GRID_FORMAT, GRID_METADATA_KEY


@dataclass
class GridTable:
    """Spectra on one grid, as read from a grid parquet file."""

    modality: str
    x: np.ndarray
    Y: np.ndarray
    names: list[str]
    x_unit: str
    y_unit: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _open(path: Path) -> tuple[Any, dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: bad UTF-8
        raise SpectrumFileError(f"not a readable parquet file (truncated or corrupt: {exc})",
                                path) from None
    raw = (pf.schema_arrow.metadata or {}).get(GRID_METADATA_KEY)
    if raw is None:
        raise SpectrumFileError("not an mspectmol grid parquet (no 'mspectmol' schema "
                                "metadata)", path)
    try:
        info = json.loads(raw)
        x = np.asarray(info["x"], dtype=np.float64)
        if info.get("format") != GRID_FORMAT or x.ndim != 1:
            raise ValueError("unexpected format")
        bad = [k for k in ("modality", "x_unit", "y_unit") if not isinstance(info.get(k), str)]
        if bad or not isinstance(info.get("metadata") or {}, dict):
            raise ValueError(f"missing or invalid {', '.join(bad) or 'metadata'}")
    except (ValueError, KeyError, TypeError) as exc:
        raise SpectrumFileError(f"malformed 'mspectmol' schema metadata ({exc})", path) from None
    missing = {"name", "modality", "intensity"} - set(pf.schema_arrow.names)
    if missing:
        raise SpectrumFileError(f"missing column(s) {', '.join(sorted(missing))}", path)
    info["x"] = x
    return pf, info


def _batches(pf: Any, path: Path, batch_size: int) -> Iterator[Any]:
    import pyarrow as pa

    try:
        for group in range(pf.num_row_groups):
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group],
                                         columns=["name", "modality", "intensity"]):
                batch.validate(full=True)  # e.g. text that is not UTF-8
                yield batch
    except (pa.ArrowException, OSError) as exc:
        raise SpectrumFileError(f"cannot read the data (truncated or corrupt: {exc})",
                                path) from None


def read_grid_parquet(path: PathArg) -> GridTable:
    """Read a whole grid parquet file into a :class:`GridTable`.

    Raises
    ------
    SpectrumFileError
        Unreadable files, missing schema metadata or columns, rows of the wrong length,
        NaN values, rows of another modality than the file's.
    """
    p = check_file(path)
    pf, info = _open(p)
    rows: list[np.ndarray] = []
    names: list[str] = []
    start = 0
    for batch in _batches(pf, p, 4096):
        mods = set(batch.column("modality").to_pylist())
        if mods - {info["modality"]}:
            raise SpectrumFileError(f"rows from {start}: modality {sorted(mods)} differs from "
                                    f"the file's {info['modality']!r}", p)
        rows.append(list_matrix(batch.column("intensity"), info["x"].size,
                                f"rows from {start}", p, dtype=None))
        names.extend(str(n) for n in batch.column("name").to_pylist())
        start += batch.num_rows
    Y = np.vstack(rows) if rows else np.zeros((0, info["x"].size), np.float32)
    return GridTable(info["modality"], info["x"], Y, names, info["x_unit"], info["y_unit"],
                     dict(info.get("metadata") or {}))


def read_grid(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Dispatcher reader: one :class:`Spectrum` per row of a grid parquet file."""
    p = check_file(path)
    pf, info = _open(p)
    mod = resolve_modality(info["modality"], modality, p)
    x_unit, y_unit = check_units(info["x_unit"], info["y_unit"], mod, p)
    start = 0
    for batch in _batches(pf, p, 1024):
        matrix = list_matrix(batch.column("intensity"), info["x"].size, f"rows from {start}", p,
                             dtype=np.float64)
        for i, (name, row) in enumerate(zip(batch.column("name").to_pylist(), matrix,
                                            strict=True)):
            meta = {**(info.get("metadata") or {}), "format": "mspectmol-parquet",
                    "title": name, "row": start + i}
            yield build_spectrum(info["x"], row.astype(np.float64), mod, x_unit=x_unit,
                                 y_unit=y_unit, metadata=meta, source=p,
                                 where=f"row {start + i}")
        start += batch.num_rows


def sniff_grid(probe: Probe) -> bool:
    """Parquet schema metadata under the ``mspectmol`` key."""
    return GRID_METADATA_KEY in probe.parquet_metadata


FORMAT = FormatSpec(
    "mspectmol-parquet", read_grid, "mspectmol parquet",
    "spectra on a grid as mspectmol convert and write_parquet write them",
    containers=("parquet",), aliases=("grid",), extensions=(".parquet", ".pq"), sniff=sniff_grid,
    modalities=("ir", "raman", "uv", "h_nmr", "c_nmr", "ms"))
