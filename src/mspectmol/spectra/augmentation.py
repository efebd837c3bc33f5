"""Spectrum augmentations for training (the paper's appendix Q) and noise for robustness tests.

Every function takes a ``(n_points,)`` or ``(batch, n_points)`` array and an explicit
``numpy.random.Generator``; random parameters are drawn independently for each row, so a
batch gets a different shift, noise pattern or smoothing width per spectrum, and the same
generator state reproduces the same result. Floating input keeps its dtype (float32
batches stay float32). The deterministic cores (:func:`shift_rows`, :func:`smooth_rows`)
are public so a fixed transformation can be applied and tested.

Appendix Q of the paper lists: horizontal shift of up to 10 points, uniform vertical noise
up to 0.05 whose magnitude is inversely scaled by the signal intensity, a Gaussian filter
with sigma drawn from [0.75, 1.25], and combinations (shift or noise, then smoothing).
Appendix R adds Gaussian noise with sigma proportional to each spectrum's maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mspectmol.errors import MspectmolError, SpectrumError
from mspectmol.spectra.spectrum import Spectrum

#: An augmentation: ``fn(y, rng) -> y_augmented`` with the shape and dtype of ``y``.
AugmentFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: Names :class:`Augmenter` understands, joined with ``"+"`` and applied left to right.
AUGMENTATIONS = ("shift", "noise", "smooth", "gaussian_noise")


def _rows(y: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], np.dtype]:
    """Float64 2-D view of the input, its shape and the dtype to return."""
    arr = np.asarray(y)
    if arr.ndim not in (1, 2) or arr.shape[-1] < 1:
        raise SpectrumError(f"expected a (n_points,) or (batch, n_points) array, got shape "
                            f"{arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise SpectrumError("intensities to augment must be finite numbers")
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)
    return np.atleast_2d(arr.astype(np.float64)), arr.shape, dtype


def _back(rows: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return rows.reshape(shape).astype(dtype, copy=False)


def _per_row(values: float | np.ndarray, n_rows: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 1:
        return np.full(n_rows, arr[0])
    if arr.size != n_rows:
        raise SpectrumError(f"{name} needs one value or one per row ({n_rows}), got {arr.size}")
    return arr


def shift_rows(y: np.ndarray, shifts: int | Sequence[int] | np.ndarray,
               fill: str | float = "edge") -> np.ndarray:
    """Shift each row by an integer number of points (positive: towards higher index).

    ``out[j] = y[j - s]``. Points that enter at the edge take the edge value
    (``fill="edge"``, the default: a flat continuation of the baseline), zero
    (``fill="zero"``) or a given number.
    """
    rows, shape, dtype = _rows(y)
    s = _per_row(shifts, rows.shape[0], "shifts")
    if np.any(s != np.round(s)):
        raise SpectrumError("shifts must be whole numbers of points")
    n = rows.shape[1]
    src = np.arange(n)[None, :] - s.astype(np.int64)[:, None]
    out = np.take_along_axis(rows, np.clip(src, 0, n - 1), axis=1)
    if fill != "edge":
        value = 0.0 if fill == "zero" else float(fill)
        out[(src < 0) | (src >= n)] = value
    return _back(out, shape, dtype)


def horizontal_shift(y: np.ndarray, rng: np.random.Generator, max_shift: int = 10,
                     fill: str | float = "edge") -> np.ndarray:
    """Shift each row by an integer drawn uniformly from ``[-max_shift, max_shift]``.

    Appendix Q: "a random horizontal shift of up to 10 pixels"; both directions and no
    shift are possible. The draw is ``rng.integers(-max_shift, max_shift + 1, batch)``;
    edges are filled as in :func:`shift_rows`.
    """
    rows, shape, _ = _rows(y)
    if int(max_shift) != max_shift or max_shift < 0:
        raise SpectrumError(f"max_shift must be a non-negative integer, got {max_shift!r}")
    shifts = rng.integers(-int(max_shift), int(max_shift) + 1, size=rows.shape[0])
    return shift_rows(y, shifts, fill)


def noise_weights(y: np.ndarray, weighting: str = "reciprocal") -> np.ndarray:
    """Per-point noise amplitude factor in [0, 1], decreasing with relative intensity.

    With ``r = |y| / max|y|`` per row: ``"reciprocal"`` gives ``1 / (1 + r)`` (1 at the
    baseline, 1/2 at the tallest peak: the amplitude is inversely proportional to
    ``1 + r``, a reciprocal that stays finite at zero intensity), ``"linear"`` gives
    ``1 - r`` (no noise on the tallest peak). All-zero rows get weight 0 (placeholders
    for missing modalities stay zero).
    """
    rows, shape, _ = _rows(y)
    peak = np.abs(rows).max(axis=1, keepdims=True)
    r = np.abs(rows) / np.where(peak > 0, peak, 1.0)
    if weighting == "reciprocal":
        w = 1.0 / (1.0 + r)
    elif weighting == "linear":
        w = 1.0 - r
    else:
        raise SpectrumError(f"weighting must be 'reciprocal' or 'linear', not {weighting!r}")
    return np.where(peak > 0, w, 0.0).reshape(shape)


def vertical_noise(y: np.ndarray, rng: np.random.Generator, max_level: float = 0.05,
                   weighting: str = "reciprocal") -> np.ndarray:
    """Add uniform noise whose amplitude shrinks where the signal is strong (appendix Q).

    Our reading of "uniform random noise (up to a level of 0.05) is added to the
    intensity values, with the noise magnitude being inversely scaled by the signal
    intensity": ``y_i + u_i * max_level * max|y| * w_i`` with ``u_i ~ U(-1, 1)`` drawn
    independently per point and ``w_i`` from :func:`noise_weights`. For spectra
    normalised to max 1 the noise is at most 0.05 in absolute terms (0.05 at the
    baseline, 0.025 at the tallest peak with the default reciprocal weighting); scaling
    by ``max|y|`` makes it independent of the intensity unit.
    """
    rows, shape, dtype = _rows(y)
    if not max_level >= 0:
        raise SpectrumError(f"max_level must be >= 0, got {max_level!r}")
    scale = max_level * np.abs(rows).max(axis=1, keepdims=True)
    u = rng.uniform(-1.0, 1.0, size=rows.shape)
    out = rows + u * scale * noise_weights(rows, weighting)
    return _back(out, shape, dtype)


def gaussian_noise(y: np.ndarray, rng: np.random.Generator, sigma_fraction: float) -> np.ndarray:
    """Add N(0, sigma^2) noise with ``sigma = sigma_fraction * max|y|`` of each row.

    The noise of the paper's robustness test (appendix R, table 14: levels up to 0.1),
    which keeps the signal-to-noise ratio equal across spectra.
    """
    rows, shape, dtype = _rows(y)
    if not sigma_fraction >= 0:
        raise SpectrumError(f"sigma_fraction must be >= 0, got {sigma_fraction!r}")
    sigma = sigma_fraction * np.abs(rows).max(axis=1, keepdims=True)
    return _back(rows + rng.standard_normal(rows.shape) * sigma, shape, dtype)


def smooth_rows(y: np.ndarray, sigmas: float | np.ndarray, truncate: float = 4.0) -> np.ndarray:
    """Gaussian filter of each row with its own sigma (in points), vectorised over rows.

    Same kernel (radius ``int(truncate * sigma + 0.5)``, weights summing to 1) and edge
    handling (mirror, ``d c b a | a b c d``) as ``scipy.ndimage.gaussian_filter1d``, so the
    total intensity is preserved up to edge effects.
    """
    rows, shape, dtype = _rows(y)
    sig = _per_row(sigmas, rows.shape[0], "sigmas")
    if not np.all(sig > 0):
        raise SpectrumError("smoothing sigmas must be positive")
    radius = (truncate * sig + 0.5).astype(np.int64)
    big = int(radius.max())
    offsets = np.arange(-big, big + 1)
    kernel = np.exp(-0.5 * (offsets[None, :] / sig[:, None]) ** 2)
    kernel[np.abs(offsets)[None, :] > radius[:, None]] = 0.0
    kernel /= kernel.sum(axis=1, keepdims=True)
    n = rows.shape[1]
    padded = np.pad(rows, ((0, 0), (big, big)), mode="symmetric")
    out = np.zeros_like(rows)
    for k in range(offsets.size):
        out += kernel[:, k:k + 1] * padded[:, k:k + n]
    return _back(out, shape, dtype)


def gaussian_smoothing(y: np.ndarray, rng: np.random.Generator,
                       sigma_range: tuple[float, float] = (0.75, 1.25)) -> np.ndarray:
    """Gaussian filter with sigma (points) drawn uniformly from ``sigma_range`` per row."""
    rows, _, _ = _rows(y)
    lo, hi = sigma_range
    if not 0 < lo <= hi:
        raise SpectrumError(f"sigma_range must satisfy 0 < low <= high, got {sigma_range}")
    return smooth_rows(y, rng.uniform(lo, hi, size=rows.shape[0]))


def compose(*fns: AugmentFn) -> AugmentFn:
    """An augmentation applying ``fns`` left to right with the same generator."""

    def composed(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for fn in fns:
            y = fn(y, rng)
        return y

    return composed


class Augmenter:
    """A named augmentation pipeline: ``Augmenter("shift+smooth")(batch, rng)``.

    Names (see :data:`AUGMENTATIONS`) are joined with ``"+"`` and applied left to right;
    ``"none"`` or ``""`` is the identity. The paper's combined strategies are
    ``"shift+smooth"`` and ``"noise+smooth"``.

    Parameters
    ----------
    spec
        The pipeline, e.g. ``"shift"``, ``"noise+smooth"``, or a sequence of names.
    max_shift, fill
        Passed to :func:`horizontal_shift`.
    max_level, weighting
        Passed to :func:`vertical_noise`.
    sigma_range
        Passed to :func:`gaussian_smoothing`.
    sigma_fraction
        Passed to :func:`gaussian_noise`.
    """

    def __init__(self, spec: str | Sequence[str] = "none", *, max_shift: int = 10,
                 fill: str | float = "edge", max_level: float = 0.05,
                 weighting: str = "reciprocal",
                 sigma_range: tuple[float, float] = (0.75, 1.25),
                 sigma_fraction: float = 0.05) -> None:
        parts = spec.split("+") if isinstance(spec, str) else list(spec)
        names = [p.strip().lower() for p in parts if p.strip().lower() not in ("", "none")]
        unknown = [n for n in names if n not in AUGMENTATIONS]
        if unknown:
            raise MspectmolError(f"unknown augmentation(s) {unknown} in {spec!r}; known: "
                                 f"{', '.join(AUGMENTATIONS)}, none")
        table: dict[str, AugmentFn] = {
            "shift": lambda y, rng: horizontal_shift(y, rng, max_shift, fill),
            "noise": lambda y, rng: vertical_noise(y, rng, max_level, weighting),
            "smooth": lambda y, rng: gaussian_smoothing(y, rng, sigma_range),
            "gaussian_noise": lambda y, rng: gaussian_noise(y, rng, sigma_fraction),
        }
        self.names: tuple[str, ...] = tuple(names)
        self._fn = compose(*(table[n] for n in names))

    def __call__(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment ``y`` (``(n,)`` or ``(batch, n)``); identity returns a copy."""
        return self._fn(np.array(y, copy=True), rng)

    def __repr__(self) -> str:
        return f"Augmenter({'+'.join(self.names) or 'none'!r})"


def augment_spectrum(spectrum: Spectrum, augment: AugmentFn,
                     rng: np.random.Generator) -> Spectrum:
    """Apply an array augmentation to a spectrum's intensities (x kept), logging the step.

    Meant for spectra already on a uniform grid (after
    :func:`~mspectmol.spectra.preprocessing.to_grid`), where a shift of one point is one
    grid step.
    """
    try:
        y = augment(spectrum.y, rng)
    except SpectrumError as exc:
        raise SpectrumError(exc.problem, spectrum.source) from None
    name = augment if isinstance(augment, Augmenter) else getattr(augment, "__name__", augment)
    return spectrum.with_data(spectrum.x, y).log_step(f"augment: {name!r}")
