"""First-order 1H multiplets: from a peak table row (shift, nH, multiplicity, J) to lines.

NMR software (MestReNova, TopSpin, ACD) and the Alberts et al. parquet files report a 1H
spectrum as a table of multiplets: centre (ppm), number of protons, a multiplicity code
(``s``, ``d``, ``t``, ``q``, ``dd``, ``td``, ``dt``, ``m``, ``br s``, ...) and coupling
constants in Hz. :func:`expand_multiplet` turns one row into its first-order lines: each
letter splits every line into ``n + 1`` lines spaced by its J with binomial (Pascal)
intensities, the total intensity being ``nH`` (so integrals carry proton counts). A
multiplet without couplings (``m``, or J missing) spreads ``nH`` over its reported range, or
over a default width, as a few lines; a broad singlet (``br``) is one line whose width the
caller widens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from mspectmol.errors import SpectrumError

#: Lines (n + 1) of each first-order multiplicity letter.
SPLITS = {"s": 1, "d": 2, "t": 3, "q": 4, "p": 5, "h": 7, "sept": 7, "hept": 7, "quint": 5,
          "sext": 6, "sex": 6}
#: Spectrometer frequency assumed when a peak table does not say (MHz).
DEFAULT_MHZ = 400.0
#: Half-width (ppm) over which a multiplet without couplings is spread.
DEFAULT_SPREAD_PPM = 0.03
_WORDS = (("quint", 5), ("sext", 6), ("sept", 7), ("hept", 7))


def split_counts(multiplicity: str) -> tuple[list[int], bool, bool]:
    """Lines per coupling of a multiplicity code, and flags (unresolved, broad).

    ``"dd"`` -> ``([2, 2], False, False)``; ``"td"`` -> ``([3, 2], ...)``; ``"m"`` ->
    ``([], True, False)``; ``"br s"`` -> ``([], False, True)``. Unknown letters count as
    unresolved.
    """
    text = re.sub(r"[^a-z]", " ", str(multiplicity or "s").lower()).split()
    broad = any(w in ("br", "b", "broad") for w in text)
    word = "".join(w for w in text if w not in ("br", "b", "broad", "app", "apparent"))
    counts: list[int] = []
    unresolved = False
    i = 0
    while i < len(word):
        for name, n in _WORDS:
            if word.startswith(name, i):
                counts.append(n)
                i += len(name)
                break
        else:
            letter = word[i]
            if letter == "s":
                pass
            elif letter in SPLITS:
                counts.append(SPLITS[letter])
            else:  # m, or anything not first order
                unresolved = True
            i += 1
    return counts, unresolved, broad


def parse_j(values: str | Sequence[float] | None) -> list[float]:
    """Coupling constants (Hz) from ``"7.1_1.6_"``, ``"7.1, 1.6"`` or a list."""
    if values is None:
        return []
    if isinstance(values, str):
        return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", values)]
    return [float(v) for v in values if v is not None and np.isfinite(float(v))]


def expand_multiplet(centre: float, n_h: float, multiplicity: str = "s",
                     j_hz: str | Sequence[float] | None = None, *, mhz: float = DEFAULT_MHZ,
                     range_ppm: tuple[float, float] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """First-order lines (ppm, intensity) of one multiplet; intensities sum to ``n_h``.

    Couplings are taken in the order given, one per split letter; letters without a J and
    J values without a letter are ignored. An unresolved multiplet spreads ``n_h`` evenly
    over ``range_ppm`` (or ``centre +- DEFAULT_SPREAD_PPM``) as five lines.

    Raises
    ------
    SpectrumError
        For a non-finite centre, a negative proton count or a non-positive frequency.
    """
    if not (np.isfinite(centre) and np.isfinite(n_h) and n_h >= 0):
        raise SpectrumError(f"multiplet at {centre!r} ppm with {n_h!r} H: centre and proton "
                            "count must be finite, the count >= 0")
    if not mhz > 0:
        raise SpectrumError(f"the spectrometer frequency must be positive, got {mhz!r} MHz")
    counts, unresolved, _ = split_counts(multiplicity)
    couplings = parse_j(j_hz)
    if unresolved or (counts and not couplings):
        lo, hi = range_ppm if range_ppm else (centre - DEFAULT_SPREAD_PPM,
                                              centre + DEFAULT_SPREAD_PPM)
        pos = np.linspace(min(lo, hi), max(lo, hi), 5)
        return pos, np.full(5, n_h / 5.0)
    pos, amp = np.array([float(centre)]), np.array([float(n_h)])
    for n, j in zip(counts, couplings, strict=False):
        pos, amp = split_lines(pos, amp, n, j / mhz)
    return pos, amp


def split_lines(pos: np.ndarray, amp: np.ndarray, n_lines: int, spacing: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Every line of ``(pos, amp)`` split into ``n_lines`` lines ``spacing`` apart with
    binomial (Pascal) intensities that keep its total: one coupling of a first-order
    multiplet (``n`` equivalent partners give ``n + 1`` lines)."""
    n = int(n_lines)
    offsets = (np.arange(n) - (n - 1) / 2.0) * spacing
    weights = np.array([math.comb(n - 1, k) for k in range(n)], dtype=float)
    weights /= weights.sum()
    return (pos[:, None] + offsets[None, :]).ravel(), (amp[:, None] * weights[None, :]).ravel()


def expand_table(rows: Sequence[dict[str, object]], *, mhz: float = DEFAULT_MHZ
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Lines of a whole 1H peak table: rows with ``centre``, ``n_h``, ``multiplicity``,
    ``j`` and optionally ``range`` ``(lo, hi)``; sorted by position."""
    parts = [expand_multiplet(float(r["centre"]), float(r.get("n_h", 1.0) or 1.0),
                              str(r.get("multiplicity") or "s"), r.get("j"),  # type: ignore[arg-type]
                              mhz=mhz, range_ppm=r.get("range"))  # type: ignore[arg-type]
             for r in rows]
    if not parts:
        return np.zeros(0), np.zeros(0)
    pos = np.concatenate([p for p, _ in parts])
    amp = np.concatenate([a for _, a in parts])
    order = np.argsort(pos, kind="stable")
    return pos[order], amp[order]
