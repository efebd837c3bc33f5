"""How well a simulated spectrum matches an observed one: the ranking's ``spec`` term and the
second stage's ``full`` term (:mod:`~mspectmol.structure.ranking.scores`,
:mod:`~mspectmol.structure.ranking.refine`).

Both compare spectra on the same grid by cosine distance, after an optional Gaussian
smoothing and, optionally, the best whole-spectrum shift of the simulated spectrum.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mspectmol.errors import MspectmolError


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
