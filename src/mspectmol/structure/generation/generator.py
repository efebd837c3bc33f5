"""The evidence-conditioned structure generator: loading it and drawing structures.

``mspectmol elucidate --formula F --generate N``: the spectra -> functional-group
probabilities (PA-IB), 13C lines and 1H protons per shift region and the 13C line density
(:func:`observed_evidence`) -> ``N`` formula-constrained
draws from the generator (:mod:`~mspectmol.structure.generation.prior`,
:mod:`~mspectmol.structure.generation.sampling`) -> the distinct structures, as an isomer
index of the formula (:func:`generated_index`), go through the same pre-filter, fast NMR
simulation and ranking as the QM9 isomers
(:func:`~mspectmol.structure.ranking.prefilter.rank_isomers`) -> the best 20 are re-ranked by
their full GFN2-xTB + CSP5 simulation (:mod:`~mspectmol.structure.ranking.refine`); the
elucidation service (:mod:`~mspectmol.structure.elucidation.service`) runs these steps. No
library is read: the candidates are generated, and the generator never saw the held-out test
molecules or their scaffolds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.structure.evidence.carbon_count import lines_per_region, pick_peaks
from mspectmol.structure.evidence.proton_count import region_integrals
from mspectmol.structure.generation.prior import (
    EVIDENCE,
    N_FEATURES,
    evidence_features,
    shift_histogram,
)
from mspectmol.structure.generation.sampling import Sampled, sample_structures
from mspectmol.structure.libraries.qm9 import IsomerIndex
from mspectmol.structure.model.decoder import StructureDecoder
from mspectmol.structure.model.domain import model_domain
from mspectmol.structure.model.io import (
    StructureMeta,
    load_structure_model,
    read_structure_meta,
)
from mspectmol.structure.model.tokens import Vocabulary, formula_counts, hill
from mspectmol.structure.pretrained import PRETRAINED_DIR

log = logging.getLogger("mspectmol.structure")

#: Draws per molecule and sampling temperature unless told otherwise (chosen on validation
#: molecules, see ``benchmarks/results/structure-prior``).
DEFAULT_DRAWS = 4000
DEFAULT_TEMPERATURE = 1.0


#: Packaged generators, the one for smaller molecules first (:func:`default_generator`).
PACKAGED_GENERATORS = ("prior", "prior-drug")


def default_generator(formula: str | None) -> Path | None:
    """The packaged generator for ``formula``: the first of :data:`PACKAGED_GENERATORS`
    whose training domain holds it (QM9's ``prior`` up to 9 heavy atoms of C, N, O, F; the
    drug-size ``prior-drug`` beyond); None (the packaged ``prior``) without a formula or when
    none holds it, so that the out-of-domain warning names the QM9 generator's limits.

    Raises
    ------
    MspectmolError
        For a malformed formula.
    """
    if formula is None:
        return None
    for name in PACKAGED_GENERATORS:
        folder = PRETRAINED_DIR / name
        if not (folder / "model.json").is_file():
            continue
        meta = read_structure_meta(folder)
        if not model_domain(meta.training, Vocabulary(tuple(meta.vocabulary))).outside(formula):
            return None if name == PACKAGED_GENERATORS[0] else folder
    return None


def prior_model_path(path: str | Path | None = None) -> Path:
    """The generator's model folder: ``path``, or the packaged ``pretrained/prior``."""
    if path is not None:
        return Path(path)
    default = PRETRAINED_DIR / "prior"
    if not (default / "model.json").is_file():
        raise ModelFileError(f"{default}: no packaged structure generator; build it with "
                             "scripts/train_structure_prior.py")
    return default


def observed_evidence(probabilities: np.ndarray | None, observed: Mapping[str, np.ndarray],
                      grids: Mapping[str, np.ndarray], formula: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One molecule's evidence ``(4, 1, 91)`` and availability ``(4,)``: the group
    ``probabilities`` ``(37,)`` (None: unavailable), the lines picked in the observed 13C
    spectrum (counted per region and as a density), and the observed 1H integral shares x
    the formula's hydrogens, each when that spectrum is in ``observed`` (on its ``grids``
    axis) and not all zero."""
    c13 = h1 = shifts = None
    y = observed.get("c_nmr")
    if y is not None and np.any(np.asarray(y) != 0):
        lines = pick_peaks(np.asarray(y, dtype=np.float64), grids["c_nmr"])
        c13 = lines_per_region(lines)[None]
        shifts = shift_histogram([lines])[0]
    y = observed.get("h_nmr")
    if y is not None and np.any(np.asarray(y) != 0):
        n_h = formula_counts(formula).get("H", 0)
        h1 = region_integrals(np.asarray(y, dtype=np.float64), grids["h_nmr"])[None] * n_h
    groups = None if probabilities is None else np.asarray(probabilities)[None]
    feats, avail = evidence_features(groups, c13, h1, shifts, n=1)
    return feats[0], avail[0]


@dataclass
class Generator:
    """A loaded evidence-conditioned generator (decoder, vocabulary, file description)."""

    decoder: StructureDecoder
    vocab: Vocabulary
    meta: StructureMeta

    @classmethod
    def load(cls, path: str | Path | None = None) -> Generator:
        """Load a generator model folder (the packaged one by default).

        Raises
        ------
        ModelFileError
            For an unreadable file or a structure model that does not read evidence.
        """
        folder = prior_model_path(path)
        decoder, vocab, meta = load_structure_model(folder)
        if decoder.config.memory != "evidence":
            raise ModelFileError(f"{folder}: a structure model reading {decoder.config.memory!r}"
                                 " features, not an evidence-conditioned generator")
        expected = [f"evidence:{e}" for e in EVIDENCE]
        if list(meta.modalities) != expected or decoder.config.n_features != N_FEATURES:
            raise ModelFileError(f"{folder}: a generator reading evidence {meta.modalities} "
                                 f"({decoder.config.n_features} columns); this version of "
                                 f"mspectmol writes {expected} ({N_FEATURES} columns): "
                                 "rebuild it with scripts/train_structure_prior.py")
        return cls(decoder, vocab, meta)

    def trained_evidence(self) -> np.ndarray:
        """Which evidence tokens the generator saw in training ``(4,)`` bool: a token it was
        never given (``c13_shifts`` where no corpus structure had predicted 13C lines) stays
        hidden at inference, as in training (the file's ``training["evidence_available"]``;
        all, for files without it)."""
        seen = self.meta.training.get("evidence_available") or {}
        return np.array([float(seen.get(e, 1.0)) > 0 for e in EVIDENCE], dtype=bool)

    def sample(self, probabilities: np.ndarray | None, observed: Mapping[str, np.ndarray],
               grids: Mapping[str, np.ndarray], formula: str, *, n: int = DEFAULT_DRAWS,
               temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
               syntax: bool = False) -> Sampled:
        """Distinct structures of ``formula`` among ``n`` draws given the observed evidence
        (``syntax``: every draw kept a parseable SMILES string with sound valences,
        :mod:`~mspectmol.structure.generation.syntax`)."""
        feats, avail = observed_evidence(probabilities, observed, grids, hill(formula))
        avail = avail & self.trained_evidence()
        return sample_structures(self.decoder, self.vocab, feats, avail, hill(formula), n=n,
                                 temperature=temperature, seed=seed, syntax=syntax)


def generated_index(sampled: Sampled, formula: str) -> IsomerIndex:
    """The distinct sampled structures as an isomer index of ``formula`` (what
    :func:`~mspectmol.structure.ranking.prefilter.rank_isomers` reads).

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
