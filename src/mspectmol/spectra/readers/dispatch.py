"""One entry point for every spectrum file: detect the format, pick the reader, stream.

The formats are those of the registry (:mod:`mspectmol.spectra.readers.formats`). A path
is told by content first and by its extension otherwise, so a ``.txt`` holding JCAMP-DX or
MGF text is read correctly:

1. a folder: the ``sniff`` of each folder format (a Bruker experiment or processed-data
   folder, a folder of Alberts et al. parquet chunks);
2. a file starting with the parquet magic bytes: the ``sniff`` of each parquet format (the
   schema's metadata, then the Alberts et al. columns);
3. a text file: the ``sniff`` of each text format (a JCAMP-DX ``##TITLE=``, an MGF ``BEGIN
   IONS``, an MSP ``Name:``, the QM9S column counts), then the extension, then each text
   format's ``guess`` (columns of numbers).

Detection reads at most the first 64 KiB of a file, after
:func:`~mspectmol.spectra.readers.base.check_file` has refused what is not a readable
regular file; UTF-16/UTF-32 text with a byte-order mark is decoded, not called binary. A
file with a parquet format's extension but without the magic bytes is refused.
"""

from __future__ import annotations

from collections.abc import Iterator

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.base import PathArg, check_file, open_binary
from mspectmol.spectra.readers.formats import (
    format_for_extension,
    format_names,
    formats,
    get_format,
)
from mspectmol.spectra.readers.spec import Probe
from mspectmol.spectra.spectrum import Spectrum

_HEAD = 1 << 16


def _sniffed(probe: Probe) -> str | None:
    """The first format of the probe's container whose ``sniff`` recognises it."""
    for spec in formats(container=probe.container):
        if spec.sniff is not None and spec.sniff(probe):
            return spec.name
    return None


def detect_format(path: PathArg) -> str:
    """Name of the format of ``path`` (see the module docstring for the order).

    Raises
    ------
    SpectrumFileError
        Missing, empty or unreadable files (permission denied, symbolic-link loops, FIFOs
        and devices), folders of no known layout, binary files that are not parquet,
        parquet files of no known layout, and text in no known format.
    """
    p = check_file(path, allow_dir=True)
    if p.is_dir():
        found = _sniffed(Probe(p))
        if found is None:
            layouts = "; ".join(s.description for s in formats(container="folder"))
            raise SpectrumFileError(f"a directory of no known layout (expected: {layouts})", p)
        return found
    with open_binary(p) as handle:
        probe = Probe(p, handle.read(_HEAD))
    if probe.container == "parquet":
        found = _sniffed(probe)
        if found is None:
            raise SpectrumFileError("a parquet file of no known layout", p)
        return found
    suffix = p.suffix.lower()
    if any(suffix in s.extensions for s in formats(container="parquet")):
        raise SpectrumFileError("not a parquet file (no PAR1 magic bytes)", p)
    probe.text  # noqa: B018 - decoding the head refuses binary files
    found = _sniffed(probe)
    if found is not None:
        return found
    by_extension = format_for_extension(suffix)
    if by_extension is not None:
        return by_extension.name
    for spec in formats(container="text"):
        if spec.guess is not None and spec.guess(probe):
            return spec.name
    raise SpectrumFileError(f"unknown spectrum file format; known formats: "
                            f"{', '.join(format_names())}", p)


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
        Force a reader (a registered format name or an alias such as ``"csv"``, ``"jdx"``;
        :func:`~mspectmol.spectra.readers.formats.format_names`) instead of detecting it.

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
    spec = get_format(format, p) if format else get_format(detect_format(p))
    return spec.read(p, requested)


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
