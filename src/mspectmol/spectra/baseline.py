"""Baseline correction for measured spectra.

``baseline_als`` is asymmetric least squares smoothing (Eilers & Boelens 2005): a smooth
curve that the spectrum lies above almost everywhere; ``baseline_rubberband`` is the lower
convex hull of the points. Both work on ``(n,)`` or ``(batch, n)`` arrays.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from mspectmol.errors import SpectrumError
from mspectmol.spectra.preprocessing import _as_rows
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import to_canonical


def baseline_als(y: np.ndarray, lam: float = 1e5, p: float = 0.01, n_iter: int = 10) -> np.ndarray:
    """Asymmetric least squares baseline (Eilers & Boelens 2005) of each row.

    Minimises ``sum w_i (y_i - z_i)^2 + lam * sum (z_i - 2 z_{i+1} + z_{i+2})^2``, with
    weights ``p`` where the signal lies above the current baseline (peaks) and ``1 - p``
    elsewhere, re-estimated ``n_iter`` times; each step solves the sparse pentadiagonal
    system ``(W + lam D'D) z = W y``. Usual ranges: ``lam`` 1e2-1e9 (smoothness), ``p``
    0.001-0.1 (asymmetry). Returns the baseline, shaped like ``y``; subtract it.
    """
    rows = _as_rows(y, None)
    n = rows.shape[1]
    if n < 3 or not lam > 0 or not 0 < p < 1 or n_iter < 1:
        raise SpectrumError(f"baseline_als needs >= 3 points, lam > 0, 0 < p < 1 and "
                            f"n_iter >= 1 (got {n}, {lam}, {p}, {n_iter})")
    diff2 = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
    penalty = lam * (diff2.T @ diff2)
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        w = np.ones(n)
        for _ in range(int(n_iter)):
            z = spsolve((penalty + sparse.diags(w)).tocsc(), w * row)
            w = np.where(row > z, p, 1.0 - p)
        out[r] = z
    return out.reshape(np.shape(y))


def _lower_hull(x: list[float], y: list[float]) -> list[int]:
    """Indices of the lower convex hull of points sorted by x (monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            if (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o]) > 0:
                break
            hull.pop()
        hull.append(i)
    return hull


def baseline_rubberband(y: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    """Rubber-band baseline of each row: its lower convex hull, linearly interpolated.

    ``x`` (strictly increasing; default the point indices) gives the axis. The baseline
    touches the spectrum at its hull points and lies below it everywhere else.
    """
    rows = _as_rows(y, None)
    xs = np.arange(rows.shape[1], dtype=np.float64) if x is None else np.asarray(x, float)
    if xs.shape != rows.shape[1:] or np.any(np.diff(xs) <= 0):
        raise SpectrumError("x must be strictly increasing and match the spectrum length")
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        hull = _lower_hull(xs.tolist(), row.tolist())
        out[r] = np.interp(xs, xs[hull], row[hull])
    return out.reshape(np.shape(y))


def subtract_baseline(spectrum: Spectrum, method: str = "als", **options: float) -> Spectrum:
    """Canonical profile minus its ``"als"`` (:func:`baseline_als`, ``options`` passed on)
    or ``"rubberband"`` baseline; the step is logged."""
    if spectrum.is_peaks or method not in ("als", "rubberband"):
        raise SpectrumError(f"baseline correction needs a profile and method 'als' or "
                            f"'rubberband' (got a {spectrum.kind} and {method!r})",
                            spectrum.source)
    canon = to_canonical(spectrum)
    base = (baseline_als(canon.y, **options) if method == "als"  # type: ignore[arg-type]
            else baseline_rubberband(canon.y, canon.x))
    extra = "".join(f" {k}={v:g}" for k, v in options.items())
    return canon.with_data(canon.x, canon.y - base).log_step(f"baseline: {method}{extra}")
