"""How well a simulated spectrum matches an observed one: the ranking's ``spec`` term and the
second stage's ``full`` term (:mod:`~mspectmol.structure.ranking.scores`,
:mod:`~mspectmol.structure.ranking.refine`).

Both compare spectra on the same grid by cosine distance, after an optional Gaussian
smoothing and, optionally, the best whole-spectrum shift of the simulated spectrum.

The ``lines`` term compares 13C spectra by where their lines are, not by their profiles: the
lines picked from each spectrum (:func:`line_positions`) and the mean distance from each line
to the nearest line of the other spectrum, both ways (:func:`line_distance`). Line widths,
heights (weak quaternary carbons, NOE) and C-F splittings then cost little, where the cosine of
two profiles pays for each of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from mspectmol.errors import MspectmolError

#: Smallest prominence of a picked line, as a share of the spectrum's largest value.
LINE_PROMINENCE = 0.02
#: Largest distance (ppm) a line counts with in :func:`line_distance`: a line with no partner
#: within it costs that much, however far the nearest line is.
LINE_CAP = 5.0


def smoothed(y: np.ndarray, smooth: float) -> np.ndarray:
    """``y`` as float64, blurred by a Gaussian of ``smooth`` grid points (none at 0)."""
    a = np.asarray(y, dtype=np.float64)
    if smooth > 0:
        a = gaussian_filter1d(a, smooth, mode="constant")
    return a


def _best_cosine(a: np.ndarray, b: np.ndarray, max_shift: int) -> float:
    """Largest cosine (at least 0) between ``a`` and ``b`` moved as a whole by ``-max_shift``
    ... ``max_shift`` points, zero-filled."""
    n, na, best = len(a), np.linalg.norm(a), 0.0
    if na == 0:
        return best
    for s in range(-min(max_shift, n - 1), min(max_shift, n - 1) + 1):
        x, z = (a[s:], b[:n - s]) if s >= 0 else (a[:n + s], b[-s:])  # z[i] = b[i - s]
        nz = np.linalg.norm(z)
        if nz > 0:
            best = max(best, float(x @ z) / (na * nz))
    return best


def spectral_distance(observed: Mapping[str, np.ndarray], simulated: Mapping[str, np.ndarray],
                      smooth: float = 0.0, max_shift: int = 0) -> float:
    """Mean over the observed modalities of ``1 - cosine(observed, simulated)``.

    ``smooth`` > 0 first blurs both spectra with a Gaussian of that standard deviation in grid
    points, so that slightly shifted lines still overlap (NMR lines are narrow: a 1H line
    moved by 0.1 ppm no longer overlaps its original at all). ``max_shift`` > 0 takes, per
    modality, the best cosine over whole-spectrum shifts of the simulated spectrum by up to
    that many grid points (zero-filled), so that a referencing offset costs nothing.
    """
    if int(max_shift) != max_shift or max_shift < 0:
        raise MspectmolError(f"max_shift must be a non-negative integer, got {max_shift!r}")
    dists = []
    for m, y in observed.items():
        a = np.asarray(y, dtype=np.float64)
        b = np.asarray(simulated[m], dtype=np.float64)
        if a.shape != b.shape:
            raise MspectmolError(f"{m}: observed ({a.shape}) and simulated ({b.shape}) "
                                 "spectra differ in length")
        a, b = smoothed(a, smooth), smoothed(b, smooth)
        if max_shift:
            dists.append(1.0 - _best_cosine(a, b, int(max_shift)))
            continue
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        dists.append(1.0 if na == 0 or nb == 0 else 1.0 - float(a @ b) / (na * nb))
    if not dists:
        raise MspectmolError("no observed spectrum to compare with")
    return float(np.mean(dists))


def line_positions(y: np.ndarray, grid: np.ndarray, prominence: float = LINE_PROMINENCE
                   ) -> np.ndarray:
    """Positions (the grid's unit) of the lines of a spectrum: its local maxima whose
    prominence is at least ``prominence`` times its largest value (none for an empty one)."""
    a = np.asarray(y, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if a.shape != g.shape:
        raise MspectmolError(f"a spectrum of {a.shape} points on a grid of {g.shape}")
    top = a.max() if a.size else 0.0
    if not top > 0:
        return np.zeros(0)
    index, _ = find_peaks(a / top, prominence=prominence)
    return g[index]


def line_distance(observed: np.ndarray, simulated: np.ndarray, cap: float = LINE_CAP) -> float:
    """Symmetric mean nearest-line distance between two sets of line positions.

    The mean, over the observed lines, of the distance to the nearest simulated line, and the
    same from the simulated lines, averaged; each distance is capped at ``cap`` (also the
    distance when either set is empty). 0 when every line has a partner at the same place.
    """
    a = np.asarray(observed, dtype=np.float64).ravel()
    b = np.asarray(simulated, dtype=np.float64).ravel()
    if not cap > 0:
        raise MspectmolError(f"the line distance cap must be positive, got {cap!r}")
    if a.size == 0 or b.size == 0:
        return float(cap)
    d = np.abs(a[:, None] - b[None, :])
    return float(0.5 * (np.minimum(d.min(axis=1), cap).mean()
                        + np.minimum(d.min(axis=0), cap).mean()))


def line_terms(observed: np.ndarray, simulated: Sequence[np.ndarray | None], grid: np.ndarray
               ) -> np.ndarray:
    """Minus :func:`line_distance` between the lines of an observed 13C spectrum and those of
    each simulated one on ``grid`` (:data:`LINE_CAP` for a missing simulation): the ranking's
    ``lines`` and ``full_lines`` terms."""
    seen = line_positions(observed, grid)
    return -np.asarray([LINE_CAP if y is None else line_distance(seen, line_positions(y, grid))
                        for y in simulated], dtype=np.float64)
