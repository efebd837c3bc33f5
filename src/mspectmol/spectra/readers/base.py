"""Helpers shared by the spectrum readers: file checks, text lines, modality and units.

Every reader turns problems into mspectmol errors that name the file: a missing, empty or
binary file, a modality the file and the caller disagree on, an unknown unit, a spectrum
with NaN values. The helpers here do those checks once for all formats.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumError, SpectrumFileError, UnknownModalityError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import convert_x, normalise_x_unit, normalise_y_unit

PathArg = str | PathLike[str]

#: Bytes that never occur in a text spectrum file (NUL and other C0 controls except
#: tab, newline, vertical tab, form feed, carriage return and the DOS end-of-file Ctrl-Z).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")

#: Modalities an axis unit is compatible with (used to guess the modality of a file).
_UNIT_MODALITIES: dict[str, tuple[str, ...]] = {
    "cm-1": ("ir", "raman"),
    "um": ("ir",),
    "nm": ("uv", "ir"),
    "eV": ("uv",),
    "ppm": ("h_nmr", "c_nmr"),
    "Hz": ("h_nmr", "c_nmr"),
    "m/z": ("ms",),
}


def check_file(path: PathArg, *, allow_dir: bool = False) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` after checking it can be read.

    Raises
    ------
    SpectrumFileError
        When the file does not exist, is a directory (unless ``allow_dir``) or is empty.
    """
    p = Path(path)
    if not p.exists():
        raise SpectrumFileError("file not found", p)
    if p.is_dir():
        if allow_dir:
            return p
        raise SpectrumFileError("is a directory, not a spectrum file", p)
    if p.stat().st_size == 0:
        raise SpectrumFileError("file is empty", p)
    return p


def is_binary(data: bytes) -> bool:
    """True when ``data`` holds bytes that a text spectrum file never contains."""
    return _BINARY_BYTES.search(data) is not None


def iter_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a text file, streaming.

    Line numbers start at 1; the text has no line ending. UTF-8 is tried first (with a
    byte-order mark removed), then Latin-1, line by line.

    Raises
    ------
    SpectrumFileError
        At the first line that holds binary (non-text) bytes.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if is_binary(raw):
                raise SpectrumFileError(
                    f"binary (non-text) content at line {number}; not a text spectrum file",
                    path)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            yield number, text.rstrip("\r\n").replace("\x1a", "")


def modality_name(name: str, source: PathArg | None = None) -> str:
    """Registry name of a modality, with the file named in the error when it is unknown.

    Raises
    ------
    UnknownModalityError
        When ``name`` is not a registered modality or alias.
    """
    try:
        return get_modality(name).name
    except UnknownModalityError as exc:
        if source is None:
            raise
        raise UnknownModalityError(f"{source}: {exc}") from None


def resolve_modality(declared: str | None, requested: str | None, source: PathArg,
                     *, hint: str = "") -> str:
    """Combine the modality a file declares with the one the caller asks for.

    Parameters
    ----------
    declared
        Modality found in the file (``None`` when the file does not say).
    requested
        Modality passed by the caller (``None`` when not given).
    source
        The file, named in errors.
    hint
        Extra words for the error raised when neither is known.

    Returns
    -------
    str
        The registry name.

    Raises
    ------
    SpectrumFileError
        When both are known and differ, or neither is known.
    UnknownModalityError
        When a name is not a registered modality.
    """
    dec = modality_name(declared, source) if declared else None
    req = modality_name(requested) if requested else None
    if dec and req and dec != req:
        raise SpectrumFileError(
            f"the file holds a {dec!r} spectrum but modality {req!r} was requested", source)
    mod = dec or req
    if mod is None:
        raise SpectrumFileError(
            "cannot tell the modality of the spectrum" + (f" ({hint})" if hint else "")
            + "; pass modality= (one of ir, raman, uv, h_nmr, c_nmr, ms)", source)
    return mod


def modalities_for_x_unit(unit: str) -> tuple[str, ...]:
    """Modalities whose spectra may use the (normalised) axis unit ``unit``."""
    return _UNIT_MODALITIES.get(unit, ())


def check_units(x_unit: str | None, y_unit: str | None, modality: str, source: PathArg,
                *, observe_mhz: float | None = None) -> tuple[str, str]:
    """Normalise the units of a file and check they suit the modality.

    Returns
    -------
    tuple of str
        The normalised x and y unit spellings.

    Raises
    ------
    UnitError
        When a unit is unknown, cannot be used for the modality, or is Hz on an NMR axis
        without the spectrometer frequency.
    """
    src = str(source)
    xu = normalise_x_unit(x_unit, src)
    yu = normalise_y_unit(y_unit, src)
    convert_x(np.ones(1), xu, modality, observe_mhz=observe_mhz, source=src)
    return xu, yu


def build_spectrum(x: Any, y: Any, modality: str, *, x_unit: str, y_unit: str,
                   metadata: dict[str, Any], source: PathArg, kind: str | None = None,
                   where: str = "") -> Spectrum:
    """Create a :class:`Spectrum`, reporting invalid data as a :class:`SpectrumFileError`.

    Parameters
    ----------
    where
        Position in the file (``"block 2"``, ``"row 17"``) prefixed to the problem.
    """
    src = str(source)
    meta = {"source": src, **metadata}
    try:
        return Spectrum(x, y, modality, x_unit=x_unit, y_unit=y_unit, metadata=meta,
                        kind=kind, source=src)
    except SpectrumFileError:
        raise
    except SpectrumError as exc:
        prefix = f"{where}: " if where else ""
        raise SpectrumFileError(prefix + exc.problem, src) from None


def parse_float(text: str, source: PathArg, where: str) -> float:
    """``float(text)`` or a :class:`SpectrumFileError` naming the file and position."""
    try:
        value = float(text)
    except ValueError:
        raise SpectrumFileError(f"{where}: {text.strip()!r} is not a number", source) from None
    if not np.isfinite(value):
        raise SpectrumFileError(f"{where}: value {text.strip()!r} is NaN or infinite", source)
    return value


def nucleus_modality(nucleus: str) -> str | None:
    """``"h_nmr"`` or ``"c_nmr"`` for a nucleus spelled ``^1H``, ``1H``, ``H1``, ``13C`` ...

    Returns ``None`` for an empty string; raises :class:`UnknownModalityError` for other
    nuclei (19F, 31P ...), which mspectmol does not model.
    """
    key = re.sub(r"[\^\s\-_]", "", nucleus).upper()
    if not key:
        return None
    if key in ("1H", "H1", "H", "PROTON"):
        return "h_nmr"
    if key in ("13C", "C13", "C", "CARBON"):
        return "c_nmr"
    raise UnknownModalityError(f"NMR of nucleus {nucleus!r} is not supported (only 1H and 13C)")


def normalise_ionmode(mode: Any) -> Any:
    """``"positive"``/``"negative"`` for the usual spellings (P, pos, +, Positive ...)."""
    key = str(mode).strip().lower()
    if key in ("p", "pos", "positive", "+"):
        return "positive"
    if key in ("n", "neg", "negative", "-"):
        return "negative"
    return mode
