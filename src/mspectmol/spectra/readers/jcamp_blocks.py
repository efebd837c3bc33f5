"""Split a JCAMP-DX file into its blocks, streaming, with the checks every block needs.

A JCAMP-DX file is one block (``##TITLE=`` ... ``##END=``) or a compound file: a ``LINK``
block whose children are blocks of their own. :func:`iter_blocks` reads the file line by
line and yields each block that holds data as soon as its ``##END=`` is read, so a large
compound file never sits in memory. It removes ``$$`` comments, rejects binary content,
missing values (``?``), NaN/infinite values and truncated blocks with the line number, and
spells the labels the ``jcamp`` package looks for the way it expects them.

Blocks are bounded: a block's header holds at most :data:`MAX_HEADER_BYTES`, blocks nest
at most :data:`MAX_DEPTH` deep, and a table holds no more data lines than its
``##NPOINTS`` (with :data:`~mspectmol.spectra.readers.base.COUNT_TOLERANCE`) or
:data:`~mspectmol.spectra.readers.base.MAX_POINTS` allow, so a hostile file is refused
early. :func:`check_ntuples_file` bounds what nmrglue will decode from an NTUPLES file, and
:func:`modality_from_data_type` reads the modality a block's ``##DATA TYPE=`` names.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mspectmol.errors import SpectrumFileError, UnknownModalityError
from mspectmol.spectra.readers.asdf import count_values
from mspectmol.spectra.readers.base import (
    MAX_POINTS,
    PathArg,
    clip,
    iter_text_lines,
    nucleus_modality,
    open_binary,
    point_limit,
    text_encoding,
)

#: Labels that start a data table.
DATA_LABELS = ("XYDATA", "XYPOINTS", "PEAKTABLE", "NTUPLES")

#: Spellings the ``jcamp`` package compares against (it only lower-cases labels).
_PACKAGE_SPELLING = {
    "TITLE": "TITLE", "DATATYPE": "DATA TYPE", "PEAKTABLE": "PEAK TABLE", "XYDATA": "XYDATA",
    "XYPOINTS": "XYPOINTS", "FIRSTX": "FIRSTX", "LASTX": "LASTX", "NPOINTS": "NPOINTS",
    "XFACTOR": "XFACTOR", "YFACTOR": "YFACTOR", "XUNITS": "XUNITS", "YUNITS": "YUNITS",
}

#: Most text (labels and continuation lines) in the header of one block: 8 MiB.
MAX_HEADER_BYTES = 1 << 23
#: Deepest nesting of blocks (a compound ``LINK`` file nests 2 deep).
MAX_DEPTH = 32
#: Labels whose following lines nmrglue decodes as data.
_NMRGLUE_TABLES = ("XYDATA", "DATATABLE", "PEAKTABLE", "XYPOINTS")

_LABEL = re.compile(r"^##([^=]*)=(.*)$")
_NON_FINITE = re.compile(r"(?i)(?<![a-z])(nan|inf|infinity)(?![a-z])")


class DataLines:
    """``(line_number, text)`` pairs stored compactly (a table may have millions of lines)."""

    def __init__(self) -> None:
        self._numbers = array("q")
        self._texts: list[str] = []

    def append(self, item: tuple[int, str]) -> None:
        """Add one ``(line_number, text)``."""
        self._numbers.append(item[0])
        self._texts.append(item[1])

    def __len__(self) -> int:
        return len(self._texts)

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return zip(self._numbers, self._texts, strict=True)


def label_key(label: str) -> str:
    """A label as JCAMP-DX compares them: upper case without spaces, ``-``, ``/`` or ``_``."""
    return re.sub(r"[\s\-/_]", "", label).upper()


@dataclass
class RawBlock:
    """One JCAMP-DX block that holds data.

    Attributes
    ----------
    number
        1-based position among the data blocks of the file.
    start_line
        Line of its ``##TITLE=``.
    header
        Normalised label -> value (continuation lines joined with newlines).
    header_lines
        Header lines with package spellings (for the ``jcamp`` package).
    data_label
        ``XYDATA``, ``XYPOINTS``, ``PEAKTABLE`` or ``NTUPLES``.
    data_form
        The variable list of the table without spaces, e.g. ``(X++(Y..Y))``.
    data_lines
        ``(line_number, text)`` of the data lines, iterable (not kept for ``NTUPLES``,
        which nmrglue reads from the file).
    parent
        Header of the enclosing ``LINK`` block, if any.
    """

    number: int
    start_line: int
    header: dict[str, str] = field(default_factory=dict)
    header_lines: list[str] = field(default_factory=list)
    data_label: str | None = None
    data_form: str = ""
    data_lines: DataLines = field(default_factory=DataLines)
    parent: dict[str, str] | None = None
    children: int = 0
    in_data: bool = False
    last_key: str | None = None
    header_bytes: int = 0
    max_data_lines: int = MAX_POINTS + 1
    pending: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The block's title."""
        return self.header.get("TITLE", "").strip()

    @property
    def where(self) -> str:
        """Position for error messages."""
        name = f" {clip(self.title, 60)!r}" if self.title else ""
        return f"block{name} at line {self.start_line}"

    def add_text(self, text: str, number: int, path: Path) -> None:
        """Count header text against :data:`MAX_HEADER_BYTES`."""
        self.header_bytes += len(text) + 1
        if self.header_bytes > MAX_HEADER_BYTES:
            raise SpectrumFileError(f"line {number}: the header of {self.where} is longer "
                                    f"than {MAX_HEADER_BYTES >> 20} MiB; not a JCAMP-DX "
                                    "spectrum", path)

    def flush(self) -> None:
        """Join the pending continuation lines to the value of the last label."""
        if self.pending and self.last_key is not None:
            self.header[self.last_key] += "\n" + "\n".join(self.pending)
        self.pending.clear()

    def jcamp_lines(self) -> list[str]:
        """The block as lines for ``jcamp.read`` (header, data, ``##END=``)."""
        return [*self.header_lines, *(text for _, text in self.data_lines), "##END="]


def _check_data_line(text: str, number: int, path: Path) -> None:
    if "?" in text:
        raise SpectrumFileError(
            f"line {number}: missing values ('?') in the data; spectra with missing points "
            "are not supported", path)
    bad = _NON_FINITE.search(text)
    if bad:
        raise SpectrumFileError(
            f"line {number}: value {bad.group(0)!r} is NaN or infinite", path)


def _declared_points(text: str) -> int | None:
    """``##NPOINTS`` read leniently (the reader checks it strictly later)."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return int(value) if 0 <= value < 1e18 else None


def _add_label(block: RawBlock, raw_label: str, value: str) -> None:
    key = label_key(raw_label)
    if key in DATA_LABELS:
        if block.data_label is not None:
            raise ValueError(f"a second data table (##{raw_label.strip()}=) in one block; "
                             "mspectmol reads one table per block")
        block.data_label = key
        block.data_form = re.sub(r"\s", "", value).upper()
        npoints = _declared_points(block.header.get("NPOINTS", ""))
        block.max_data_lines = point_limit(npoints) + 1
        if key == "XYDATA" and block.data_form == "(X++(R..R))":
            block.data_form = "(X++(Y..Y))"
        value = block.data_form
        block.in_data = True
    else:
        block.in_data = block.data_label == "NTUPLES"
    block.header.setdefault(key, value)
    block.last_key = key
    spelled = _PACKAGE_SPELLING.get(key, raw_label.strip())
    block.header_lines.append(f"##{spelled}={value}")


def iter_blocks(path: Path) -> Iterator[RawBlock]:
    """Yield each JCAMP-DX block of ``path`` that holds data, streaming.

    Raises
    ------
    SpectrumFileError
        On binary content, text outside blocks, missing or non-finite values, a block
        without data, or a file that ends inside a block (truncated).
    """
    stack: list[RawBlock] = []
    n_data = 0
    seen = False
    for number, text in iter_text_lines(path):
        line = text.split("$$", 1)[0]
        if not line.strip():
            continue
        match = _LABEL.match(line.lstrip())
        if match is None:
            if not stack:
                raise SpectrumFileError(
                    f"line {number}: text outside a JCAMP-DX block (a block starts with "
                    "##TITLE=); not a JCAMP-DX file", path)
            top = stack[-1]
            if top.in_data:
                _check_data_line(line, number, path)
                if top.data_label != "NTUPLES":
                    if len(top.data_lines) >= top.max_data_lines:
                        raise SpectrumFileError(_too_many_lines(top, number), path)
                    top.data_lines.append((number, line.strip()))
            elif top.last_key is not None:
                top.add_text(line, number, path)
                top.pending.append(line.strip())
                top.header_lines.append(line.strip())
            continue
        raw_label, value = match.group(1), match.group(2).strip()
        key = label_key(raw_label)
        if stack:
            stack[-1].flush()
        if key == "TITLE":
            if len(stack) >= MAX_DEPTH:
                raise SpectrumFileError(f"line {number}: blocks nested more than {MAX_DEPTH} "
                                        "deep (##END= lines missing?)", path)
            if stack:
                stack[-1].children += 1
                stack[-1].in_data = False
            parent = stack[-1].header if stack else None
            stack.append(RawBlock(number=0, start_line=number, parent=parent))
            seen = True
        if not stack:
            raise SpectrumFileError(
                f"line {number}: label ##{raw_label.strip()}= outside a block (a JCAMP-DX "
                "block starts with ##TITLE=)", path)
        top = stack[-1]
        if key == "END":
            stack.pop()
            if top.data_label is not None:
                n_data += 1
                top.number = n_data
                yield top
            elif top.children == 0:
                raise SpectrumFileError(f"{top.where} holds no data table", path)
            continue
        top.add_text(line, number, path)
        try:
            _add_label(top, raw_label, value)
        except ValueError as exc:
            raise SpectrumFileError(f"line {number}: {exc}", path) from None
    if stack:
        top = stack[-1]
        raise SpectrumFileError(
            f"truncated file: {top.where} has no ##END= (the file ends at the data)", path)
    if not seen:
        raise SpectrumFileError("no JCAMP-DX block (##TITLE= ... ##END=) found", path)


def _too_many_lines(block: RawBlock, number: int) -> str:
    declared = _declared_points(block.header.get("NPOINTS", ""))
    said = f"##NPOINTS={declared}" if declared is not None else "no ##NPOINTS"
    return (f"line {number}: {block.where} has more than {block.max_data_lines} data lines "
            f"({said}; at most {MAX_POINTS:,} points a spectrum); corrupt data table")


def check_ntuples_file(path: Path) -> None:
    """Check a whole file before nmrglue reads it (nmrglue expands repeat counts unchecked).

    The data tables of the file may decode to at most twice :data:`MAX_POINTS` values
    (the real and imaginary parts of a spectrum); lines are read with
    :func:`~mspectmol.spectra.readers.base.iter_text_lines`, so a huge line is refused too.

    Raises
    ------
    SpectrumFileError
        For UTF-16/32 text (nmrglue reads UTF-8 only) and data beyond the limit.
    """
    with open_binary(path) as handle:
        encoding = text_encoding(handle.read(4))
    if encoding is not None:
        raise SpectrumFileError(f"NTUPLES: {encoding.upper()} text, which nmrglue cannot "
                                "read; save the file as UTF-8", path)
    limit = 2 * MAX_POINTS
    total = 0
    in_table = False
    for number, text in iter_text_lines(path):
        line = text.split("$$", 1)[0].strip()
        match = _LABEL.match(line)
        if match is not None:
            in_table = label_key(match.group(1)) in _NMRGLUE_TABLES
        elif in_table and line:
            total += count_values(line)
            if total > limit:
                raise SpectrumFileError(
                    f"NTUPLES: line {number}: the data tables decode to more than {limit:,} "
                    f"values (at most {MAX_POINTS:,} points a spectrum); corrupt data or a "
                    "repeat count (DUP) too large", path)


def modality_from_data_type(data_type: str, nucleus: str, source: PathArg) -> str | None:
    """Modality named by ``##DATA TYPE=`` (``None`` when the label is empty).

    Raises
    ------
    SpectrumFileError
        For NMR FIDs (time-domain data).
    UnknownModalityError
        For data types and NMR nuclei mspectmol does not read.
    """
    t = data_type.strip().upper()
    if not t:
        return None
    if re.search(r"\b(ND|2D|3D)\b", t):
        raise SpectrumFileError(f"DATA TYPE {clip(data_type)!r}: multidimensional NMR is not "
                                "supported (only 1D spectra)", source)
    if "NMR" in t:
        if "FID" in t:
            raise SpectrumFileError(
                f"DATA TYPE {clip(data_type)!r}: time-domain NMR (FID) is not supported; "
                "Fourier-transform it to a spectrum first", source)
        try:
            return nucleus_modality(nucleus)
        except UnknownModalityError as exc:
            raise UnknownModalityError(f"{source}: {exc}") from None
    for word, mod in (("INFRARED", "ir"), ("RAMAN", "raman"), ("ULTRAVIOLET", "uv"),
                      ("UV", "uv"), ("VIS", "uv"), ("MASS", "ms")):
        if word in t:
            return mod
    if re.search(r"\bIR\b", t):
        return "ir"
    raise UnknownModalityError(
        f"{source}: DATA TYPE {clip(data_type)!r} is not a spectrum type mspectmol reads "
        "(infrared, Raman, UV/Vis, NMR, mass)")
