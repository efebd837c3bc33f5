"""Unit handling: convert any supported axis and intensity unit to the canonical ones.

Canonical units (see :mod:`mspectmol.spectra.modalities`): wavenumbers in cm-1 for IR and
Raman, photon energy in eV for UV-Vis, ppm for NMR, m/z for MS. Intensities of IR and
UV-Vis are converted to absorbance-like quantities (transmittance and %T become
absorbance; absorptivities are kept, being proportional to absorbance). The canonical
spectrum has an ascending axis without duplicated x values.

Absorbance-proportional units are kept as they are (a model sees max-normalised spectra, so a
constant factor does not matter): molar absorptivity (``L/(mol cm)`` in its spellings), the
NIST quantitative IR database's ``(micromol/mol)-1m-1 (base 10)``, absorption coefficients,
integrated band intensities (km/mol) and Kubelka-Munk units of diffuse reflectance.
Reflectance and %R become pseudo-absorbance ``-log10(R)``.
"""

from __future__ import annotations

import re

import numpy as np

from mspectmol.errors import UnitError
from mspectmol.spectra.spectrum import Spectrum

#: eV * nm: E = HC_EV_NM / lambda.
HC_EV_NM = 1239.841984

_X_ALIASES = {
    "cm-1": "cm-1", "1/cm": "cm-1", "cm^-1": "cm-1", "cm**-1": "cm-1", "wavenumber": "cm-1",
    "wavenumbers": "cm-1", "wavenumbers (cm-1)": "cm-1", "cm−1": "cm-1", "kayser": "cm-1",
    "um": "um", "µm": "um", "μm": "um", "micrometers": "um", "micrometres": "um",
    "micrometer": "um", "micrometre": "um", "microns": "um", "micron": "um",
    "nm": "nm", "nanometers": "nm", "nanometres": "nm", "nanometer": "nm",
    "ev": "eV", "electronvolt": "eV", "electronvolts": "eV",
    "ppm": "ppm", "hz": "Hz", "δ": "ppm", "delta": "ppm", "chemical shift": "ppm",
    "wellenzahl": "cm-1", "wellenzahlen": "cm-1", "nombre d'onde": "cm-1",
    "número de onda": "cm-1", "numero de onda": "cm-1", "numero d'onda": "cm-1",
    "wavelength": "nm", "wellenlänge": "nm", "longueur d'onde": "nm",
    "raman shift": "cm-1", "raman-verschiebung": "cm-1",
    "m/z": "m/z", "mz": "m/z", "th": "m/z", "thomson": "m/z", "mass": "m/z", "da": "m/z",
}

_Y_ALIASES = {
    "absorbance": "absorbance", "a": "absorbance", "abs": "absorbance", "au": "absorbance",
    "absorbance units": "absorbance",
    "transmittance": "transmittance", "t": "transmittance",
    "%t": "%T", "% transmittance": "%T", "percent transmittance": "%T", "%transmittance": "%T",
    "transmittance (%)": "%T",
    "reflectance": "reflectance", "%r": "%R",
    "absorptivity": "absorptivity", "molar absorptivity": "absorptivity", "epsilon": "absorptivity",
    "l/(mol cm)": "absorptivity", "l mol-1 cm-1": "absorptivity", "m-1 cm-1": "absorptivity",
    "log epsilon": "log_absorptivity", "log(epsilon)": "log_absorptivity",
    "l/(mol.cm)": "absorptivity", "l/(mol*cm)": "absorptivity", "l/mol/cm": "absorptivity",
    "l mol^-1 cm^-1": "absorptivity", "l.mol-1.cm-1": "absorptivity", "m^-1 cm^-1": "absorptivity",
    "dm3/(mol cm)": "absorptivity", "dm3 mol-1 cm-1": "absorptivity",
    "(micromol/mol)-1m-1 (base 10)": "absorptivity", "(micromol/mol)-1m-1": "absorptivity",
    "(umol/mol)-1m-1 (base 10)": "absorptivity", "(umol/mol)-1m-1": "absorptivity",
    "ppm-1m-1": "absorptivity", "ppm-1 m-1": "absorptivity",
    "absorption coefficient": "absorptivity", "attenuation coefficient": "absorptivity",
    "kubelka-munk": "kubelka_munk", "kubelka munk": "kubelka_munk", "k-m": "kubelka_munk",
    "f(r)": "kubelka_munk", "log(1/r)": "absorbance", "log 1/r": "absorbance",
    "transmission": "transmittance", "t%": "%T", "%trans": "%T", "% t": "%T", "t (%)": "%T",
    "transmission (%)": "%T", "% transmission": "%T", "%transmission": "%T",
    "reflectance (%)": "%R", "% reflectance": "%R", "r%": "%R", "remission": "reflectance",
    "absorption": "absorbance", "extinction": "absorbance", "extinktion": "absorbance",
    "absorbanz": "absorbance", "absorbancia": "absorbance", "absorbância": "absorbance",
    "assorbanza": "absorbance", "transmittanz": "transmittance",
    "transmitancia": "transmittance", "transmitância": "transmittance",
    "trasmittanza": "transmittance", "durchlässigkeit": "transmittance",
    "km/mol": "km/mol", "a^4/amu": "raman_activity", "raman activity": "raman_activity",
    "counts": "counts", "intensity": "arbitrary", "arbitrary": "arbitrary",
    "arbitrary units": "arbitrary", "arb. units": "arbitrary", "a.u.": "arbitrary",
    "relative": "relative", "relative abundance": "relative", "relative intensity": "relative",
    "normalized": "relative", "normalised": "relative",
}

# every canonical spelling is also accepted as itself (a unit read back from a Spectrum)
_Y_ALIASES.update({v.lower(): v for v in set(_Y_ALIASES.values())})

_ALLOWED_X = {
    "ir": {"cm-1", "um", "nm"},
    "raman": {"cm-1"},
    "uv": {"eV", "nm", "cm-1"},
    "h_nmr": {"ppm", "Hz"},
    "c_nmr": {"ppm", "Hz"},
    "ms": {"m/z"},
}


def normalise_x_unit(unit: str | None, source: str | None = None) -> str:
    """Canonical spelling of an axis unit, or raise :class:`UnitError`."""
    key = (unit or "").strip().lower().replace(" ", " ")
    if key in _X_ALIASES:
        return _X_ALIASES[key]
    raise UnitError(f"unknown x-axis unit {unit!r}; known: cm-1, um, nm, eV, ppm, Hz, m/z",
                    source)


#: Spellings of molar absorptivity beyond the table: L (or dm3) per mol per cm.
_MOLAR = re.compile(r"^(l|dm3|dm\^3)\s*[/.*·\s]?\s*\(?\s*mol\s*[.*·\s]?\s*cm\s*\)?$|"
                    r"^(l|dm3|dm\^3)\s*[.*·\s]?\s*mol\s*\^?-1\s*[.*·\s]?\s*cm\s*\^?-1$")


def normalise_y_unit(unit: str | None, source: str | None = None) -> str:
    """Canonical spelling of an intensity unit, or raise :class:`UnitError`."""
    key = " ".join((unit or "arbitrary").strip().lower().split())
    if key in _Y_ALIASES:
        return _Y_ALIASES[key]
    if _MOLAR.match(key):
        return "absorptivity"
    raise UnitError(
        f"unknown intensity unit {unit!r}; known: absorbance, transmittance, %T, reflectance, "
        "%R, absorptivity (L/(mol cm), NIST (micromol/mol)-1m-1), km/mol, Kubelka-Munk, "
        "counts, relative, arbitrary (declare it with --y-unit)",
        source,
    )


def convert_x(x: np.ndarray, unit: str, modality: str, *, observe_mhz: float | None = None,
              source: str | None = None) -> np.ndarray:
    """Convert axis values to the modality's canonical unit.

    Parameters
    ----------
    x
        Axis values in ``unit``.
    unit
        Axis unit (any alias known to :func:`normalise_x_unit`).
    modality
        Registry name of the modality.
    observe_mhz
        Spectrometer frequency in MHz, needed to turn an NMR axis in Hz into ppm.

    Returns
    -------
    numpy.ndarray
        Converted values (order not changed).
    """
    u = normalise_x_unit(unit, source)
    if u not in _ALLOWED_X[modality]:
        raise UnitError(f"x unit {unit!r} cannot be used for modality {modality!r}", source)
    x = np.asarray(x, dtype=np.float64)
    if modality in ("ir", "raman"):
        if u == "cm-1":
            return x
        if np.any(x <= 0):
            raise UnitError(f"non-positive wavelengths in {u} cannot become cm-1", source)
        return (1e4 / x) if u == "um" else (1e7 / x)
    if modality == "uv":
        if u == "eV":
            return x
        if np.any(x <= 0):
            raise UnitError(f"non-positive values in {u} cannot become eV", source)
        return HC_EV_NM / x if u == "nm" else x * (HC_EV_NM / 1e7)
    if modality in ("h_nmr", "c_nmr"):
        if u == "ppm":
            return x
        if not observe_mhz or observe_mhz <= 0:
            raise UnitError("an NMR axis in Hz needs the spectrometer frequency "
                            "(observe frequency in MHz) to become ppm", source)
        return x / observe_mhz
    return x


def convert_y(y: np.ndarray, unit: str, *, source: str | None = None) -> tuple[np.ndarray, str]:
    """Convert intensities to an absorbance-like scale where the unit says how.

    Transmittance ``T`` (0-1) and ``%T`` become absorbance ``-log10(T)`` (``T`` clipped to
    ``[1e-4, 1]`` so that noise at zero transmittance stays finite, i.e. at most 4 absorbance
    units); reflectance is treated the same way (pseudo-absorbance); ``log epsilon``
    becomes epsilon. Other units are kept.

    Returns
    -------
    tuple
        The converted intensities and their unit.
    """
    u = normalise_y_unit(unit, source)
    y = np.asarray(y, dtype=np.float64)
    if u in ("transmittance", "%T", "reflectance", "%R"):
        t = y / 100.0 if u in ("%T", "%R") else y
        if u == "transmittance" and np.nanmax(t) > 1.5:
            raise UnitError("transmittance values above 1.5: the file probably holds %T; "
                            "pass --y-unit %T", source)
        return -np.log10(np.clip(t, 1e-4, 1.0)), "absorbance"
    if u == "log_absorptivity":
        return np.power(10.0, y), "absorptivity"
    return y, u


def sort_and_merge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by x ascending and average the intensities of duplicated x values."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    uniq, inverse, counts = np.unique(xs, return_inverse=True, return_counts=True)
    if uniq.size == xs.size:
        return xs, ys
    sums = np.zeros(uniq.size)
    np.add.at(sums, inverse, ys)
    return uniq, sums / counts


def to_canonical(spectrum: Spectrum) -> Spectrum:
    """Return the spectrum in its modality's canonical x unit, ascending, without duplicates.

    Profiles with transmittance become absorbance. Peak lists are sorted but duplicated
    m/z values are summed (two peaks at the same m/z are one peak).
    """
    mod = spectrum.modality
    src = spectrum.source
    x = convert_x(spectrum.x, spectrum.x_unit or "", mod,
                  observe_mhz=spectrum.metadata.get("observe_mhz"), source=src)
    y, y_unit = convert_y(spectrum.y, spectrum.y_unit or "arbitrary", source=src)
    if spectrum.is_peaks:
        order = np.argsort(x, kind="stable")
        xs, ys = x[order], y[order]
        uniq, inverse = np.unique(xs, return_inverse=True)
        summed = np.zeros(uniq.size)
        np.add.at(summed, inverse, ys)
        xs, ys = uniq, summed
    else:
        xs, ys = sort_and_merge(x, y)
    out = spectrum.with_data(xs, ys, x_unit=spectrum.modality_info.x_unit, y_unit=y_unit)
    steps = []
    if spectrum.x_unit != out.x_unit:
        steps.append(f"x: {spectrum.x_unit} -> {out.x_unit}")
    if spectrum.y_unit != y_unit:
        steps.append(f"y: {spectrum.y_unit} -> {y_unit}")
    for s in steps:
        out = out.log_step(s)
    return out
