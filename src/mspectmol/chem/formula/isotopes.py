"""Isotope patterns of formulas at the resolution of common mass spectrometers.

Isotopologues are grouped by their nominal mass offset from the monoisotopic ion (M, M+1,
M+2, ...), as an instrument that does not resolve the fine structure (13C against 15N or
2H within M+1) sees them: each group has its summed abundance and its abundance-weighted mean
mass. The pattern of ``n`` atoms of an element is its isotope distribution convolved ``n``
times (by repeated squaring), truncated to the first ``n_peaks`` offsets; a formula's pattern
is the convolution of its elements' patterns. Abundances are NIST's
(:data:`pyteomics.mass.nist_mass`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np
from pyteomics.mass import nist_mass

from mspectmol.chem.formula.composition import ELECTRON_MASS, monoisotopic

#: Isotope peaks computed by default (M to M+5).
N_PEAKS = 6


@cache
def _element(element: str, n_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    """(abundance, abundance x mass) of one atom by nominal offset from its main isotope."""
    mono = monoisotopic(element)
    prob = np.zeros(n_peaks)
    pmass = np.zeros(n_peaks)
    for number, (mass, abundance) in nist_mass[element].items():
        if number == 0 or abundance <= 0:
            continue
        offset = int(round(mass - mono))
        if 0 <= offset < n_peaks:
            prob[offset] += abundance
            pmass[offset] += abundance * mass
    return prob, pmass


def _combine(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
             n_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    """Distribution of the sum of two independent parts (probabilities and mass moments)."""
    pa, ma = a
    pb, mb = b
    prob = np.convolve(pa, pb)[:n_peaks]
    pmass = (np.convolve(ma, pb) + np.convolve(pa, mb))[:n_peaks]
    return prob, pmass


def _power(element: str, count: int, n_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    result = (np.eye(1, n_peaks)[0], np.zeros(n_peaks))
    base = _element(element, n_peaks)
    while count:
        if count & 1:
            result = _combine(result, base, n_peaks)
        count >>= 1
        if count:
            base = _combine(base, base, n_peaks)
    return result


def isotope_pattern(formula: Mapping[str, int], *, charge: int = 0,
                    n_peaks: int = N_PEAKS) -> tuple[np.ndarray, np.ndarray]:
    """m/z (or mass, ``charge=0``) and abundance relative to the monoisotopic peak.

    Parameters
    ----------
    formula
        Element counts of the ion (or of the neutral molecule with ``charge=0``).
    charge
        Ion charge; the masses lose ``charge`` electrons and are divided by ``|charge|``.
    n_peaks
        Offsets M, M+1, ... returned.

    Returns
    -------
    mz, intensity
        ``(n_peaks,)`` arrays; ``intensity[0] == 1``. An offset without isotopologues has
        intensity 0 and the nominal m/z.
    """
    prob = np.eye(1, n_peaks)[0]
    pmass = np.zeros(n_peaks)
    for element, count in formula.items():
        if count > 0:
            prob, pmass = _combine((prob, pmass), _power(element, int(count), n_peaks), n_peaks)
    mono = float(sum(monoisotopic(e) * n for e, n in formula.items()))
    mass = np.where(prob > 0, pmass / np.where(prob > 0, prob, 1.0),
                    mono + np.arange(n_peaks, dtype=float))
    if charge:
        mass = (mass - charge * ELECTRON_MASS) / abs(charge)
    return mass, prob / prob[0]
