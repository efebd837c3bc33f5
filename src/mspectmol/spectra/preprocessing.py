"""Preprocessing: common grids, interpolation (eq. 3), normalisation, line broadening, binning.

Every spectrum a model sees is a fixed-length vector on its modality's canonical grid
(600 uniformly spaced points by default, the paper's section 2.2.1). Profiles are brought
there by linear interpolation (:func:`interpolate`, the paper's eq. 3), peak lists by
line broadening (:func:`peaks_to_profile`); :func:`to_grid` does the whole chain and
:func:`stack_to_grid` builds a ``(n, n_points)`` float32 matrix. Mass spectra can also be
binned (:func:`bin_ms`, as in Alberts et al. 2024: 10,000 bins of 0.1 m/z), and measured
spectra baseline-corrected (:func:`baseline_als`, :func:`baseline_rubberband`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mspectmol.errors import SpectrumError
from mspectmol.spectra.modalities import Modality, get_modality
from mspectmol.spectra.spectrum import PROFILE, Spectrum
from mspectmol.spectra.units import to_canonical

#: Points of the model grid (the paper interpolates every spectrum to 600 points).
N_POINTS = 600
#: Normalisation methods known to :func:`normalise`.
NORMALISATIONS = ("max", "area", "minmax", "zscore", "none")
#: Line shapes known to :func:`broaden`.
LINE_SHAPES = ("lorentzian", "gaussian")
#: A scale below this fraction of the largest magnitude counts as zero (degenerate row).
_REL_EPS = 1e-9
_FOUR_LN2 = 4.0 * np.log(2.0)


def canonical_grid(modality: str | Modality, n_points: int = N_POINTS,
                   x_range: tuple[float, float] | None = None) -> np.ndarray:
    """Uniform ascending grid over a modality's canonical range.

    Parameters
    ----------
    modality
        Modality name, alias or :class:`Modality`.
    n_points
        Number of grid points (at least 2); both endpoints are included exactly.
    x_range
        ``(low, high)`` in the canonical unit, overriding the registry range.

    Returns
    -------
    numpy.ndarray
        ``n_points`` float64 values from low to high.
    """
    mod = get_modality(modality)
    lo, hi = mod.x_range if x_range is None else (float(x_range[0]), float(x_range[1]))
    if int(n_points) != n_points or n_points < 2:
        raise SpectrumError(f"n_points must be an integer >= 2, got {n_points!r}")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise SpectrumError(f"x_range must be finite and increasing, got ({lo}, {hi})")
    return np.linspace(lo, hi, int(n_points))


def coverage_fraction(x: np.ndarray, low: float, high: float) -> float:
    """Fraction of ``[low, high]`` spanned by the range of ``x`` (0 when disjoint)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return 0.0
    overlap = min(high, float(x.max())) - max(low, float(x.min()))
    return max(0.0, overlap) / (high - low)


def resample(x: np.ndarray, y: np.ndarray, grid: np.ndarray, *, fill: float = 0.0,
             source: str | None = None) -> np.ndarray:
    """Linear interpolation of ``y(x)`` onto ``grid`` (the paper's eq. 3).

    ``x`` must be strictly increasing. Grid points inside ``[x[0], x[-1]]`` get
    ``y_i + (g - x_i) / (x_{i+1} - x_i) * (y_{i+1} - y_i)``; points outside get ``fill``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise SpectrumError(f"need 1-D x and y of equal length >= 2, got shapes {x.shape} "
                            f"and {y.shape}", source)
    if np.any(np.diff(x) <= 0):
        raise SpectrumError("x values must be strictly increasing to interpolate "
                            "(use units.to_canonical first)", source)
    if not np.isfinite(fill):
        raise SpectrumError(f"fill must be finite, got {fill!r}", source)
    return np.interp(np.asarray(grid, dtype=np.float64), x, y, left=fill, right=fill)


def interpolate(spectrum: Spectrum, n_points: int = N_POINTS,
                x_range: tuple[float, float] | None = None, *, min_coverage: float = 0.5,
                fill: float = 0.0) -> Spectrum:
    """Linearly interpolate a profile spectrum onto its modality's canonical grid.

    The spectrum is first made canonical (:func:`~mspectmol.spectra.units.to_canonical`:
    unit conversion, %T to absorbance, ascending axis, duplicated x averaged), then
    resampled with eq. 3. Grid points outside the measured x range are set to ``fill``
    (no extrapolation); the fraction of the grid the measurement spans is stored in
    ``metadata["coverage"]``.

    Parameters
    ----------
    spectrum
        A ``"profile"`` spectrum. Peak lists are refused: use :func:`peaks_to_profile`.
    n_points, x_range
        Grid definition, see :func:`canonical_grid`.
    min_coverage
        Smallest accepted fraction (0-1) of the grid the measured range must span.
    fill
        Value for grid points outside the measured range.

    Raises
    ------
    SpectrumError
        Naming the source: a peak list, fewer than 2 distinct points, or an x range that
        misses the grid or covers less than ``min_coverage`` of it.
    """
    src = spectrum.source
    if spectrum.is_peaks:
        raise SpectrumError("this is a peak list; interpolation needs a profile: use "
                            "peaks_to_profile() (line broadening, see broaden())", src)
    if not 0.0 <= min_coverage <= 1.0:
        raise SpectrumError(f"min_coverage must be within [0, 1], got {min_coverage!r}", src)
    canon = to_canonical(spectrum)  # Spectrum itself refuses profiles of < 2 distinct points
    grid = canonical_grid(canon.modality, n_points, x_range)
    lo, hi, unit = grid[0], grid[-1], canon.x_unit
    cover = coverage_fraction(canon.x, lo, hi)
    measured = f"x range {canon.x[0]:g}..{canon.x[-1]:g} {unit}"
    if cover <= 0.0:
        raise SpectrumError(f"{measured} lies outside the {canon.modality} grid "
                            f"{lo:g}..{hi:g} {unit} (wrong x unit?)", src)
    if cover < min_coverage:
        raise SpectrumError(f"{measured} covers only {cover:.1%} of the {canon.modality} grid "
                            f"{lo:g}..{hi:g} {unit} (min_coverage={min_coverage:g})", src)
    y = resample(canon.x, canon.y, grid, fill=fill, source=src)
    out = canon.with_data(grid, y).with_metadata(coverage=cover)
    return out.log_step(f"interpolate: {grid.size} points over {lo:g}..{hi:g} {unit}, "
                        f"coverage {cover:.3f}, fill {fill:g}")


def _as_rows(y: np.ndarray, source: str | None) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim not in (1, 2):
        raise SpectrumError(f"expected a (n_points,) or (batch, n_points) array, got shape "
                            f"{arr.shape}", source)
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise SpectrumError("intensities must be finite numbers", source)
    return np.atleast_2d(arr.astype(np.float64))


def _row_stats(rows: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Offset, scale and the reason a row whose scale is ~0 cannot be normalised."""
    zeros = np.zeros(rows.shape[0])
    if method == "max":
        return zeros, rows.max(axis=1), "its maximum intensity is not positive"
    if method == "area":
        return zeros, rows.sum(axis=1), "its total intensity is not positive"
    if method == "minmax":
        lo = rows.min(axis=1)
        return lo, rows.max(axis=1) - lo, "its intensities are constant"
    return rows.mean(axis=1), rows.std(axis=1), "its intensities are constant"


def normalise_array(y: np.ndarray, method: str = "max", *, allow_zero: bool = False,
                    source: str | None = None) -> np.ndarray:
    """Normalise each row of a ``(n_points,)`` or ``(batch, n_points)`` array.

    Methods: ``"max"`` divides by the maximum (max becomes 1), ``"area"`` divides by the
    sum (intensities sum to 1, the discrete area on a uniform grid), ``"minmax"`` maps
    to [0, 1], ``"zscore"`` subtracts the mean and divides by the standard deviation,
    ``"none"`` copies. Floating input keeps its dtype, other input becomes float64.

    A row whose scale is not positive (all-zero, all-negative for max/area, constant for
    minmax/zscore) never yields NaN: it raises :class:`SpectrumError`, except that
    all-zero rows become zeros when ``allow_zero`` is true (placeholders for a missing
    modality; detect them with ``~out.any(axis=-1)``).
    """
    if method not in NORMALISATIONS:
        raise SpectrumError(f"unknown normalisation {method!r}; known: "
                            f"{', '.join(NORMALISATIONS)}", source)
    arr = np.asarray(y)
    rows = _as_rows(arr, source)
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    if method == "none":
        return rows.reshape(arr.shape).astype(dtype)
    offset, scale, why = _row_stats(rows, method)
    magnitude = np.abs(rows).max(axis=1)
    bad = ~(scale > _REL_EPS * magnitude)
    zero_rows = magnitude == 0.0
    refused = bad & ~(zero_rows & allow_zero)
    if refused.any():
        where = "the spectrum" if arr.ndim == 1 else f"row(s) {np.flatnonzero(refused)[:10]}"
        hint = "" if not zero_rows[refused].all() else (
            " (all zeros; pass allow_zero=True for missing-modality placeholders)")
        raise SpectrumError(f"cannot {method}-normalise {where}: {why}{hint}", source)
    out = (rows - offset[:, None]) / np.where(bad, 1.0, scale)[:, None]
    out[bad] = 0.0
    return out.reshape(arr.shape).astype(dtype)


def normalise(data: Spectrum | np.ndarray, method: str = "max", *,
              allow_zero: bool = False) -> Spectrum | np.ndarray:
    """Normalise a spectrum or an array of intensities; see :func:`normalise_array`.

    A :class:`Spectrum` comes back with intensities in ``"relative"`` units (for any
    method but ``"none"``) and the step logged; an array comes back as an array.
    """
    if not isinstance(data, Spectrum):
        return normalise_array(data, method, allow_zero=allow_zero)
    y = normalise_array(data.y, method, allow_zero=allow_zero, source=data.source)
    unit = data.y_unit if method == "none" else "relative"
    return data.with_data(data.x, y, y_unit=unit).log_step(f"normalise: {method}")


def line_kernel(offset: np.ndarray, fwhm: np.ndarray | float, shape: str) -> np.ndarray:
    """Height-normalised line shape at ``offset`` from the centre (1 at 0, 1/2 at fwhm/2)."""
    z = offset / fwhm
    if shape == "lorentzian":
        return 1.0 / (1.0 + 4.0 * z * z)
    return np.exp(-_FOUR_LN2 * z * z)


def broaden(positions: np.ndarray, intensities: np.ndarray, grid: np.ndarray,
            fwhm: float | np.ndarray, shape: str = "lorentzian", *, chunk: int = 2048,
            source: str | None = None) -> np.ndarray:
    """Sum of line shapes, one per peak, evaluated on ``grid``.

    Each line has its maximum, equal to the peak's intensity, at the peak position
    (height-normalised, not area-normalised): Lorentzian
    ``I / (1 + (2 (g - x0) / fwhm)^2)``, Gaussian ``I exp(-4 ln 2 (g - x0)^2 / fwhm^2)``;
    both fall to ``I / 2`` at ``x0 +- fwhm / 2``. Peaks outside the grid still contribute
    their tails. Work is done in blocks of ``chunk`` peaks (a matrix product per block).

    Parameters
    ----------
    positions, intensities
        Peak positions and heights (1-D, equal length).
    grid
        Points to evaluate at (1-D).
    fwhm
        Full width at half maximum, scalar or one per peak, in the unit of ``grid``.
    shape
        ``"lorentzian"`` or ``"gaussian"``.
    """
    pos = np.asarray(positions, dtype=np.float64)
    amp = np.asarray(intensities, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if pos.ndim != 1 or pos.shape != amp.shape or g.ndim != 1:
        raise SpectrumError(f"positions and intensities must be 1-D of equal length and grid "
                            f"1-D, got {pos.shape}, {amp.shape}, {g.shape}", source)
    if shape not in LINE_SHAPES:
        raise SpectrumError(f"unknown line shape {shape!r}; known: {', '.join(LINE_SHAPES)}",
                            source)
    width = np.asarray(fwhm, dtype=np.float64)
    if width.ndim and width.shape != pos.shape:
        raise SpectrumError(f"fwhm must be a scalar or one per peak ({pos.size}), got shape "
                            f"{width.shape}", source)
    width = np.broadcast_to(width, pos.shape)
    if not (np.all(np.isfinite(width)) and np.all(width > 0)):
        raise SpectrumError("fwhm must be positive and finite", source)
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(amp)) and np.all(np.isfinite(g))):
        raise SpectrumError("peak positions, intensities and grid must be finite", source)
    out = np.zeros(g.size)
    for start in range(0, pos.size, max(1, int(chunk))):
        part = slice(start, start + max(1, int(chunk)))
        out += amp[part] @ line_kernel(g[None, :] - pos[part, None], width[part, None], shape)
    return out


def peaks_to_profile(spectrum: Spectrum, n_points: int = N_POINTS, fwhm: float | None = None,
                     shape: str | None = None, *, x_range: tuple[float, float] | None = None,
                     min_fwhm_points: float = 2.0) -> Spectrum:
    """Broaden a peak list into a profile on the canonical grid.

    ``fwhm`` and ``shape`` default to the modality's registry values. A line narrower than
    ``min_fwhm_points`` grid steps could fall between grid points and vanish, so the width
    is raised to that many steps (logged, stored in ``metadata["fwhm"]``); pass 0 to keep
    the width as given. Intensities must be non-negative; peaks outside the grid
    contribute their tails, but at least one peak must lie on the grid.
    """
    src = spectrum.source
    if not spectrum.is_peaks:
        raise SpectrumError("this is a profile, not a peak list: use interpolate()", src)
    canon = to_canonical(spectrum)
    if len(canon) == 0:
        raise SpectrumError("the peak list is empty", src)
    if np.any(canon.y < 0):
        raise SpectrumError(f"{int((canon.y < 0).sum())} peak intensities are negative", src)
    mod = canon.modality_info
    grid = canonical_grid(mod, n_points, x_range)
    lo, hi = grid[0], grid[-1]
    inside = (canon.x >= lo) & (canon.x <= hi)
    if not inside.any():
        raise SpectrumError(f"none of the {len(canon)} peaks ({canon.x[0]:g}..{canon.x[-1]:g} "
                            f"{canon.x_unit}) lies within the {mod.name} grid {lo:g}..{hi:g} "
                            f"{canon.x_unit} (wrong x unit?)", src)
    asked = mod.fwhm if fwhm is None else float(fwhm)
    width = max(asked, min_fwhm_points * (grid[1] - grid[0]))
    line = shape or mod.line_shape
    y = broaden(canon.x, canon.y, grid, width, line, source=src)
    note = f" (raised from {asked:g} to {min_fwhm_points:g} grid steps)" if width > asked else ""
    out = canon.with_data(grid, y, kind=PROFILE).with_metadata(
        fwhm=width, line_shape=line, peaks_outside=int((~inside).sum()))
    return out.log_step(f"broaden: {len(canon)} peaks, {line} FWHM {width:g} "
                        f"{canon.x_unit}{note}, {grid.size} points over {lo:g}..{hi:g}")


def bin_peaks(mz: np.ndarray, intensity: np.ndarray, bin_width: float = 1.0,
              mz_min: float = 0.0, mz_max: float = 1000.0, reduce: str = "max", *,
              sqrt: bool = False, source: str | None = None) -> np.ndarray:
    """Bin a peak list into ``(mz_max - mz_min) / bin_width`` bins.

    Bin ``k`` holds ``mz_min + k w <= m/z < mz_min + (k + 1) w`` (a 1e-6-bin tolerance
    absorbs floating-point error at the edges); peaks outside ``[mz_min, mz_max)`` are
    dropped. ``reduce`` is ``"max"`` (largest peak per bin) or ``"sum"``. With ``sqrt``
    the peak intensities are square-rooted before binning.
    """
    mz = np.asarray(mz, dtype=np.float64)
    val = np.asarray(intensity, dtype=np.float64)
    if mz.ndim != 1 or mz.shape != val.shape:
        raise SpectrumError(f"m/z and intensities must be 1-D of equal length, got {mz.shape} "
                            f"and {val.shape}", source)
    if reduce not in ("max", "sum"):
        raise SpectrumError(f"reduce must be 'max' or 'sum', not {reduce!r}", source)
    n_float = (mz_max - mz_min) / bin_width if bin_width > 0 else -1.0
    n_bins = int(round(n_float))
    if n_bins < 1 or abs(n_float - n_bins) > 1e-6 * n_bins:
        raise SpectrumError(f"m/z range {mz_min:g}..{mz_max:g} is not a positive whole number "
                            f"of bins of width {bin_width:g}", source)
    if np.any(val < 0) or not (np.all(np.isfinite(val)) and np.all(np.isfinite(mz))):
        raise SpectrumError("peak intensities must be finite and non-negative", source)
    if sqrt:
        val = np.sqrt(val)
    idx = np.floor(np.round((mz - mz_min) / bin_width, 6)).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins)
    if reduce == "sum":
        return np.bincount(idx[keep], weights=val[keep], minlength=n_bins)
    out = np.zeros(n_bins)
    np.maximum.at(out, idx[keep], val[keep])
    return out


def bin_ms(spectrum: Spectrum, bin_width: float = 1.0, mz_min: float = 0.0,
           mz_max: float = 1000.0, reduce: str = "max", *, sqrt: bool = False) -> Spectrum:
    """Bin a (mass) spectrum with :func:`bin_peaks`; x becomes the bin centres.

    Alberts et al. 2024 feed XGBoost ``bin_ms(s, 0.1, 0, 1000)`` (10,000 bins). The number
    of peaks outside the range is kept in ``metadata["peaks_dropped"]``.
    """
    canon = to_canonical(spectrum)
    y = bin_peaks(canon.x, canon.y, bin_width, mz_min, mz_max, reduce, sqrt=sqrt,
                  source=spectrum.source)
    centres = mz_min + (np.arange(y.size) + 0.5) * bin_width
    upper = mz_min + y.size * bin_width
    dropped = int(np.sum((canon.x < mz_min) | (canon.x >= upper)))
    out = canon.with_data(centres, y, kind=PROFILE).with_metadata(peaks_dropped=dropped)
    return out.log_step(f"bin: {y.size} bins of {bin_width:g} over {mz_min:g}..{upper:g}, "
                        f"{reduce}{', sqrt' if sqrt else ''}, {dropped} peaks dropped")


def grid_spectrum(spectrum: Spectrum, n_points: int = N_POINTS, *, normalise: str = "max",
                  fwhm: float | None = None, shape: str | None = None,
                  x_range: tuple[float, float] | None = None, min_coverage: float = 0.5,
                  allow_zero: bool = False) -> Spectrum:
    """The whole chain as a logged :class:`Spectrum`: canonical units, then
    :func:`peaks_to_profile` (peak lists) or :func:`interpolate` (profiles), then
    normalisation (``normalise`` names the method, see :func:`normalise_array`)."""
    if spectrum.is_peaks:
        prof = peaks_to_profile(spectrum, n_points, fwhm, shape, x_range=x_range)
    else:
        prof = interpolate(spectrum, n_points, x_range, min_coverage=min_coverage)
    y = normalise_array(prof.y, normalise, allow_zero=allow_zero, source=spectrum.source)
    unit = prof.y_unit if normalise == "none" else "relative"
    return prof.with_data(prof.x, y, y_unit=unit).log_step(f"normalise: {normalise}")


def to_grid(spectrum: Spectrum, n_points: int = N_POINTS, *, normalise: str = "max",
            fwhm: float | None = None, **options: object) -> np.ndarray:
    """Model-ready float32 vector of ``n_points``; see :func:`grid_spectrum` for options
    (``shape``, ``x_range``, ``min_coverage``, ``allow_zero``)."""
    return grid_spectrum(spectrum, n_points, normalise=normalise, fwhm=fwhm,
                         **options).y.astype(np.float32)  # type: ignore[arg-type]


def stack_to_grid(spectra: Iterable[Spectrum | None], n_points: int = N_POINTS, *,
                  allow_missing: bool = False, **options: object) -> np.ndarray:
    """Stack :func:`to_grid` vectors into an ``(n, n_points)`` float32 matrix.

    ``None`` entries (a modality missing for that sample) become zero rows when
    ``allow_missing`` is true and raise :class:`SpectrumError` otherwise.
    """
    rows = []
    for i, spec in enumerate(spectra):
        if spec is None:
            if not allow_missing:
                raise SpectrumError(f"spectrum {i} is missing (None); pass allow_missing=True "
                                    "to use a zero placeholder")
            rows.append(np.zeros(n_points, dtype=np.float32))
        else:
            rows.append(to_grid(spec, n_points, **options))  # type: ignore[arg-type]
    return np.stack(rows) if rows else np.zeros((0, n_points), dtype=np.float32)
