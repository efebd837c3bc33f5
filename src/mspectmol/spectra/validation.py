"""Checks that a spectrum is a spectrum: refuse nonsense, warn about the unfamiliar.

Every caller that brings a spectrum to a model grid (``convert``, ``predict``, ``explain``,
``serve``, ``elucidate``, ``conformers`` and the Python API) runs the same checks through
:func:`mspectmol.spectra.pipeline.prepare`:

* :func:`check_values` on the spectrum as read: impossible transmittance (%T far outside
  0-100), conflicting duplicate x values, an NMR axis that looks like Hz while read as ppm;
* :func:`check_features` on the canonical spectrum: flat, all-negative, a single-point spike,
  absorbance far below zero;
* :func:`range_warnings` after resampling: intensity outside the grid, partial coverage.

A refusal raises :class:`~mspectmol.errors.SpectrumError` naming the file (one line, exit
status 2 in the CLI); a warning is a sentence the caller shows in every output.
"""

from __future__ import annotations

import numpy as np

from mspectmol.errors import SpectrumError
from mspectmol.spectra.preprocessing import coverage_fraction
from mspectmol.spectra.spectrum import Spectrum

#: %T (or %R) values accepted: 0-100 with this tolerance for noise and baseline offsets.
PERCENT_TOLERANCE = 10.0
#: Transmittance (0-1) tolerance, likewise.
FRACTION_TOLERANCE = 0.1
#: Largest ppm an NMR axis may reach before it looks like Hz (per modality).
NMR_PPM_LIMIT = {"h_nmr": 30.0, "c_nmr": 400.0}
#: Duplicated x values whose intensities differ by more than this fraction of the spectrum's
#: range conflict.
DUPLICATE_CONFLICT = 0.05
#: A spectrum is flat when its range is below this fraction of its largest magnitude.
FLAT_FRACTION = 1e-6
#: Coverage of the grid below which a warning is given.
WARN_COVERAGE = 0.9
#: Share of the intensity outside the grid above which a warning is given.
WARN_OUTSIDE = 0.02
#: Where a modality's lines lie within its grid (canonical unit); the coverage warning
#: looks at this range (a 13C spectrum measured over 0-220 ppm misses no line).
SIGNAL_RANGE = {"h_nmr": (0.0, 10.0), "c_nmr": (0.0, 220.0)}
#: What lies outside each grid, for the warning.
OUTSIDE_HINTS = {
    "h_nmr": "above 10 ppm: carboxylic acids, aldehydes, H-bonded OH/NH",
}


def _where(spectrum: Spectrum) -> str | None:
    return spectrum.source


def check_values(spectrum: Spectrum) -> list[str]:
    """Checks on the values as read (before unit conversion); returns warnings.

    Raises
    ------
    SpectrumError
        %T/transmittance values far outside their range; conflicting duplicate x values in
        most of the spectrum; an NMR axis read as ppm whose values look like Hz.
    """
    src = _where(spectrum)
    warnings: list[str] = []
    y = np.asarray(spectrum.y, dtype=np.float64)
    x = np.asarray(spectrum.x, dtype=np.float64)
    unit = spectrum.y_unit or ""
    if unit in ("%T", "%R") and y.size:
        lo, hi = float(y.min()), float(y.max())
        if lo < -PERCENT_TOLERANCE or hi > 100 + PERCENT_TOLERANCE:
            raise SpectrumError(f"{unit} values run from {lo:g} to {hi:g}, far outside 0-100: "
                                "not a transmittance spectrum (declare the real unit with "
                                "--y-unit)", src)
    if unit in ("transmittance", "reflectance") and y.size:
        lo, hi = float(y.min()), float(y.max())
        if lo < -FRACTION_TOLERANCE or hi > 1 + FRACTION_TOLERANCE:
            hint = " (values look like %T: pass --y-unit %T)" if 1.5 < hi <= 110 and lo > -10 \
                else " (declare the real unit with --y-unit)"
            raise SpectrumError(f"{unit} values run from {lo:g} to {hi:g}, outside 0-1{hint}",
                                src)
    if spectrum.modality in NMR_PPM_LIMIT and spectrum.x_unit == "ppm" and x.size:
        limit = NMR_PPM_LIMIT[spectrum.modality]
        if float(np.abs(x).max()) > limit:
            raise SpectrumError(f"the {spectrum.modality} axis reaches {float(np.abs(x).max()):g}"
                                f" ppm, beyond {limit:g} ppm: it looks like Hz (pass --x-unit Hz "
                                "and --observe-mhz MHZ) or the wrong modality", src)
    if not spectrum.is_peaks and x.size > 2:
        warnings += _duplicates(x, y, src)
    return warnings


def _duplicates(x: np.ndarray, y: np.ndarray, src: str | None) -> list[str]:
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    same = np.flatnonzero(np.diff(xs) == 0)
    if same.size == 0:
        return []
    span = float(ys.max() - ys.min()) or 1.0
    conflict = np.abs(ys[same + 1] - ys[same]) > DUPLICATE_CONFLICT * span
    n_conflict = int(conflict.sum())
    if n_conflict > 0.1 * np.unique(xs).size:
        raise SpectrumError(f"{n_conflict} x values appear twice with different intensities: "
                            "two spectra in one file? (save them as separate files or "
                            "columns)", src)
    if n_conflict:
        return [f"{n_conflict} duplicated x values with different intensities were averaged"]
    return []


def check_features(canon: Spectrum) -> list[str]:
    """Checks on the canonical spectrum (ascending x, absorbance-like y); returns warnings.

    Raises
    ------
    SpectrumError
        A flat spectrum, one without any positive intensity, or a profile whose only signal
        is a single point.
    """
    src = _where(canon)
    y = np.asarray(canon.y, dtype=np.float64)
    top = float(np.abs(y).max()) if y.size else 0.0
    if canon.is_peaks:
        if not y.size or float(y.max()) <= 0:
            raise SpectrumError("the peak list has no line of positive intensity", src)
        return []
    if y.size == 0 or top == 0.0 or float(y.max() - y.min()) <= FLAT_FRACTION * top:
        raise SpectrumError("the spectrum is flat (all intensities equal): no lines to read "
                            "(an empty channel, or a YFACTOR of 0?)", src)
    hi = float(y.max())
    if hi <= 0:
        raise SpectrumError("no intensity is positive: not an absorbance or intensity spectrum "
                            "(inverted, or transmittance read as absorbance? declare the unit "
                            "with --y-unit)", src)
    warnings: list[str] = []
    base = float(np.median(y))
    signal = y - base
    strong = np.flatnonzero(signal > 0.05 * float(signal.max()))
    if y.size >= 20 and strong.size == 1:
        raise SpectrumError(f"the only signal is a single point at {canon.x[strong[0]]:g} "
                            f"{canon.x_unit}: a spike, not a spectral line", src)
    lo = float(y.min())
    if lo < -0.5 * hi:
        raise SpectrumError(f"intensities reach {lo:g} against a maximum of {hi:g}: far below "
                            "zero for an absorbance or intensity spectrum (declare the unit with "
                            "--y-unit, or correct the baseline)", src)
    if lo < -0.1 * hi:
        warnings.append(f"intensities reach {lo / hi:.0%} of the maximum below zero (a baseline "
                        "offset?); negative values are set to 0 after baseline correction")
    return warnings


def outside_share(canon: Spectrum, low: float, high: float) -> float:
    """Share of the spectrum's positive intensity (area, or peak heights for a peak list)
    that lies outside ``[low, high]``."""
    x = np.asarray(canon.x, dtype=np.float64)
    y = np.clip(np.asarray(canon.y, dtype=np.float64), 0.0, None)
    if canon.is_peaks or x.size < 2:
        total = float(y.sum())
        out = float(y[(x < low) | (x > high)].sum())
    else:
        dx = np.gradient(x)
        total = float((y * dx).sum())
        out = float((y * dx)[(x < low) | (x > high)].sum())
    return out / total if total > 0 else 0.0


def range_warnings(canon: Spectrum, grid: np.ndarray, coverage: float) -> list[str]:
    """Warnings about intensity outside the grid and partial coverage of it."""
    lo, hi = float(grid[0]), float(grid[-1])
    unit = canon.x_unit
    warnings = []
    share = outside_share(canon, lo, hi)
    if share > WARN_OUTSIDE:
        hint = OUTSIDE_HINTS.get(canon.modality)
        warnings.append(f"{share:.0%} of the intensity lies outside the model's grid "
                        f"{lo:g}..{hi:g} {unit} and is not seen by the model"
                        + (f" ({hint})" if hint else ""))
    sig_lo, sig_hi = SIGNAL_RANGE.get(canon.modality, (lo, hi))
    signal_cover = coverage_fraction(canon.x, max(lo, sig_lo), min(hi, sig_hi))
    if not canon.is_peaks and signal_cover < WARN_COVERAGE:
        warnings.append(f"the measurement ({canon.x[0]:g}..{canon.x[-1]:g} {unit}) covers "
                        f"{coverage:.0%} of the model's grid {lo:g}..{hi:g} {unit}; the rest "
                        "is masked as zero")
    return warnings
