"""Which spectrum files belong to which sample: one sample, a manifest CSV or a folder.

* A **manifest** is a CSV file with a ``sample`` column, one column per modality (``ir``,
  ``raman``, ``uv``, ``h_nmr``, ``c_nmr``, ``ms`` or an alias such as ``1h``) holding file
  paths (relative paths are relative to the manifest's folder; an empty cell is a missing
  spectrum) and optional ``smiles`` and ``solvent`` columns, and ``<modality>_x_unit`` /
  ``<modality>_y_unit`` columns declaring a file's units (``ir_y_unit`` = ``%T``: the same as
  ``--y-unit ir=%T`` for that sample). Commas, semicolons or tabs separate the cells.
* A **folder** holds files named ``<sample>_<modality>.<ext>`` (``aspirin_ir.jdx``,
  ``aspirin_h_nmr.jdx``); other files are ignored.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mspectmol.errors import MspectmolError, UnknownModalityError
from mspectmol.spectra.modalities import get_modality

log = logging.getLogger("mspectmol.predict")

#: Manifest columns that are not modalities.
EXTRA_COLUMNS = ("sample", "smiles", "solvent")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class SampleSpec:
    """One sample: its spectrum files by modality, and optionally SMILES and NMR solvent."""

    name: str
    files: dict[str, Path] = field(default_factory=dict)
    smiles: str | None = None
    solvent: str | None = None
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{"x" or "y": {modality: unit}}`` declared for this sample's files."""


_UNIT_COLUMN = re.compile(r"^(?P<mod>.+)_(?P<axis>[xy])_unit$", re.IGNORECASE)


def safe_name(name: str) -> str:
    """A file-name-safe version of a sample name (other characters become ``_``)."""
    cleaned = _UNSAFE.sub("_", name).strip("._")
    return cleaned or "sample"


def modality_of(name: str) -> str | None:
    """The registry name of a modality column or file-name suffix, or None."""
    try:
        return get_modality(name.strip()).name
    except UnknownModalityError:
        return None


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _columns(header: list[str], path: Path) -> dict[str, str]:
    """``{column: modality or extra name}``; unknown columns raise."""
    out: dict[str, str] = {}
    unknown = []
    for col in header:
        key = col.strip()
        unit = _UNIT_COLUMN.match(key)
        if unit and modality_of(unit["mod"]) is not None:
            out[col] = f"{modality_of(unit['mod'])}_{unit['axis'].lower()}_unit"
            continue
        name = key.lower() if key.lower() in EXTRA_COLUMNS else modality_of(key)
        if name is None:
            unknown.append(key)
        elif name in out.values():
            raise MspectmolError(f"{path}: two columns for {name!r}")
        else:
            out[col] = name
    if unknown:
        raise MspectmolError(f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; a "
                             f"manifest has {', '.join(EXTRA_COLUMNS)} and modality columns "
                             "(ir, raman, uv, h_nmr, c_nmr, ms)")
    if "sample" not in out.values():
        raise MspectmolError(f"{path}: no 'sample' column (header: {', '.join(header)})")
    if not any(v not in EXTRA_COLUMNS and not v.endswith("_unit") for v in out.values()):
        raise MspectmolError(f"{path}: no modality column (ir, raman, uv, h_nmr, c_nmr, ms)")
    return out


def read_manifest(path: str | os.PathLike[str]) -> list[SampleSpec]:
    """The samples of a manifest CSV (see the module docstring).

    Raises
    ------
    MspectmolError
        Naming the manifest (and line): missing or unreadable file, no ``sample`` column,
        unknown columns, a row of the wrong length, an empty or repeated sample name, a
        sample without any file.
    """
    p = Path(path)
    if not p.is_file():
        raise MspectmolError(f"{p}: manifest not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MspectmolError(f"{p}: cannot read the manifest ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise MspectmolError(f"{p}: the manifest is empty")
    rows = list(csv.reader(lines, delimiter=_delimiter(lines[0])))
    columns = _columns(rows[0], p)
    samples: list[SampleSpec] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise MspectmolError(f"{p}, line {number}: {len(row)} cells, the header has "
                                 f"{len(rows[0])}")
        cells = {columns[c]: v.strip() for c, v in zip(rows[0], row, strict=True)}
        name = cells["sample"]
        if not name:
            raise MspectmolError(f"{p}, line {number}: empty sample name")
        if name in seen:
            raise MspectmolError(f"{p}, line {number}: sample {name!r} appears twice")
        seen.add(name)
        files = {m: (p.parent / v if not Path(v).is_absolute() else Path(v))
                 for m, v in cells.items()
                 if m not in EXTRA_COLUMNS and not m.endswith("_unit") and v}
        if not files:
            raise MspectmolError(f"{p}, line {number}: sample {name!r} has no spectrum file")
        units: dict[str, dict[str, str]] = {}
        for key, value in cells.items():
            if key.endswith("_unit") and value:
                mod, axis = key[:-len("_x_unit")], key[-len("x_unit")]
                units.setdefault(axis, {})[mod] = value
        samples.append(SampleSpec(name, files, cells.get("smiles") or None,
                                  cells.get("solvent") or None, units))
    if not samples:
        raise MspectmolError(f"{p}: the manifest lists no samples")
    return samples


def split_file_name(path: Path) -> tuple[str, str] | None:
    """``(sample, modality)`` of a ``<sample>_<modality>.<ext>`` file, or None."""
    stem = path.stem
    for n_parts in (2, 1):  # "h_nmr" before "nmr"
        parts = stem.rsplit("_", n_parts)
        if len(parts) == n_parts + 1 and parts[0]:
            modality = modality_of("_".join(parts[1:]))
            if modality is not None:
                return parts[0], modality
    return None


def scan_folder(folder: str | os.PathLike[str]) -> list[SampleSpec]:
    """The samples of a folder of ``<sample>_<modality>.<ext>`` files, sorted by name.

    Raises
    ------
    MspectmolError
        Naming the folder: missing, no file matching the pattern, or two files for the same
        sample and modality.
    """
    root = Path(folder)
    if not root.is_dir():
        raise MspectmolError(f"{root}: folder not found")
    samples: dict[str, SampleSpec] = {}
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        parsed = split_file_name(path)
        if parsed is None:
            log.debug("ignoring %s: not named <sample>_<modality>.<ext>", path)
            continue
        name, modality = parsed
        sample = samples.setdefault(name, SampleSpec(name))
        if modality in sample.files:
            raise MspectmolError(f"{root}: two {modality} files for sample {name!r}: "
                                 f"{sample.files[modality].name} and {path.name}")
        sample.files[modality] = path
    if not samples:
        raise MspectmolError(f"{root}: no spectrum files named <sample>_<modality>.<ext> "
                             "(e.g. aspirin_ir.jdx, aspirin_h_nmr.jdx)")
    return [samples[k] for k in sorted(samples)]
