"""Preprocessing of measured spectra before prediction, every step recorded.

A measured spectrum differs from the simulated ones a model is trained on in ways a few fixed
steps can undo (:func:`prepare_measured` runs them in this order):

1. **Units.** :func:`~mspectmol.spectra.units.to_canonical` converts the axis (Hz to ppm,
   nm to eV, ...) and transmittance or %T to absorbance.
2. **Anti-aliasing.** A profile sampled more finely than the model's grid is first
   smoothed with a Gaussian whose FWHM is one grid step (on a uniform copy of its axis at the
   median point spacing), so that the grid does not pick up or miss narrow lines depending on
   where they fall between grid points: a 1 Hz wide NMR line on a 0.02 ppm grid would
   otherwise show anything from its full height to nothing.
3. **Solvent and reference peaks (1H and 13C NMR).** When the solvent is given (``--solvent``)
   or named by the file (JCAMP-DX ``##.SOLVENT NAME``, a CSV comment ``# solvent: ...``), the
   residual solvent signals, the water peak of that solvent (1H) and the TMS reference
   (0.00 ppm, the zero of both scales by definition) are removed by zeroing a window of
   ``+-half_width`` ppm around each (default 0.05 ppm for 1H, 1.0 ppm for 13C, wide enough for
   the 13C multiplets: the CDCl3 triplet spans +-0.32 ppm and the DMSO-d6 septet +-0.63 ppm at
   100 MHz). Positions are those of Fulmer et al. 2010, "NMR Chemical Shifts of Trace
   Impurities: Common Laboratory Solvents, Organics, and Gases in Deuterated Solvents Relevant
   to the Organometallic Chemist", Organometallics 29, 2176 (Tables 1 and 2). A sample signal
   that falls inside a window is removed with the solvent's: e.g. a ketone C=O near 206 ppm
   measured in acetone-d6.
4. **Grid.** :func:`~mspectmol.spectra.preprocessing.grid_spectrum` interpolates the profile
   (or broadens a peak list) onto the model's grid, without normalising yet.
5. **Baseline (IR, Raman, UV-Vis profiles).** Asymmetric least squares
   (:func:`~mspectmol.spectra.baseline.baseline_als`, Eilers & Boelens 2005) on the grid
   points the measurement covers, then negative values are set to 0 (the training spectra
   are non-negative). The smoothness ``lam`` of :data:`BASELINE_ALS` is stated for a grid of
   :data:`BASELINE_REF_POINTS` points over the modality's canonical range and rescaled by
   ``(reference step / grid step)^4`` (the second-difference penalty scales with the fourth
   power of the step), so the baseline is equally stiff in cm-1 or eV on any grid.
6. **Denoising (optional).** A Savitzky-Golay filter (window :data:`DENOISE_WINDOW` points,
   polynomial order 2) over the covered grid points.
7. **Normalisation** with the model's method (``max`` for the shipped models).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from mspectmol.errors import MspectmolError
from mspectmol.spectra.baseline import baseline_als
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.preprocessing import grid_spectrum, normalise_array
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
#: ALS baseline parameters ``(lam, p)`` per modality, ``lam`` at the reference grid.
BASELINE_ALS: dict[str, tuple[float, float]] = {
    "ir": (1e6, 0.01), "raman": (1e6, 0.01), "uv": (1e5, 0.01)}
#: Points over the canonical range at which :data:`BASELINE_ALS` ``lam`` values hold.
BASELINE_REF_POINTS = 600
#: Smallest fraction of the model's grid a measured profile must span, by modality (default
#: 0.5). UV-Vis is lower: a 190-800 nm measurement spans 35% of the 1-15 eV training grid.
MIN_COVERAGE = {"uv": 0.2}
DEFAULT_MIN_COVERAGE = 0.5
#: Largest number of points of the uniform copy made for anti-aliasing.
MAX_ANTIALIAS_POINTS = 2_000_000
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Savitzky-Golay window (grid points) of the optional denoising.
DENOISE_WINDOW = 5


@dataclass(frozen=True)
class MeasuredOptions:
    """How measured spectra are preprocessed (see the module docstring).

    Attributes
    ----------
    solvent
        NMR solvent for every NMR file, overriding the file's metadata; None: use the
        metadata; ``"none"``: remove no solvent peaks.
    half_width
        ``{modality: ppm}`` half-widths of the zeroed windows (default
        :data:`SOLVENT_HALF_WIDTH`).
    reference
        Also remove the TMS reference at 0.00 ppm when a solvent is known.
    baseline
        Subtract an ALS baseline from IR, Raman and UV-Vis profiles.
    denoise
        Smooth with a Savitzky-Golay filter.
    min_coverage
        Smallest fraction of the model's grid a profile must span (None: the modality's
        :data:`MIN_COVERAGE`, else 0.5).
    """

    solvent: str | None = None
    half_width: Mapping[str, float] = field(default_factory=lambda: dict(SOLVENT_HALF_WIDTH))
    reference: bool = True
    baseline: bool = True
    denoise: bool = False
    min_coverage: float | None = None


@dataclass
class PreparedSpectrum:
    """A spectrum ready for the model: ``y`` (float32) on the model's grid ``x``."""

    modality: str
    x: np.ndarray
    y: np.ndarray
    steps: list[str]
    source: str | None = None
    solvent: str | None = None


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


def detect_solvent(spectrum: Spectrum, options: MeasuredOptions) -> tuple[str | None, str]:
    """The solvent to remove and a note on where it came from."""
    if options.solvent is not None:
        chosen = canonical_solvent(options.solvent)
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


def baseline_lambda(modality: str, grid: np.ndarray) -> tuple[float, float]:
    """ALS ``(lam, p)`` for ``grid``: :data:`BASELINE_ALS` rescaled to the grid's step."""
    lam, p = BASELINE_ALS[modality]
    lo, hi = get_modality(modality).x_range
    ref_step = (hi - lo) / (BASELINE_REF_POINTS - 1)
    step = abs(float(grid[1] - grid[0]))
    return lam * (ref_step / step) ** 4, p


def antialias(spectrum: Spectrum, grid: np.ndarray) -> tuple[Spectrum, str | None]:
    """Smooth a canonical profile denser than ``grid`` to the grid's step (see step 2).

    Returns the spectrum (unchanged when its median spacing is at least half a grid step)
    and the step text (None when nothing was done).
    """
    x, y = spectrum.x, spectrum.y
    step = abs(float(grid[1] - grid[0]))
    h = float(np.median(np.diff(x))) if x.size > 1 else step
    if spectrum.is_peaks or not 0 < h < step / 2:
        return spectrum, None
    h = max(h, (x[-1] - x[0]) / (MAX_ANTIALIAS_POINTS - 1))
    fine = np.linspace(x[0], x[-1], int(round((x[-1] - x[0]) / h)) + 1)
    sigma = step / _FWHM_PER_SIGMA / (fine[1] - fine[0])
    smooth = gaussian_filter1d(np.interp(fine, x, y), sigma, mode="nearest")
    unit = spectrum.modality_info.x_unit
    return spectrum.with_data(fine, smooth), (
        f"anti-alias: Gaussian FWHM {step:.3g} {unit} (one grid step) on {fine.size} "
        f"points spaced {fine[1] - fine[0]:.3g} {unit}")


def covered(grid: np.ndarray, spectrum: Spectrum) -> np.ndarray:
    """Grid points inside the measured x range of a canonical spectrum."""
    return (grid >= spectrum.x[0]) & (grid <= spectrum.x[-1])


def correct_baseline(y: np.ndarray, modality: str, grid: np.ndarray, mask: np.ndarray
                     ) -> tuple[np.ndarray, str]:
    """``y`` minus its ALS baseline over the ``mask`` points, negatives set to 0; the step."""
    lam, p = baseline_lambda(modality, grid)
    out = np.array(y, dtype=np.float64)
    idx = np.flatnonzero(mask)
    if idx.size < 3:
        return out, "baseline: skipped (fewer than 3 covered grid points)"
    part = out[idx[0]:idx[-1] + 1]
    out[idx[0]:idx[-1] + 1] = np.maximum(part - baseline_als(part, lam=lam, p=p), 0.0)
    return out, (f"baseline: ALS (Eilers & Boelens 2005) lam={lam:.3g} p={p:g} on the grid, "
                 "negatives set to 0")


def denoise(y: np.ndarray, mask: np.ndarray, window: int = DENOISE_WINDOW
            ) -> tuple[np.ndarray, str]:
    """Savitzky-Golay smoothing (order 2) of the covered points; the step."""
    out = np.array(y, dtype=np.float64)
    idx = np.flatnonzero(mask)
    if idx.size <= window:
        return out, "denoise: skipped (too few covered grid points)"
    sl = slice(idx[0], idx[-1] + 1)
    out[sl] = savgol_filter(out[sl], window, 2, mode="interp")
    return out, f"denoise: Savitzky-Golay window {window} points, order 2"


def prepare_measured(spectrum: Spectrum, grid: np.ndarray, normalisation: str = "max",
                     options: MeasuredOptions | None = None) -> PreparedSpectrum:
    """Bring a measured spectrum onto a model's grid (steps 1-7 of the module docstring).

    Parameters
    ----------
    spectrum
        The spectrum as read from its file.
    grid
        The model's ascending grid for this modality (canonical unit).
    normalisation
        The model's intensity normalisation.
    options
        :class:`MeasuredOptions` (default: all defaults).

    Returns
    -------
    PreparedSpectrum
        ``y`` (float32) and the steps applied, in order.

    Raises
    ------
    SpectrumError
        Naming the file: units that cannot be converted, a range that misses the grid, a
        spectrum that is zero everywhere after solvent removal.
    """
    opts = options or MeasuredOptions()
    mod = spectrum.modality
    canon, alias_step = antialias(to_canonical(spectrum), grid)
    if alias_step is not None:
        canon = canon.log_step(alias_step)
    solvent = None
    notes: list[str] = []
    if mod in SOLVENT_HALF_WIDTH:
        solvent, note = detect_solvent(spectrum, opts)
        notes.append(note)
        if solvent is not None:
            canon = remove_solvent_peaks(canon, solvent, half_width=opts.half_width.get(mod),
                                         reference=opts.reference)
    x_range = (float(grid[0]), float(grid[-1]))
    min_coverage = (MIN_COVERAGE.get(mod, DEFAULT_MIN_COVERAGE) if opts.min_coverage is None
                    else opts.min_coverage)
    prof = grid_spectrum(canon, grid.size, normalise="none", x_range=x_range,
                         min_coverage=min_coverage)
    steps = [*notes, *(s for s in prof.metadata.get("preprocessing", [])
                       if s != "normalise: none")]
    y = np.asarray(prof.y, dtype=np.float64)
    mask = covered(grid, canon) if not canon.is_peaks else np.ones(grid.size, dtype=bool)
    if mod in BASELINE_ALS and opts.baseline:
        if canon.is_peaks:
            steps.append("baseline: skipped (a peak list has none)")
        else:
            y, step = correct_baseline(y, mod, grid, mask)
            steps.append(step)
    if opts.denoise and not canon.is_peaks:
        y, step = denoise(y, mask)
        steps.append(step)
    y = normalise_array(y, normalisation, source=spectrum.source)
    steps.append(f"normalise: {normalisation}")
    return PreparedSpectrum(mod, np.asarray(grid, dtype=np.float64), y.astype(np.float32),
                            steps, spectrum.source, solvent)
