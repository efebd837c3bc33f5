"""JCAMP-DX reader for IR, Raman, UV-Vis, NMR and mass spectra.

Blocks are read one at a time (:mod:`~mspectmol.spectra.readers.jcamp_blocks`), so compound
(``LINK``) files with many blocks stream. Uncompressed tables (``(X++(Y..Y))`` in AFFN/PAC,
``(XY..XY)`` in ``##XYDATA``, ``##XYPOINTS`` and ``##PEAK TABLE``) are decoded by the
``jcamp`` package, which applies ``##XFACTOR``/``##YFACTOR`` (for ``(X++(Y..Y))`` the
abscissae come from ``##FIRSTX``, ``##LASTX`` and ``##NPOINTS``, which are in real units).
Compressed ``(X++(Y..Y))`` tables (SQZ/DIF/DUP) are decoded by
:mod:`~mspectmol.spectra.readers.asdf`. NMR files in the ``NTUPLES`` form (Bruker, JEOL
exports) are read with ``nmrglue.jcampdx.read`` (the real part of the first NMR spectrum).

The modality comes from ``##DATA TYPE=`` (and ``##.OBSERVE NUCLEUS=`` for NMR); values stay
in the file's units (``Spectrum.x_unit``/``y_unit`` hold their normalised spelling).

Decoding is bounded: ``##NPOINTS`` above :data:`~mspectmol.spectra.readers.base.MAX_POINTS`
is refused, and no table is decoded past its ``##NPOINTS`` (plus a small tolerance).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumFileError, UnitError, UnknownModalityError
from mspectmol.spectra.readers.asdf import (
    TooManyValuesError,
    affn_count,
    decode_xydata,
    is_compressed,
)
from mspectmol.spectra.readers.base import (
    MAX_POINTS,
    PathArg,
    build_spectrum,
    check_file,
    check_units,
    clip,
    modalities_for_x_unit,
    point_limit,
    resolve_modality,
)
from mspectmol.spectra.readers.jcamp_blocks import (
    DATA_LABELS,
    RawBlock,
    check_ntuples_file,
    iter_blocks,
    modality_from_data_type,
)
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import normalise_x_unit

log = logging.getLogger(__name__)

_META_LABELS = {
    "TITLE": "title", "CASNAME": "name", "NAMES": "names", "MOLFORM": "formula",
    "CASREGISTRYNO": "cas", "$SMILES": "smiles", "SMILES": "smiles", "$INCHI": "inchi",
    "INCHI": "inchi", "$INCHIKEY": "inchikey", "INCHIKEY": "inchikey", "ORIGIN": "origin",
    "OWNER": "owner", "DATE": "date", "LONGDATE": "date", "STATE": "state",
    "SPECTROMETERDATASYSTEM": "instrument", ".SOLVENTNAME": "solvent", "MW": "molecular_weight",
    "DATATYPE": "data_type", "JCAMPDX": "jcamp_version", ".OBSERVENUCLEUS": "nucleus",
}
_INHERITED = ("CASNAME", "NAMES", "MOLFORM", "CASREGISTRYNO", "$SMILES", "SMILES", "$INCHI",
              "INCHI", "$INCHIKEY", "INCHIKEY", "MW", "ORIGIN", "OWNER")


def _number(header: dict[str, str], key: str, block: RawBlock, path: Path) -> float | None:
    text = header.get(key, "").strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text
                      else text)
    except ValueError:
        raise SpectrumFileError(f"{block.where}: ##{key}={clip(text)!r} is not a number",
                                path) from None
    if not np.isfinite(value) or (key == "NPOINTS" and (value < 0 or value != int(value))):
        raise SpectrumFileError(f"{block.where}: ##{key}={clip(text)!r} is not a finite "
                                f"{'whole ' if key == 'NPOINTS' else ''}number", path)
    return value


def _metadata(block: RawBlock, path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": "jcamp", "block": block.number}
    parent = block.parent or {}
    for key in _INHERITED:
        if key in parent:
            meta[_META_LABELS[key]] = parent[key]
    if parent.get("TITLE"):
        meta["compound_title"] = parent["TITLE"]
    for key, name in _META_LABELS.items():
        if block.header.get(key):
            meta[name] = block.header[key]
    meta["jcamp_header"] = {k: v for k, v in block.header.items() if k not in DATA_LABELS}
    mhz = _number(block.header, ".OBSERVEFREQUENCY", block, path)
    if mhz is not None:
        meta["observe_mhz"] = mhz
    return meta


def _too_many(block: RawBlock, number: int, limit: int, npoints: int | None) -> str:
    said = f"##NPOINTS={npoints}" if npoints is not None else \
        f"mspectmol reads at most {MAX_POINTS:,} points a spectrum"
    return f"{block.where}, line {number}: more than {limit} values ({said}); corrupt data table"


def _run_package(block: RawBlock, path: Path, npoints: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Decode an uncompressed table with the ``jcamp`` package (after counting its values)."""
    import jcamp as jcamp_package

    limit = point_limit(npoints)
    per_line_x = block.data_form == "(X++(Y..Y))"
    numbers = points = 0
    for number, text in block.data_lines:
        count = affn_count(text)
        if count is None:
            raise SpectrumFileError(f"{block.where}, line {number}: cannot read data line "
                                    f"{clip(text)!r} (not numbers)", path)
        numbers += count
        points = points + count - 1 if per_line_x else numbers // 2
        if points > limit:
            raise SpectrumFileError(_too_many(block, number, limit, npoints), path)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            parsed = jcamp_package.read(block.jcamp_lines())
    except KeyError as exc:
        raise SpectrumFileError(f"{block.where}: ##{str(exc.args[0]).upper()}= is needed to "
                                "read the data table", path) from None
    except Exception as exc:  # the package raises bare Exception on bad characters
        raise SpectrumFileError(f"{block.where}: cannot decode the data ({exc})", path) from None
    return np.asarray(parsed["x"], dtype=float), np.asarray(parsed["y"], dtype=float)


def _run_asdf(block: RawBlock, path: Path, meta: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Decode a compressed ``(X++(Y..Y))`` table."""
    values = {k: _number(block.header, k, block, path)
              for k in ("FIRSTX", "LASTX", "NPOINTS", "XFACTOR", "YFACTOR")}
    missing = [k for k in ("FIRSTX", "LASTX", "NPOINTS") if values[k] is None]
    if missing:
        raise SpectrumFileError(f"{block.where}: ##{'=, ##'.join(missing)}= needed to read "
                                "the data table", path)
    first, last, n = values["FIRSTX"], values["LASTX"], int(values["NPOINTS"])
    delta = (last - first) / (n - 1) if n > 1 else 0.0
    try:
        ys, notes = decode_xydata(block.data_lines, first, delta, values["XFACTOR"] or 1.0,
                                  max_values=point_limit(n))
    except TooManyValuesError as exc:
        raise SpectrumFileError(f"{block.where}, {exc}, but ##NPOINTS={n}; corrupt data "
                                "table", path) from None
    except ValueError as exc:
        raise SpectrumFileError(f"{block.where}, {exc}", path) from None
    if notes:
        meta["warnings"] = notes
    if len(ys) != n:
        raise SpectrumFileError(f"{block.where}: {len(ys)} values but ##NPOINTS={n} "
                                "(truncated or corrupt data table)", path)
    with np.errstate(over="ignore"):  # inf is reported by build_spectrum
        y = np.asarray(ys, dtype=float) * (values["YFACTOR"] or 1.0)
    return np.linspace(first, last, n) if n > 0 else np.zeros(0), y


def _decode(block: RawBlock, path: Path, meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    form = block.data_form
    npoints = _number(block.header, "NPOINTS", block, path)
    if npoints is not None and npoints > MAX_POINTS:
        raise SpectrumFileError(f"{block.where}: ##NPOINTS={int(npoints)} is more than the "
                                f"{MAX_POINTS:,} points mspectmol reads in one spectrum", path)
    declared = None if npoints is None else int(npoints)
    if block.data_label == "XYDATA" and form == "(X++(Y..Y))":
        if npoints is not None and npoints < 2:
            raise SpectrumFileError(f"{block.where}: a profile spectrum needs at least 2 "
                                    f"points, ##NPOINTS={int(npoints)}", path)
        if any(is_compressed(text) for _, text in block.data_lines):
            x, y = _run_asdf(block, path, meta)
        else:
            x, y = _run_package(block, path, declared)
    elif form == "(XY..XY)":
        x, y = _run_package(block, path, declared)
    else:
        raise SpectrumFileError(
            f"{block.where}: unsupported table ##{block.data_label}={form}; mspectmol reads "
            "(X++(Y..Y)) and (XY..XY)", path)
    if npoints is not None and y.size != int(npoints):
        raise SpectrumFileError(
            f"{block.where}: {y.size} values but ##NPOINTS={int(npoints)} (truncated or "
            "corrupt data table)", path)
    if x.size != y.size:
        raise SpectrumFileError(
            f"{block.where}: {x.size} x values but {y.size} intensities", path)
    return x, y


def _declared_modality(block: RawBlock, path: Path, requested: str | None) -> str | None:
    header = block.header
    try:
        mod = modality_from_data_type(header.get("DATATYPE", ""),
                                      header.get(".OBSERVENUCLEUS", ""), path)
    except UnknownModalityError:
        if requested is None or "NMR" in header.get("DATATYPE", "").upper():
            raise
        return None
    if mod is None and header.get("XUNITS"):
        candidates = modalities_for_x_unit(normalise_x_unit(header["XUNITS"], str(path)))
        mod = candidates[0] if len(candidates) == 1 else None
    return mod


def apply_shift_reference(x: np.ndarray, reference: str, x_unit: str,
                          observe_mhz: float | None, meta: dict[str, Any]) -> np.ndarray:
    """Shift an NMR axis so that ``##.SHIFT REFERENCE=`` holds.

    The label reads ``(method, compound, point, shift)``: data point ``point`` (1-based)
    has chemical shift ``shift`` ppm. Exports such as Bruker's NTUPLES give Hz axes that
    are not zero at 0 ppm; after this shift ``Hz / observe_mhz`` is the shift in ppm.
    The offset applied (in the axis unit) is stored as ``metadata["shift_offset"]``.
    """
    parts = [p.strip() for p in reference.strip().strip("()").split(",")]
    try:
        point, shift = int(float(parts[-2])), float(parts[-1])
    except (ValueError, IndexError):
        meta.setdefault("warnings", []).append(f"unreadable .SHIFT REFERENCE {reference!r}")
        return x
    if not 1 <= point <= x.size or (x_unit == "Hz" and not observe_mhz):
        meta.setdefault("warnings", []).append(f".SHIFT REFERENCE {reference!r} not applied")
        return x
    target = shift * observe_mhz if x_unit == "Hz" else shift
    offset = target - float(x[point - 1])
    if offset != 0.0:
        meta["shift_offset"] = offset
    meta["shift_reference"] = reference
    return x + offset


def block_to_spectrum(block: RawBlock, path: Path, modality: str | None = None) -> Spectrum:
    """Turn one data block into a :class:`Spectrum` in the file's units."""
    meta = _metadata(block, path)
    mod = resolve_modality(_declared_modality(block, path, modality), modality, path,
                           hint=f"{block.where} has no usable ##DATA TYPE=")
    x_raw = block.header.get("XUNITS", "").strip()
    y_raw = block.header.get("YUNITS", "").strip() or "arbitrary"
    if not x_raw:
        raise UnitError(f"{block.where}: no ##XUNITS= label", str(path))
    x_unit, y_unit = check_units(x_raw, y_raw, mod, path, observe_mhz=meta.get("observe_mhz"))
    meta.update(original_x_unit=x_raw, original_y_unit=y_raw)
    x, y = _decode(block, path, meta)
    if mod in ("h_nmr", "c_nmr") and block.header.get(".SHIFTREFERENCE"):
        x = apply_shift_reference(x, block.header[".SHIFTREFERENCE"], x_unit,
                                  meta.get("observe_mhz"), meta)
    kind = "peaks" if block.data_label == "PEAKTABLE" else "profile"
    return build_spectrum(x, y, mod, x_unit=x_unit, y_unit=y_unit, metadata=meta,
                          source=path, kind=kind, where=block.where)


def _ntuples_spectrum(path: Path, modality: str | None) -> Spectrum:
    """Read an NTUPLES NMR file with nmrglue: the real part of its first NMR spectrum."""
    from nmrglue.fileio import jcampdx

    check_ntuples_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dic, data = jcampdx.read(str(path))
        except Exception as exc:  # nmrglue fails on malformed files in many ways
            raise SpectrumFileError(f"NTUPLES: malformed data, nmrglue cannot parse it "
                                    f"({type(exc).__name__}: {exc})", path) from None
    notes = [str(w.message) for w in caught]
    first = {k: (v[0] if isinstance(v, list) and v and isinstance(v[0], str) else "")
             for k, v in dic.items()}
    data_type = first.get("DATATYPE", "")
    declared = modality_from_data_type(data_type or "NMR SPECTRUM",
                                       first.get(".OBSERVENUCLEUS", ""), path)
    mod = resolve_modality(declared, modality, path)
    real = data[0] if isinstance(data, list) else data
    if real is None:
        raise SpectrumFileError("NTUPLES: no real NMR spectrum data found" +
                                (f" ({'; '.join(notes)})" if notes else ""), path)
    symbols = [s.strip().upper() for s in first.get("SYMBOL", "").split(",")]
    columns = {name: [s.strip() for s in first.get(name, "").split(",")]
               for name in ("FIRST", "LAST", "UNITS", "FACTOR")}
    if "X" not in symbols:
        raise SpectrumFileError("NTUPLES: no X column in ##SYMBOL=", path)
    ix = symbols.index("X")
    try:
        x0, x1 = float(columns["FIRST"][ix]), float(columns["LAST"][ix])
    except (ValueError, IndexError):
        raise SpectrumFileError("NTUPLES: ##FIRST=/##LAST= of the X column are missing",
                                path) from None
    y = np.asarray(real, dtype=float)
    if "I" not in symbols and "R" in symbols:  # nmrglue applies factors only with R and I
        with contextlib.suppress(ValueError, IndexError):
            y = y * float(columns["FACTOR"][symbols.index("R")])
    meta: dict[str, Any] = {"format": "jcamp-ntuples", "title": first.get("TITLE", ""),
                            "data_type": data_type, "nucleus": first.get(".OBSERVENUCLEUS", "")}
    with contextlib.suppress(ValueError):
        meta["observe_mhz"] = float(first.get(".OBSERVEFREQUENCY", ""))
    dims = [s.strip() for s in first.get("VARDIM", "").split(",")]
    if "R" in symbols and symbols.index("R") < len(dims) and dims[symbols.index("R")].isdigit() \
            and int(dims[symbols.index("R")]) != y.size:
        raise SpectrumFileError(f"NTUPLES: {y.size} values but ##VAR_DIM= says "
                                f"{dims[symbols.index('R')]} (truncated or corrupt data)", path)
    x_raw = columns["UNITS"][ix] if ix < len(columns["UNITS"]) else ""
    r_ix = symbols.index("R") if "R" in symbols else -1
    y_raw = (columns["UNITS"][r_ix] if 0 <= r_ix < len(columns["UNITS"]) else "") or "arbitrary"
    x_unit, y_unit = check_units(x_raw or None, y_raw, mod, path,
                                 observe_mhz=meta.get("observe_mhz"))
    meta.update(original_x_unit=x_raw, original_y_unit=y_raw)
    x = np.linspace(x0, x1, y.size)
    if first.get(".SHIFTREFERENCE"):
        x = apply_shift_reference(x, first[".SHIFTREFERENCE"], x_unit, meta.get("observe_mhz"),
                                  meta)
    return build_spectrum(x, y, mod, x_unit=x_unit, y_unit=y_unit,
                          metadata=meta, source=path, kind="profile", where="NTUPLES")


def read_jcamp(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Yield the spectra of a JCAMP-DX file, one per data block, streaming.

    Parameters
    ----------
    path
        A ``.jdx``/``.dx`` file (single block or compound ``LINK`` file).
    modality
        Expected modality: used when the file does not say, an error when it says another.

    Yields
    ------
    Spectrum
        In the file's units; ``metadata`` holds the title, the source path, the original
        unit strings, ``observe_mhz`` for NMR, SMILES/InChI/formula when present, the block
        number and the whole header (``jcamp_header``).

    Raises
    ------
    SpectrumFileError
        Missing, empty, binary, truncated or malformed files, missing (``?``) or NaN values,
        a data count different from ``##NPOINTS``, a conflicting modality.
    UnitError
        Unknown or unsuitable ``##XUNITS``/``##YUNITS``.
    UnknownModalityError
        A ``##DATA TYPE`` or NMR nucleus mspectmol does not read.
    """
    p = check_file(path)
    ntuples_done = False
    for block in iter_blocks(p):
        dims = block.header.get("NUMDIM", "1").strip()
        if dims not in ("", "1"):
            raise SpectrumFileError(f"{block.where}: ##NUMDIM={dims}: multidimensional "
                                    "spectra are not supported (only 1D)", p)
        if block.data_label == "NTUPLES":
            # FIDs and nD spectra fail here, before nmrglue reads the file
            modality_from_data_type(block.header.get("DATATYPE", ""),
                                    block.header.get(".OBSERVENUCLEUS", ""), p)
            if ntuples_done:  # nmrglue reads the first NMR spectrum of a file only
                log.warning("%s: %s skipped (only the first NTUPLES spectrum is read)",
                            p, block.where)
                continue
            ntuples_done = True
            yield _ntuples_spectrum(p, modality)
        else:
            yield block_to_spectrum(block, p, modality)


def sniff_jcamp(probe: Probe) -> bool:
    """A first line (after ``$$`` comments) of ``##TITLE=`` or ``##JCAMP-DX=``."""
    return re.match(r"^##\s*(TITLE|JCAMP)", probe.first_line, re.IGNORECASE) is not None


FORMAT = FormatSpec(
    "jcamp", read_jcamp, "JCAMP-DX",
    "XYDATA, XYPOINTS and PEAK TABLE blocks, compound (LINK) files, compressed (ASDF) "
    "data and NTUPLES NMR", aliases=("jdx", "dx", "jcamp-dx"),
    extensions=(".jdx", ".dx", ".jcamp", ".jcm"), sniff=sniff_jcamp,
    modalities=("ir", "raman", "uv", "h_nmr", "c_nmr", "ms"))
