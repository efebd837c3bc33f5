"""Settings of the randomised rendering (:class:`RenderSettings`) and their checked reading
from a table (a training config's ``render_settings``, a model's training record).

Kept apart from :mod:`mspectmol.data.rendering` (NumPy, SciPy and the dataset reader) so a
training config checks its ``render_settings`` without loading them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from mspectmol.errors import ConfigError

#: Settings that are probabilities (for a pair: both ends), in [0, 1].
PROBABILITIES = frozenset({"probability", "ir_hbond", "ir_dropout", "ir_transmittance",
                           "ir_truncate", "ir_atmosphere", "h_multiplet", "h_couplings",
                           "h_solvent", "c_solvent", "c_cf_split", "ir_gaussian"})
#: Settings whose values must be above 0 (scale factors, widths, frequencies); the others
#: (shifts, standard deviations, noise, J, gains) must be at least 0.
POSITIVE = frozenset({"ir_scale_low", "ir_scale_mid", "ir_scale_high", "ir_xh_lowering",
                      "ir_hbond_lowering", "ir_hbond_broadening", "ir_width", "h_mhz",
                      "h_width_hz", "h_exchange_broadening", "c_width", "c_quaternary"})


@dataclass(frozen=True)
class RenderSettings:
    """Ranges of the randomised rendering (see :mod:`mspectmol.data.rendering`); ``(low,
    high)`` pairs are drawn uniformly per spectrum unless said otherwise.

    ``ir_hbond`` is the probability that a spectrum's X-H stretches (harmonic lines above
    ``ir_hbond_above`` cm-1: O-H and N-H, and alkyne C-H near 3400) are hydrogen-bonded as
    in condensed phases: each such line is lowered by a factor from ``ir_hbond_lowering``
    (alcohols absorb near 3300 cm-1 there, carboxylic acid dimers near 3000; harmonic
    GFN2-xTB O-H lines lie near 3520), broadened by ``ir_hbond_broadening`` and strengthened
    by ``ir_hbond_gain``, drawn per line. It is off by default: with ``ir_hbond`` 0.5 the
    transfer validation micro-F1 did not change beyond its run-to-run spread (0.621 against
    0.633 with IR + 1H + 13C, 0.479 against 0.490 with IR alone, recipe of the ``default``
    model), and gas-phase spectra have free O-H stretches.

    ``h_couplings`` is the probability that a record with per-atom data
    (:mod:`mspectmol.data.proton_environments`) gets first-order multiplets from rule
    couplings (Karplus and fixed aromatic, alkene, geminal and long-range J) instead of
    random ones, its O-H, N-H and S-H protons broadened by ``h_exchange_broadening``. It is
    off by default: at 0.7 the transfer validation micro-F1 of the ``default`` model's recipe
    (seed 0) was 0.640 against 0.665 with IR + 1H + 13C and 0.524 against 0.523 with IR
    alone.

    The 13C settings ``c_quaternary`` (intensity factor of carbons without attached protons,
    one per spectrum), ``c_cf_split`` (probability that C-F couplings are rendered) and
    ``c_cf_1j`` ... ``c_cf_4j`` (C-F coupling constants in Hz over 1 to 4 bonds, drawn per
    carbon; the 13C frequency is the 1H one, ``h_mhz``, divided by 3.977) act on records
    with per-atom shifts (:mod:`mspectmol.data.carbon_environments`). They are off by
    default (``c_quaternary`` 1, ``c_cf_split`` 0): with ``c_quaternary`` (0.2, 1.0) and
    ``c_cf_split`` 0.9, the transfer validation micro-F1 of the ``default`` model's recipe
    (seed 0) was 0.637 against 0.665 with IR + 1H + 13C and 0.472 against 0.523 with IR alone
    (the IR rendering unchanged: the spread between runs), and 0.648 against 0.653 trained
    on the v2 folder.
    """

    probability: float = 0.85
    ir_scale_low: tuple[float, float] = (0.96, 1.03)
    ir_scale_mid: tuple[float, float] = (0.95, 1.02)
    ir_scale_high: tuple[float, float] = (0.94, 1.01)
    ir_xh_lowering: tuple[float, float] = (0.96, 1.0)
    ir_hbond: float = 0.0
    ir_hbond_above: float = 3250.0
    ir_hbond_lowering: tuple[float, float] = (0.80, 0.97)
    ir_hbond_broadening: tuple[float, float] = (3.0, 10.0)
    ir_hbond_gain: tuple[float, float] = (1.0, 5.0)
    ir_shift: float = 8.0
    ir_width: tuple[float, float] = (4.0, 40.0)
    ir_gaussian: tuple[float, float] = (0.0, 1.0)
    ir_jitter: float = 0.7
    ir_dropout: float = 0.1
    ir_noise: tuple[float, float] = (0.0, 0.02)
    ir_transmittance: float = 0.3
    ir_truncate: float = 0.3
    ir_atmosphere: float = 0.2
    h_shift_sd: tuple[float, float] = (0.0, 0.12)
    h_multiplet: float = 0.7
    h_j: tuple[float, float] = (1.5, 8.0)
    h_mhz: tuple[float, float] = (300.0, 600.0)
    h_width_hz: tuple[float, float] = (0.3, 3.0)
    h_solvent: float = 0.3
    h_couplings: float = 0.0
    h_exchange_broadening: tuple[float, float] = (3.0, 30.0)
    c_shift_sd: tuple[float, float] = (0.0, 2.0)
    c_jitter: float = 0.5
    c_width: tuple[float, float] = (0.01, 0.3)
    c_solvent: float = 0.3
    c_quaternary: tuple[float, float] = (1.0, 1.0)
    c_cf_split: float = 0.0
    c_cf_1j: tuple[float, float] = (240.0, 290.0)
    c_cf_2j: tuple[float, float] = (15.0, 40.0)
    c_cf_3j: tuple[float, float] = (2.0, 12.0)
    c_cf_4j: tuple[float, float] = (0.0, 3.5)

    @property
    def carbon_environments(self) -> bool:
        """Whether the 13C rendering uses carbon environments (weak carbons without protons
        or C-F multiplets asked for); off, records are rendered from their peak lists."""
        return self.c_quaternary != (1.0, 1.0) or self.c_cf_split > 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), for ``model.json``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderSettings:
        """The defaults with the settings of ``data`` (a :meth:`to_dict`-style table of some
        or all fields) in their place.

        Raises
        ------
        ConfigError
            For an unknown key (listing the known ones), a pair that is not two numbers with
            low <= high, a probability outside [0, 1] or a value out of its range; one line
            naming the key as ``render_settings.<key>``.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"render_settings must be a table of settings, got {data!r}")
        defaults = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(data) - set(defaults))
        if unknown:
            raise ConfigError(f"render_settings: unknown setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(defaults)}")
        return cls(**{key: _checked(key, value, isinstance(defaults[key], tuple))
                      for key, value in data.items()})


def _checked(key: str, value: Any, pair: bool) -> float | tuple[float, float]:
    """``value`` of setting ``key`` as a float or a ``(low, high)`` pair of floats."""
    if key in PROBABILITIES:
        what, bounds, inside = "a probability", "in [0, 1]", lambda v: 0.0 <= v <= 1.0
    elif key in POSITIVE:
        what, bounds, inside = "a number", "> 0", lambda v: v > 0.0
    else:
        what, bounds, inside = "a number", ">= 0", lambda v: v >= 0.0
    if pair:
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(_is_number(v) for v in value) and value[0] <= value[1]):
            raise ConfigError(f"render_settings.{key}: expected a (low, high) pair of numbers "
                              f"with low <= high, got {value!r}")
        if not all(inside(v) for v in value):
            raise ConfigError(f"render_settings.{key}: both ends must be {bounds}, got "
                              f"{list(value)!r}")
        return float(value[0]), float(value[1])
    if not (_is_number(value) and inside(value)):
        raise ConfigError(f"render_settings.{key}: expected {what} {bounds}, got {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value))
