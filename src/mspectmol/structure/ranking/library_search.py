"""Library search on the embedded dataset: every molecule of the right formula is a candidate.

Used by the benchmark ("library search" settings, which include the true molecule among the
candidates and are therefore not de-novo results) and by
``mspectmol train --task structure`` to choose the ranking weights on the validation split.
The "observed" spectra of dataset molecules are their simulated spectra; :func:`perturb`
shifts each by up to 5 grid points and adds 5% intensity noise (appendix Q's augmentation)
so that the spectral term is not trivially exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mspectmol.spectra.augmentation import horizontal_shift, vertical_noise
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.ranking.scores import (
    RankWeights,
    choose_weights,
    combine,
    fg_agreement,
    rank_order,
)

#: Weight grid searched on validation.
WEIGHT_GRID = {"ll": (0.0, 0.1, 0.3, 1.0), "fg": (0.0, 0.3, 1.0, 3.0),
               "spec": (0.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)}


def perturb(spectra: Mapping[str, np.ndarray], seed: int | np.random.Generator, *,
            max_shift: int = 5, noise: float = 0.05) -> dict[str, np.ndarray]:
    """Shifted (up to ``max_shift`` grid points, one shift per spectrum) and noisy (``noise``
    relative Gaussian) copies of ``(n, points)`` spectra, clipped at 0 and max-normalised.

    ``seed`` may be a generator, to draw successive perturbations from one stream.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for m, y in spectra.items():
        z = np.clip(vertical_noise(horizontal_shift(y, rng, max_shift), rng, noise), 0, None)
        top = z.max(axis=1, keepdims=True)
        out[m] = np.divide(z, top, out=np.zeros_like(z), where=top > 0).astype(np.float32)
    return out


def formula_groups(smiles: Sequence[str]) -> tuple[dict[str, list[int]], list[str], list[str]]:
    """Rows by formula, canonical (no-stereo) SMILES and formulas of a dataset's molecules."""
    canon = [canonical(str(s)) or str(s) for s in smiles]
    formulas = [smiles_formula(s) or "" for s in canon]
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(formulas):
        groups.setdefault(f, []).append(i)
    return groups, canon, formulas


def library_cases(eluc: Any, ds: Any, rows: np.ndarray, groups: tuple, *,
                  perturbed: bool, seed: int
                  ) -> list[tuple[dict[str, np.ndarray], list[str], int]]:
    """``(terms, candidate SMILES, index of the true one)`` for each dataset row."""
    mods = eluc.modalities
    spectra = {m: ds.spectra[m][rows] for m in mods}
    if perturbed:
        spectra = perturb(spectra, seed)
    avail = np.ones((rows.size, len(mods)), dtype=bool)
    feats = eluc.features(spectra)
    probs = eluc.group_probabilities(spectra, avail)
    by_formula, smiles, formulas = groups
    out = []
    for j, r in enumerate(rows):
        cand = list({smiles[c]: c for c in by_formula[formulas[r]]}.values())
        names = [smiles[c] for c in cand]
        lib = np.stack([ds.spectra[m][cand] for m in mods], axis=1).astype(np.float64)
        obs = np.stack([spectra[m][j] for m in mods]).astype(np.float64)
        cos = (lib * obs).sum(-1) / np.maximum(np.linalg.norm(lib, axis=-1)
                                               * np.linalg.norm(obs, axis=-1), 1e-12)
        ll = eluc.log_likelihood(feats[j], avail[j], formulas[r], names)
        finite = np.isfinite(ll)
        ll = np.where(finite, ll, ll[finite].min() - 10 if finite.any() else -1e3)
        terms = {"ll": ll, "fg": fg_agreement(probs[j], ds.labels[cand]),
                 "spec": -(1.0 - cos).mean(axis=1)}
        out.append((terms, names, names.index(smiles[r])))
    return out


def ranked_lists(cases: list, weights: RankWeights) -> list[list[str]]:
    """Candidates of each case by decreasing combined score."""
    return [[names[i] for i in rank_order(combine(t, weights))] for t, names, _ in cases]


def select_weights(cases: list, terms: Sequence[str] = ("ll", "fg", "spec")
                   ) -> tuple[RankWeights, dict[str, float]]:
    """Weights chosen on ``cases`` over :data:`WEIGHT_GRID` (terms not named stay 0)."""
    grid = {t: (v if t in terms else (0.0,)) for t, v in WEIGHT_GRID.items()}
    return choose_weights([(t, i) for t, _, i in cases], grid)
