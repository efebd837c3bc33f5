"""Test-time conditions of the robustness suites: their specs and their values in rows.

A suite names its conditions in JSON as ``"conditions": {name: spec}`` with a spec ``{}``
(unchanged), ``{"noise": 0.05}``, ``{"mask": ["c_nmr"]}``, ``{"shift": 5}`` or several keys
(applied as masks, then shift, then noise; see :mod:`mspectmol.suites.robustness`):

- ``noise``: Gaussian noise with ``sigma = noise * max|y|`` of each spectrum (the paper's
  appendix R, Table 14);
- ``mask``: the listed modalities hidden, as for a sample without those spectra (appendix J,
  Table 13);
- ``shift``: every spectrum shifted by a whole number of points drawn from
  ``[-shift, shift]`` (the calibration drift of appendix Q).

A finished run stores its metrics under each condition in ``row["conditions"][name]``;
:func:`condition_value` and :func:`flat_conditions` read them back for tables and CSV files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.spectra.modalities import get_modality
from mspectmol.suites.configurations import MODALITY_TEXT

_SPEC_KEYS = ("noise", "mask", "shift")


@dataclass(frozen=True)
class Condition:
    """A named test-time condition: noise level (fraction of each row's max), masks and
    the largest random shift in points."""

    name: str
    noise: float = 0.0
    mask: tuple[str, ...] = ()
    shift: int = 0

    @property
    def is_clean(self) -> bool:
        """True when the condition leaves the data unchanged."""
        return self.noise == 0.0 and not self.mask and not self.shift

    def title(self) -> str:
        """Table text: ``unperturbed``, ``σ = 0.05 × max``, ``without 13C-NMR`` or both."""
        parts = []
        if self.noise:
            level = f"{self.noise:.2f}" if round(self.noise, 2) == self.noise else f"{self.noise:g}"
            parts.append(f"σ = {level} × max")
        if self.mask:
            parts.append("without " + ", ".join(MODALITY_TEXT.get(m, m) for m in self.mask))
        if self.shift:
            parts.append(f"shift ≤ {self.shift} points")
        return "; ".join(parts) if parts else "unperturbed"

    def to_dict(self) -> dict[str, Any]:
        """The JSON spec (what :meth:`from_spec` reads; it enters the settings hash)."""
        out: dict[str, Any] = {}
        if self.noise:
            out["noise"] = self.noise
        if self.mask:
            out["mask"] = list(self.mask)
        if self.shift:
            out["shift"] = self.shift
        return out

    def applies_to(self, modalities: Sequence[str]) -> bool:
        """True when every masked modality is among ``modalities``."""
        return set(self.mask) <= set(modalities)

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any], source: str = "suite"
                  ) -> Condition:
        """A condition from its JSON spec.

        Raises
        ------
        ConfigError
            For an invalid spec, naming ``source`` and the condition.
        """
        where = f"{source}: condition {name!r}"
        if not isinstance(spec, Mapping) or set(spec) - set(_SPEC_KEYS):
            raise ConfigError(f"{where}: expected an object with keys among "
                              f"{', '.join(_SPEC_KEYS)}, got {spec!r}")
        noise = spec.get("noise", 0.0)
        if (isinstance(noise, bool) or not isinstance(noise, (int, float))
                or not math.isfinite(noise) or noise < 0):
            raise ConfigError(f"{where}: noise must be a number >= 0, got {noise!r}")
        mask = spec.get("mask", ())
        mask = [mask] if isinstance(mask, str) else mask
        try:
            names = tuple(get_modality(m).name for m in mask)
        except (TypeError, MspectmolError) as exc:
            raise ConfigError(f"{where}: bad mask ({exc})") from None
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: mask lists a modality twice")
        shift = spec.get("shift", 0)
        if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
            raise ConfigError(f"{where}: shift must be a whole number of points >= 0, got "
                              f"{shift!r}")
        return cls(str(name), float(noise), names, int(shift))


def parse_conditions(data: Mapping[str, Any] | None, source: str = "suite"
                     ) -> tuple[Condition, ...]:
    """The conditions of a suite's ``"conditions"`` object, in its order.

    Raises
    ------
    ConfigError
        When ``data`` is not an object or a spec is invalid, naming ``source``.
    """
    if not data:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: conditions must be an object name -> spec")
    return tuple(Condition.from_spec(str(k), v, source) for k, v in data.items())


def condition_value(row: Mapping[str, Any], condition: str, metric: str) -> Any:
    """``metric`` of a result row under ``condition`` (its own metric when ``condition`` is
    empty); None when the row has no such value."""
    if not condition:
        return row.get(metric)
    conditions = row.get("conditions")
    found = conditions.get(condition) if isinstance(conditions, Mapping) else None
    return found.get(metric) if isinstance(found, Mapping) else None


def flat_conditions(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's condition metrics as ``{"<condition>:<metric>": value}`` (CSV columns)."""
    conditions = row.get("conditions")
    if not isinstance(conditions, Mapping):
        return {}
    return {f"{name}:{metric}": value for name, metrics in conditions.items()
            if isinstance(metrics, Mapping) for metric, value in metrics.items()}
