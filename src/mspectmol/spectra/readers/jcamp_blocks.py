"""Split a JCAMP-DX file into its blocks, streaming, with the checks every block needs.

A JCAMP-DX file is one block (``##TITLE=`` ... ``##END=``) or a compound file: a ``LINK``
block whose children are blocks of their own. :func:`iter_blocks` reads the file line by
line and yields each block that holds data as soon as its ``##END=`` is read, so a large
compound file never sits in memory. It removes ``$$`` comments, rejects binary content,
missing values (``?``), NaN/infinite values and truncated blocks with the line number, and
spells the labels the ``jcamp`` package looks for the way it expects them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.base import iter_text_lines

#: Labels that start a data table.
DATA_LABELS = ("XYDATA", "XYPOINTS", "PEAKTABLE", "NTUPLES")

#: Spellings the ``jcamp`` package compares against (it only lower-cases labels).
_PACKAGE_SPELLING = {
    "TITLE": "TITLE", "DATATYPE": "DATA TYPE", "PEAKTABLE": "PEAK TABLE", "XYDATA": "XYDATA",
    "XYPOINTS": "XYPOINTS", "FIRSTX": "FIRSTX", "LASTX": "LASTX", "NPOINTS": "NPOINTS",
    "XFACTOR": "XFACTOR", "YFACTOR": "YFACTOR", "XUNITS": "XUNITS", "YUNITS": "YUNITS",
}

_LABEL = re.compile(r"^##([^=]*)=(.*)$")
_NON_FINITE = re.compile(r"(?i)(?<![a-z])(nan|inf|infinity)(?![a-z])")


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
        ``(line_number, text)`` of the data lines.
    parent
        Header of the enclosing ``LINK`` block, if any.
    """

    number: int
    start_line: int
    header: dict[str, str] = field(default_factory=dict)
    header_lines: list[str] = field(default_factory=list)
    data_label: str | None = None
    data_form: str = ""
    data_lines: list[tuple[int, str]] = field(default_factory=list)
    parent: dict[str, str] | None = None
    children: int = 0
    in_data: bool = False
    last_key: str | None = None

    @property
    def title(self) -> str:
        """The block's title."""
        return self.header.get("TITLE", "").strip()

    @property
    def where(self) -> str:
        """Position for error messages."""
        name = f" {self.title!r}" if self.title else ""
        return f"block{name} at line {self.start_line}"

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


def _add_label(block: RawBlock, raw_label: str, value: str) -> None:
    key = label_key(raw_label)
    if key in DATA_LABELS:
        if block.data_label is not None:
            raise ValueError(f"a second data table (##{raw_label.strip()}=) in one block; "
                             "mspectmol reads one table per block")
        block.data_label = key
        block.data_form = re.sub(r"\s", "", value).upper()
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
                top.data_lines.append((number, line.strip()))
            elif top.last_key is not None:
                top.header[top.last_key] += "\n" + line.strip()
                top.header_lines.append(line.strip())
            continue
        raw_label, value = match.group(1), match.group(2).strip()
        key = label_key(raw_label)
        if key == "TITLE":
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
        if top.data_label == "NTUPLES":
            top.data_lines.append((number, line.strip()))
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
