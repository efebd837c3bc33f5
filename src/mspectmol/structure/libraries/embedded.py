"""The embedded dataset as a candidate library: its molecules and their simulated spectra.

``mspectmol elucidate --library --formula F`` ranks every embedded-dataset molecule of the
formula with the dataset's own spectra (no simulation); user candidates found in the dataset
use them too. Only the rows asked for are read and broadened, exactly as
:func:`~mspectmol.data.dataset.load_dataset` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mspectmol.data.dataset import EMBEDDED_DIR, read_chunks
from mspectmol.structure.model.tokens import canonical, same_formula, smiles_formula
from mspectmol.structure.ranking.simulation import record_spectra


def embedded_spectra(ids: Sequence[str], grids: Mapping[str, np.ndarray]
                     ) -> dict[str, dict[str, np.ndarray]]:
    """Simulated spectra of some embedded-dataset molecules (by id), broadened onto ``grids``
    exactly as :func:`~mspectmol.data.dataset.load_dataset` does, without loading the rest."""
    table = read_chunks(columns=["id", "frequencies", "ir_intensities", "raman_activities",
                                 "h_shift", "h_count", "c_shift", "c_count"])
    mask = pc.is_in(table.column("id"), value_set=pa.array(list(ids), type=pa.string()))
    out = {}
    for rec in table.filter(mask).to_pylist():
        record = SimpleNamespace(
            frequencies=np.asarray(rec["frequencies"], dtype=float),
            ir_intensities=np.asarray(rec["ir_intensities"], dtype=float),
            raman_activities=np.asarray(rec["raman_activities"], dtype=float),
            h_shifts=list(zip(rec["h_shift"] or [], rec["h_count"] or [], strict=True)),
            c_shifts=list(zip(rec["c_shift"] or [], rec["c_count"] or [], strict=True)))
        out[rec["id"]] = record_spectra(record, grids)
    return out


def library_spectra(formula: str | None, extra: Sequence[str],
                    grids: Mapping[str, np.ndarray]
                    ) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Embedded-dataset molecules of ``formula`` and the dataset's simulated spectra of those
    and of any ``extra`` candidate found in the dataset (only those rows are broadened).

    Returns the spectra by canonical SMILES and the canonical SMILES of the molecules of
    ``formula`` (none when ``formula`` is None), in dataset order.
    """
    index = pq.read_table(EMBEDDED_DIR / "index.parquet", columns=["id", "smiles"])
    wanted = {c for c in (canonical(s) for s in extra) if c is not None}
    of_formula, rows = [], {}
    for mol_id, smi in zip(index.column("id").to_pylist(), index.column("smiles").to_pylist(),
                           strict=True):
        c = canonical(smi)
        if c is None:
            continue
        f = smiles_formula(c) if formula is not None else None
        if f is not None and same_formula(f, formula):
            of_formula.append(c)
            rows.setdefault(mol_id, c)
        elif c in wanted:
            rows.setdefault(mol_id, c)
    spectra = embedded_spectra(list(rows), grids)
    library = {rows[i]: spectra[i] for i in spectra}
    return library, list(dict.fromkeys(of_formula))
