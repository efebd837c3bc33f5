"""The one preprocessing path: a spectrum as read -> the model's grid, every step recorded.

``predict``, ``explain``, ``serve``, ``elucidate``, ``conformers`` and ``convert`` bring
spectra to a model grid with :func:`prepare`, so the same file gives the same vector
everywhere. The steps are small functions run in this order:

1. **Units** (:func:`~mspectmol.spectra.units.to_canonical`): axis to cm-1, eV or ppm,
   transmittance or %T to absorbance, ascending axis. The values are checked first
   (:func:`~mspectmol.spectra.validation.check_values`) and the canonical spectrum after
   (:func:`~mspectmol.spectra.validation.check_features`): nonsense is refused.
2. **Solvent and reference peaks** (1H, 13C; :mod:`~mspectmol.spectra.solvents`): removed
   when the solvent is given or named by the file; when neither, solvent-like lines that
   stand out are reported as a warning.
3. **Grid**: a peak list is rendered with the training line shape and width
   (:func:`~mspectmol.spectra.preprocessing.peaks_to_profile`); a profile sampled more finely
   than the grid is integrated over each grid cell
   (:func:`~mspectmol.spectra.resample.cell_means`, no line is lost), a coarser one linearly
   interpolated (the paper's eq. 3). NMR profiles whose lines are narrower than the training
   width (:func:`~mspectmol.spectra.resample.line_fwhm`) are integrated over sub-cells of
   each grid cell and drawn as lines at the sub-cell centres, widened to about the training
   width (:func:`~mspectmol.spectra.resample.render_lines`), as the training data draws
   peak lists; broader ones are resampled like IR.
   Grid points outside the measured range are 0; coverage below
   :data:`~mspectmol.spectra.validation.WARN_COVERAGE` and intensity outside the grid are
   warned about.
4. **Baseline** (IR, Raman, UV-Vis profiles): asymmetric least squares on the covered grid
   points (:func:`~mspectmol.spectra.baseline.baseline_als`, Eilers & Boelens 2005), negatives
   set to 0. ``lam`` of :data:`BASELINE_ALS` holds for :data:`BASELINE_REF_POINTS` points over
   the canonical range and is rescaled by ``(reference step / grid step)^4``.
5. **Denoising** (optional): Savitzky-Golay, window :data:`DENOISE_WINDOW`, order 2.
6. **Normalisation** with the model's method (``max`` for the shipped models).

Guesses made by a reader (a unit decided from the values, a peak list recognised from its
layout; ``metadata["guesses"]``) become warnings too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mspectmol.errors import SpectrumError
from mspectmol.spectra.baseline import baseline_als
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.preprocessing import coverage_fraction, normalise_array, peaks_to_profile
from mspectmol.spectra.resample import SUBCELLS, line_fwhm, render_lines, resample_profile
from mspectmol.spectra.solvents import (
    SOLVENT_HALF_WIDTH,
    detect_solvent,
    remove_solvent_peaks,
    solvent_lines_present,
    solvent_peaks,
    zero_windows,
)
from mspectmol.spectra.spectrum import PEAKS, PROFILE, Spectrum
from mspectmol.spectra.units import normalise_x_unit, normalise_y_unit, to_canonical
from mspectmol.spectra.validation import check_features, check_values, range_warnings

#: ALS baseline parameters ``(lam, p)`` per modality, ``lam`` at the reference grid.
BASELINE_ALS: dict[str, tuple[float, float]] = {
    "ir": (1e6, 0.01), "raman": (1e6, 0.01), "uv": (1e5, 0.01)}
#: Points over the canonical range at which :data:`BASELINE_ALS` ``lam`` values hold.
BASELINE_REF_POINTS = 600
#: Smallest fraction of the model's grid a measured profile must span, by modality (default
#: 0.5). UV-Vis is lower: a 190-800 nm measurement spans 35% of the 1-15 eV training grid.
MIN_COVERAGE = {"uv": 0.2}
DEFAULT_MIN_COVERAGE = 0.5
#: Savitzky-Golay window (grid points) of the optional denoising.
DENOISE_WINDOW = 5
#: Modalities whose profiles are rendered as lines of the training width after resampling.
RENDERED = ("h_nmr", "c_nmr")


@dataclass(frozen=True)
class PrepareOptions:
    """How spectra are brought to a model grid (see the module docstring).

    Attributes
    ----------
    solvent
        NMR solvent for every NMR file, overriding the file's metadata; None: use the
        metadata; ``"none"``: remove no solvent peaks.
    half_width
        ``{modality: ppm}`` half-widths of the zeroed solvent windows.
    reference
        Also remove the TMS reference at 0.00 ppm when a solvent is known.
    baseline
        Subtract an ALS baseline from IR, Raman and UV-Vis profiles.
    denoise
        Smooth with a Savitzky-Golay filter.
    min_coverage
        Smallest fraction of the model's grid a profile must span (None: the modality's
        :data:`MIN_COVERAGE`, else 0.5).
    x_unit, y_unit
        Declared units, ``{modality or "*": unit}``: they replace the units the file states
        or the reader decided (``--x-unit``/``--y-unit``); the values are not converted.
    kind
        ``"peaks"`` or ``"profile"`` to declare what the file holds (``--peaks``,
        ``--profile``), None to keep the reader's reading.
    observe_mhz
        Spectrometer frequency (MHz) for an NMR axis in Hz, when the file does not say.
    """

    solvent: str | None = None
    half_width: Mapping[str, float] = field(default_factory=lambda: dict(SOLVENT_HALF_WIDTH))
    reference: bool = True
    baseline: bool = True
    denoise: bool = False
    min_coverage: float | None = None
    x_unit: Mapping[str, str] = field(default_factory=dict)
    y_unit: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None
    observe_mhz: float | None = None

    def unit_for(self, axis: str, modality: str) -> str | None:
        """The declared ``"x"`` or ``"y"`` unit for ``modality`` (its own, else ``"*"``)."""
        table = self.x_unit if axis == "x" else self.y_unit
        return table.get(modality, table.get("*"))


@dataclass
class PreparedSpectrum:
    """A spectrum ready for the model: ``y`` (float32) on the model's grid ``x``.

    ``steps`` lists what was done, ``warnings`` what a person should know about the input
    (shown by every output), ``coverage`` the fraction of the grid the measurement spans.
    """

    modality: str
    x: np.ndarray
    y: np.ndarray
    steps: list[str]
    source: str | None = None
    solvent: str | None = None
    warnings: list[str] = field(default_factory=list)
    coverage: float = 1.0
    y_unit: str = "relative"


def apply_declarations(spectrum: Spectrum, opts: PrepareOptions) -> tuple[Spectrum, list[str]]:
    """The spectrum with the declared units, kind and frequency; the steps that say so.

    Declared units replace the stated ones (the values stay as they are) and silence the
    reader's guesses about them; a declared kind likewise.

    Raises
    ------
    UnitError
        For an unknown unit.
    SpectrumError
        For a kind other than ``"peaks"`` or ``"profile"``.
    """
    mod = spectrum.modality
    x_unit, y_unit = opts.unit_for("x", mod), opts.unit_for("y", mod)
    guesses = list(spectrum.metadata.get("guesses", []))
    steps: list[str] = []
    out = spectrum
    if x_unit is not None:
        unit = normalise_x_unit(x_unit, spectrum.source)
        out = out.with_data(out.x, out.y, x_unit=unit)
        steps.append(f"x unit declared: {unit} (was {spectrum.x_unit})")
        guesses = [g for g in guesses if "x unit" not in g]
    if y_unit is not None:
        unit = normalise_y_unit(y_unit, spectrum.source)
        out = out.with_data(out.x, out.y, y_unit=unit)
        steps.append(f"intensity unit declared: {unit} (was {spectrum.y_unit})")
        guesses = [g for g in guesses if not g.startswith("intensity unit not given")]
    if opts.kind is not None:
        if opts.kind not in (PEAKS, PROFILE):
            raise SpectrumError(f"kind must be 'peaks' or 'profile', not {opts.kind!r}",
                                spectrum.source)
        if opts.kind != out.kind:
            steps.append(f"declared a {'peak list' if opts.kind == PEAKS else 'profile'}")
        out = out.with_data(out.x, out.y, kind=opts.kind)
        guesses = [g for g in guesses if "peak list" not in g]
    if opts.observe_mhz is not None and mod in SOLVENT_HALF_WIDTH:
        if not opts.observe_mhz > 0:
            raise SpectrumError(f"the spectrometer frequency must be positive, got "
                                f"{opts.observe_mhz!r} MHz", spectrum.source)
        out = out.with_metadata(observe_mhz=float(opts.observe_mhz))
    return out.with_metadata(guesses=guesses), steps


def line_width(modality: str, grid: np.ndarray) -> tuple[float, str]:
    """Training line width (FWHM, canonical unit) and shape of ``modality`` on ``grid``:
    the registry width, raised to two grid steps (as the training rendering does)."""
    mod = get_modality(modality)
    step = abs(float(grid[1] - grid[0]))
    return max(mod.fwhm, 2.0 * step), mod.line_shape


def baseline_lambda(modality: str, grid: np.ndarray) -> tuple[float, float]:
    """ALS ``(lam, p)`` for ``grid``: :data:`BASELINE_ALS` rescaled to the grid's step."""
    lam, p = BASELINE_ALS[modality]
    lo, hi = get_modality(modality).x_range
    ref_step = (hi - lo) / (BASELINE_REF_POINTS - 1)
    step = abs(float(grid[1] - grid[0]))
    return lam * (ref_step / step) ** 4, p


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
    from scipy.signal import savgol_filter

    out = np.array(y, dtype=np.float64)
    idx = np.flatnonzero(mask)
    if idx.size <= window:
        return out, "denoise: skipped (too few covered grid points)"
    sl = slice(idx[0], idx[-1] + 1)
    out[sl] = savgol_filter(out[sl], window, 2, mode="interp")
    return out, f"denoise: Savitzky-Golay window {window} points, order 2"


def grid_profile(canon: Spectrum, grid: np.ndarray, min_coverage: float
                 ) -> tuple[np.ndarray, float, list[str]]:
    """A canonical profile on ``grid`` (step 3): values, coverage and the steps taken.

    Raises
    ------
    SpectrumError
        When the measured range misses the grid or spans less than ``min_coverage`` of it.
    """
    src, unit = canon.source, canon.x_unit
    lo, hi = float(grid[0]), float(grid[-1])
    cover = coverage_fraction(canon.x, lo, hi)
    measured = f"x range {canon.x[0]:g}..{canon.x[-1]:g} {unit}"
    if cover <= 0.0:
        raise SpectrumError(f"{measured} lies outside the {canon.modality} grid {lo:g}..{hi:g} "
                            f"{unit} (wrong x unit? declare it with --x-unit)", src)
    if cover < min_coverage:
        raise SpectrumError(f"{measured} covers only {cover:.1%} of the {canon.modality} grid "
                            f"{lo:g}..{hi:g} {unit} (at least {min_coverage:.0%} needed; "
                            "--min-coverage lowers it)", src)
    if canon.modality in RENDERED:
        width, shape = line_width(canon.modality, grid)
        own = line_fwhm(canon.x, canon.y)
        if own < width:  # narrower lines than training: widen them to the training width
            draw = max(width - own, 0.5 * width)
            y = render_lines(canon.x, canon.y, grid, draw, shape, source=src)
            return y, cover, [
                f"resample: cell means over {SUBCELLS} sub-cells of each of {grid.size} points "
                f"over {lo:g}..{hi:g} {unit}, coverage {cover:.3f}",
                f"render: sub-cell areas as {shape} lines of FWHM {draw:.3g} {unit} (lines of "
                f"{own:.3g} {unit} widened to about the training width {width:g})"]
    y, method = resample_profile(canon.x, canon.y, grid, source=src)
    return y, cover, [f"resample: {method} onto {grid.size} points over {lo:g}..{hi:g} "
                      f"{unit}, coverage {cover:.3f}"]


def prepare(spectrum: Spectrum, grid: np.ndarray, normalisation: str = "max",
            options: PrepareOptions | None = None) -> PreparedSpectrum:
    """Bring a spectrum onto a model's grid (the steps of the module docstring).

    Parameters
    ----------
    spectrum
        The spectrum as read from its file (profile or peak list).
    grid
        The model's ascending grid for this modality (canonical unit).
    normalisation
        The model's intensity normalisation.
    options
        :class:`PrepareOptions` (default: all defaults).

    Raises
    ------
    SpectrumError
        Naming the file: units that cannot be converted, nonsense values
        (:mod:`~mspectmol.spectra.validation`), a range that misses the grid, a spectrum that
        is zero everywhere after solvent removal or baseline correction.
    """
    opts = options or PrepareOptions()
    mod = spectrum.modality
    grid = np.asarray(grid, dtype=np.float64)
    spectrum, steps = apply_declarations(spectrum, opts)
    warnings = [str(g) for g in spectrum.metadata.get("guesses", [])]
    warnings += check_values(spectrum)
    canon = to_canonical(spectrum)
    warnings += check_features(canon)
    steps += [s for s in canon.metadata.get("preprocessing", [])
              if s not in spectrum.metadata.get("preprocessing", [])]
    solvent = None
    if mod in SOLVENT_HALF_WIDTH:
        solvent, note = detect_solvent(spectrum, opts.solvent)
        steps.append(note)
        if solvent is not None:
            canon = remove_solvent_peaks(canon, solvent, half_width=opts.half_width.get(mod),
                                         reference=opts.reference)
            steps.append(canon.metadata["preprocessing"][-1])
        elif opts.solvent is None:
            seen = solvent_lines_present(canon.x, canon.y, mod)
            if seen:
                lines = ", ".join(f"{s.name} {s.ppm:.2f}" for s in seen[:4])
                warnings.append(f"lines at solvent or reference positions ({lines} ppm) may "
                                "be the solvent's and were kept: if so, name the solvent "
                                "with --solvent")
    if canon.is_peaks:
        width, shape = line_width(mod, grid)
        prof = peaks_to_profile(canon, grid.size, width, shape,
                                x_range=(float(grid[0]), float(grid[-1])), min_fwhm_points=0)
        y, cover = np.asarray(prof.y, dtype=np.float64), 1.0
        steps.append(prof.metadata["preprocessing"][-1])
        mask = np.ones(grid.size, dtype=bool)
    else:
        min_cov = (MIN_COVERAGE.get(mod, DEFAULT_MIN_COVERAGE) if opts.min_coverage is None
                   else opts.min_coverage)
        y, cover, grid_steps = grid_profile(canon, grid, min_cov)
        steps += grid_steps
        mask = covered(grid, canon)
    if solvent is not None and mod in RENDERED:  # rendering spreads line tails back in
        y, _ = zero_windows(grid, y, [ppm for _, ppm in solvent_peaks(solvent, mod,
                                                                        opts.reference)],
                            opts.half_width.get(mod, SOLVENT_HALF_WIDTH[mod]))
    warnings += range_warnings(canon, grid, cover)
    if mod in BASELINE_ALS and opts.baseline:
        if canon.is_peaks:
            steps.append("baseline: skipped (a peak list has none)")
        else:
            y, step = correct_baseline(y, mod, grid, mask)
            steps.append(step)
    if opts.denoise and not canon.is_peaks:
        y, step = denoise(y, mask)
        steps.append(step)
    if not np.any(y > 0):
        raise SpectrumError("nothing is left on the model's grid after solvent removal and "
                            "baseline correction: no lines to read", spectrum.source)
    y = normalise_array(y, normalisation, source=spectrum.source)
    steps.append(f"normalise: {normalisation}")
    unit = canon.y_unit or "arbitrary" if normalisation == "none" else "relative"
    return PreparedSpectrum(mod, grid, y.astype(np.float32), steps, spectrum.source, solvent,
                            list(dict.fromkeys(warnings)), float(cover), unit)
