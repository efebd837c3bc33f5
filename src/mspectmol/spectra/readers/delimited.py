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
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from mspectmol.errors import SpectrumFileError, UnitError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.base import (
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
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import normalise_x_unit, normalise_y_unit

_FIELD = re.compile(r"^(.*?)[\s_]*[(\[]\s*(.*?)\s*[)\]]\s*$")
_UNIT_END = re.compile(r"[)\]]\s+")
_COMMENT_KV = re.compile(r"^#+\s*([A-Za-z][\w .\-/]*?)\s*[:=]\s*(.*)$")
_X_WORDS = {"wavenumber": "cm-1", "wavenumbers": "cm-1", "raman shift": "cm-1",
            "shift": "ppm", "chemical shift": "ppm", "delta": "ppm", "δ": "ppm"}
_HINTS = (("raman", "raman"), ("ftir", "ir"), ("infrared", "ir"), ("13c", "c_nmr"),
          ("carbon", "c_nmr"), ("1h", "h_nmr"), ("proton", "h_nmr"), ("uv", "uv"),
          ("ir", "ir"))


def _split(line: str, delimiter: str | None, path: Path, number: int) -> list[str]:
    try:
        cells = next(csv.reader([line], delimiter=delimiter)) if delimiter else line.split()
    except csv.Error as exc:  # a stray carriage return, a field over the csv size limit
        raise SpectrumFileError(f"line {number}: cannot split into columns ({exc})",
                                path) from None
    cells = [c.strip() for c in cells]
    if delimiter == ";":
        cells = [c.replace(",", ".") if "." not in c else c for c in cells]
    return cells


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
        return {"transmittance": "%T", "t": "%T", "reflectance": "%R"}.get(name, "relative")
    if unit is not None:
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


def _long(rows: Iterator[tuple[int, str]], first: tuple[int, str], header: list[str] | None,
          delimiter: str | None, meta: dict[str, Any], path: Path,
          modality: str | None) -> Iterator[Spectrum]:
    x_unit = _x_unit(header[0], path) if header else None
    mod, hint = _file_modality(meta, header or [], x_unit, path)
    mod = resolve_modality(mod, modality, path, hint=hint or "no header naming the units")
    x_unit = x_unit or meta.get("x_unit") or get_modality(mod).x_unit
    y_units = [_y_unit(c, path) for c in header[1:]] if header else []
    columns: list[list[float]] | None = None
    for number, text in chain([first] if header is None else [], rows):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        cells = _split(text, delimiter, path, number)
        if columns is None:
            columns = [[] for _ in cells]
        if len(cells) != len(columns) or (header and len(cells) != len(header)):
            expected = len(header) if header else len(columns)
            raise SpectrumFileError(f"line {number}: {len(cells)} columns, expected "
                                    f"{expected}", path)
        for i, cell in enumerate(cells):
            columns[i].append(parse_float(cell, path, f"line {number}, column {i + 1}"))
    if not columns:
        raise SpectrumFileError("no data rows", path)
    if len(columns) < 2:
        raise SpectrumFileError("one column only; a spectrum needs x and intensity columns",
                                path)
    names = header[1:] if header else [f"column {i + 2}" for i in range(len(columns) - 1)]
    for i, y in enumerate(columns[1:]):
        y_unit = y_units[i] if y_units else meta.get("y_unit", "arbitrary")
        xu, yu = check_units(x_unit, y_unit, mod, path, observe_mhz=_observe(meta, path))
        col_meta = {**meta, "format": "delimited", "column": names[i],
                    "original_x_unit": header[0] if header else x_unit,
                    "original_y_unit": names[i] if header else y_unit}
        for key in ("modality", "x_unit", "y_unit"):
            col_meta.pop(key, None)
        if observe := _observe(meta, path):
            col_meta["observe_mhz"] = observe
        yield build_spectrum(columns[0], y, mod, x_unit=xu, y_unit=yu, metadata=col_meta,
                             source=path, where=f"column {names[i]!r}")


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
