"""``mspectmol simulate``'s parquet: the simulated peak lists of each molecule, as spectra.

A user simulates a candidate structure and compares it with a measurement, so
``predict`` and ``convert`` read this file like any other: one peak-list spectrum per
molecule (row) of the chosen modality: IR (harmonic frequencies, km/mol), Raman
(activities), 1H and 13C (shifts with their atom counts, as lines of that height). The file
is recognised by its schema metadata (``format: mspectmol-simulation-records/...``), not by
importing the simulator.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.base import PathArg, build_spectrum, check_file, modality_name
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import PEAKS, Spectrum

#: Schema-metadata value prefix of the simulator's parquet files.
FORMAT_PREFIX = "mspectmol-simulation-records/"
#: modality -> (position column, intensity column, x unit, y unit).
COLUMNS = {
    "ir": ("frequencies", "ir_intensities", "cm-1", "km/mol"),
    "raman": ("frequencies", "raman_activities", "cm-1", "raman_activity"),
    "h_nmr": ("h_shift", "h_count", "ppm", "relative"),
    "c_nmr": ("c_shift", "c_count", "ppm", "relative"),
}


def is_simulation_file(metadata: dict[bytes, bytes] | None) -> bool:
    """True for the schema metadata of a file written by ``mspectmol simulate``."""
    return (metadata or {}).get(b"format", b"").decode("utf-8", "replace").startswith(
        FORMAT_PREFIX)


def read_simulated(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """One peak-list spectrum per molecule of ``modality`` (required: every row holds four).

    Imaginary modes (stored as negative wavenumbers) are left out; a molecule whose NMR
    prediction failed is skipped with a note in the next spectrum's metadata.

    Raises
    ------
    SpectrumFileError
        No modality given, one the simulator does not produce, or a file without the columns.
    """
    import pyarrow.parquet as pq

    p = check_file(path)
    if modality is None:
        raise SpectrumFileError("a simulate parquet holds ir, raman, h_nmr and c_nmr peak lists "
                                "for each molecule; choose one with -m/--modality (or "
                                "--ir/--h-nmr/... FILE)", p)
    mod = modality_name(modality, p)
    if mod not in COLUMNS:
        raise SpectrumFileError(f"simulate does not produce {mod} spectra (it gives "
                                f"{', '.join(COLUMNS)})", p)
    pos_col, amp_col, x_unit, y_unit = COLUMNS[mod]
    ok_col = {"h_nmr": "h_ok", "c_nmr": "c_ok"}.get(mod)
    names = ["smiles", "inchikey", pos_col, amp_col] + ([ok_col] if ok_col else [])
    pf = pq.ParquetFile(p)
    missing = [c for c in names if c not in pf.schema_arrow.names]
    if missing:
        raise SpectrumFileError(f"a simulate parquet without the columns {missing}", p)
    row = 0
    for batch in pf.iter_batches(columns=names, batch_size=256):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            where = f"row {row}"
            row += 1
            if ok_col and not data[ok_col][i]:
                continue
            x = np.asarray(data[pos_col][i], dtype=np.float64)
            y = np.asarray(data[amp_col][i], dtype=np.float64)
            if mod in ("ir", "raman"):
                keep = x > 0
                x, y = x[keep], y[keep]
            meta = {"format": "mspectmol-simulation", "smiles": data["smiles"][i],
                    "inchikey": data["inchikey"][i], "title": data["smiles"][i], "row": row - 1}
            yield build_spectrum(x, y, mod, x_unit=x_unit, y_unit=y_unit, metadata=meta,
                                 source=p, kind=PEAKS, where=where)


def sniff_simulated(probe: Probe) -> bool:
    """Parquet schema metadata naming ``mspectmol simulate``'s format."""
    return is_simulation_file(probe.parquet_metadata)


FORMAT = FormatSpec(
    "simulation-parquet", read_simulated, "mspectmol simulate parquet",
    "the peak lists mspectmol simulate writes for each molecule", containers=("parquet",),
    aliases=("simulate", "simulation"), extensions=(".parquet", ".pq"), sniff=sniff_simulated,
    modalities=("ir", "raman", "h_nmr", "c_nmr"), dataset=True)
