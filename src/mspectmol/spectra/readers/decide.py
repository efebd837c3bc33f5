"""Decisions a reader makes from the values when a file does not say: stated, never silent.

* :func:`guess_intensity_unit`: absorbance or transmittance for an IR/UV column without a
  unit. A transmittance spectrum has its baseline near the top and lines that dip; an
  absorbance spectrum has its baseline near the bottom and lines that rise. Where the
  median sits tells them apart; an undecidable column is refused with the reason.
* :func:`peak_list_reason`: a short table with gaps (irregular spacing, few rows for the
  range) is a peak list, not a sampled spectrum.
* :func:`modality_from_values`: a cm-1 axis with absorbance-like intensities is IR.

Each returns the reason as a sentence, which the reader stores in
``metadata["guesses"]`` so that every output shows it (and says the flag that overrides it).
"""

from __future__ import annotations

import numpy as np

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.base import PathArg

#: Largest ratio of the median's distance to one end over its distance to the other for
#: the baseline to count as sitting at that end.
SKEW = 0.5
#: Largest shift (ppm) of a 1H spectrum; a ppm axis beyond it is 13C.
H_NMR_LIMIT = 20.0
#: Most rows a peak list may have.
MAX_PEAK_ROWS = 2000
#: Most rows of a table whose irregular spacing alone makes it a peak list (a sampled
#: spectrum with a cut-out region has irregular spacing too, but many rows).
MAX_IRREGULAR_ROWS = 300
#: Intensity units that only an absorption spectrum has.
ABSORPTION_UNITS = frozenset({"absorbance", "transmittance", "%T", "reflectance", "%R",
                              "absorptivity", "km/mol", "kubelka_munk"})
#: Smallest median spacing (canonical unit) of a peak list, per modality: sampled spectra
#: are denser than this.
PEAK_SPACING = {"ir": 20.0, "raman": 20.0, "h_nmr": 0.05, "c_nmr": 1.0}


def guess_intensity_unit(y: np.ndarray, source: PathArg) -> tuple[str, str]:
    """Absorbance, %T or transmittance (0-1) for an absorption column without a unit.

    Lines rise from the baseline in absorbance and dip from it in transmittance, so the
    median (the baseline, lines being narrow) sits near the bottom or near the top of the
    values: absorbance when ``median - min`` is at most :data:`SKEW` of ``max - median``,
    transmittance when the reverse holds (0-1 or %T by the largest value).

    Returns
    -------
    unit, reason
        The unit and the sentence that says how it was decided.

    Raises
    ------
    SpectrumFileError
        When the values fit neither (the median mid-range, or dips from a baseline above
        110).
    """
    v = np.asarray(y, dtype=np.float64)
    lo, hi, med = float(v.min()), float(v.max()), float(np.median(v))
    up, down = hi - med, med - lo
    flag = "; pass --y-unit to override"
    if down <= SKEW * up:
        return "absorbance", (f"intensity unit not given: read as absorbance (baseline near "
                              f"the bottom at {med:.3g}, lines rise to {hi:.3g}){flag}")
    if up <= SKEW * down and lo >= -10.0:
        if hi <= 1.2:
            return "transmittance", ("intensity unit not given: read as transmittance 0-1 "
                                     f"(baseline near the top at {med:.3g}, lines dip to "
                                     f"{lo:.3g}){flag}")
        if hi <= 110.0:
            return "%T", (f"intensity unit not given: read as %T (baseline near the top at "
                          f"{med:.3g}, lines dip to {lo:.3g}){flag}")
    raise SpectrumFileError(
        f"cannot tell absorbance from transmittance: the values run {lo:.3g}..{hi:.3g} with "
        f"a median of {med:.3g}; pass --y-unit absorbance, --y-unit %T or --y-unit "
        "transmittance", source)


def peak_list_reason(x: np.ndarray, modality: str) -> str | None:
    """Why the sorted axis ``x`` of a ``modality`` table reads as a peak list, or None."""
    xs = np.sort(np.asarray(x, dtype=np.float64))
    if modality not in PEAK_SPACING or xs.size > MAX_PEAK_ROWS or xs.size < 1:
        return None
    if xs.size == 1:
        return "a single row: read as a peak list (pass --profile to read it as a spectrum)"
    gaps = np.diff(xs)
    median = float(np.median(gaps))
    irregular = (xs.size <= MAX_IRREGULAR_ROWS
                 and float(gaps.max()) > 10.0 * max(median, 1e-12))
    sparse = median >= PEAK_SPACING[modality]
    if not (irregular or sparse):
        return None
    why = "irregular spacing" if irregular else f"median spacing {median:.3g}"
    return (f"{xs.size} rows with {why}: read as a peak list and rendered with the training "
            "line shape (pass --profile to read it as a sampled spectrum)")


def modality_from_values(candidates: tuple[str, ...], y_unit: str | None,
                         x: np.ndarray) -> tuple[str | None, str | None]:
    """The modality among ``candidates`` (those of the x unit) that the values imply.

    A cm-1 axis with an absorption unit (absorbance, %T, absorptivity, ...) is IR unless the
    axis lies beyond 8000 cm-1 (UV-Vis); a ppm axis is 13C when it reaches beyond
    :data:`H_NMR_LIMIT`, else 1H. Returns ``(modality, reason)`` or ``(None, None)``.
    """
    if "h_nmr" in candidates and "c_nmr" in candidates and np.asarray(x).size:
        top = float(np.max(np.abs(np.asarray(x, dtype=np.float64))))
        if top > H_NMR_LIMIT:
            return "c_nmr", f"a ppm axis reaching {top:.3g} ppm: read as 13C NMR"
        return "h_nmr", f"a ppm axis within {H_NMR_LIMIT:g} ppm: read as 1H NMR"
    if "ir" in candidates and y_unit in ABSORPTION_UNITS:
        xs = np.asarray(x, dtype=np.float64)
        if "uv" in candidates and xs.size and float(np.median(xs)) > 8000.0:
            return "uv", f"a cm-1 axis beyond 8000 cm-1 with {y_unit}: read as UV-Vis"
        return "ir", f"a cm-1 axis with {y_unit}: read as IR"
    return None, None
