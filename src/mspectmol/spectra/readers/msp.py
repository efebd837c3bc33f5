"""NIST MSP mass spectral libraries, read by a small streaming parser.

``matchms.importing.load_from_msp`` would also stream, but importing matchms takes about
15 s and its errors do not give line numbers; the format is simple enough to parse here.
A record is ``Key: value`` lines (``Name``, ``PrecursorMZ``, ``Precursor_type``,
``Ion_mode``, ``Collision_energy``, ``SMILES``, ``InChIKey``, ``Formula``, ``Comments`` ...)
followed by ``Num Peaks: N`` and N peaks, one per line (``mz intensity ["annotation"]``) or
several per line separated by ``;``. Records are separated by blank lines.

A ``Num Peaks`` above :data:`~mspectmol.spectra.readers.base.MAX_POINTS` and a record of more
than :data:`~mspectmol.spectra.readers.base.MAX_FIELDS` fields are refused where they are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.base import (
    MAX_FIELDS,
    MAX_POINTS,
    PathArg,
    build_spectrum,
    check_file,
    clip,
    iter_text_lines,
    normalise_ionmode,
    parse_float,
    resolve_modality,
)
from mspectmol.spectra.readers.spec import FormatSpec, Probe
from mspectmol.spectra.spectrum import Spectrum

_KEYS = {
    "name": "name", "compound_name": "name", "precursormz": "precursor_mz",
    "precursor_mz": "precursor_mz",
    "precursortype": "adduct", "precursor_type": "adduct", "adduct": "adduct",
    "ionmode": "ionmode", "ion_mode": "ionmode", "collisionenergy": "collision_energy",
    "collision_energy": "collision_energy", "smiles": "smiles", "inchi": "inchi",
    "inchikey": "inchikey", "formula": "formula", "charge": "charge", "mw": "molecular_weight",
    "exactmass": "exact_mass", "instrument_type": "instrument", "instrumenttype": "instrument",
    "spectrum_type": "ms_level", "db#": "db_id", "id": "db_id", "casno": "cas", "cas#": "cas",
}
_COMMENT_FIELDS = re.compile(r'"?(SMILES|InChI|InChIKey|formula)=([^"\s]+)"?', re.IGNORECASE)
_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')
_KEY_LINE = re.compile(r"^([A-Za-z][\w#/ .\-]*?)\s*:\s*(.*)$")


@dataclass
class _Record:
    number: int
    start: int
    fields: dict[str, str] = field(default_factory=dict)
    declared: int | None = None
    mz: list[float] = field(default_factory=list)
    intensity: list[float] = field(default_factory=list)

    @property
    def where(self) -> str:
        name = self.fields.get("name", "")
        return f"record {self.number}" + (f" ({clip(name)!r})" if name else "") + \
            f" at line {self.start}"


def _peaks(text: str, number: int, record: _Record, path: Path) -> None:
    """Add the peaks of one peak line to ``record``."""
    text = _QUOTED.sub(" ", text)
    segments = [s for s in text.split(";") if s.strip()] if ";" in text else [text]
    tokens = [re.split(r"[\s,:]+", s.strip()) for s in segments]
    if len(tokens) == 1 and len(tokens[0]) >= 4 and len(tokens[0]) % 2 == 0:
        flat = tokens[0]
        try:
            [float(t) for t in flat]
            tokens = [flat[i:i + 2] for i in range(0, len(flat), 2)]
        except ValueError:
            pass
    for pair in tokens:
        if len(pair) < 2:
            raise SpectrumFileError(f"line {number}: a peak needs m/z and intensity, got "
                                    f"{clip(' '.join(pair))!r}", path)
        record.mz.append(parse_float(pair[0], path, f"line {number}"))
        record.intensity.append(parse_float(pair[1], path, f"line {number}"))


def _metadata(record: _Record) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": "msp", "record": record.number}
    for key, value in record.fields.items():
        name = _KEYS.get(key)
        if name and value and name not in meta:
            meta[name] = value
    for match in _COMMENT_FIELDS.finditer(record.fields.get("comments", "")):
        meta.setdefault(match.group(1).lower(), match.group(2))
    for key in ("precursor_mz", "exact_mass", "molecular_weight"):
        if key in meta:
            try:
                meta[key] = float(str(meta[key]).replace(",", " ").split()[0])
            except (ValueError, IndexError):
                meta[f"{key}_text"] = meta.pop(key)
    if "ionmode" in meta:
        meta["ionmode"] = normalise_ionmode(meta["ionmode"])
    if meta.get("name"):
        meta["title"] = meta["name"]
    meta["msp_fields"] = dict(record.fields)
    return meta


def _finish(record: _Record, path: Path, mod: str, truncated: bool) -> Spectrum:
    if record.declared is None:
        raise SpectrumFileError(f"{record.where}: no 'Num Peaks:' line", path)
    if len(record.mz) != record.declared:
        reason = "truncated file: " if truncated else ""
        raise SpectrumFileError(f"{reason}{record.where} declares {record.declared} peaks but "
                                f"has {len(record.mz)}", path)
    if record.declared == 0:
        raise SpectrumFileError(f"{record.where} has no peaks", path)
    return build_spectrum(record.mz, record.intensity, mod, x_unit="m/z", y_unit="arbitrary",
                          metadata=_metadata(record), source=path, kind="peaks",
                          where=record.where)


def _num_peaks(text: str, number: int, path: Path) -> int:
    value = text.strip()
    try:
        if len(value) > 18:
            raise ValueError(value)
        count = int(value)
    except ValueError:
        raise SpectrumFileError(f"line {number}: 'Num Peaks: {value[:40]}' is not a number",
                                path) from None
    if count > MAX_POINTS:
        raise SpectrumFileError(f"line {number}: 'Num Peaks: {value}' is more than the "
                                f"{MAX_POINTS:,} peaks mspectmol reads in one spectrum", path)
    return count


def read_msp(path: PathArg, modality: str | None = None) -> Iterator[Spectrum]:
    """Yield the spectra of an MSP library file, one per record, streaming.

    Parameters
    ----------
    path
        An ``.msp`` file.
    modality
        Must be ``"ms"`` (or ``None``).

    Yields
    ------
    Spectrum
        Peak lists (``kind="peaks"``, m/z); metadata ``name``, ``precursor_mz``,
        ``adduct``, ``ionmode`` (``positive``/``negative``), ``collision_energy``,
        ``smiles``, ``inchikey``, ``formula`` when given (also from ``Comments``), and
        every field as written under ``msp_fields``.

    Raises
    ------
    SpectrumFileError
        Missing/empty/binary files, no records, a peak count different from
        ``Num Peaks`` (truncated files), non-numeric or NaN peaks, text that is neither a
        field nor a peak.
    """
    p = check_file(path)
    mod = resolve_modality("ms", modality, p)
    record: _Record | None = None
    count = 0
    for number, text in iter_text_lines(p):
        line = text.strip()
        if record is not None and record.declared is not None \
                and len(record.mz) < record.declared and line:
            if line[0].isalpha() and _KEY_LINE.match(line):
                _finish(record, p, mod, truncated=False)  # raises: too few peaks
            _peaks(line, number, record, p)
            continue
        if not line or line.startswith("#"):
            if record is not None and record.declared is not None:
                yield _finish(record, p, mod, truncated=False)
                record = None
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            where = f"in {record.where}" if record else "outside a record"
            raise SpectrumFileError(f"line {number}: {clip(line)!r} {where} is neither a "
                                    "'Key: value' field nor an expected peak", p)
        key = match.group(1).strip().lower().replace(" ", "_")
        if record is not None and record.declared is not None:
            yield _finish(record, p, mod, truncated=False)
            record = None
        if record is None:
            count += 1
            record = _Record(count, number)
        if key == "num_peaks":
            record.declared = _num_peaks(match.group(2), number, p)
        else:
            record.fields.setdefault(key, match.group(2).strip())
            if len(record.fields) > MAX_FIELDS:
                raise SpectrumFileError(f"line {number}: {record.where} has more than "
                                        f"{MAX_FIELDS:,} fields; not an MSP record", p)
    if record is not None:
        yield _finish(record, p, mod, truncated=True)
    if count == 0:
        raise SpectrumFileError("no MSP record ('Name:' ... 'Num Peaks:') found", p)


def sniff_msp(probe: Probe) -> bool:
    """A first line ``Name:`` or a ``Num Peaks:`` line."""
    return (re.match(r"^name\s*:", probe.first_line, re.IGNORECASE) is not None
            or any(re.match(r"^num\s*peaks\s*:", line, re.IGNORECASE) for line in probe.lines))


FORMAT = FormatSpec(
    "msp", read_msp, "MSP", "NIST MSP mass spectral libraries (peak lists)",
    extensions=(".msp",), sniff=sniff_msp, modalities=("ms",))
