"""One entry point for every spectrum file: detect the format, pick the reader, stream.

The format is told by content first (a JCAMP-DX ``##TITLE=``, an MGF ``BEGIN IONS``, an
MSP ``Name:``, the parquet magic bytes and schema, the QM9S column counts) and by the file
extension otherwise, so a ``.txt`` holding JCAMP-DX or MGF text is read correctly. A
directory is a Bruker experiment (``acqus`` + ``pdata/``) or processed-data folder (``1r`` +
``procs``), or else a folder of Alberts et al. parquet chunks.

Detection reads at most the first 64 KiB of a file, after
:func:`~mspectmol.spectra.readers.base.check_file` has refused what is not a readable
regular file; UTF-16/UTF-32 text with a byte-order mark is decoded, not called binary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.alberts import AlbertsParquet, read_alberts
from mspectmol.spectra.readers.base import PathArg, check_file, decode_text_head, open_binary
from mspectmol.spectra.readers.bruker import is_bruker_dir, read_bruker
from mspectmol.spectra.readers.delimited import read_delimited
from mspectmol.spectra.readers.grid import read_grid
from mspectmol.spectra.readers.jcamp import read_jcamp
from mspectmol.spectra.readers.mgf import read_mgf
from mspectmol.spectra.readers.msp import read_msp
from mspectmol.spectra.readers.qm9s import QM9S_AXES, qm9s_file_modality, read_qm9s
from mspectmol.spectra.readers.simulated import is_simulation_file, read_simulated
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import GRID_METADATA_KEY

Reader = Callable[[Path, str | None], Iterator[Spectrum]]

#: Format name -> reader ``reader(path, modality) -> Iterator[Spectrum]``.
READERS: dict[str, Reader] = {
    "jcamp": read_jcamp,
    "delimited": read_delimited,
    "mgf": read_mgf,
    "msp": read_msp,
    "alberts-parquet": read_alberts,
    "qm9s-csv": read_qm9s,
    "mspectmol-parquet": read_grid,
    "simulation-parquet": read_simulated,
    "bruker": read_bruker,
}
#: Other names accepted for ``format=``.
FORMAT_ALIASES = {"jdx": "jcamp", "dx": "jcamp", "jcamp-dx": "jcamp", "csv": "delimited",
                  "tsv": "delimited", "txt": "delimited", "text": "delimited",
                  "alberts": "alberts-parquet", "qm9s": "qm9s-csv", "grid": "mspectmol-parquet",
                  "simulate": "simulation-parquet", "simulation": "simulation-parquet",
                  "bruker-pdata": "bruker"}
_EXTENSIONS = {".jdx": "jcamp", ".dx": "jcamp", ".jcamp": "jcamp", ".jcm": "jcamp",
               ".mgf": "mgf", ".msp": "msp", ".csv": "delimited", ".tsv": "delimited",
               ".txt": "delimited", ".dat": "delimited", ".xy": "delimited", ".asc": "delimited"}
_HEAD = 1 << 16
_NUMBER_LINE = re.compile(r"^[\s,;\t]*[+-]?(\d|\.\d)")


def _parquet_format(path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: bad UTF-8
        raise SpectrumFileError(f"not a readable parquet file (truncated or corrupt: {exc})",
                                path) from None
    if GRID_METADATA_KEY in (schema.metadata or {}):
        return "mspectmol-parquet"
    if is_simulation_file(schema.metadata):
        return "simulation-parquet"
    AlbertsParquet(path)  # raises a clear error when the dataset's columns are missing
    return "alberts-parquet"


def _text_format(path: Path, text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines()]
    content = [line for line in lines if line and not line.startswith("$$")]
    first = content[0] if content else ""
    if re.match(r"^##\s*(TITLE|JCAMP)", first, re.IGNORECASE):
        return "jcamp"
    if any(line.upper() == "BEGIN IONS" for line in lines):
        return "mgf"
    if re.match(r"^name\s*:", first, re.IGNORECASE) or any(
            re.match(r"^num\s*peaks\s*:", line, re.IGNORECASE) for line in lines):
        return "msp"
    cell = first.split(",", 1)[0].strip().strip('"')
    width = first.count(",") + 1 if "\n" in text and (not cell or cell.isdigit()) else 0
    if qm9s_file_modality(path) or width in {a.size + 1 for a in QM9S_AXES.values()}:
        return "qm9s-csv"
    return None


def detect_format(path: PathArg) -> str:
    """Name of the format of ``path`` (a key of :data:`READERS`).

    Raises
    ------
    SpectrumFileError
        Missing, empty or unreadable files (permission denied, symbolic-link loops, FIFOs
        and devices), binary files that are not parquet, parquet files without known
        columns, and text in no known format.
    """
    p = check_file(path, allow_dir=True)
    if p.is_dir():
        if is_bruker_dir(p):
            return "bruker"
        if any(p.glob("*.parquet")):
            return "alberts-parquet"
        raise SpectrumFileError("a directory without *.parquet files and not a Bruker data "
                                "folder (acqus + pdata/, or 1r + procs)", p)
    with open_binary(p) as handle:
        head = handle.read(_HEAD)
    if head.startswith(b"PAR1"):
        return _parquet_format(p)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        raise SpectrumFileError("not a parquet file (no PAR1 magic bytes)", p)
    text = decode_text_head(head, p)
    found = _text_format(p, text)
    if found:
        return found
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    first = next((line for line in text.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    if _NUMBER_LINE.match(first) or "," in first or "\t" in first:
        return "delimited"
    raise SpectrumFileError(f"unknown spectrum file format; known formats: "
                            f"{', '.join(READERS)}", p)


def _format_name(fmt: str, path: Path) -> str:
    key = fmt.strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in READERS:
        raise SpectrumFileError(f"unknown format {fmt!r}; known formats: "
                                f"{', '.join(READERS)}", path)
    return key


def read_spectra(path: PathArg, modality: str | None = None, *,
                 format: str | None = None) -> Iterator[Spectrum]:
    """Stream the spectra of a file of any supported format.

    Parameters
    ----------
    path
        A spectrum file, a Bruker experiment or ``pdata/<n>`` folder, or a directory of
        Alberts et al. parquet chunks.
    modality
        Expected modality: used when the file does not tell, an error when it tells
        another; required for multi-modality datasets (Alberts et al. parquet).
    format
        Force a reader (a key of :data:`READERS` or an alias such as ``"csv"``, ``"jdx"``)
        instead of detecting the format.

    Returns
    -------
    Iterator[Spectrum]
        The spectra in file order, in the file's own units. The file and format are
        checked when this is called; the data is read as the iterator is consumed.

    Raises
    ------
    SpectrumFileError
        Missing, empty or unrecognised files and unknown ``format`` names (at once); bad
        content while iterating.
    UnknownModalityError
        An unknown ``modality`` name.
    """
    p = check_file(path, allow_dir=True)
    requested = get_modality(modality).name if modality is not None else None
    fmt = _format_name(format, p) if format else detect_format(p)
    return READERS[fmt](p, requested)


def read_spectrum(path: PathArg, modality: str | None = None, *,
                  format: str | None = None) -> Spectrum:
    """Read the one spectrum of a file.

    Raises
    ------
    SpectrumFileError
        When the file holds no spectrum or more than one (use :func:`read_spectra`), and
        for every problem :func:`read_spectra` reports.
    """
    spectra = read_spectra(path, modality, format=format)
    first = next(spectra, None)
    if first is None:
        raise SpectrumFileError("the file holds no spectrum", path)
    if next(spectra, None) is not None:
        close = getattr(spectra, "close", None)
        if close is not None:
            close()
        raise SpectrumFileError("the file holds several spectra; give one spectrum per file "
                                "(convert reads them all; in Python, read_spectra())", path)
    return first
