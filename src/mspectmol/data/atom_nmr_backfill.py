"""Per-atom NMR columns for dataset chunks simulated without them (the v1 part).

The drug-size part stores, beside each record's grouped 1H/13C peak lists, the per-atom
columns of :func:`~mspectmol.data.simulator.nmr_atoms.atom_nmr_columns` (per-atom shifts,
equivalence classes, H-H pairs with dihedrals), which the training rendering uses for weak
carbons without protons and C-F multiplets
(:mod:`~mspectmol.data.carbon_environments`). CSP5 is deterministic, so the same columns can
be computed afterwards from a record's SMILES and stored geometry: :func:`backfill_atom_nmr`
adds them to every chunk that lacks them, chunk by chunk (each chunk rewritten atomically,
so an interrupted run resumes where it stopped). Grouping the new per-atom 13C shifts gives
back each record's stored peak list; a record whose per-atom shifts cannot be computed gets
empty lists, as the drug-size build does for a failed CSP5 prediction.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.nmr_atoms import atom_nmr_columns
from mspectmol.fileio import atomic_path

log = logging.getLogger(__name__)

#: The per-atom columns and their types (as the drug-size chunks store them).
ATOM_COLUMNS = {"h_atom_shift": pa.list_(pa.float64()), "c_atom_shift": pa.list_(pa.float64()),
                "atom_class": pa.list_(pa.int64()), "hh_pairs": pa.list_(pa.int64()),
                "hh_dihedral": pa.list_(pa.float64())}


def record_columns(smiles: str, coordinates: list[float] | None) -> dict[str, Any]:
    """The per-atom columns of one record; empty lists where they cannot be computed."""
    empty: dict[str, Any] = {name: [] for name in ATOM_COLUMNS}
    if not smiles or not coordinates:
        return empty
    try:
        return atom_nmr_columns(smiles, np.asarray(coordinates, dtype=float))
    except SimulationError as exc:
        log.warning("%s: no per-atom NMR columns (%s)", smiles, exc)
        return empty


def _record_columns(args: tuple[str, list[float] | None]) -> dict[str, Any]:
    return record_columns(*args)


def backfill_atom_nmr(chunk_dir: Path, n_workers: int = 2, max_chunks: int | None = None
                      ) -> list[Path]:
    """Add the per-atom NMR columns to the chunks of ``chunk_dir`` that lack them.

    Returns the chunk files rewritten (at most ``max_chunks``); chunks that have the columns
    already are left alone.
    """
    todo = [f for f in sorted(Path(chunk_dir).glob("*.parquet"))
            if "c_atom_shift" not in pq.read_schema(f).names]
    if max_chunks is not None:
        todo = todo[:max_chunks]
    written: list[Path] = []
    if not todo:
        return written
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn")) as pool:
        for path in todo:
            table = pq.read_table(path)
            rows = zip(table.column("smiles").to_pylist(),
                       table.column("coordinates").to_pylist(), strict=True)
            columns = list(pool.map(_record_columns, rows, chunksize=8))
            for name, kind in ATOM_COLUMNS.items():
                table = table.append_column(pa.field(name, kind),
                                            pa.array([c[name] for c in columns], type=kind))
            with atomic_path(path, what="cannot rewrite the chunk") as tmp:
                pq.write_table(table, tmp, compression="zstd", compression_level=9,
                               use_dictionary=["provenance", "source", "formula"])
            log.info("%s: per-atom NMR columns added (%d records)", path.name, table.num_rows)
            written.append(path)
    return written
