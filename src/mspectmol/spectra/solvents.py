"""NMR solvent, water and reference (TMS) signals: the table, name lookup and removal.

When the solvent is given (``--solvent``) or named by the file (JCAMP-DX
``##.SOLVENT NAME``, a CSV comment ``# solvent: ...``), the residual solvent signals, the
water peak of that solvent (1H) and the TMS reference (0.00 ppm, the zero of both scales by
definition) are removed by zeroing a window of ``+-half_width`` ppm around each (default
0.05 ppm for 1H, 1.0 ppm for 13C, wide enough for the 13C multiplets: the CDCl3 triplet spans
+-0.32 ppm and the DMSO-d6 septet +-0.63 ppm at 100 MHz). Positions are those of Fulmer et al.
2010, "NMR Chemical Shifts of Trace Impurities: Common Laboratory Solvents, Organics, and
Gases in Deuterated Solvents Relevant to the Organometallic Chemist", Organometallics 29, 2176
(Tables 1 and 2). A sample signal that falls inside a window is removed with the solvent's:
e.g. a ketone C=O near 206 ppm measured in acetone-d6. :func:`solvent_lines_present` finds
solvent signals in a spectrum whose solvent was not given, so that a warning can say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import to_canonical

#: Residual solvent and water peaks (ppm) by solvent and nucleus; Fulmer et al. 2010,
#: Organometallics 29, 2176, Tables 1 (1H) and 2 (13C).
SOLVENT_PEAKS: dict[str, dict[str, tuple[tuple[str, float], ...]]] = {
    "CDCl3": {"h_nmr": (("CHCl3", 7.26), ("water", 1.56)), "c_nmr": (("CDCl3", 77.16),)},
    "DMSO-d6": {"h_nmr": (("DMSO-d5", 2.50), ("water", 3.33)),
                "c_nmr": (("DMSO-d6", 39.52),)},
    "acetone-d6": {"h_nmr": (("acetone-d5", 2.05), ("water", 2.84)),
                   "c_nmr": (("acetone-d6 CD3", 29.84), ("acetone-d6 C=O", 206.26))},
    "C6D6": {"h_nmr": (("C6D5H", 7.16), ("water", 0.40)), "c_nmr": (("C6D6", 128.06),)},
    "CD3CN": {"h_nmr": (("CD2HCN", 1.94), ("water", 2.13)),
              "c_nmr": (("CD3CN CD3", 1.32), ("CD3CN CN", 118.26))},
    "CD3OD": {"h_nmr": (("CD2HOD", 3.31), ("water", 4.87)), "c_nmr": (("CD3OD", 49.00),)},
    "D2O": {"h_nmr": (("HDO", 4.79),), "c_nmr": ()},
}
#: The chemical-shift reference, 0.00 ppm on both scales (TMS; DSS in D2O).
REFERENCE_PEAKS: dict[str, tuple[tuple[str, float], ...]] = {
    "h_nmr": (("TMS", 0.0),), "c_nmr": (("TMS", 0.0),)}
#: Other spellings of the solvents (compared lower-case without spaces, dashes, brackets).
_ALIASES = {
    "cdcl3": "CDCl3", "chloroformd": "CDCl3", "chloroformd1": "CDCl3", "chloroform": "CDCl3",
    "deuterochloroform": "CDCl3",
    "dmsod6": "DMSO-d6", "dmso": "DMSO-d6", "cd32so": "DMSO-d6", "dimethylsulfoxided6": "DMSO-d6",
    "dimethylsulfoxide": "DMSO-d6", "dmsod": "DMSO-d6",
    "acetoned6": "acetone-d6", "acetone": "acetone-d6", "cd32co": "acetone-d6",
    "c6d6": "C6D6", "benzened6": "C6D6", "benzene": "C6D6",
    "cd3cn": "CD3CN", "acetonitriled3": "CD3CN", "acetonitrile": "CD3CN",
    "cd3od": "CD3OD", "methanold4": "CD3OD", "methanol": "CD3OD",
    "d2o": "D2O", "deuteriumoxide": "D2O",
}
#: Words meaning "no solvent removal" for ``--solvent``.
NO_SOLVENT = ("none", "off")
#: Default half-width (ppm) of the window zeroed around each solvent/reference peak.
SOLVENT_HALF_WIDTH = {"h_nmr": 0.05, "c_nmr": 1.0}
def find_solvent(name: str) -> str | None:
    """The table name of a solvent spelled ``name`` (``"chloroform-d"`` -> ``"CDCl3"``),
    or None when it is not in :data:`SOLVENT_PEAKS`."""
    key = re.sub(r"[\s\-_()\[\],.]+", "", str(name)).lower()
    return _ALIASES.get(key)


def canonical_solvent(name: str) -> str | None:
    """Like :func:`find_solvent` for a user's choice: ``"none"``/``"off"`` give None.

    Raises
    ------
    MspectmolError
        For a solvent that is not in the table (the message lists the known ones).
    """
    if str(name).strip().lower() in NO_SOLVENT:
        return None
    found = find_solvent(name)
    if found is None:
        raise MspectmolError(f"unknown NMR solvent {name!r}; known: "
                             f"{', '.join(SOLVENT_PEAKS)} (or 'none')")
    return found


def solvent_peaks(solvent: str, modality: str, reference: bool = True
                  ) -> tuple[tuple[str, float], ...]:
    """``((name, ppm), ...)`` to remove from a ``modality`` spectrum measured in ``solvent``."""
    peaks = SOLVENT_PEAKS[solvent].get(modality, ())
    return peaks + (REFERENCE_PEAKS.get(modality, ()) if reference else ())


def zero_windows(x: np.ndarray, y: np.ndarray, centres: np.ndarray | list[float],
                 half_width: float) -> tuple[np.ndarray, int]:
    """``y`` with every point within ``half_width`` of a centre set to 0, and their count."""
    if not half_width >= 0:
        raise MspectmolError(f"the solvent window half-width must be >= 0, got {half_width}")
    xs = np.asarray(x, dtype=np.float64)
    inside = np.zeros(xs.shape, dtype=bool)
    for c in centres:  # a relative 1e-9 keeps points exactly at the edge despite rounding
        inside |= np.abs(xs - float(c)) <= half_width * (1 + 1e-9)
    out = np.array(y, dtype=np.float64)
    out[inside] = 0.0
    return out, int(inside.sum())


def detect_solvent(spectrum: Spectrum, given: str | None) -> tuple[str | None, str]:
    """The solvent to remove (``given`` by the user, else named by the file) and a note on
    where it came from."""
    if given is not None:
        chosen = canonical_solvent(given)
        return chosen, ("solvent: none (as requested)" if chosen is None
                        else f"solvent: {chosen} (given)")
    named = spectrum.metadata.get("solvent")
    if not named:
        return None, "solvent: not given and not named in the file; no solvent peaks removed"
    found = find_solvent(str(named))
    if found is None:
        return None, (f"solvent: {named!r} named in the file is not in the table "
                      f"({', '.join(SOLVENT_PEAKS)}); no solvent peaks removed")
    return found, f"solvent: {found} (from the file metadata, {named!r})"


def remove_solvent_peaks(spectrum: Spectrum, solvent: str, *, half_width: float | None = None,
                         reference: bool = True) -> Spectrum:
    """Zero the solvent, water and (optionally) TMS windows of a canonical NMR spectrum.

    The spectrum is made canonical (ppm, ascending) first; the step is logged with the
    peaks and the number of points zeroed.
    """
    mod = spectrum.modality
    if mod not in SOLVENT_HALF_WIDTH:
        raise MspectmolError(f"solvent peaks are removed from 1H and 13C NMR spectra, not "
                             f"{mod}")
    width = SOLVENT_HALF_WIDTH[mod] if half_width is None else float(half_width)
    peaks = solvent_peaks(solvent, mod, reference)
    canon = to_canonical(spectrum)
    y, n = zero_windows(canon.x, canon.y, [ppm for _, ppm in peaks], width)
    listed = ", ".join(f"{name} {ppm:.2f}" for name, ppm in peaks) or "none"
    return canon.with_data(canon.x, y).log_step(
        f"solvent peaks removed ({solvent}; {listed} ppm; +-{width:g} ppm; {n} points zeroed; "
        "Fulmer et al. 2010)")


#: Solvents whose residual lines :func:`solvent_lines_present` looks for (the most used;
#: water and rarer solvents' lines overlap too many sample lines to be worth a warning).
COMMON_SOLVENTS = ("CDCl3", "DMSO-d6")


@dataclass(frozen=True)
class SolventLine:
    """A solvent or reference signal seen in a spectrum whose solvent was not given."""

    solvent: str
    name: str
    ppm: float


def solvent_lines_present(x: np.ndarray, y: np.ndarray, modality: str, *,
                          rel_height: float = 0.02) -> list[SolventLine]:
    """Known solvent and TMS signals that stand out in a canonical ``(x, y)`` NMR spectrum.

    A signal counts when the spectrum has a local maximum within the solvent window
    (:data:`SOLVENT_HALF_WIDTH`, a tenth of it for 13C) of a table position, at least
    ``rel_height`` of the spectrum's maximum; only the :data:`COMMON_SOLVENTS` and TMS are
    looked for. Used to warn, never to remove: a sample line can sit at a solvent position.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if modality not in SOLVENT_HALF_WIDTH or xs.size < 3:
        return []
    top = float(ys.max())
    if not top > 0:
        return []
    half = SOLVENT_HALF_WIDTH[modality] * (0.1 if modality == "c_nmr" else 1.0)
    found: list[SolventLine] = []
    seen: set[float] = set()
    lines = [(s, n, p) for s, table in SOLVENT_PEAKS.items() if s in COMMON_SOLVENTS
             for n, p in table.get(modality, ()) if n != "water"]
    lines += [("reference", n, p) for n, p in REFERENCE_PEAKS.get(modality, ())]
    for solvent, name, ppm in lines:
        near = np.abs(xs - ppm) <= half
        if not near.any() or ppm in seen:
            continue
        k = int(np.flatnonzero(near)[np.argmax(ys[near])])
        if 0 < k < xs.size - 1 and ys[k] >= ys[k - 1] and ys[k] >= ys[k + 1] \
                and ys[k] >= rel_height * top:
            seen.add(ppm)
            found.append(SolventLine(solvent, name, ppm))
    return found
