"""The pre-filter and first ranking stage of a large candidate pool (QM9 isomers, generated
structures).

A formula's QM9 isomers (:mod:`~mspectmol.structure.libraries.qm9`) or the generator's
distinct draws (:mod:`~mspectmol.structure.generation.generator`) number hundreds to
thousands: :func:`prefilter` keeps the ``N`` that agree best with the predicted functional
groups (the ranking's ``fg`` term), the observed 13C line counts and the observed 1H
integrals per shift region, none of which needs a simulation; :func:`rank_isomers` then
simulates those with the fast NMR recipe
(:func:`~mspectmol.structure.ranking.simulation.simulate_nmr_fast`) and ranks them by
``ll + fg + spec`` (``+ gen`` for generated candidates), with the weights and smoothing
chosen on validation below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mspectmol.chem.functional_groups import label, label_many
from mspectmol.errors import MspectmolError
from mspectmol.structure.evidence.carbon_count import (
    carbon_regions_many,
    observed_carbon_regions,
    region_mismatch,
)
from mspectmol.structure.evidence.proton_count import (
    proton_mismatch,
    proton_types_many,
    region_integrals,
)
from mspectmol.structure.libraries.qm9 import IsomerIndex
from mspectmol.structure.model.tokens import canonical
from mspectmol.structure.ranking.scores import RankWeights, fg_agreement
from mspectmol.structure.ranking.simulation import SimulatedSpectra

#: Isomers kept by the functional-group pre-filter unless told otherwise.
DEFAULT_PREFILTER = 200
#: Weights and spectral smoothing for fast-NMR candidates: those the ``rerank/val-weights``
#: benchmark row chose on 50 validation molecules for the same recipe
#: (``benchmarks/results/structure-rerank``, 2026-11-26), never on test molecules.
FAST_NMR_WEIGHTS = RankWeights(ll=0.0, fg=0.3, spec=30.0)
FAST_NMR_SMOOTH = 10.0
#: Weights for candidates drawn by the structure generator: :data:`FAST_NMR_WEIGHTS` plus the
#: ``gen`` term (log of 1 + the draws that gave the candidate), its weight chosen on 60
#: seeded scaffold-split validation molecules (2026-11-27; top-1 0.48 with weight 0, 0.53
#: with 0.1, 0.52 with 0.2-0.3, 0.50 with 0.5-1, 0.40 with 2), never on test molecules. The
#: pre-filter's 13C and 1H mismatches as extra ranking terms added at most one molecule.
#: The ``lines`` term (13C line distance in ppm) at weight 1 was chosen on 60 other seeded
#: scaffold-split validation molecules (seed 123 subset) with their peak lists rendered with
#: every spectrum randomised: first-stage top-1 0.450 without it, 0.517 / 0.533 / 0.533 / 0.500
#: with weight 0.3 / 1 / 3 / 10 (2026-12-07), never on test molecules.
GENERATED_WEIGHTS = RankWeights(ll=0.0, fg=0.3, spec=30.0, gen=0.1, lines=1.0)
#: Weight of the 13C line-count mismatch in :func:`prefilter`: chosen on 60 validation
#: molecules (scaffold split, seed 123 subset; truth kept in the top 200: 0.70 with weight 0,
#: 0.80 with 0.5 and 1, 0.83 with 2) on 2026-11-26, never on test molecules.
C13_WEIGHT = 1.0
#: Weight of the 1H region mismatch (protons per shift region) in :func:`prefilter`: chosen
#: on the same 60 validation molecules with ``c13_weight`` 1 (truth kept in the top 200: 47 of
#: 59 with weight 0, 53 with 0.5-2, 54 with 3; median rank 32 -> 18 with 1) on 2026-11-27.
H1_WEIGHT = 1.0
#: Weight of the draw count (``log(1 + draws)``) of generated candidates in :func:`prefilter`:
#: chosen on 60 validation molecules (scaffold split, seed 123 subset, 4,000 draws each) with
#: their peak lists rendered with every spectrum randomised (truth kept in the top 200: 36 of
#: the 50 drawn with weight 0, 41 with 1, 43 with 2-4, 44 with 6; in the top 20: 14, 26, 28)
#: and checked on their dataset spectra (top 200: 49 of 51 with weight 0, 50 with 1-6; top 20:
#: 22, 28, 32) on 2026-12-07, never on test molecules.
DRAWN_WEIGHT = 2.0


@dataclass(frozen=True)
class Prefiltered:
    """Isomers kept by :func:`prefilter` (best first), their labels, ``fg`` scores, 13C and 1H
    region mismatches (zeros when no such spectrum was given) and draw counts (None when not
    given)."""

    smiles: list[str]
    labels: np.ndarray
    fg: np.ndarray
    n_before: int
    c13_mismatch: np.ndarray | None = None
    h1_mismatch: np.ndarray | None = None
    drawn: np.ndarray | None = None


def prefilter(candidates: Sequence[str], probabilities: np.ndarray, n: int,
              labels: np.ndarray | None = None, *, c13_regions: np.ndarray | None = None,
              c13_weight: float = C13_WEIGHT, h1_regions: np.ndarray | None = None,
              h1_weight: float = H1_WEIGHT, draws: Sequence[int] | None = None,
              drawn_weight: float = DRAWN_WEIGHT) -> Prefiltered:
    """The ``n`` candidates that agree best with the predicted functional groups, the 13C
    lines and the 1H integrals.

    The score is the ranking's ``fg`` term (Bernoulli log-likelihood of the candidate's groups)
    minus ``c13_weight`` x the L1 distance between the candidate's and the observed
    13C line counts per shift region (:mod:`~mspectmol.structure.evidence.carbon_count`) when
    ``c13_regions`` (the observed counts, ``(3,)``) is given, and ``h1_weight`` x the L1
    distance in protons between the candidate's predicted and the observed 1H integral shares
    per region (:mod:`~mspectmol.structure.evidence.proton_count`) when ``h1_regions`` (the observed
    shares, ``(4,)``) is given, plus ``drawn_weight`` x ``log(1 + draws)`` when the generator's
    ``draws`` of each candidate are given (structures it drew more often are kept first: on
    spectra rendered unlike the simulator's, the group and NMR-count terms alone lose the truth
    in large pools). Ties (to 1e-9) keep the input
    order, so the result is reproducible; candidates that RDKit cannot label are dropped.
    ``labels`` ``(len(candidates), 37)`` skips labelling.
    """
    if n < 1:
        raise MspectmolError(f"the pre-filter must keep >= 1 candidates, got {n}")
    if c13_weight < 0:
        raise MspectmolError(f"the 13C pre-filter weight must be >= 0, got {c13_weight}")
    if not h1_weight >= 0:
        raise MspectmolError(f"the 1H pre-filter weight must be >= 0, got {h1_weight}")
    if not drawn_weight >= 0:
        raise MspectmolError(f"the pre-filter's draw weight must be >= 0, got {drawn_weight}")
    cands = list(candidates)
    counts = None if draws is None else np.asarray(draws, dtype=np.float64)
    if counts is not None and (counts.shape != (len(cands),) or (counts < 0).any()):
        raise MspectmolError(f"expected {len(cands)} draw counts >= 0, got shape {counts.shape}")
    if labels is None:
        labels, ok = label_many(cands, errors="skip", return_valid=True)
        cands = [c for c, v in zip(cands, ok, strict=True) if v]
        counts = None if counts is None else counts[np.asarray(ok, dtype=bool)]
    fg = fg_agreement(probabilities, labels) if cands else np.zeros(0)
    mismatch = np.zeros(len(cands))
    if c13_regions is not None and c13_weight > 0 and cands:
        mismatch = region_mismatch(carbon_regions_many(cands), c13_regions)
    h1 = np.zeros(len(cands))
    if h1_regions is not None and h1_weight > 0 and cands:
        h1 = proton_mismatch(proton_types_many(cands), h1_regions)
    gen = np.zeros(len(cands)) if counts is None else np.log1p(counts)
    score = fg - c13_weight * mismatch - h1_weight * h1 + drawn_weight * gen
    order = np.argsort(-np.round(score, 9), kind="stable")[:n]  # exact ties stay ties
    return Prefiltered([cands[i] for i in order], np.asarray(labels)[order], fg[order],
                       len(candidates), mismatch[order], h1[order],
                       None if counts is None else counts[order])


def fast_nmr_spectra(grids: Mapping[str, np.ndarray], jobs: int = 1) -> SimulatedSpectra:
    """The fast NMR simulation of candidates (in ``jobs`` processes), disk-cached, failures
    included: an ETKDG embedding that fails (strained QM9 cages) costs about 8 s and fails
    again."""
    return SimulatedSpectra(grids, fast_nmr=True, remember_failures=True, jobs=jobs)


def _given(modality: str, modalities: Sequence[str], available: np.ndarray,
           simulated: SimulatedSpectra) -> bool:
    """Whether an observed ``modality`` spectrum is given and has a simulator grid."""
    mods = list(modalities)
    return modality in simulated.grids and modality in mods and bool(
        available[mods.index(modality)])


def rank_isomers(eluc: Any, observed: Mapping[str, np.ndarray], available: np.ndarray,
                 formula: str, *, index: IsomerIndex, simulated: SimulatedSpectra,
                 n_keep: int = DEFAULT_PREFILTER, weights: RankWeights | None = None,
                 smooth: float | None = None, extra: Sequence[tuple[str, str]] = (),
                 features: np.ndarray | None = None, probabilities: np.ndarray | None = None,
                 c13_weight: float = C13_WEIGHT, h1_weight: float = H1_WEIGHT,
                 source: str = "qm9", draw_counts: Mapping[str, int] | None = None,
                 drawn_weight: float = DRAWN_WEIGHT) -> tuple[list[Any], Prefiltered]:
    """Rank the QM9 isomers of ``formula`` kept by :func:`prefilter` (plus ``extra``).

    ``extra`` ``(smiles, source)`` candidates (e.g. the user's) skip the pre-filter.
    Candidates are ranked by :meth:`~mspectmol.structure.elucidation.elucidator.Elucidator.rank`
    (a failed simulation counts as the worst spectral match) with ``weights`` and ``smooth``
    defaulting to :data:`FAST_NMR_WEIGHTS` and :data:`FAST_NMR_SMOOTH`. Returns the
    RankedCandidate list (best first) and what the pre-filter kept. When a 13C spectrum is
    available, the pre-filter also compares 13C line counts per shift region (on the
    simulator's 13C grid) with ``c13_weight``; when a 1H spectrum is available, 1H integrals
    per region with ``h1_weight``. ``source`` names where ``index`` came from (each kept
    isomer's source). ``draw_counts`` (generated candidates) adds the ``gen`` term, and the
    pre-filter's draw term with ``drawn_weight``.
    """
    avail = np.asarray(available, dtype=bool)
    if not any(a and m in simulated.modalities for m, a in zip(eluc.modalities, avail,
                                                             strict=True)):
        raise MspectmolError(f"QM9 candidates are ranked by simulated "
                             f"{'/'.join(simulated.modalities)} spectra: give one of those")
    if probabilities is None:
        batch = {m: np.asarray(observed[m], dtype=np.float32)[None] for m in eluc.modalities}
        probabilities = eluc.group_probabilities(batch, avail[None])[0]
    isomers = index.isomers(formula)
    if not isomers and not extra:
        raise MspectmolError(f"QM9 has no molecule of formula {formula} (QM9 holds molecules "
                             "of up to 9 heavy atoms C, N, O, F)")
    c13 = h1 = None
    if _given("c_nmr", eluc.modalities, avail, simulated):
        c13 = observed_carbon_regions(observed["c_nmr"], simulated.grids["c_nmr"])
    if _given("h_nmr", eluc.modalities, avail, simulated) and h1_weight > 0:
        y = np.asarray(observed["h_nmr"], dtype=np.float64)
        if np.any(y != 0):  # an empty spectrum (no protons seen) adds no 1H term; NaN raises
            h1 = region_integrals(y, simulated.grids["h_nmr"])
    draws = None if draw_counts is None else [draw_counts.get(s, 0) for s in isomers]
    kept = prefilter(isomers, probabilities, n_keep, c13_regions=c13, c13_weight=c13_weight,
                     h1_regions=h1, h1_weight=h1_weight, draws=draws,
                     drawn_weight=drawn_weight)
    cands, sources = list(kept.smiles), [source] * len(kept.smiles)
    labels = [kept.labels] if cands else []
    for smi, src in extra:
        c = canonical(smi)
        if c is not None and c not in cands:
            cands.append(c)
            sources.append(src)
            labels.append(label(c)[None])
    ranked = eluc.rank(observed, avail, formula, cands, sources=sources, simulated=simulated,
                       weights=weights or FAST_NMR_WEIGHTS, features=features,
                       probabilities=probabilities, labels=np.concatenate(labels),
                       missing="worst", smooth=FAST_NMR_SMOOTH if smooth is None else smooth,
                       draw_counts=draw_counts)
    return ranked, kept
