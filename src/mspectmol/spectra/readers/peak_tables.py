"""1H NMR peak tables as NMR software exports them: shift, protons, multiplicity, J.

A delimited file whose header names a multiplicity, proton-count or coupling column
(MestReNova's ``Shift``/``H's``/``Class``/``J's``, TopSpin and ACD exports, or simply
``ppm,nH,multiplicity,J (Hz)``) is a table of multiplets, not a sampled spectrum.
:func:`peak_table_columns` recognises the layout; :func:`read_peak_table` expands each row
into its first-order lines (:func:`mspectmol.spectra.multiplets.expand_multiplet`) at the
spectrometer frequency given by a ``# observe_mhz:`` comment (else 400 MHz, said out loud),
giving a peak-list :class:`~mspectmol.spectra.spectrum.Spectrum` whose intensities carry the
proton counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumError, SpectrumFileError
from mspectmol.spectra.multiplets import DEFAULT_MHZ, expand_multiplet
from mspectmol.spectra.readers.base import build_spectrum, parse_float
from mspectmol.spectra.spectrum import PEAKS, Spectrum

_ROLES = {
    "shift": ("shift", "shift (ppm)", "ppm", "δ", "delta", "delta (ppm)", "δ (ppm)",
              "centroid", "chemical shift", "chemical shift (ppm)", "position"),
    "n_h": ("nh", "h", "h's", "hs", "n h", "#h", "protons", "number of protons", "nuclides",
            "integral", "integration"),
    "multiplicity": ("multiplicity", "mult", "mult.", "class", "category", "type"),
    "j": ("j", "j (hz)", "j's", "js", "j_values", "j values", "coupling", "couplings",
          "coupling constants", "j's (hz)", "coupling (hz)"),
    "range": ("range", "range (ppm)"),
}


def _key(cell: str) -> str:
    return re.sub(r"\s+", " ", cell.strip().lower())


def peak_table_columns(header: Iterable[str]) -> dict[str, int] | None:
    """``{role: column}`` when ``header`` is a 1H peak table's (a shift column and a
    multiplicity or coupling column), else None."""
    roles: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = _key(cell)
        for role, names in _ROLES.items():
            if key in names and role not in roles:
                roles[role] = i
                break
    if "shift" in roles and {"multiplicity", "j"} & roles.keys():
        return roles
    return None


def _range(text: str, path: Path, where: str) -> tuple[float, float] | None:
    nums = re.findall(r"[-+]?\d+(?:[.,]\d+)?", text or "")
    if len(nums) < 2:
        return None
    a, b = (parse_float(n.replace(",", "."), path, where) for n in nums[:2])
    return (min(a, b), max(a, b))


def read_peak_table(rows: list[tuple[int, list[str]]], roles: dict[str, int],
                    meta: dict[str, Any], path: Path) -> Spectrum:
    """The first-order lines of every row, as a 1H peak-list spectrum.

    Raises
    ------
    SpectrumFileError
        A non-numeric shift or proton count (with the line), or an empty table.
    """
    mhz = DEFAULT_MHZ
    for key in ("observe_mhz", "observe_frequency", "spectrometer_frequency"):
        if meta.get(key):
            mhz = parse_float(str(meta[key]), path, f"comment {key}")
            break
    guesses = list(meta.get("guesses", []))
    if not any(meta.get(k) for k in ("observe_mhz", "observe_frequency",
                                     "spectrometer_frequency")) and "j" in roles:
        guesses.append(f"spectrometer frequency not given: multiplets split at {mhz:g} MHz "
                       "(add a '# observe_mhz: 600' comment to change it)")
    positions, heights = [], []
    for number, cells in rows:
        def cell(role: str, cells: list[str] = cells) -> str:
            i = roles.get(role)
            return cells[i] if i is not None and i < len(cells) else ""
        where = f"line {number}"
        centre = parse_float(cell("shift").replace(",", "."), path, f"{where}, shift")
        n_h = parse_float(cell("n_h").replace(",", ".") or "1", path, f"{where}, protons")
        try:
            pos, amp = expand_multiplet(centre, n_h, cell("multiplicity") or "s", cell("j"),
                                        mhz=mhz, range_ppm=_range(cell("range"), path, where))
        except SpectrumError as exc:
            raise SpectrumFileError(f"{where}: {exc.problem}", path) from None
        positions.append(pos)
        heights.append(amp)
    if not positions:
        raise SpectrumFileError("the peak table has no rows", path)
    x = np.concatenate(positions)
    y = np.concatenate(heights)
    order = np.argsort(x, kind="stable")
    out_meta = {**meta, "format": "delimited", "layout": "1H peak table",
                "multiplets": len(rows), "observe_mhz": mhz, "guesses": guesses}
    for key in ("modality", "x_unit", "y_unit"):
        out_meta.pop(key, None)
    return build_spectrum(x[order], y[order], "h_nmr", x_unit="ppm", y_unit="relative",
                          metadata=out_meta, source=path, kind=PEAKS, where="peak table")
