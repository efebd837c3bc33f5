"""The registry of spectroscopic modalities and their canonical axes.

Each modality has one canonical x unit and range (the grid models see), a plotting
direction that follows chemists' conventions (IR wavenumber and NMR ppm decrease to the
right), whether it is measured as a continuous profile or as a peak list (mass spectra),
and the default line width used to turn peak lists into continuous spectra.

``msms_pos`` and ``msms_neg`` are the CFM-ID MS/MS spectra of the Alberts et al. (2024)
dataset, positive and negative mode, each its three collision energies (10, 20, 40 eV) binned
onto the m/z grid and merged into one spectrum
(:func:`mspectmol.spectra.readers.alberts.msms_grid`); ``ms`` is a single mass spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass

from mspectmol.errors import UnknownModalityError


@dataclass(frozen=True)
class Modality:
    """One kind of spectrum.

    Attributes
    ----------
    name
        Registry key, e.g. ``"ir"``.
    label
        Human-readable name for plots and reports.
    x_unit
        Canonical x unit (``"cm-1"``, ``"eV"``, ``"ppm"``, ``"m/z"``).
    x_label
        Axis label for plots.
    x_min, x_max
        Canonical range the default grid spans.
    x_decreasing
        True when chemists plot the axis decreasing to the right (IR, Raman, NMR).
    peak_list
        True when spectra of this modality are usually peak lists (MS).
    fwhm
        Default full width at half maximum, in ``x_unit``, for broadening peak lists.
    line_shape
        Default line shape for broadening: ``"lorentzian"`` or ``"gaussian"``.
    """

    name: str
    label: str
    x_unit: str
    x_label: str
    x_min: float
    x_max: float
    x_decreasing: bool
    peak_list: bool
    fwhm: float
    line_shape: str

    @property
    def x_range(self) -> tuple[float, float]:
        """The canonical ``(x_min, x_max)``."""
        return (self.x_min, self.x_max)


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality("ir", "IR", "cm-1", "Wavenumber (cm$^{-1}$)", 400.0, 4000.0, True, False,
                 15.0, "lorentzian"),
        Modality("raman", "Raman", "cm-1", "Raman shift (cm$^{-1}$)", 400.0, 4000.0, True,
                 False, 15.0, "lorentzian"),
        Modality("uv", "UV-Vis", "eV", "Energy (eV)", 1.0, 15.0, False, False, 0.4,
                 "gaussian"),
        Modality("h_nmr", "$^1$H NMR", "ppm", "$\\delta$ (ppm)", -2.0, 10.0, True, False,
                 0.02, "lorentzian"),
        Modality("c_nmr", "$^{13}$C NMR", "ppm", "$\\delta$ (ppm)", -20.0, 230.0, True,
                 False, 1.0, "lorentzian"),
        Modality("ms", "MS", "m/z", "m/z", 0.0, 1000.0, False, True, 0.5, "gaussian"),
        Modality("msms_pos", "MS/MS$_{pos}$", "m/z", "m/z", 0.0, 1000.0, False, True, 0.5,
                 "gaussian"),
        Modality("msms_neg", "MS/MS$_{neg}$", "m/z", "m/z", 0.0, 1000.0, False, True, 0.5,
                 "gaussian"),
    )
}

_ALIASES = {
    "infrared": "ir", "ftir": "ir", "uv-vis": "uv", "uvvis": "uv", "uv_vis": "uv",
    "1h": "h_nmr", "1h_nmr": "h_nmr", "h-nmr": "h_nmr", "hnmr": "h_nmr", "proton": "h_nmr",
    "13c": "c_nmr", "13c_nmr": "c_nmr", "c-nmr": "c_nmr", "cnmr": "c_nmr", "carbon": "c_nmr",
    "mass": "ms", "msms": "ms", "ms/ms": "ms", "ei": "ms",
    "msms+": "msms_pos", "ms/ms+": "msms_pos", "msms_positive": "msms_pos",
    "msms-pos": "msms_pos", "msmspos": "msms_pos", "ms2_pos": "msms_pos",
    "msms-": "msms_neg", "ms/ms-": "msms_neg", "msms_negative": "msms_neg",
    "msms-neg": "msms_neg", "msmsneg": "msms_neg", "ms2_neg": "msms_neg",
}


def get_modality(name: str | Modality) -> Modality:
    """Return the registered modality for a name or alias (case-insensitive).

    Raises
    ------
    UnknownModalityError
        When the name is not a known modality; the message lists the valid names.
    """
    if isinstance(name, Modality):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MODALITIES:
        raise UnknownModalityError(
            f"unknown modality {name!r}; known modalities: {', '.join(MODALITIES)}"
        )
    return MODALITIES[key]


def modality_names() -> list[str]:
    """Names of all registered modalities, in registry order."""
    return list(MODALITIES)


def option_name(modality: str) -> str:
    """The command-line option of a modality's file (``"h_nmr"`` -> ``"--h-nmr"``)."""
    return "--" + modality.replace("_", "-")
