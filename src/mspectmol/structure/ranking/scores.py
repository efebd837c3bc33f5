"""Candidate scores: which of these structures best explains the observed spectra?

Each candidate gets up to five terms, combined as a weighted sum (:class:`RankWeights`, chosen
on the validation split by :func:`choose_weights`, never on test):

``ll``
    The decoder's summed log-probability of the candidate's canonical SMILES given the
    spectra (and the formula when known).
``fg``
    Functional-group agreement: the Bernoulli log-likelihood of the candidate's RDKit
    functional-group labels under the PA-IB model's predicted probabilities,
    ``sum_g y_g log p_g + (1 - y_g) log(1 - p_g)`` (p clipped to [1e-4, 1 - 1e-4]).
``spec``
    Minus the spectral distance: ``-(1 - cosine similarity)`` between the observed and the
    candidate's simulated spectrum on the model grid, averaged over the given modalities.
    Library molecules use the embedded dataset's simulated spectra; other candidates are
    simulated with mspectmol's GFN2-xTB + CSP5 simulator on demand and cached
    (:class:`~mspectmol.structure.ranking.simulation.SimulatedSpectra`). When some candidate
    has no simulated spectra (simulation off or failed), the term is dropped for every
    candidate, so all are scored alike (re-ranking of generated candidates instead counts a
    failed simulation as the largest distance, 1).
``gen``
    For candidates drawn by the evidence-conditioned structure generator
    (:mod:`~mspectmol.structure.generation.generator`): ``log(1 + draws)``, how often the
    generator drew the structure given the evidence (0 for a candidate it never drew, e.g.
    the user's). Left out (weight 0, and absent from other candidate sources) unless the
    ranking is given the draw counts.

A second stage (:mod:`~mspectmol.structure.ranking.refine`) can re-rank the best candidates
with a fifth term, ``full``: the spectral match of their full-recipe simulation.
:func:`explain` writes a score as the sum of its weighted terms, in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mspectmol.errors import MspectmolError

TERMS = ("ll", "fg", "spec", "gen", "lines")


@dataclass(frozen=True)
class RankWeights:
    """Weights of the ranking terms (see the module docstring)."""

    ll: float = 1.0
    fg: float = 1.0
    spec: float = 10.0
    gen: float = 0.0
    lines: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """The weights by name; ``lines`` only when not 0, so that settings written before
        the term existed read the same."""
        out = asdict(self)
        if not self.lines:
            del out["lines"]
        return out


def fg_agreement(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Bernoulli log-likelihood of each label row ``(n, G)`` under ``probabilities (G,)``."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-4, 1 - 1e-4)
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != p.size:
        raise MspectmolError(f"labels of shape {y.shape} do not match {p.size} probabilities")
    return y @ np.log(p) + (1 - y) @ np.log1p(-p)


def combine(terms: Mapping[str, np.ndarray], weights: RankWeights) -> np.ndarray:
    """Weighted sum of the available terms (a missing or None term, or one of weight 0,
    counts 0)."""
    total = None
    for name in TERMS:
        value = terms.get(name)
        if value is None or (name in ("gen", "lines") and getattr(weights, name) == 0):
            continue
        part = getattr(weights, name) * np.asarray(value, dtype=np.float64)
        total = part if total is None else total + part
    if total is None:
        raise MspectmolError("no ranking term available")
    return total


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Indices by decreasing score (stable)."""
    return np.argsort(-np.asarray(scores), kind="stable")


def choose_weights(cases: Sequence[tuple[Mapping[str, np.ndarray], int]],
                   grid: Mapping[str, Sequence[float]] | None = None
                   ) -> tuple[RankWeights, dict[str, float]]:
    """Grid-search the weights that put the true candidate first most often.

    Parameters
    ----------
    cases
        ``(terms, true_index)`` per validation molecule, ``terms`` as for :func:`combine`.
    grid
        Candidate values per term (defaults cover several orders of magnitude).

    Returns
    -------
    RankWeights, dict
        The best weights (ties: higher mean reciprocal rank) and their top-1 and MRR.
    """
    grid = grid or {"ll": (0.0, 0.1, 0.3, 1.0), "fg": (0.0, 0.3, 1.0, 3.0),
                    "spec": (0.0, 3.0, 10.0, 30.0, 100.0)}
    if not cases:
        raise MspectmolError("no validation cases to choose ranking weights on")
    best, best_key = RankWeights(), (-1.0, -1.0)
    for w_ll in grid["ll"]:
        for w_fg in grid["fg"]:
            for w_spec in grid["spec"]:
                if w_ll == w_fg == w_spec == 0:
                    continue
                w = RankWeights(w_ll, w_fg, w_spec)
                ranks = []
                for terms, true in cases:
                    s = combine(terms, w)
                    ranks.append(int(np.sum(s > s[true])))
                r = np.asarray(ranks)
                key = (float(np.mean(r == 0)), float(np.mean(1.0 / (r + 1))))
                if key > best_key:
                    best, best_key = w, key
    return best, {"top1": best_key[0], "mrr": best_key[1]}


def explain(terms: Mapping[str, float | None], weights: RankWeights,
            full_weight: float | None = None, ms_weight: float | None = None,
            full_lines_weight: float | None = None) -> str:
    """A score as the sum of its weighted terms, in one line.

    ``terms`` maps term names (:data:`TERMS`, ``full``, ``full_lines`` and ``ms``) to a
    candidate's values (None: not used); ``full_weight`` and ``full_lines_weight`` are the
    second stage's weights of ``full`` and ``full_lines``, ``ms_weight`` the MS/MS term's.
    For example ``"0.3 x fg -1.14 + 30 x spec -0.007 + 300 x full -0.000 = -0.55"``; terms
    of weight 0 are left out.
    """
    used = [(getattr(weights, t), t) for t in TERMS] + [
        (full_weight, "full"), (full_lines_weight, "full_lines"), (ms_weight, "ms")]
    parts, total = [], 0.0
    for w, name in used:
        value = terms.get(name)
        if value is None or not w:
            continue
        parts.append(f"{w:g} x {name} {value:.3g}")
        total += w * value
    return f"{' + '.join(parts) or 'no term'} = {total:.4g}"
