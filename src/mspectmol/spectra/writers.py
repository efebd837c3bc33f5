"""Write spectra: CSV and parquet tables of spectra on a grid, and simple JCAMP-DX files.

* :func:`write_csv` writes one spectrum as two columns (``x_<unit>,y_<unit>``) or several
  spectra in wide form (``name,modality,x1,x2,...``, one row per spectrum), with ``#``
  comment lines for the modality and units. :func:`mspectmol.spectra.readers.read_spectra`
  reads both back.
* :func:`write_parquet` writes one row per spectrum (``name``, ``modality``, ``intensity``)
  and keeps the grid, units and free metadata as JSON under the schema metadata key
  ``mspectmol`` (read back by :func:`mspectmol.spectra.readers.grid.read_grid_parquet`).
* :func:`write_jcamp` writes a JCAMP-DX 4.24 file: ``##XYDATA=(X++(Y..Y))`` in AFFN for
  evenly spaced profiles, ``##XYPOINTS=(XY..XY)`` for uneven ones, ``##PEAK TABLE=(XY..XY)``
  for peak lists.

Every writer replaces its file atomically (:mod:`mspectmol.fileio`): a failed write (disk
full, permission denied) raises :class:`~mspectmol.fileio.OutputError` naming the file and
leaves the previous file as it was.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumError, UnitError
from mspectmol.fileio import atomic_open, atomic_path, atomic_write
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import normalise_x_unit, normalise_y_unit

#: Schema-metadata key of mspectmol grid parquet files.
GRID_METADATA_KEY = b"mspectmol"
GRID_FORMAT = "mspectmol-grid"

_JCAMP_DATA_TYPES = {"ir": "INFRARED SPECTRUM", "raman": "RAMAN SPECTRUM",
                     "uv": "UV/VIS SPECTRUM", "h_nmr": "NMR SPECTRUM", "c_nmr": "NMR SPECTRUM",
                     "ms": "MASS SPECTRUM"}
_JCAMP_X = {"cm-1": "1/CM", "um": "MICROMETERS", "nm": "NANOMETERS", "eV": "EV", "ppm": "PPM",
            "Hz": "HZ", "m/z": "M/Z"}
_JCAMP_Y = {"absorbance": "ABSORBANCE", "transmittance": "TRANSMITTANCE",
            "%T": "PERCENT TRANSMITTANCE", "reflectance": "REFLECTANCE", "%R": "%R",
            "absorptivity": "MOLAR ABSORPTIVITY", "log_absorptivity": "LOG EPSILON",
            "km/mol": "KM/MOL", "raman_activity": "RAMAN ACTIVITY", "counts": "COUNTS",
            "arbitrary": "ARBITRARY UNITS", "relative": "RELATIVE ABUNDANCE"}
_NUCLEI = {"h_nmr": "^1H", "c_nmr": "^13C"}
_LINE = 80


def _grid_inputs(path: Path, x: Any, y: Any, modality: str, names: Sequence[str] | None
                 ) -> tuple[np.ndarray, np.ndarray, str, list[str], bool]:
    """Validate a grid and its rows; returns x, Y (2-D), modality, names, was_1d."""
    mod = get_modality(modality).name
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y)
    if ys.dtype.kind not in "fiu":
        raise SpectrumError("intensities must be numeric", path)
    single = ys.ndim == 1
    rows = ys.reshape(1, -1) if single else ys
    if xs.ndim != 1 or xs.size < 2:
        raise SpectrumError(f"x must be one-dimensional with at least 2 points, got shape "
                            f"{xs.shape}", path)
    if rows.ndim != 2 or rows.shape[1] != xs.size:
        raise SpectrumError(f"intensities of shape {ys.shape} do not match a grid of "
                            f"{xs.size} points", path)
    for what, arr in (("x", xs), ("intensity", rows)):
        if not np.isfinite(arr).all():
            raise SpectrumError(f"{what} values are NaN or infinite", path)
    steps = np.diff(xs)
    if not ((steps > 0).all() or (steps < 0).all()):
        raise SpectrumError("x must be strictly increasing or decreasing", path)
    if names is None:
        labels = [f"spectrum_{i + 1}" for i in range(rows.shape[0])]
    else:
        labels = [" ".join(str(n).split()) for n in names]
        if len(labels) != rows.shape[0]:
            raise SpectrumError(f"{len(labels)} names for {rows.shape[0]} spectra", path)
    return xs, rows, mod, labels, single


def _fmt(values: np.ndarray) -> list[str]:
    """Text that reads back to the same numbers (float32: 9 significant digits)."""
    if values.dtype == np.float32:
        return [f"{v:.9g}" for v in values.tolist()]
    return [repr(float(v)) for v in values.tolist()]


def write_csv(path: str | PathLike[str], x: Any, y: Any, modality: str,
              names: Sequence[str] | None = None, *, x_unit: str | None = None,
              y_unit: str = "arbitrary") -> Path:
    """Write spectra on a common grid as CSV.

    Parameters
    ----------
    path
        Output file.
    x
        The grid, ``(m,)``.
    y
        One spectrum ``(m,)`` (two-column layout) or several ``(n, m)`` (wide layout).
    modality
        Modality name or alias.
    names
        Names of the spectra (default ``spectrum_1`` ...).
    x_unit, y_unit
        Units (default: the modality's canonical x unit, arbitrary intensities).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    SpectrumError
        NaN/inf values, mismatched shapes, a non-monotonic grid, wrong number of names.
    UnitError
        Unknown units.
    OutputError
        The file cannot be written (the previous one is kept).
    """
    p = Path(path)
    xs, rows, mod, labels, single = _grid_inputs(p, x, y, modality, names)
    xu = normalise_x_unit(x_unit or get_modality(mod).x_unit, str(p))
    yu = normalise_y_unit(y_unit, str(p))
    with atomic_open(p, "w", newline="", encoding="utf-8") as handle:
        handle.write(f"# mspectmol spectra\n# modality: {mod}\n# x_unit: {xu}\n"
                     f"# y_unit: {yu}\n")
        out = csv.writer(handle, lineterminator="\n")
        if single:
            if names is not None:
                handle.write(f"# title: {labels[0]}\n")
            out.writerow([f"x_{xu}", f"y_{yu}"])
            for xv, yv in zip(_fmt(xs), _fmt(rows[0]), strict=True):
                out.writerow([xv, yv])
        else:
            out.writerow(["name", "modality", *_fmt(xs)])
            for label, row in zip(labels, rows, strict=True):
                out.writerow([label, mod, *_fmt(row)])
    return p


def write_parquet(path: str | PathLike[str], x: Any, Y: Any, modality: str,
                  names: Sequence[str] | None = None, metadata: dict[str, Any] | None = None,
                  *, x_unit: str | None = None, y_unit: str = "arbitrary",
                  dtype: str = "float32") -> Path:
    """Write spectra on a common grid as parquet, one row per spectrum.

    Columns are ``name`` (string), ``modality`` (string) and ``intensity`` (fixed-size
    list of ``dtype``). The grid, units, format version and ``metadata`` (JSON-serialisable)
    are stored as JSON under the schema metadata key ``mspectmol``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    SpectrumError
        Invalid data (as :func:`write_csv`) or metadata that is not JSON-serialisable.
    OutputError
        The file cannot be written (the previous one is kept).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    xs, rows, mod, labels, _ = _grid_inputs(p, x, Y, modality, names)
    if dtype not in ("float32", "float64"):
        raise SpectrumError(f"dtype must be float32 or float64, not {dtype!r}", p)
    info = {"format": GRID_FORMAT, "version": 1, "modality": mod,
            "x_unit": normalise_x_unit(x_unit or get_modality(mod).x_unit, str(p)),
            "y_unit": normalise_y_unit(y_unit, str(p)), "x": xs.tolist(),
            "metadata": metadata or {}}
    try:
        encoded = json.dumps(info, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise SpectrumError(f"metadata cannot be stored as JSON ({exc})", p) from None
    values = pa.array(np.ascontiguousarray(rows, dtype=dtype).ravel())
    table = pa.table({
        "name": pa.array(labels, pa.string()),
        "modality": pa.array([mod] * len(labels), pa.string()),
        "intensity": pa.FixedSizeListArray.from_arrays(values, xs.size),
    }).replace_schema_metadata({GRID_METADATA_KEY: encoded})
    with atomic_path(p) as tmp:
        pq.write_table(table, tmp)
    return p


def _jcamp_lines(xs: np.ndarray, ys: np.ndarray, kind: str) -> tuple[str, list[str]]:
    """The data label and data lines for a spectrum."""
    if kind == "peaks":
        pairs = [f"{a},{b}" for a, b in zip(_fmt(xs), _fmt(ys), strict=True)]
        return "##PEAK TABLE=(XY..XY)", _wrap(pairs, first="")
    steps = np.diff(xs)
    if xs.size > 1 and np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
        lines, i = [], 0
        xt, yt = _fmt(xs), _fmt(ys)
        while i < ys.size:
            line, j = xt[i], i
            while j < ys.size and (j == i or len(line) + 1 + len(yt[j]) <= _LINE):
                line += " " + yt[j]
                j += 1
            lines.append(line)
            i = j
        return "##XYDATA=(X++(Y..Y))", lines
    pairs = [f"{a},{b}" for a, b in zip(_fmt(xs), _fmt(ys), strict=True)]
    return "##XYPOINTS=(XY..XY)", _wrap(pairs, first="")


def _wrap(items: list[str], first: str) -> list[str]:
    lines, line = [], first
    for item in items:
        if line and len(line) + 1 + len(item) > _LINE:
            lines.append(line)
            line = ""
        line = f"{line} {item}" if line else item
    if line:
        lines.append(line)
    return lines


def write_jcamp(path: str | PathLike[str], spectrum: Spectrum) -> Path:
    """Write one spectrum as a JCAMP-DX 4.24 file (uncompressed AFFN data).

    The title is ``metadata["title"]`` (or ``name``); ``smiles``, ``formula`` and, for NMR,
    ``observe_mhz`` are written when present. Values are written in the spectrum's units.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    UnitError
        Units that JCAMP-DX labels cannot name, or an NMR axis in Hz without
        ``metadata["observe_mhz"]``.
    """
    p = Path(path)
    meta = spectrum.metadata
    xu = normalise_x_unit(spectrum.x_unit, str(p))
    yu = normalise_y_unit(spectrum.y_unit, str(p))
    if yu not in _JCAMP_Y:
        raise UnitError(f"intensity unit {spectrum.y_unit!r} has no JCAMP-DX name", str(p))
    title = " ".join(str(meta.get("title") or meta.get("name") or "mspectmol spectrum").split())
    head = [f"##TITLE={title}", "##JCAMP-DX=4.24",
            f"##DATA TYPE={_JCAMP_DATA_TYPES[spectrum.modality]}", "##ORIGIN=mspectmol",
            f"##OWNER={meta.get('owner', 'unknown')}"]
    for key, label in (("smiles", "##$SMILES"), ("inchi", "##$INCHI"), ("formula", "##MOLFORM"),
                       ("cas", "##CAS REGISTRY NO")):
        if meta.get(key):
            head.append(f"{label}={meta[key]}")
    if spectrum.modality in _NUCLEI:
        head.append(f"##.OBSERVE NUCLEUS={_NUCLEI[spectrum.modality]}")
        if meta.get("observe_mhz"):
            head.append(f"##.OBSERVE FREQUENCY={float(meta['observe_mhz'])!r}")
        elif xu == "Hz":
            raise UnitError("an NMR axis in Hz needs metadata['observe_mhz']", str(p))
    xs, ys = spectrum.x, spectrum.y
    label, lines = _jcamp_lines(xs, ys, spectrum.kind)
    head += [f"##XUNITS={_JCAMP_X[xu]}", f"##YUNITS={_JCAMP_Y[yu]}", "##XFACTOR=1",
             "##YFACTOR=1"]
    if xs.size:
        head += [f"##FIRSTX={float(xs[0])!r}", f"##LASTX={float(xs[-1])!r}",
                 f"##FIRSTY={float(ys[0])!r}", f"##MAXY={float(ys.max())!r}",
                 f"##MINY={float(ys.min())!r}"]
        if xs.size > 1 and label.startswith("##XYDATA"):
            head.append(f"##DELTAX={float((xs[-1] - xs[0]) / (xs.size - 1))!r}")
    head += [f"##NPOINTS={xs.size}", label]
    atomic_write(p, "\n".join([*head, *lines, "##END="]) + "\n")
    return p
