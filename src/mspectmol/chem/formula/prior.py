"""A prior over molecular formulas, learned from the formulas of known molecules.

Candidate formulas of the same mass that obey every rule still differ in how often such a
composition occurs among real compounds (``C12H16N4O2S`` against ``C7H17N4O2P2``). The prior
is a product of three factors fitted on reference formulas
(``scripts/fit_formula_prior.py``: the ~71k PubChem compounds of the ``chemicals`` package
and a sample of MOSES drug-like molecules; never the transfer validation set):

* which heteroatoms are present (the set, e.g. ``{N, O, S}``), with counts shrunk towards
  independent presence probabilities so that unseen sets keep a small probability;
* how many atoms of each present heteroatom (a histogram up to :data:`MAX_COUNT`, with a
  geometric tail);
* hydrogen saturation, ``RDBE / C`` in bins of 0.1.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from mspectmol.chem.formula.composition import rdbe, rdbe_array
from mspectmol.errors import MspectmolError

PRIOR_PATH = Path(__file__).resolve().parents[1] / "data" / "formula_prior.json"
#: Heteroatom counts with their own histogram bin; larger counts share a geometric tail.
MAX_COUNT = 12
#: Pseudo-count weight of the independent-presence model in the element-set factor.
SHRINKAGE = 20.0
#: Probability of an element absent from the reference formulas being present.
UNSEEN_PRESENCE = 1e-4
_RDBE_BINS = np.linspace(0.0, 2.0, 21)


def _set_key(elements: Iterable[str]) -> str:
    return ",".join(sorted(elements))


def fit_prior(formulas: Iterable[Mapping[str, int]], *, source: str) -> dict[str, object]:
    """The prior's tables from reference formulas (each with carbon)."""
    sets: Counter[str] = Counter()
    presence: Counter[str] = Counter()
    counts: dict[str, Counter[int]] = {}
    rdbe_hist = np.zeros(len(_RDBE_BINS) + 1)
    n = 0
    for f in formulas:
        if f.get("C", 0) < 1:
            continue
        n += 1
        hetero = [e for e in f if e not in ("C", "H") and f[e] > 0]
        sets[_set_key(hetero)] += 1
        for e in hetero:
            presence[e] += 1
            counts.setdefault(e, Counter())[min(int(f[e]), MAX_COUNT + 1)] += 1
        rdbe_hist[np.searchsorted(_RDBE_BINS, max(rdbe(f), 0.0) / f["C"])] += 1
    if not n:
        raise MspectmolError("no reference formulas with carbon to fit the prior on")
    return {"source": source, "n": n, "sets": dict(sets.most_common()),
            "presence": {e: presence[e] / n for e in sorted(presence)},
            "counts": {e: {str(k): v for k, v in sorted(c.items())} for e, c in counts.items()},
            "rdbe_per_carbon": rdbe_hist.tolist()}


class FormulaPrior:
    """Log prior probabilities of formulas (see the module docstring)."""

    def __init__(self, tables: Mapping[str, object]) -> None:
        self.tables = tables
        self.n = float(tables["n"])  # type: ignore[arg-type]
        self.sets: dict[str, float] = dict(tables["sets"])  # type: ignore[arg-type]
        self.presence: dict[str, float] = dict(tables["presence"])  # type: ignore[arg-type]
        self.count_logp: dict[str, np.ndarray] = {}
        for e, hist in tables["counts"].items():  # type: ignore[union-attr]
            h = np.full(MAX_COUNT + 2, 0.5)
            for k, v in hist.items():
                h[int(k)] += v
            h[0] = 0.0  # the factor applies to present elements (count >= 1) only
            self.count_logp[e] = np.log(np.maximum(h, 1e-300) / h.sum())
        r = np.asarray(tables["rdbe_per_carbon"], dtype=float) + 0.5
        self.rdbe_logp = np.log(r / r.sum())

    def _set_logp(self, present: Sequence[str]) -> float:
        p_indep = 1.0
        for e in set(self.presence) | set(present):
            p = self.presence.get(e, UNSEEN_PRESENCE)
            p_indep *= p if e in present else 1.0 - p
        seen = self.sets.get(_set_key(present), 0.0)
        return float(np.log((seen + SHRINKAGE * p_indep) / (self.n + SHRINKAGE)))

    def log_prob(self, elements: Sequence[str], counts: np.ndarray) -> np.ndarray:
        """Log prior of each row of ``counts`` (``(n, len(elements))``, columns ``elements``)."""
        counts = np.asarray(counts, dtype=np.int64)
        hetero = [i for i, e in enumerate(elements) if e not in ("C", "H")]
        present = counts[:, hetero] > 0
        out = np.zeros(len(counts))
        keys, inverse = np.unique(present, axis=0, return_inverse=True)
        set_logp = np.array([self._set_logp([elements[hetero[j]] for j in np.nonzero(k)[0]])
                             for k in keys])
        out += set_logp[inverse.ravel()]
        for j in hetero:
            e = elements[j]
            col = np.minimum(counts[:, j], MAX_COUNT + 1)
            table = self.count_logp.get(e, np.log(np.full(MAX_COUNT + 2, 1.0 / (MAX_COUNT + 1))))
            out += np.where(col > 0, table[col], 0.0)
        c_col = counts[:, list(elements).index("C")] if "C" in elements else np.zeros(len(out))
        ratio = np.maximum(rdbe_array(elements, counts), 0.0) / np.maximum(c_col, 1)
        out += np.where(c_col > 0, self.rdbe_logp[np.searchsorted(_RDBE_BINS, ratio)], 0.0)
        return out


@lru_cache(maxsize=2)
def load_prior(path: str | None = None) -> FormulaPrior:
    """The packaged prior (or one written by ``scripts/fit_formula_prior.py`` to ``path``)."""
    target = Path(path) if path else PRIOR_PATH
    try:
        return FormulaPrior(json.loads(target.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise MspectmolError(f"formula prior {target} is missing; rebuild it with "
                             "python scripts/fit_formula_prior.py") from None
