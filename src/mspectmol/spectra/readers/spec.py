"""What a reader module declares about its file format: :class:`FormatSpec` and :class:`Probe`.

Each reader module ends with a ``FORMAT = FormatSpec(...)`` naming its reader, its names
and extensions, and how its files are recognised; :mod:`mspectmol.spectra.readers.formats`
registers them in one list, from which detection, ``format=`` names, the command-line help,
the web page and the README's table of formats are generated.

Detection (:func:`mspectmol.spectra.readers.dispatch.detect_format`) looks at a file through
a :class:`Probe`, which reads the first 64 KiB once and decodes the text or the parquet
schema only when a format's ``sniff`` asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.base import decode_text_head
from mspectmol.spectra.spectrum import Spectrum

#: ``reader(path, modality) -> Iterator[Spectrum]`` (``modality`` None: the file tells).
Reader = Callable[[Path, str | None], Iterator[Spectrum]]

#: What a format's data lives in: a text file, a parquet file (``PAR1`` magic) or a folder.
CONTAINERS = ("text", "parquet", "folder")
#: The magic bytes that open every parquet file.
PARQUET_MAGIC = b"PAR1"

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_EXTENSION = re.compile(r"^\.[a-z0-9]+$")


class Probe:
    """A file or folder as format detection sees it; each view is computed once, on demand.

    Parameters
    ----------
    path
        The checked path (:func:`~mspectmol.spectra.readers.base.check_file`).
    head
        The file's first bytes (empty for a folder).
    """

    def __init__(self, path: Path, head: bytes = b"") -> None:
        self.path = path
        self.head = head

    @cached_property
    def container(self) -> str:
        """``"folder"``, ``"parquet"`` (the ``PAR1`` magic) or ``"text"``."""
        if self.path.is_dir():
            return "folder"
        return "parquet" if self.head.startswith(PARQUET_MAGIC) else "text"

    @cached_property
    def text(self) -> str:
        """The head decoded as text (UTF-16/32 with a byte-order mark, else UTF-8).

        Raises
        ------
        SpectrumFileError
            When the bytes are not text.
        """
        return decode_text_head(self.head, self.path)

    @cached_property
    def lines(self) -> list[str]:
        """The stripped lines of :attr:`text` (the last one may be cut at 64 KiB)."""
        return [line.strip() for line in self.text.splitlines()]

    @cached_property
    def first_line(self) -> str:
        """The first line that is neither blank nor a JCAMP-DX ``$$`` comment ("" if none)."""
        return next((line for line in self.lines if line and not line.startswith("$$")), "")

    @cached_property
    def parquet_metadata(self) -> dict[bytes, bytes]:
        """The key-value metadata of a parquet file's schema (empty when it has none).

        Raises
        ------
        SpectrumFileError
            When the file is not a readable parquet file.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(self.path)
        except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: bad UTF-8
            raise SpectrumFileError(f"not a readable parquet file (truncated or corrupt: "
                                    f"{exc})", self.path) from None
        return dict(schema.metadata or {})


@dataclass(frozen=True)
class FormatSpec:
    """A spectrum file format: its reader, its names and how its files are recognised.

    Attributes
    ----------
    name
        The format's name for ``format=`` and ``--input-format`` (lower case, ``-``).
    read
        ``read(path, modality) -> Iterator[Spectrum]``.
    title
        A short name for lists (``"JCAMP-DX"``).
    description
        One sentence on what the files hold, for help texts and the README.
    containers
        What the data lives in (:data:`CONTAINERS`); ``sniff`` and ``guess`` are asked only
        about such paths.
    aliases
        Other names accepted for ``format=``.
    extensions
        File extensions (``".jdx"``); for text files they decide when no ``sniff`` of any
        format recognised the content.
    sniff
        ``sniff(probe) -> bool``: True when the content is this format's signature (a
        JCAMP-DX ``##TITLE=``). It may raise :class:`~mspectmol.errors.SpectrumFileError`
        when the content is recognisably this format but unusable.
    guess
        ``guess(probe) -> bool``: weaker evidence, asked after the extensions (number
        columns for delimited text).
    modalities
        Modalities its files may hold (for the README table).
    dataset
        True when a file holds a dataset of many molecules (read by ``convert`` and Python),
        rather than the spectrum of one sample that ``predict`` and the web page take.
    """

    name: str
    read: Reader
    title: str
    description: str
    containers: tuple[str, ...] = ("text",)
    aliases: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    sniff: Callable[[Probe], bool] | None = None
    guess: Callable[[Probe], bool] | None = None
    modalities: tuple[str, ...] = ()
    dataset: bool = False

    def __post_init__(self) -> None:
        for name in (self.name, *self.aliases):
            if not _NAME.match(name):
                raise ValueError(f"format names are lower-case words joined by '-': {name!r}")
        bad = [c for c in self.containers if c not in CONTAINERS] or not self.containers
        if bad:
            raise ValueError(f"format {self.name!r}: containers must be among "
                             f"{', '.join(CONTAINERS)}, got {self.containers!r}")
        for ext in self.extensions:
            if not _EXTENSION.match(ext):
                raise ValueError(f"format {self.name!r}: extensions look like '.jdx', got "
                                 f"{ext!r}")
        for modality in self.modalities:
            get_modality(modality)

    def accepts(self, probe: Probe) -> bool:
        """True when ``probe``'s container is one of this format's."""
        return probe.container in self.containers
