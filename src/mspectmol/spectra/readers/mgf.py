"""Mascot Generic Format (MGF) mass spectra, read with ``pyteomics.mgf`` (streaming).

Each ``BEGIN IONS`` ... ``END IONS`` record becomes a peak-list :class:`Spectrum` of modality
``ms``; header parameters before the first record apply to all records.

pyteomics reads the lines through :class:`BoundedLines`, which bounds them like
:func:`~mspectmol.spectra.readers.base.iter_text_lines` (length, binary content, UTF-16/32
text) and refuses a record of more than
:data:`~mspectmol.spectra.readers.base.MAX_POINTS` peaks or
:data:`~mspectmol.spectra.readers.base.MAX_FIELDS` parameters as soon as it is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.base import (
    MAX_FIELDS,
    MAX_POINTS,
    PathArg,
    build_spectrum,
    check_file,
    decode_text_head,
    iter_text_lines,
    normalise_ionmode,
    open_binary,
    resolve_modality,
)
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum

#: MGF parameter -> metadata key (first match wins).
_PARAMS = {
    "title": "title", "name": "name", "compound_name": "name", "smiles": "smiles",
    "inchi": "inchi", "inchikey": "inchikey", "formula": "formula",
    "ionmode": "ionmode", "ion_mode": "ionmode", "collision_energy": "collision_energy",
    "collisionenergy": "collision_energy", "ce": "collision_energy", "adduct": "adduct",
    "precursor_type": "adduct", "scans": "scans", "rtinseconds": "retention_time_s",
    "instrument": "instrument", "instrument_type": "instrument", "spectrumid": "spectrum_id",
    "spectrum_id": "spectrum_id", "ms_level": "ms_level", "mslevel": "ms_level",
}


def check_text_head(path: Path, size: int = 65536) -> None:
    """Raise :class:`SpectrumFileError` when the start of ``path`` is not text."""
    with open_binary(path) as handle:
        head = handle.read(size)
    decode_text_head(head, path)


class BoundedLines:
    """A read-only text file object over an MGF file for pyteomics, with bounded lines.

    Iterating yields the lines (with ``"\\n"``) of
    :func:`~mspectmol.spectra.readers.base.iter_text_lines`; ``tell``/``seek`` count lines
    (pyteomics reads the header with ``tell()``, ``seek(0)`` and ``seek(back)``).

    Raises
    ------
    SpectrumFileError
        While iterating: what ``iter_text_lines`` refuses, a record with more than
        :data:`MAX_POINTS` peak lines, a record or header with more than
        :data:`MAX_FIELDS` parameters.
    """

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.encoding = "utf-8"
        self._path = path
        self._lines: Iterator[tuple[int, str]] = iter(())
        self._position = 0
        self._record = self._peaks = self._fields = 0
        self._in_record = False
        self.seek(0)

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        number, text = next(self._lines)
        self._position += 1
        self._count(number, text.strip())
        return text + "\n"

    def _count(self, number: int, line: str) -> None:
        if line == "BEGIN IONS":
            self._record += 1
            self._in_record, self._peaks, self._fields = True, 0, 0
        elif line == "END IONS":
            self._in_record = False
        elif line and line[0] not in "#;!/":
            where = f"record {self._record}" if self._record else "the header"
            if "=" in line:
                self._fields += 1
                if self._fields > MAX_FIELDS:
                    raise SpectrumFileError(f"line {number}: {where} has more than "
                                            f"{MAX_FIELDS:,} parameters", self._path)
            elif self._in_record:
                self._peaks += 1
                if self._peaks > MAX_POINTS:
                    raise SpectrumFileError(f"line {number}: {where} has more than "
                                            f"{MAX_POINTS:,} peaks", self._path)

    def tell(self) -> int:
        """Lines read so far."""
        return self._position

    def seek(self, position: int, whence: int = 0) -> int:
        """Go to line ``position`` (from the start only): read the file again up to it."""
        if whence != 0:
            raise OSError("BoundedLines seeks from the start only")
        self.close()
        self._lines = iter_text_lines(self._path)
        self._position = self._record = self._peaks = self._fields = 0
        self._in_record = False
        for _ in range(position):
            if next(self, None) is None:
                break
        return self._position

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Close the file."""
        close = getattr(self._lines, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> BoundedLines:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def mgf_metadata(params: dict[str, Any]) -> dict[str, Any]:
    """Standard metadata from the parameters of one MGF record."""
    meta: dict[str, Any] = {}
    for key, name in _PARAMS.items():
        value = params.get(key)
        if value not in (None, "") and name not in meta:
            meta[name] = value
    pepmass = params.get("pepmass")
    if isinstance(pepmass, tuple | list) and pepmass and pepmass[0] is not None:
        meta["precursor_mz"] = float(pepmass[0])
        if len(pepmass) > 1 and pepmass[1] is not None:
            meta["precursor_intensity"] = float(pepmass[1])
    elif pepmass is not None:
        meta["precursor_mz"] = float(pepmass)
    for key in ("precursor_mz", "precursormz"):
        if "precursor_mz" not in meta and params.get(key) not in (None, ""):
            try:
                meta["precursor_mz"] = float(params[key])
            except (TypeError, ValueError):
                meta["precursor_mz_text"] = params[key]
    if "ionmode" in meta:
        meta["ionmode"] = normalise_ionmode(meta["ionmode"])
    if "title" not in meta and meta.get("name"):
        meta["title"] = meta["name"]
    charge = params.get("charge")
    if charge:
        meta["charge"] = int(charge[0]) if isinstance(charge, list | tuple) else charge
    meta["mgf_params"] = {k: (list(v) if isinstance(v, tuple | list) else v)
                          for k, v in params.items()}
    return meta


def read_mgf(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Yield the spectra of an MGF file, one per ``BEGIN IONS`` record, streaming.

    Parameters
    ----------
    path
        An ``.mgf`` file.
    modality
        Must be ``"ms"`` (or ``None``).

    Yields
    ------
    Spectrum
        Peak lists (``kind="peaks"``, m/z); metadata ``precursor_mz``, ``charge``,
        ``smiles``, ``inchikey``, ``name``/``title``, ``ionmode``, ``collision_energy``
        when the record has them, and ``record`` (1-based position).

    Raises
    ------
    SpectrumFileError
        Missing/empty/binary files, no records, a record without ``END IONS``
        (truncated), non-numeric peak lines, NaN values, records without peaks.
    """
    from pyteomics import mgf
    from pyteomics.auxiliary import PyteomicsError

    p = check_file(path)
    mod = resolve_modality("ms", modality, p)
    check_text_head(p)
    count = 0
    source = BoundedLines(p)
    try:
        reader = mgf.MGF(source, use_header=True, convert_arrays=1, read_charges=False,
                         read_ions=False)
    except SpectrumFileError:
        source.close()
        raise
    except (PyteomicsError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        source.close()
        msg = str(getattr(exc, "message", exc)).replace("\n", " ")
        raise SpectrumFileError(f"unreadable MGF header: {msg}", p) from None
    with source, reader:
        while True:
            try:
                entry = next(reader)
            except StopIteration:
                break
            except SpectrumFileError:
                raise
            except PyteomicsError as exc:
                msg = str(getattr(exc, "message", exc)).replace("\n", " ")
                raise SpectrumFileError(f"after record {count}: {msg}", p) from None
            except ValueError as exc:
                raise SpectrumFileError(f"record {count + 1}: {exc}", p) from None
            count += 1
            if entry is None:
                raise SpectrumFileError(
                    f"truncated file: record {count} has no END IONS", p)
            try:
                meta = {"format": "mgf", "record": count, **mgf_metadata(entry["params"])}
            except (TypeError, ValueError) as exc:
                raise SpectrumFileError(f"record {count}: bad parameter value ({exc})",
                                        p) from None
            where = f"record {count}" + (f" ({meta['title']!r})" if meta.get("title") else "")
            mz, intensity = entry["m/z array"], entry["intensity array"]
            if len(mz) == 0:
                raise SpectrumFileError(f"{where} has no peaks", p)
            yield build_spectrum(mz, intensity, mod, x_unit="m/z", y_unit="arbitrary",
                                 metadata=meta, source=p, kind="peaks", where=where)
    if count == 0:
        raise SpectrumFileError("no MGF record (BEGIN IONS ... END IONS) found", p)


def sniff_mgf(probe: Probe) -> bool:
    """A ``BEGIN IONS`` line."""
    return any(line.upper() == "BEGIN IONS" for line in probe.lines)


FORMAT = FormatSpec(
    "mgf", read_mgf, "MGF", "Mascot Generic Format mass spectra (peak lists)",
    extensions=(".mgf",), sniff=sniff_mgf, modalities=("ms",))
