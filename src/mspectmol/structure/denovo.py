"""De novo "generate and rank" with the evidence-conditioned generator.

``mspectmol elucidate --formula F --generate N``: the spectra -> functional-group
probabilities (PA-IB), 13C lines and 1H protons per shift region and the 13C line density
(:func:`~mspectmol.structure.prior.observed_evidence`) -> ``N`` formula-constrained draws
from the generator (:mod:`~mspectmol.structure.prior`, :mod:`~mspectmol.structure.sampling`)
-> the distinct structures go through the same pre-filter, fast NMR simulation and ranking as
the QM9 isomers (:func:`~mspectmol.structure.isomers.rank_isomers`) -> the best 20 are
re-ranked by their full GFN2-xTB + CSP5 simulation (:mod:`~mspectmol.structure.refine`). No
library is read: the candidates are generated, and the generator never saw the held-out test
molecules or their scaffolds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.structure.isomers import (
    C13_WEIGHT,
    DEFAULT_PREFILTER,
    GENERATED_WEIGHTS,
    H1_WEIGHT,
    IsomerIndex,
    Prefiltered,
    hill,
    rank_isomers,
)
from mspectmol.structure.ranking import SimulatedSpectra
from mspectmol.structure.refine import K as REFINE_K
from mspectmol.structure.refine import refine
from mspectmol.structure.sampling import Sampled, sample_structures

log = logging.getLogger("mspectmol.structure")

#: Draws per molecule and sampling temperature unless told otherwise (chosen on validation
#: molecules, see ``benchmarks/results/structure-prior``).
DEFAULT_DRAWS = 4000
DEFAULT_TEMPERATURE = 1.0


def prior_model_path(path: str | Path | None = None) -> Path:
    """The generator's model folder: ``path``, or the packaged ``pretrained/prior``."""
    from mspectmol.structure.pretrained import PRETRAINED_DIR

    if path is not None:
        return Path(path)
    default = PRETRAINED_DIR / "prior"
    if not (default / "model.json").is_file():
        raise ModelFileError(f"{default}: no packaged structure generator; build it with "
                             "scripts/train_structure_prior.py")
    return default


@dataclass
class Generator:
    """A loaded evidence-conditioned generator (decoder, vocabulary, file description)."""

    decoder: Any
    vocab: Any
    meta: Any

    @classmethod
    def load(cls, path: str | Path | None = None) -> Generator:
        """Load a generator model folder (the packaged one by default).

        Raises
        ------
        ModelFileError
            For an unreadable file or a structure model that does not read evidence.
        """
        from mspectmol.structure.io import load_structure_model

        folder = prior_model_path(path)
        decoder, vocab, meta = load_structure_model(folder)
        if decoder.config.memory != "evidence":
            raise ModelFileError(f"{folder}: a structure model reading {decoder.config.memory!r}"
                                 " features, not an evidence-conditioned generator")
        from mspectmol.structure.prior import EVIDENCE, N_FEATURES

        expected = [f"evidence:{e}" for e in EVIDENCE]
        if list(meta.modalities) != expected or decoder.config.n_features != N_FEATURES:
            raise ModelFileError(f"{folder}: a generator reading evidence {meta.modalities} "
                                 f"({decoder.config.n_features} columns); this version of "
                                 f"mspectmol writes {expected} ({N_FEATURES} columns): "
                                 "rebuild it with scripts/train_structure_prior.py")
        return cls(decoder, vocab, meta)

    def sample(self, probabilities: np.ndarray | None, observed: Mapping[str, np.ndarray],
               grids: Mapping[str, np.ndarray], formula: str, *, n: int = DEFAULT_DRAWS,
               temperature: float = DEFAULT_TEMPERATURE, seed: int = 0) -> Sampled:
        """Distinct structures of ``formula`` among ``n`` draws given the observed evidence."""
        from mspectmol.structure.prior import observed_evidence

        feats, avail = observed_evidence(probabilities, observed, grids, hill(formula))
        return sample_structures(self.decoder, self.vocab, feats, avail, hill(formula), n=n,
                                 temperature=temperature, seed=seed)


def generated_index(sampled: Sampled, formula: str) -> IsomerIndex:
    """The distinct sampled structures as an isomer index of ``formula`` (what
    :func:`~mspectmol.structure.isomers.rank_isomers` reads).

    Raises
    ------
    MspectmolError
        When no draw gave a valid structure of ``formula``.
    """
    if not sampled.smiles:
        raise MspectmolError(f"the generator drew no valid structure of formula {formula} in "
                             f"{sampled.n_draws} draws; try more draws or a higher "
                             "--temperature")
    return IsomerIndex([(hill(formula), s) for s in sampled.smiles], {"source": "generated"})


def rank_generated(eluc: Any, generator: Generator, observed: Mapping[str, np.ndarray],
                   available: np.ndarray, formula: str, *, simulated: SimulatedSpectra,
                   n_draws: int = DEFAULT_DRAWS, temperature: float = DEFAULT_TEMPERATURE,
                   n_keep: int = DEFAULT_PREFILTER, seed: int = 0,
                   features: np.ndarray | None = None,
                   probabilities: np.ndarray | None = None, c13_weight: float = C13_WEIGHT,
                   h1_weight: float = H1_WEIGHT, full: SimulatedSpectra | None = None,
                   refine_k: int = REFINE_K, **rank_kw: Any
                   ) -> tuple[list[Any], Prefiltered, Sampled]:
    """Generate candidates for one molecule and rank them as QM9 isomers are ranked.

    Candidates are ranked with the ``gen`` term (draw counts) and, unless ``weights`` is
    given, :data:`~mspectmol.structure.isomers.GENERATED_WEIGHTS`. With ``full``
    (:func:`~mspectmol.structure.refine.full_spectra`), the best ``refine_k`` are then
    re-ranked by the second stage (:func:`~mspectmol.structure.refine.refine`). Returns the
    RankedCandidate list (best first, source ``generated``), what the pre-filter kept and
    what was sampled.

    Raises
    ------
    MspectmolError
        When no draw gives a valid structure of ``formula``.
    """
    avail = np.asarray(available, dtype=bool)
    if probabilities is None:
        batch = {m: np.asarray(observed[m], dtype=np.float32)[None] for m in eluc.modalities}
        probabilities = eluc.group_probabilities(batch, avail[None])[0]
    given = {m: observed[m] for m, a in zip(eluc.modalities, avail, strict=True) if a}
    sampled = generator.sample(probabilities, given, simulated.grids, formula, n=n_draws,
                               temperature=temperature, seed=seed)
    ranked, kept = rank_isomers(eluc, observed, avail, formula,
                                index=generated_index(sampled, formula),
                                simulated=simulated, n_keep=n_keep, features=features,
                                probabilities=probabilities, c13_weight=c13_weight,
                                h1_weight=h1_weight, source="generated",
                                draw_counts=sampled.count_map(),
                                **{"weights": GENERATED_WEIGHTS, **rank_kw})
    if full is not None and ranked:
        ranked = refine(ranked, given, full, k=refine_k)
    return ranked, kept, sampled
