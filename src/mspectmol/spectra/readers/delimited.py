"""Delimited text spectra: CSV, TSV, semicolon- and whitespace-separated columns.

Two layouts are read, line by line:

* **long**: an x column and one or more intensity columns, with an optional header that
  names the units (``wavenumber (cm-1),transmittance (%)``, ``ppm,intensity``,
  ``m/z,intensity``, ``x_cm-1,y_absorbance``); one spectrum per intensity column;
* **wide** (as :func:`mspectmol.spectra.writers.write_csv` writes several spectra): a header
  ``name,modality,x1,x2,...`` and one spectrum per row.

Lines starting with ``#`` are comments; ``# key: value`` comments become metadata, and the
keys ``modality``, ``x_unit``, ``y_unit`` and ``observe_mhz`` are used. A file without a
header needs the modality (argument or comment) and gets the canonical x unit.
"""

from __future__ import annotations

import csv
import re
from array import array
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumFileError, UnitError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.base import (
    MAX_POINTS,
    PathArg,
    build_spectrum,
    check_file,
    check_units,
    iter_text_lines,
    modalities_for_x_unit,
    modality_name,
    parse_float,
    resolve_modality,
)
from mspectmol.spectra.readers.decide import (
    guess_intensity_unit,
    modality_from_values,
    peak_list_reason,
)
from mspectmol.spectra.readers.peak_tables import peak_table_columns, read_peak_table
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import PEAKS, Spectrum
from mspectmol.spectra.units import normalise_x_unit, normalise_y_unit

_FIELD = re.compile(r"^(.*?)[\s_]*[(\[]\s*(.*?)\s*[)\]]\s*$")
_UNIT_END = re.compile(r"[)\]]\s+")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d*,\d+(?:[eE][-+]?\d+)?$")
_COMMENT_KV = re.compile(r"^#+\s*([A-Za-z][\w .\-/]*?)\s*[:=]\s*(.*)$")
#: A line of numbers (what a headerless column file starts with).
_NUMBER_LINE = re.compile(r"^[\s,;\t]*[+-]?(\d|\.\d)")
_X_WORDS = {"wavenumber": "cm-1", "wavenumbers": "cm-1", "raman shift": "cm-1",
            "shift": "ppm", "chemical shift": "ppm", "delta": "ppm", "δ": "ppm"}
_INF = float("inf")
#: Fewest rows from which an absorption column's unit is decided from the values.
MIN_GUESS_POINTS = 10
#: Unit cells that mean "dimensionless" (``Absorbance [-]``, ``Intensity (a.u.)``).
_NO_UNIT = frozenset({"-", "1", "", "a.u.", "au", "arb. u.", "arb.u.", "arb. units", "a. u.",
                      "counts", "cts", "rel.", "rel"})
_HINTS = (("raman", "raman"), ("ftir", "ir"), ("infrared", "ir"), ("13c", "c_nmr"),
          ("carbon", "c_nmr"), ("1h", "h_nmr"), ("proton", "h_nmr"), ("uv", "uv"),
          ("ir", "ir"))


def _split(line: str, delimiter: str | None, path: Path, number: int) -> list[str]:
    if delimiter is None:
        cells = line.split()
    elif '"' not in line:  # the common case, without the csv module's overhead
        cells = [c.strip() for c in line.split(delimiter)]
    else:
        try:
            cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
        except csv.Error as exc:  # a stray carriage return, a field over the csv size limit
            raise SpectrumFileError(f"line {number}: cannot split into columns ({exc})",
                                    path) from None
    if delimiter != "," and "," not in line and '"' not in line:
        return cells
    return [c.replace(",", ".") if _DECIMAL_COMMA.match(c) else c for c in cells]


def _delimiter(line: str) -> str | None:
    for d in ("\t", ";", ","):
        if d in line:
            return d
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _field(text: str) -> tuple[str, str | None]:
    """Split a header cell into (quantity name, unit or None)."""
    m = _FIELD.match(text)
    if m:
        return m.group(1).strip().lower(), m.group(2).strip()
    low = text.strip().lower()
    if low[:2] in ("x_", "y_") and len(low) > 2:
        return low[0], text.strip()[2:]
    return low, None


def _whitespace_header(line: str, n_columns: int | None) -> list[str]:
    """Fields of a whitespace-separated header: ``Raman shift [cm-1] counts`` -> 2."""
    fields = [f.strip() for f in _UNIT_END.sub(lambda m: m.group(0)[0] + "\0", line).split("\0")]
    fields = [f for f in fields if f]
    if n_columns is None or len(fields) == n_columns:
        return fields
    return line.split()


def _hint(text: str) -> str | None:
    words = re.findall(r"[a-z0-9]+", text.lower())
    for key, mod in _HINTS:
        if key in words:
            return mod
    return None


def _x_unit(cell: str, path: Path) -> str:
    name, unit = _field(cell)
    if unit is not None:
        return normalise_x_unit(unit, str(path))
    for candidate in (name, _X_WORDS.get(name)):
        if candidate:
            try:
                return normalise_x_unit(candidate, str(path))
            except UnitError:
                pass
    raise UnitError(f"cannot tell the x unit from the header {cell!r}; name it like "
                    "'wavenumber (cm-1)', 'ppm' or 'm/z'", str(path))


def _y_unit(cell: str, path: Path) -> str:
    name, unit = _field(cell)
    if unit == "%":
        return {"transmittance": "%T", "t": "%T", "transmission": "%T", "reflectance": "%R",
                "r": "%R", "transmittanz": "%T", "transmitancia": "%T"}.get(name, "relative")
    if unit is not None and unit.strip().lower() not in _NO_UNIT:
        return normalise_y_unit(unit, str(path))
    try:
        return normalise_y_unit(name, str(path))
    except UnitError:
        return "arbitrary"  # a sample name or other label without a unit


def _comment(text: str, meta: dict[str, Any]) -> None:
    m = _COMMENT_KV.match(text)
    if m:
        key = re.sub(r"[\s.\-/]+", "_", m.group(1).strip().lower())
        meta[key] = m.group(2).strip()
    elif text.lstrip("#").strip():
        meta.setdefault("comments", []).append(text.lstrip("#").strip())


def _file_modality(meta: dict[str, Any], header: list[str], x_unit: str | None,
                   path: Path) -> tuple[str | None, str]:
    """Modality declared by comments/header (or implied by the x unit) and a hint text."""
    declared = modality_name(meta["modality"], path) if meta.get("modality") else None
    hinted = _hint(" ".join(header)) if header else None
    if declared and hinted and declared != hinted:
        raise SpectrumFileError(f"the comments say modality {declared!r} but the header "
                                f"suggests {hinted!r}", path)
    mod = declared or hinted
    candidates = modalities_for_x_unit(x_unit) if x_unit else ()
    if mod is None and len(candidates) == 1:
        mod = candidates[0]
    hint = f"x unit {x_unit} fits {' or '.join(candidates)}" if len(candidates) > 1 else ""
    return mod, hint


def _observe(meta: dict[str, Any], path: Path) -> float | None:
    for key in ("observe_mhz", "observe_frequency", "spectrometer_frequency"):
        if meta.get(key):
            return parse_float(str(meta[key]), path, f"comment {key}")
    return None


def _wide(lines: Iterator[tuple[int, str]], header: list[str], delimiter: str | None,
          meta: dict[str, Any], path: Path, modality: str | None) -> Iterator[Spectrum]:
    x = [parse_float(c, path, f"header column {i + 3}") for i, c in enumerate(header[2:])]
    for number, text in lines:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        cells = _split(text, delimiter, path, number)
        if len(cells) != len(header):
            raise SpectrumFileError(f"line {number}: {len(cells)} columns, the header has "
                                    f"{len(header)}", path)
        row_mod = resolve_modality(cells[1] or meta.get("modality"), modality, path)
        x_unit = meta.get("x_unit") or get_modality(row_mod).x_unit
        xu, yu = check_units(x_unit, meta.get("y_unit", "arbitrary"), row_mod, path,
                             observe_mhz=_observe(meta, path))
        y = [parse_float(c, path, f"line {number}, column {i + 3}")
             for i, c in enumerate(cells[2:])]
        row_meta = {**meta, "format": "delimited", "title": cells[0], "line": number,
                    "original_x_unit": x_unit, "original_y_unit": meta.get("y_unit", "")}
        for key in ("modality", "x_unit", "y_unit"):
            row_meta.pop(key, None)
        yield build_spectrum(x, y, row_mod, x_unit=xu, y_unit=yu, metadata=row_meta,
                             source=path, where=f"line {number}")


def _rows(rows: Iterator[tuple[int, str]], first: tuple[int, str] | None,
          delimiter: str | None, path: Path, n_header: int | None
          ) -> Iterator[tuple[int, list[str]]]:
    """Non-comment, non-blank rows split into cells, each with as many cells as the first;
    at most :data:`~mspectmol.spectra.readers.base.MAX_POINTS` of them."""
    width = n_header
    count = 0
    for number, text in chain([first] if first is not None else [], rows):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        cells = _split(text, delimiter, path, number)
        if width is None:
            width = len(cells)
        if len(cells) != width:
            raise SpectrumFileError(f"line {number}: {len(cells)} columns, expected {width}",
                                    path)
        count += 1
        if count > MAX_POINTS:
            raise SpectrumFileError(f"more than {MAX_POINTS:,} data rows at line {number}: "
                                    "too many points for one spectrum", path)
        yield number, cells
    if count == 0:
        raise SpectrumFileError("no data rows", path)


def _columns(rows: Iterator[tuple[int, list[str]]], path: Path) -> list[np.ndarray]:
    """The numeric columns, parsed as the rows stream (memory ~ 8 bytes per value)."""
    cols: list[array[float]] | None = None
    for number, cells in rows:
        if cols is None:
            if len(cells) < 2:
                raise SpectrumFileError("one column only; a spectrum needs x and intensity "
                                        "columns", path)
            cols = [array("d") for _ in cells]
        for i, cell in enumerate(cells):
            try:
                value = float(cell)
            except ValueError:
                value = parse_float(cell, path, f"line {number}, column {i + 1}")
            if value != value or value in (_INF, -_INF):  # NaN or infinite: say where
                value = parse_float(cell, path, f"line {number}, column {i + 1}")
            cols[i].append(value)
    assert cols is not None  # _rows raises on an empty table
    return [np.frombuffer(c, dtype=np.float64) for c in cols]


def _resolve(meta: dict[str, Any], header: list[str] | None, x_unit: str | None,
             y_units: list[str], x: np.ndarray, path: Path, modality: str | None,
             guesses: list[str]) -> str:
    """The modality: declared, requested, or implied by the units and values."""
    mod, hint = _file_modality(meta, header or [], x_unit, path)
    if mod is None and modality is None and x_unit:
        implied, why = modality_from_values(modalities_for_x_unit(x_unit),
                                            y_units[0] if y_units else None, x)
        if implied is not None:
            mod = implied
            guesses.append(f"{why} (pass -m/--modality to override)")
    return resolve_modality(mod, modality, path, hint=hint or "no header naming the units")


def _y_unit_for(mod: str, declared: str | None, y: np.ndarray, path: Path,
                guesses: list[str], header: bool) -> str:
    """The unit of an intensity column: declared, or decided from the values (IR, UV)."""
    if mod not in ("ir", "uv") or (declared not in (None, "arbitrary", "relative")) \
            or y.size < MIN_GUESS_POINTS:
        return declared or "arbitrary"
    if header and declared is not None:  # 'intensity' etc.: only a %T reading is news
        unit, why = guess_intensity_unit(y, path)
        if unit != "absorbance":
            guesses.append(why)
            return unit
        return declared
    unit, why = guess_intensity_unit(y, path)
    guesses.append(why)
    return unit


def _long(rows: Iterator[tuple[int, str]], first: tuple[int, str], header: list[str] | None,
          delimiter: str | None, meta: dict[str, Any], path: Path,
          modality: str | None) -> Iterator[Spectrum]:
    table = _rows(rows, None if header else first, delimiter, path,
                  len(header) if header else None)
    roles = peak_table_columns(header) if header else None
    if roles is not None:
        table = list(table)
        mod = resolve_modality(meta.get("modality") or "h_nmr", modality, path)
        if mod != "h_nmr":
            raise SpectrumFileError(f"a 1H peak table (multiplicity/J columns) read as {mod}",
                                    path)
        yield read_peak_table(table, roles, meta, path)
        return
    columns = _columns(table, path)
    x_unit = _x_unit(header[0], path) if header else None
    y_units = [_y_unit(c, path) for c in header[1:]] if header else []
    guesses: list[str] = []
    mod = _resolve(meta, header, x_unit, y_units, columns[0], path, modality, guesses)
    x_unit = x_unit or meta.get("x_unit") or get_modality(mod).x_unit
    names = header[1:] if header else [f"column {i + 2}" for i in range(len(columns) - 1)]
    peaks_why = peak_list_reason(columns[0], mod)
    for i, y in enumerate(columns[1:]):
        col_guesses = list(guesses)
        declared = y_units[i] if y_units else meta.get("y_unit")
        y_unit = _y_unit_for(mod, declared, y, path, col_guesses, header is not None)
        xu, yu = check_units(x_unit, y_unit, mod, path, observe_mhz=_observe(meta, path))
        col_meta = {**meta, "format": "delimited", "column": names[i],
                    "original_x_unit": header[0] if header else x_unit,
                    "original_y_unit": names[i] if header else y_unit}
        for key in ("modality", "x_unit", "y_unit"):
            col_meta.pop(key, None)
        if observe := _observe(meta, path):
            col_meta["observe_mhz"] = observe
        if peaks_why:
            col_guesses.append(peaks_why)
        col_meta["guesses"] = col_guesses
        yield build_spectrum(columns[0], y, mod, x_unit=xu, y_unit=yu, metadata=col_meta,
                             source=path, where=f"column {names[i]!r}",
                             kind=PEAKS if peaks_why else None)


def read_delimited(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Yield the spectra of a delimited text file (long or wide layout).

    Parameters
    ----------
    path
        A ``.csv``/``.tsv``/``.txt`` file.
    modality
        Modality of the spectra; needed when neither the header nor a ``# modality:``
        comment tells it, an error when they tell another one.

    Raises
    ------
    SpectrumFileError
        Missing/empty/binary files, no data rows, non-numeric or NaN cells (with the line
        and column), ragged rows, a modality that cannot be told or conflicts.
    UnitError
        Unknown units in the header or comments, or units that do not fit the modality.
    """
    p = check_file(path)
    lines = iter(iter_text_lines(p))
    meta: dict[str, Any] = {}
    first: tuple[int, str] | None = None
    for number, text in lines:
        if text.lstrip().startswith("#"):
            _comment(text.strip(), meta)
        elif text.strip():
            first = (number, text)
            break
    if first is None:
        raise SpectrumFileError("no data rows (only comments or blank lines)", p)
    delimiter = _delimiter(first[1])
    cells = _split(first[1], delimiter, p, first[0])
    is_header = not all(_is_number(c) for c in cells)
    if is_header and delimiter is None:
        peek = next(((n, t) for n, t in lines if t.strip() and not t.lstrip().startswith("#")),
                    None)
        cells = _whitespace_header(first[1], len(peek[1].split()) if peek else None)
        lines = chain([peek] if peek else [], lines)
    if is_header and len(cells) > 2 and [c.lower() for c in cells[:2]] == ["name", "modality"]:
        yield from _wide(lines, cells, delimiter, meta, p, modality)
    else:
        yield from _long(lines, first, cells if is_header else None, delimiter, meta, p,
                         modality)


def guess_delimited(probe: Probe) -> bool:
    """A first line (after ``#`` comments) that starts with a number or holds a comma or tab."""
    first = next((line for line in probe.lines if line and not line.startswith("#")), "")
    return _NUMBER_LINE.match(first) is not None or "," in first or "\t" in first


FORMAT = FormatSpec(
    "delimited", read_delimited, "CSV/TSV/text columns",
    "CSV, TSV, semicolon or whitespace columns with units in the header (decimal commas, "
    "German, French, Spanish and Italian axis words), the wide layout mspectmol writes, and "
    "1H peak tables with multiplicity and J",
    aliases=("csv", "tsv", "txt", "text"),
    extensions=(".csv", ".tsv", ".txt", ".dat", ".xy", ".asc"), guess=guess_delimited,
    modalities=("ir", "raman", "uv", "h_nmr", "c_nmr", "ms"))
