"""Candidate molecular formulas of an ion: enumeration within a mass tolerance, chemical rules
and a score from the mass error, the isotope pattern and a prior over known molecules.

:func:`enumerate_formulas` lists every neutral formula within ``tolerance`` Da of a mass under
element limits (vectorised: heteroatom combinations pruned by mass, then carbon and hydrogen
solved for each); :func:`search_formulas` applies the rules of
:func:`~mspectmol.chem.formula.composition.rule_violations` and ranks the survivors by

``score = log N(ppm error; 0, ppm/2) + isotope log-likelihood + log prior``

where the isotope term compares the observed intensities of M+1, M+2, ... (relative to M)
with :func:`~mspectmol.chem.formula.isotopes.isotope_pattern` of the ion, each with an error
of ``0.01 + 0.1 x`` the expected intensity (instrument noise and abundance precision), and
the prior is :class:`~mspectmol.chem.formula.prior.FormulaPrior`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mspectmol.chem.formula.composition import (
    HALOGENS,
    MAX_RATIO_TO_C,
    VALENCE,
    Adduct,
    get_adduct,
    hill,
    monoisotopic,
    rdbe,
)
from mspectmol.chem.formula.isotopes import isotope_pattern
from mspectmol.chem.formula.prior import FormulaPrior, load_prior
from mspectmol.errors import MspectmolError

#: Elements searched by default, and the most atoms of each (C and H: limited by the mass).
DEFAULT_LIMITS: dict[str, int] = {"C": 10_000, "H": 10_000, "N": 20, "O": 20, "P": 3, "S": 4,
                                  "F": 12, "Cl": 6, "Br": 4, "I": 3}
#: Absolute and relative errors of an isotope peak's relative intensity.
ISOTOPE_ABS_ERROR = 0.005
ISOTOPE_REL_ERROR = 0.05
#: Candidates above this many are cut before the isotope term (best mass and prior first).
MAX_CANDIDATES = 20_000
#: Most heteroatom combinations enumerated (about 16 bytes each); more is refused.
MAX_COMBINATIONS = 20_000_000
#: Combinations x carbon counts solved at a time (bounds the working memory to ~100 MB).
BLOCK_CELLS = 2_000_000


@dataclass
class FormulaCandidate:
    """One neutral formula explaining the ion, with its score terms."""

    formula: dict[str, int]
    adduct: str
    mz: float
    ppm: float
    rdbe: float
    mass_score: float
    isotope_score: float | None
    prior_score: float
    isotope_pattern: list[float] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Total log score (higher is better)."""
        return self.mass_score + (self.isotope_score or 0.0) + self.prior_score

    @property
    def name(self) -> str:
        """The formula in Hill notation."""
        return hill(self.formula)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description."""
        return {"formula": self.name, "adduct": self.adduct, "mz": round(self.mz, 6),
                "ppm": round(self.ppm, 3), "rdbe": self.rdbe, "score": round(self.score, 3),
                "mass_score": round(self.mass_score, 3),
                "isotope_score": None if self.isotope_score is None
                else round(self.isotope_score, 3),
                "prior_score": round(self.prior_score, 3),
                "isotope_pattern": [round(x, 5) for x in self.isotope_pattern]}


def parse_elements(text: str | None) -> dict[str, int]:
    """Element limits from ``"CHNOPSFClBrI"`` or ``"C,H,N,O,S2,Cl3"`` (a number: the most atoms).

    None gives :data:`DEFAULT_LIMITS`. C and H are always searched.
    """
    if text is None:
        return dict(DEFAULT_LIMITS)
    tokens = re.findall(r"([A-Z][a-z]?)(\d*)", text.replace(",", "").replace(" ", ""))
    if "".join(e + n for e, n in tokens) != text.replace(",", "").replace(" ", ""):
        raise MspectmolError(f"--elements {text!r}: expected element symbols with optional "
                             "counts, e.g. CHNOPSFClBr or C,H,N,O,S2,Cl3")
    out = {"C": DEFAULT_LIMITS["C"], "H": DEFAULT_LIMITS["H"]}
    for e, n in tokens:
        if e not in VALENCE or e in ("Na", "K"):
            raise MspectmolError(f"--elements: unsupported element {e!r}")
        out[e] = int(n) if n else DEFAULT_LIMITS.get(e, 4)
    return out


def _heteroatom_combinations(mass: float, limits: Mapping[str, int], hetero: Sequence[str]
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of heteroatom counts (``int16``) whose mass fits below ``mass``, and
    its mass.

    Raises
    ------
    MspectmolError
        When the combinations would exceed :data:`MAX_COMBINATIONS` (ask for fewer elements).
    """
    combos = np.zeros((1, len(hetero)), dtype=np.int16)
    masses = np.zeros(1)
    for j, e in enumerate(hetero):
        m_e = monoisotopic(e)
        top = min(int(limits[e]), int(mass // m_e))
        parts_c, parts_m, size = [], [], 0
        for n in range(top + 1):
            keep = masses + n * m_e <= mass
            if not keep.any():
                break
            block = combos[keep].copy()
            block[:, j] = n
            parts_c.append(block)
            parts_m.append(masses[keep] + n * m_e)
            size += len(block)
            if size > MAX_COMBINATIONS:
                raise MspectmolError(
                    f"a neutral mass of {mass:.1f} Da with elements "
                    f"{''.join(f'{x}{limits[x]}' for x in hetero)} gives more than "
                    f"{MAX_COMBINATIONS:,} heteroatom combinations: name fewer elements or "
                    "lower counts (--elements, e.g. CHNOS)")
        combos, masses = np.concatenate(parts_c), np.concatenate(parts_m)
    return combos, masses


def enumerate_formulas(mass: float, tolerance: float,
                       limits: Mapping[str, int] | None = None) -> tuple[list[str], np.ndarray]:
    """Every formula with monoisotopic mass within ``tolerance`` Da of ``mass``.

    Heteroatom combinations are enumerated under the mass, then carbon and hydrogen solved
    for blocks of them at a time, so memory stays bounded (:data:`BLOCK_CELLS`).

    Returns
    -------
    elements, counts
        Element order and an ``(n, len(elements))`` integer array of counts.

    Raises
    ------
    MspectmolError
        See :func:`_heteroatom_combinations`.
    """
    limits = dict(DEFAULT_LIMITS if limits is None else limits)
    hetero = [e for e in limits if e not in ("C", "H")]
    m_h, m_c = monoisotopic("H"), monoisotopic("C")
    combos, masses = _heteroatom_combinations(mass + tolerance, limits, hetero)
    n_c = np.arange(min(int(limits.get("C", 0)), int((mass + tolerance) // m_c)) + 1)
    block = max(1, BLOCK_CELLS // n_c.size)
    found = []
    for start in range(0, len(combos), block):
        rest = mass - masses[start:start + block]
        left = rest[:, None] - n_c[None, :] * m_c
        n_h = np.rint(left / m_h)
        ok = (np.abs(left - n_h * m_h) <= tolerance) & (n_h >= 0) & \
            (n_h <= limits.get("H", 0))
        rows, cols = np.nonzero(ok)
        found.append(np.column_stack([n_c[cols], n_h[rows, cols].astype(np.int64),
                                      combos[start:start + block][rows].astype(np.int64)]))
    counts = np.concatenate(found) if found else np.zeros((0, 2 + len(hetero)), np.int64)
    return ["C", "H", *hetero], counts


def _rules_mask(elements: Sequence[str], counts: np.ndarray) -> np.ndarray:
    """Rows that obey the rules of :func:`~.composition.rule_violations` (vectorised)."""
    col = {e: counts[:, i] for i, e in enumerate(elements)}
    zero = np.zeros(len(counts), dtype=np.int64)
    get = lambda e: col.get(e, zero)  # noqa: E731
    halogens = sum(get(x) for x in HALOGENS)
    twice_rdbe = 2 + 2 * (get("C") + get("Si")) - get("H") - halogens + get("N") + get("P") \
        + get("B")
    valence = sum(VALENCE[e] * col[e] for e in elements)
    atoms = counts.sum(axis=1)
    ok = (twice_rdbe >= 0) & (twice_rdbe % 2 == 0) & (valence % 2 == 0)
    ok &= (atoms <= 1) | (valence >= 2 * (atoms - 1))
    carbon = np.maximum(get("C"), 1)
    for e, ratio in MAX_RATIO_TO_C.items():
        if e in col:
            ok &= col[e] <= ratio * carbon
    return ok


def isotope_log_likelihood(observed: Sequence[float], expected: Sequence[float]) -> float:
    """Gaussian log-likelihood of observed relative isotope intensities (M+1, M+2, ...)."""
    obs = np.asarray(observed, dtype=float)
    exp = np.asarray(expected, dtype=float)[: obs.size]
    sigma = ISOTOPE_ABS_ERROR + ISOTOPE_REL_ERROR * exp
    return float(-0.5 * np.sum(((obs - exp) / sigma) ** 2))


def search_formulas(mz: float, adduct: str | Adduct = "[M+H]+", *, ppm: float = 5.0,
                    isotopes: Sequence[float] | None = None,
                    limits: Mapping[str, int] | None = None,
                    prior: FormulaPrior | None = None, top: int = 10
                    ) -> list[FormulaCandidate]:
    """Ranked neutral formulas whose ion has m/z ``mz`` within ``ppm``.

    Parameters
    ----------
    mz
        Observed m/z of the monoisotopic ion.
    adduct
        Ion type (:data:`~.composition.ADDUCTS`).
    ppm
        Mass tolerance (parts per million of ``mz``).
    isotopes
        Observed intensities of M+1, M+2, ... relative to M (None: not used).
    limits
        Most atoms per element (None: :data:`DEFAULT_LIMITS`).
    prior
        Prior over formulas (None: the packaged one).
    top
        Candidates returned.
    """
    ion = get_adduct(adduct) if isinstance(adduct, str) else adduct
    if not (np.isfinite(mz) and mz > 0) or not ppm > 0:
        raise MspectmolError(f"m/z must be positive and ppm above 0, got m/z {mz}, ppm {ppm}")
    prior = prior or load_prior()
    neutral = ion.neutral_mass(mz)
    tolerance = mz * abs(ion.charge) * ppm * 1e-6
    elements, counts = enumerate_formulas(neutral, tolerance, limits)
    counts = counts[_rules_mask(elements, counts)]
    if not len(counts):
        return []
    unit = np.array([monoisotopic(e) for e in elements])
    err_ppm = (neutral - counts @ unit) / (mz * abs(ion.charge)) * 1e6  # observed - theory
    mass_score = -0.5 * (err_ppm / (ppm / 2.0)) ** 2
    prior_score = prior.log_prob(elements, counts)
    # without isotopes the ranking is mass + prior: patterns are needed for the top only
    limit = MAX_CANDIDATES if isotopes is not None else top
    if len(counts) > limit:
        keep = np.argsort(-(mass_score + prior_score), kind="stable")[:limit]
        counts, err_ppm = counts[keep], err_ppm[keep]
        mass_score, prior_score = mass_score[keep], prior_score[keep]
    out = []
    for i, row in enumerate(counts):
        formula = {e: int(n) for e, n in zip(elements, row, strict=True) if n}
        pattern = isotope_pattern(ion.ion_formula(formula), charge=ion.charge)[1]
        iso = None if isotopes is None else isotope_log_likelihood(isotopes, pattern[1:])
        out.append(FormulaCandidate(
            formula, ion.name, ion.ion_mz(float(row @ unit)), float(err_ppm[i]), rdbe(formula),
            float(mass_score[i]), iso, float(prior_score[i]), [float(x) for x in pattern]))
    out.sort(key=lambda c: -c.score)
    return out[:top]
