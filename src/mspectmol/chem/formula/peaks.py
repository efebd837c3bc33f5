"""The monoisotopic ion and its isotope peaks in a mass spectrum's peak list.

With a precursor m/z (an MS/MS spectrum's, or given by the user) the ion is the peak nearest
to it within the tolerance, or the precursor itself when the spectrum lacks it. Without one
(an MS1 or EI spectrum) the ion is the peak of highest m/z among the significant peaks that
is not an isotope peak of a lighter one - an assumption the result states. A peak is taken
for the M+1 of the peak one unit below when it is at most as intense as 13C, 15N and 2H allow
for that mass (:func:`max_m1_ratio`), and for the M+2 of the peak two units below when it is
at most :data:`MAX_M2_RATIO` of it (two chlorines or one bromine give up to 0.65 and 0.98).
Isotope peaks M+1, M+2, ... are summed over a window of :data:`CLUSTER_WINDOW` Da around
``M + k x 1.00336 / z``: an instrument that does not resolve 13C from 34S or 37Cl sees them as
one peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mspectmol.errors import MspectmolError

#: Mass difference of 13C and 12C (Da): the spacing of isotope peaks.
ISOTOPE_SPACING = 1.0033548
#: Half-width (Da) of an isotope cluster (13C2 against 34S, 37Cl, 81Br differ by < 0.012 Da).
CLUSTER_WINDOW = 0.02
#: Peaks below this fraction of the base peak are not candidates for the molecular ion.
SIGNIFICANT = 0.01
#: Largest M+2/M ratio of an organic ion taken for an isotope peak (Br: 0.97, Cl2: 0.65).
MAX_M2_RATIO = 1.1


def max_m1_ratio(mass: float) -> float:
    """Largest M+1/M intensity ratio of an organic ion of this mass: 1.12% per carbon for at
    most ``mass / 12`` carbons, with a 30% margin and 5 points for other contributions."""
    return 0.0112 * mass / 12.0 * 1.3 + 0.05


@dataclass(frozen=True)
class IonPeaks:
    """The monoisotopic ion of a spectrum and its isotope intensities relative to it."""

    mz: float
    intensity: float
    isotopes: tuple[float, ...] | None
    how: str
    nominal: bool


def is_nominal(mz: np.ndarray) -> bool:
    """True when at least 90% of the m/z values are integers (a nominal-mass spectrum, e.g.
    unit-resolution EI); accurate m/z values are integers only by chance."""
    return bool(mz.size) and float(np.mean(np.abs(mz - np.rint(mz)) < 1e-6)) >= 0.9


def _cluster(mz: np.ndarray, intensity: np.ndarray, centre: float, window: float) -> float:
    return float(intensity[np.abs(mz - centre) <= window].sum())


def find_ion(mz: np.ndarray, intensity: np.ndarray, *, precursor_mz: float | None = None,
             ppm: float = 5.0, charge: int = 1, n_isotopes: int = 3) -> IonPeaks:
    """The monoisotopic ion of a peak list and its isotope pattern (see the module docstring).

    Raises
    ------
    MspectmolError
        For an empty peak list without a precursor.
    """
    mz = np.asarray(mz, dtype=float)
    intensity = np.asarray(intensity, dtype=float)
    keep = np.isfinite(mz) & np.isfinite(intensity) & (intensity > 0)
    mz, intensity = mz[keep], intensity[keep]
    nominal = is_nominal(mz)
    window = 0.5 if nominal else CLUSTER_WINDOW
    step = ISOTOPE_SPACING / abs(charge)
    if precursor_mz is not None:
        tol = max(precursor_mz * ppm * 1e-6, 1e-4) if not nominal else 0.5
        near = np.abs(mz - precursor_mz) <= tol
        if not near.any():
            return IonPeaks(float(precursor_mz), 0.0, None,
                            "the precursor m/z (the spectrum has no peak there)", nominal)
        i = int(np.argmax(np.where(near, intensity, -1.0)))
        how = "the peak at the precursor m/z"
    else:
        if not mz.size:
            raise MspectmolError("the mass spectrum has no peaks")
        strong = intensity >= SIGNIFICANT * intensity.max()
        order = np.argsort(-mz)
        i = -1
        for j in order:
            if not strong[j]:
                continue
            m1 = _cluster(mz, intensity, mz[j] - step, window)
            m2 = _cluster(mz, intensity, mz[j] - 2 * step, window)
            isotope = (m1 > 0 and intensity[j] <= max_m1_ratio(mz[j]) * m1) or \
                (m2 > 0 and intensity[j] <= MAX_M2_RATIO * m2)
            if not isotope:
                i = int(j)
                break
        if i < 0:
            i = int(np.argmax(intensity))
        how = ("the highest-m/z peak that is not an isotope peak (assumed to be the "
               "molecular ion)")
    base = float(intensity[i])
    isotopes = tuple(_cluster(mz, intensity, mz[i] + k * step, window) / base
                     for k in range(1, n_isotopes + 1))
    # an MS/MS spectrum holds no isotope peaks of its isolated precursor: say "unknown"
    if precursor_mz is not None and not any(isotopes):
        isotopes_out = None
    else:
        isotopes_out = isotopes
    return IonPeaks(float(mz[i]), base, isotopes_out, how, nominal)
