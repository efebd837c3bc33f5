"""Parquet storage of simulation records (peak lists + geometry), without pickling.

One row per molecule. Ragged arrays are parquet list columns; geometries are flattened
``(N*3,)`` lists; NMR peak lists are parallel ``*_shift`` / ``*_count`` lists with a
``*_ok`` flag (False when the prediction failed). Settings and package versions are kept per
row as a JSON ``provenance`` string (dictionary-encoded, so repeated values cost nothing).
Extra columns (e.g. a dataset's ``id``, ``source`` or reference geometry) pass through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_path

STORE_FORMAT = "mspectmol-simulation-records/1"

_F32 = pa.list_(pa.float32())


def record_to_row(record: SimulationRecord) -> dict[str, Any]:
    """Flatten a record into a parquet row (lists and scalars)."""
    row: dict[str, Any] = {
        "smiles": record.smiles,
        "canonical_smiles": record.canonical_smiles,
        "inchikey": record.inchikey,
        "formula": record.formula,
        "charge": int(record.charge),
        "unpaired_electrons": int(record.unpaired_electrons),
        "atomic_numbers": record.atomic_numbers.astype(np.int16).tolist(),
        "coordinates": record.coordinates.astype(np.float64).ravel().tolist(),
        "energy": float(record.energy),
        "frequencies": record.frequencies.tolist(),
        "ir_intensities": record.ir_intensities.tolist(),
        "raman_activities": record.raman_activities.tolist(),
        "dipole": record.dipole.tolist(),
        "polarizability": record.polarizability.ravel().tolist(),
        "imaginary_rounds": int(record.imaginary_rounds),
        "n_imaginary": int(record.n_imaginary),
        "timings": json.dumps(record.timings, sort_keys=True),
        "warnings": json.dumps(record.warnings),
        "provenance": json.dumps({"settings": record.settings, "versions": record.versions},
                                 sort_keys=True),
    }
    for nucleus, peaks in (("h", record.h_shifts), ("c", record.c_shifts)):
        row[f"{nucleus}_ok"] = peaks is not None
        row[f"{nucleus}_shift"] = [float(s) for s, _ in peaks or []]
        row[f"{nucleus}_count"] = [int(n) for _, n in peaks or []]
    return row


def row_to_record(row: dict[str, Any]) -> SimulationRecord:
    """Rebuild a :class:`SimulationRecord` from a row written by :func:`record_to_row`."""
    prov = json.loads(row["provenance"])
    peaks = {}
    for nucleus in ("h", "c"):
        peaks[nucleus] = (list(zip(row[f"{nucleus}_shift"], row[f"{nucleus}_count"],
                                   strict=True)) if row[f"{nucleus}_ok"] else None)
    return SimulationRecord(
        smiles=row["smiles"], canonical_smiles=row["canonical_smiles"],
        inchikey=row["inchikey"], formula=row["formula"], charge=row["charge"],
        unpaired_electrons=row["unpaired_electrons"],
        atomic_numbers=np.asarray(row["atomic_numbers"]),
        coordinates=np.asarray(row["coordinates"], dtype=float).reshape(-1, 3),
        energy=row["energy"], frequencies=np.asarray(row["frequencies"]),
        ir_intensities=np.asarray(row["ir_intensities"]),
        raman_activities=np.asarray(row["raman_activities"]),
        dipole=np.asarray(row["dipole"]),
        polarizability=np.asarray(row["polarizability"], dtype=float).reshape(3, 3),
        h_shifts=peaks["h"], c_shifts=peaks["c"],
        imaginary_rounds=row["imaginary_rounds"], n_imaginary=row["n_imaginary"],
        timings=json.loads(row["timings"]), settings=prov["settings"],
        versions=prov["versions"], warnings=json.loads(row["warnings"]),
    )


def write_records(path: str | Path, records: Iterable[SimulationRecord],
                  extra: Iterable[dict[str, Any]] | None = None,
                  metadata: dict[str, str] | None = None) -> int:
    """Write records (and optional per-row extra columns) to a zstd-compressed parquet file.

    The file is written to a temporary name and renamed (:func:`mspectmol.fileio.atomic_path`),
    so an interrupted or failed write never leaves a truncated file behind and keeps the
    previous one. Returns the number of rows.

    Raises
    ------
    mspectmol.fileio.OutputError
        Naming the file when it cannot be written (disk full, permission denied, ...).
    """
    path = Path(path)
    rows = [record_to_row(r) for r in records]
    if extra is not None:
        extras = list(extra)
        if len(extras) != len(rows):
            raise MspectmolError(f"{path}: {len(extras)} extra rows for {len(rows)} records")
        for row, more in zip(rows, extras, strict=True):
            row.update(more)
    table = pa.Table.from_pylist(rows) if rows else pa.table({})
    table = table.cast(_schema(table.schema))
    meta = {"format": STORE_FORMAT, **(metadata or {})}
    table = table.replace_schema_metadata({k: str(v) for k, v in meta.items()})
    with atomic_path(path, what="cannot write the records") as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=9,
                       use_dictionary=["provenance", "source", "formula"] if rows else True)
    return len(rows)


def _schema(schema: pa.Schema) -> pa.Schema:
    """Use float32 for spectra-like lists and float64 for geometries and energies."""
    fields = []
    for f in schema:
        if f.name in ("frequencies", "ir_intensities", "raman_activities", "h_shift",
                      "c_shift") and pa.types.is_list(f.type):
            fields.append(pa.field(f.name, _F32))
        elif f.name in ("atomic_numbers", "h_count", "c_count"):
            fields.append(pa.field(f.name, pa.list_(pa.int16())))
        else:
            fields.append(f)
    return pa.schema(fields)


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Read a records file (or some of its columns), checking its format tag."""
    path = Path(path)
    if not path.is_file():
        raise MspectmolError(f"{path}: no such file")
    try:
        meta = pq.read_schema(path).metadata or {}
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MspectmolError(f"{path}: not a readable parquet file ({exc})") from None
    fmt = meta.get(b"format", b"").decode()
    if fmt != STORE_FORMAT:
        raise MspectmolError(f"{path}: not a mspectmol simulation records file "
                             f"(format {fmt or 'missing'!r}, expected {STORE_FORMAT!r})")
    return table


def read_records(path: str | Path) -> Iterator[SimulationRecord]:
    """Stream the records of a file written by :func:`write_records`."""
    for row in read_table(path).to_pylist():
        yield row_to_record(row)
