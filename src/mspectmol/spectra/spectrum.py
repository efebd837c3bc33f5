"""The :class:`Spectrum` data model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mspectmol.errors import SpectrumError
from mspectmol.spectra.modalities import Modality, get_modality

#: Representations a spectrum can have.
PROFILE = "profile"
PEAKS = "peaks"


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One spectrum: x values, intensities, modality and units.

    A spectrum is either a continuous ``"profile"`` (IR absorbance, NMR intensity on a ppm
    axis) or a ``"peaks"`` list (mass spectra; simulated frequencies with intensities). The
    arrays are validated on construction: one dimension, equal length, finite values.
    Units are free strings here; :func:`mspectmol.spectra.units.to_canonical` converts them
    to the modality's canonical unit and checks they are known.

    Parameters
    ----------
    x, y
        Axis values and intensities (converted to float64 arrays).
    modality
        Modality name or alias (``"ir"``, ``"raman"``, ``"uv"``, ``"h_nmr"``, ``"c_nmr"``,
        ``"ms"``), normalised to the registry name.
    x_unit, y_unit
        Units of the axis and of the intensities; ``None`` means the modality's canonical
        x unit and ``"arbitrary"`` intensities.
    metadata
        Free-form information (title, source file, sample, instrument, preprocessing log).
    kind
        ``"profile"`` or ``"peaks"``; ``None`` picks the modality's usual representation.
    source
        Where the spectrum came from, used in error messages.
    """

    x: np.ndarray
    y: np.ndarray
    modality: str
    x_unit: str | None = None
    y_unit: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        mod = get_modality(self.modality)
        object.__setattr__(self, "modality", mod.name)
        if self.x_unit is None:
            object.__setattr__(self, "x_unit", mod.x_unit)
        if self.y_unit is None:
            object.__setattr__(self, "y_unit", "arbitrary")
        kind = self.kind or (PEAKS if mod.peak_list else PROFILE)
        if kind not in (PROFILE, PEAKS):
            raise SpectrumError(f"kind must be 'profile' or 'peaks', not {kind!r}", self.source)
        object.__setattr__(self, "kind", kind)
        try:
            x = np.asarray(self.x, dtype=np.float64)
            y = np.asarray(self.y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SpectrumError(f"values are not numeric ({exc})", self.source) from None
        if x.ndim != 1 or y.ndim != 1:
            raise SpectrumError(
                f"x and y must be one-dimensional, got shapes {x.shape} and {y.shape}",
                self.source,
            )
        if x.shape != y.shape:
            raise SpectrumError(
                f"x and y have different lengths ({x.size} and {y.size})", self.source
            )
        for name, arr in (("x", x), ("intensity", y)):
            bad = ~np.isfinite(arr)
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                raise SpectrumError(
                    f"{int(bad.sum())} {name} value(s) are NaN or infinite "
                    f"(first at point {first})",
                    self.source,
                )
        if kind == PROFILE and x.size < 2:
            raise SpectrumError(f"a profile spectrum needs at least 2 points, got {x.size}",
                                self.source)
        x.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    # ------------------------------------------------------------------ helpers
    @property
    def modality_info(self) -> Modality:
        """The :class:`~mspectmol.spectra.modalities.Modality` of this spectrum."""
        return get_modality(self.modality)

    @property
    def is_peaks(self) -> bool:
        """True for a peak list."""
        return self.kind == PEAKS

    def __len__(self) -> int:
        return int(self.x.size)

    def with_data(self, x: np.ndarray, y: np.ndarray, **changes: Any) -> Spectrum:
        """A copy with new arrays (and any other field changed)."""
        return replace(self, x=x, y=y, **changes)

    def with_metadata(self, **items: Any) -> Spectrum:
        """A copy with ``items`` merged into the metadata."""
        return replace(self, metadata={**self.metadata, **items})

    def log_step(self, step: str) -> Spectrum:
        """A copy whose ``metadata["preprocessing"]`` list records ``step``."""
        steps = list(self.metadata.get("preprocessing", []))
        steps.append(step)
        return self.with_metadata(preprocessing=steps)

    def __repr__(self) -> str:
        rng = f"{self.x.min():g}..{self.x.max():g}" if self.x.size else "empty"
        return (f"Spectrum({self.modality}, {self.kind}, n={self.x.size}, x={rng} {self.x_unit}, "
                f"y_unit={self.y_unit!r})")
