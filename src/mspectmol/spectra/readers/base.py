"""Helpers shared by the spectrum readers: file checks, text lines, modality and units.

Every reader turns problems into mspectmol errors that name the file: a missing, empty,
unreadable or binary file, a modality the file and the caller disagree on, an unknown unit,
a spectrum with NaN values. The helpers here do those checks once for all formats.

Hostile or unlucky input is bounded here too: :func:`check_file` refuses what is not a
readable regular file (permission denied, symbolic-link loops, FIFOs, devices) before it is
opened, :func:`iter_text_lines` refuses lines longer than :data:`MAX_LINE_BYTES` without
reading them whole and decodes UTF-16/UTF-32 text that starts with a byte-order mark, and
:data:`MAX_POINTS` caps the values a reader decodes for one spectrum.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import re
import stat
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np

from mspectmol.errors import SpectrumError, SpectrumFileError, UnknownModalityError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import convert_x, normalise_x_unit, normalise_y_unit

PathArg = str | PathLike[str]

#: Most values (points of a profile, peaks of a peak list) one spectrum may hold: 2**21,
#: a Bruker spectrum of SI = 2M points (more than FT-IR, UV-Vis, usual NMR and MS data;
#: 16 MB per float64 array). Readers refuse more before decoding them, so a hostile file
#: (a JCAMP-DX repeat count of 10**11) ends in an error, not in exhausted memory.
MAX_POINTS = 1 << 21

#: Values a reader may decode beyond a declared count (JCAMP-DX ``##NPOINTS``, MSP ``Num
#: Peaks``) before it stops: small mismatches are still reported with their exact count,
#: gross ones (a repeat-count bomb) stop at once.
COUNT_TOLERANCE = 1024

#: Longest line :func:`iter_text_lines` accepts: 4 MiB (bytes; characters for UTF-16/32
#: text). A value needs a character and a separator, so such a line holds at most
#: :data:`MAX_POINTS` values and splitting it into cells stays within a few hundred MB.
#: Wide CSV rows (``write_csv``, one spectrum a row) fit up to about 200,000 points of 20
#: characters (the default grid has 600, a QM9S row 3501); longer grids belong in the
#: two-column layout or in parquet. JCAMP-DX lines are 80 characters by the standard.
MAX_LINE_BYTES = 1 << 22

#: Most ``key=value`` fields one record (MGF, MSP) or header may hold.
MAX_FIELDS = 10_000

#: Bytes that never occur in a text spectrum file (NUL and other C0 controls except
#: tab, newline, vertical tab, form feed, carriage return and the DOS end-of-file Ctrl-Z).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
_BINARY_CHARS = re.compile("[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
#: Byte-order marks of the wide Unicode encodings (UTF-32 first: its LE mark starts with
#: the UTF-16 LE one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_UTF16_NO_BOM = "UTF-16 text without a byte-order mark; save it as UTF-8"
_FILE_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
               (lambda mode: True, "a special file"))

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


def access_problem(path: Path, exc: OSError) -> str:
    """Words for an :class:`OSError` met while opening or inspecting ``path``."""
    code = exc.errno
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return "permission denied (the file cannot be read)"
    if code == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself)"
    if code == errno.ENOENT:
        return "broken symbolic link (its target does not exist)" if path.is_symlink() \
            else "file not found"
    if code == errno.ENOTDIR:
        return "file not found (a part of the path is not a folder)"
    if code == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot access the file ({exc.strerror or exc})"


def check_file(path: PathArg, *, allow_dir: bool = False) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` after checking it can be read.

    The file is inspected before it is opened, so a FIFO or device never blocks a reader.

    Raises
    ------
    SpectrumFileError
        When the file does not exist (or is a broken symbolic link), is a symbolic-link
        loop, cannot be read (permission denied), is a directory (unless ``allow_dir``),
        is not a regular file (FIFO, device, socket) or is empty.
    """
    p = Path(path)
    try:
        info = p.stat()
    except OSError as exc:
        raise SpectrumFileError(access_problem(p, exc), p) from None
    if stat.S_ISDIR(info.st_mode):
        if not allow_dir:
            raise SpectrumFileError("is a directory, not a spectrum file", p)
        try:
            with os.scandir(p):
                pass
        except OSError as exc:
            raise SpectrumFileError(access_problem(p, exc), p) from None
        return p
    if not stat.S_ISREG(info.st_mode):
        kind = next(name for test, name in _FILE_KINDS if test(info.st_mode))
        raise SpectrumFileError(f"{kind}, not a regular file; mspectmol reads spectrum files",
                                p)
    if info.st_size == 0:
        raise SpectrumFileError("file is empty", p)
    open_binary(p).close()
    return p


def open_binary(path: Path) -> IO[bytes]:
    """``open(path, "rb")`` with :class:`OSError` turned into :class:`SpectrumFileError`."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SpectrumFileError(access_problem(path, exc), path) from None


def is_binary(data: bytes) -> bool:
    """True when ``data`` holds bytes that a text spectrum file never contains."""
    return _BINARY_BYTES.search(data) is not None


def text_encoding(head: bytes) -> str | None:
    """``"utf-16"`` or ``"utf-32"`` when ``head`` starts with that byte-order mark."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def binary_problem(data: bytes) -> str | None:
    """Why ``data`` (the start of a file) is not 8-bit text, or ``None`` when it is.

    UTF-16 text without a byte-order mark (every other byte NUL) is named as such.
    """
    if not is_binary(data):
        return None
    sample = data[:512]
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 4 and (
            (not odd.strip(b"\x00") and b"\x00" not in even)
            or (not even.strip(b"\x00") and b"\x00" not in odd)):
        return _UTF16_NO_BOM
    return "binary (non-text) content"


def decode_text_head(head: bytes, path: Path) -> str:
    """The start of a text file as text (UTF-16/32 with a byte-order mark, else UTF-8).

    Raises
    ------
    SpectrumFileError
        When the bytes are not text.
    """
    encoding = text_encoding(head)
    if encoding is not None:
        text = head.decode(encoding, "replace")
        if _BINARY_CHARS.search(text):
            raise SpectrumFileError(f"binary (non-text) content in {encoding.upper()} text; "
                                    "not a text spectrum file", path)
        return text.lstrip("\ufeff")
    problem = binary_problem(head)
    if problem is not None:
        raise SpectrumFileError(problem if problem == _UTF16_NO_BOM
                                else f"{problem}; not a text spectrum file", path)
    return head.decode("utf-8", "replace").lstrip("\ufeff")


def iter_text_lines(path: Path, *, max_line: int | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a text file, streaming.

    Line numbers start at 1; the text has no line ending. A file that starts with a UTF-16
    or UTF-32 byte-order mark is decoded as such (undecodable units become U+FFFD, so the
    line holding them fails to parse); otherwise UTF-8 is tried first (with a byte-order
    mark removed), then Latin-1, line by line. No more than ``max_line + 1`` bytes are
    read for a line, so one huge line costs no more memory than that.

    Parameters
    ----------
    path
        The file.
    max_line
        Longest line accepted, in bytes (characters for UTF-16/32 text); default
        :data:`MAX_LINE_BYTES`.

    Raises
    ------
    SpectrumFileError
        At the first line that holds binary (non-text) bytes or is longer than
        ``max_line``; when the file cannot be opened.
    """
    limit = MAX_LINE_BYTES if max_line is None else max_line
    size = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit:,} bytes"
    with open_binary(path) as raw_handle:
        encoding = text_encoding(raw_handle.read(4))
        raw_handle.seek(0)
        handle: IO[Any] = raw_handle if encoding is None else io.TextIOWrapper(
            raw_handle, encoding=encoding, errors="replace")
        newline: Any = "\n" if encoding else b"\n"
        number = 0
        while True:
            number += 1
            raw = handle.readline(limit + 1)
            if not raw:
                return
            if len(raw) > limit and not raw.endswith(newline):
                raise SpectrumFileError(
                    f"line {number} is longer than {size}; not a spectrum file "
                    "mspectmol reads (write very wide spectra in the two-column layout or "
                    "as parquet)", path)
            text = raw if isinstance(raw, str) else None
            if _BINARY_CHARS.search(raw) if text is not None else is_binary(raw):
                raise SpectrumFileError(
                    f"line {number}: {_UTF16_NO_BOM}" if text is None
                    and binary_problem(raw) == _UTF16_NO_BOM else
                    f"binary (non-text) content at line {number}; not a text spectrum file",
                    path)
            if text is None:
                raw = raw[3:] if number == 1 and raw.startswith(codecs.BOM_UTF8) else raw
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
            yield number, text.rstrip("\r\n").replace("\x1a", "")


def clip(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), to quote file text in errors."""
    return text if len(text) <= limit else text[:limit] + "..."


def point_limit(declared: int | None = None) -> int:
    """Most values a reader decodes for one spectrum.

    The declared count (``##NPOINTS``, ``Num Peaks``) plus :data:`COUNT_TOLERANCE`, never
    more than :data:`MAX_POINTS`; :data:`MAX_POINTS` when the file declares no count.
    """
    if declared is None:
        return MAX_POINTS
    return min(max(int(declared), 0) + COUNT_TOLERANCE, MAX_POINTS)


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
            + "; pass -m/--modality (one of ir, raman, uv, h_nmr, c_nmr, ms)", source)
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
        raise SpectrumFileError(f"{where}: {clip(text.strip())!r} is not a number",
                                source) from None
    if not np.isfinite(value):
        raise SpectrumFileError(f"{where}: value {clip(text.strip())!r} is NaN or infinite",
                                source)
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
