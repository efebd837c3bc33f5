"""Molecular formulas as element counts: parsing, Hill notation, masses, adducts and the
chemical rules a formula of a real molecule obeys.

Masses and isotope abundances come from :data:`pyteomics.mass.nist_mass` (NIST atomic weights
and isotopic compositions). A formula is a ``{element: count}`` mapping without zero counts.

Rules (:func:`rule_violations`) for a neutral, closed-shell molecule:

* ring and double-bond equivalents ``RDBE = 1 + C + Si - (H + X)/2 + (N + P)/2`` (X: halogens;
  divalent O and S do not count) are a non-negative integer; an integer RDBE is the nitrogen
  rule of even-electron molecules;
* Senior's rules on the valence sum: it is even, and at least twice the number of atoms
  minus one (the graph is connected);
* element ratios within the "extended" ranges of Kind and Fiehn's seven golden rules
  (BMC Bioinformatics 2007, 8:105), which 99.7% of the molecules of their reference
  databases satisfy: H/C <= 6, N/C <= 4, O/C <= 3, P/C <= 2, S/C <= 3, F/C <= 6,
  Cl/C <= 2, Br/C <= 2, Si/C <= 1 (their "common" ranges are used by the prior instead).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pyteomics.mass import nist_mass

from mspectmol.errors import MspectmolError

#: Mass of an electron (Da), removed from a cation's neutral formula mass.
ELECTRON_MASS = 0.000548579909
#: Elements a formula may hold, with the valence used by the rules (the lowest common one).
VALENCE: dict[str, int] = {"C": 4, "H": 1, "N": 3, "O": 2, "P": 3, "S": 2, "F": 1, "Cl": 1,
                           "Br": 1, "I": 1, "Si": 4, "B": 3, "Se": 2, "Na": 1, "K": 1}
HALOGENS = ("F", "Cl", "Br", "I")
#: Upper ratios to carbon of the golden rules' extended ranges (see the module docstring).
MAX_RATIO_TO_C: dict[str, float] = {"H": 6.0, "N": 4.0, "O": 3.0, "P": 2.0, "S": 3.0,
                                    "F": 6.0, "Cl": 2.0, "Br": 2.0, "Si": 1.0, "I": 2.0}
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


def monoisotopic(element: str) -> float:
    """Mass (Da) of an element's most abundant isotope (NIST), the one formulas are summed with."""
    try:
        return float(nist_mass[element][0][0])
    except KeyError:
        raise MspectmolError(f"unknown element {element!r}") from None


def parse_formula(text: str) -> dict[str, int]:
    """``"C11H15FN2O2"`` -> ``{"C": 11, "H": 15, "F": 1, "N": 2, "O": 2}``.

    Raises
    ------
    MspectmolError
        For text that is not a formula of known elements.
    """
    text = text.strip()
    if not text or "".join(m.group(0) for m in _TOKEN.finditer(text)) != text:
        raise MspectmolError(f"not a molecular formula: {text!r} (e.g. C11H15FN2O2)")
    counts: dict[str, int] = {}
    for element, n in _TOKEN.findall(text):
        if element not in VALENCE:
            raise MspectmolError(f"formula {text!r}: unsupported element {element!r}; "
                                 f"supported: {', '.join(VALENCE)}")
        counts[element] = counts.get(element, 0) + (int(n) if n else 1)
    return {e: c for e, c in counts.items() if c}


def hill(formula: Mapping[str, int]) -> str:
    """Hill notation: C, then H, then the other elements alphabetically (all alphabetical
    without carbon)."""
    counts = {e: int(c) for e, c in formula.items() if c}
    if "C" in counts:
        order = ["C", *(["H"] if "H" in counts else []),
                 *sorted(e for e in counts if e not in ("C", "H"))]
    else:
        order = sorted(counts)
    return "".join(f"{e}{counts[e] if counts[e] != 1 else ''}" for e in order)


def formula_mass(formula: Mapping[str, int]) -> float:
    """Monoisotopic mass (Da) of a neutral formula."""
    return float(sum(monoisotopic(e) * n for e, n in formula.items()))


def rdbe(formula: Mapping[str, int]) -> float:
    """Ring and double-bond equivalents of a neutral formula (see the module docstring)."""
    get = formula.get
    halogens = sum(get(x, 0) for x in HALOGENS)
    return (1.0 + get("C", 0) + get("Si", 0) - (get("H", 0) + halogens) / 2.0
            + (get("N", 0) + get("P", 0) + get("B", 0)) / 2.0)


def rdbe_array(elements: Sequence[str], counts: np.ndarray) -> np.ndarray:
    """:func:`rdbe` of each row of an ``(n, len(elements))`` count array."""
    counts = np.asarray(counts, dtype=np.float64)
    weight = {"C": 1.0, "Si": 1.0, "H": -0.5, "N": 0.5, "P": 0.5, "B": 0.5,
              **{x: -0.5 for x in HALOGENS}}
    w = np.array([weight.get(e, 0.0) for e in elements])
    return 1.0 + counts @ w


def rule_violations(formula: Mapping[str, int]) -> list[str]:
    """The chemical rules a neutral formula breaks (empty: plausible), as short texts."""
    out = []
    r = rdbe(formula)
    if r < 0:
        out.append(f"negative RDBE ({r:g})")
    elif r != int(r):
        out.append(f"RDBE {r:g} is not an integer (nitrogen rule)")
    valences = [VALENCE[e] * n for e, n in formula.items()]
    atoms = sum(formula.values())
    if sum(valences) % 2:
        out.append("odd sum of valences (Senior)")
    if atoms > 1 and sum(valences) < 2 * (atoms - 1):
        out.append("too few valences to connect the atoms (Senior)")
    carbon = formula.get("C", 0)
    for element, ratio in MAX_RATIO_TO_C.items():
        n = formula.get(element, 0)
        if n and n > ratio * max(carbon, 1):
            out.append(f"{element}/C above {ratio:g}")
    return out


@dataclass(frozen=True)
class Adduct:
    """An ion type: what is added to (or removed from) the neutral molecule, and the charge."""

    name: str
    delta: tuple[tuple[str, int], ...]
    charge: int

    def ion_mz(self, neutral_mass: float) -> float:
        """m/z of the ion of a neutral molecule of this monoisotopic mass."""
        added = sum(monoisotopic(e) * n for e, n in self.delta)
        return (neutral_mass + added - self.charge * ELECTRON_MASS) / abs(self.charge)

    def neutral_mass(self, mz: float) -> float:
        """Monoisotopic mass of the neutral molecule whose ion has this m/z."""
        added = sum(monoisotopic(e) * n for e, n in self.delta)
        return mz * abs(self.charge) + self.charge * ELECTRON_MASS - added

    def ion_formula(self, formula: Mapping[str, int]) -> dict[str, int]:
        """Element counts of the ion (``formula`` plus the adduct's atoms)."""
        out = dict(formula)
        for e, n in self.delta:
            out[e] = out.get(e, 0) + n
        return {e: n for e, n in out.items() if n}


#: Ion types by name (ESI adducts and the radical cation of electron ionisation).
ADDUCTS: dict[str, Adduct] = {a.name: a for a in (
    Adduct("[M+H]+", (("H", 1),), 1),
    Adduct("[M+Na]+", (("Na", 1),), 1),
    Adduct("[M+K]+", (("K", 1),), 1),
    Adduct("[M+NH4]+", (("N", 1), ("H", 4)), 1),
    Adduct("[M]+", (), 1),
    Adduct("[M-H]-", (("H", -1),), -1),
    Adduct("[M+Cl]-", (("Cl", 1),), -1),
    Adduct("[M]-", (), -1),
)}
#: Aliases accepted on the command line.
ADDUCT_ALIASES = {"M+H": "[M+H]+", "M+Na": "[M+Na]+", "M+K": "[M+K]+", "M+NH4": "[M+NH4]+",
                  "M-H": "[M-H]-", "M+Cl": "[M+Cl]-", "EI": "[M]+", "M+": "[M]+",
                  "M+.": "[M]+", "[M]+.": "[M]+", "M-": "[M]-"}


def get_adduct(name: str) -> Adduct:
    """The ion type called ``name`` (``"[M+H]+"``, ``"M+H"``, ``"EI"``, ...).

    Raises
    ------
    MspectmolError
        For an unknown name, listing the known ones.
    """
    key = ADDUCT_ALIASES.get(name.strip(), name.strip())
    if key not in ADDUCTS:
        raise MspectmolError(f"unknown adduct {name!r}; known: {', '.join(ADDUCTS)}")
    return ADDUCTS[key]
