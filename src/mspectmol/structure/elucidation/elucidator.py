"""Spectra -> ranked structures: de-novo generation and candidate ranking in one object.

:class:`Elucidator` holds the structure decoder, its vocabulary and (for PA-IB memories)
the frozen PA-IB model whose features it reads; the same PA-IB model (or a given classifier)
predicts the functional groups used by the ranking's ``fg`` term. It generates by beam
search, scores candidates (:mod:`~mspectmol.structure.ranking.scores`) and, in
:meth:`Elucidator.generate_and_rank`, does both: the way CASE systems work, the decoder
proposes candidates, each is simulated and they are re-ranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mspectmol.chem.functional_groups import label
from mspectmol.errors import MspectmolError
from mspectmol.structure.generation.beam import BeamResult, generate
from mspectmol.structure.model.decoder import (
    StructureDecoder,
    pad_batch,
    sequence_log_likelihood,
)
from mspectmol.structure.model.io import StructureMeta
from mspectmol.structure.model.memory import memory_features
from mspectmol.structure.model.tokens import Vocabulary, canonical, formula_vector
from mspectmol.structure.ranking.scores import RankWeights, combine, fg_agreement, rank_order
from mspectmol.structure.ranking.simulation import SimulatedSpectra
from mspectmol.structure.ranking.spectral_match import line_terms, spectral_distance


@dataclass
class RankedCandidate:
    """One ranked structure with its score and terms (None: term not used). ``full`` is the
    second ranking stage's term (:mod:`~mspectmol.structure.ranking.refine`), None when the
    candidate was not refined; ``ms`` the MS/MS fragment term
    (:mod:`~mspectmol.structure.elucidation.mass`), None without a mass spectrum; ``lines``
    the 13C line term (:mod:`~mspectmol.structure.ranking.scores`), None when not computed;
    ``full_lines`` the second stage's 13C line term, None when not refined or without 13C.
    ``explanation`` is the score as the sum of its weighted terms
    (:func:`~mspectmol.structure.ranking.scores.explain`), when the caller wrote one."""

    smiles: str
    score: float
    ll: float | None
    fg: float | None
    spec: float | None
    source: str
    gen: float | None = None
    full: float | None = None
    explanation: str | None = None
    ms: float | None = None
    lines: float | None = None
    full_lines: float | None = None


class Elucidator:
    """See the module docstring.

    Parameters
    ----------
    decoder, vocab, meta
        From :func:`~mspectmol.structure.model.io.load_structure_model`.
    encoder
        The PA-IB model (needed for ``pa_ib``/``ungated`` memories and for the ``fg`` term).
    """

    def __init__(self, decoder: StructureDecoder, vocab: Vocabulary, meta: StructureMeta,
                 encoder: Any, classifier: Any = None) -> None:
        self.decoder, self.vocab, self.meta, self.encoder = decoder, vocab, meta, encoder
        #: The functional-group model of :meth:`group_probabilities` (default: the encoder).
        self.classifier = classifier
        self.modalities = tuple(meta.modalities)
        cfg = decoder.config
        if len(self.modalities) != cfg.n_modalities:
            raise MspectmolError("structure model: modalities do not match its config")

    def features(self, spectra: Mapping[str, np.ndarray]) -> np.ndarray:
        """Memory features of ``{modality: (n, n_points)}`` spectra (zeros where missing)."""
        cfg = self.decoder.config
        return memory_features(cfg.memory, spectra, self.modalities, encoder=self.encoder,
                               pool=cfg.pool, patch=cfg.patch, readout=cfg.readout)

    @torch.no_grad()
    def group_probabilities(self, spectra: Mapping[str, np.ndarray],
                            available: np.ndarray) -> np.ndarray:
        """PA-IB functional-group probabilities ``(n, 37)`` for the given spectra (from the
        ``classifier`` when one was given, else from the encoder)."""
        model = self.classifier if self.classifier is not None else self.encoder
        if model is None:
            raise MspectmolError("functional-group agreement needs the PA-IB model")
        model.eval()
        mods = model.config.modalities
        x = {m: torch.as_tensor(np.asarray(spectra[m], dtype=np.float32)) for m in mods}
        av = {m: torch.as_tensor(available[:, self.modalities.index(m)]) for m in mods}
        return torch.sigmoid(model(x, av).logits).numpy()

    def generate(self, features: np.ndarray, available: np.ndarray,
                 formulas: Sequence[str | None], k: int = 10,
                 beam_width: int | None = None) -> list[BeamResult]:
        """Top-``k`` valid, canonical, distinct structures per molecule (beam search)."""
        return generate(self.decoder, self.vocab, features, available, formulas, k=k,
                        beam_width=beam_width)

    @torch.no_grad()
    def log_likelihood(self, features: np.ndarray, available: np.ndarray,
                       formula: str | None, candidates: Sequence[str],
                       batch_size: int = 128) -> np.ndarray:
        """Decoder log-probability of each candidate's canonical SMILES for one molecule.

        ``features`` ``(n_modalities, n_tokens, n_features)`` and ``available``
        ``(n_modalities,)`` describe the one molecule; a candidate whose SMILES holds a token
        outside the vocabulary or exceeds ``max_len`` gets ``-inf``.
        """
        self.decoder.eval()
        out = np.full(len(candidates), -np.inf)
        encoded: list[tuple[int, list[int]]] = []
        for i, smi in enumerate(candidates):
            ids = self.vocab.encode(smi)
            if self.vocab.unk not in ids and len(ids) <= self.decoder.config.max_len:
                encoded.append((i, ids))
        fvec = torch.as_tensor(formula_vector(formula))[None]
        feats = torch.as_tensor(features)[None]
        avail = torch.as_tensor(available)[None]
        for start in range(0, len(encoded), batch_size):
            part = encoded[start:start + batch_size]
            tokens = pad_batch([ids for _, ids in part])
            n = len(part)
            ll = sequence_log_likelihood(self.decoder, tokens, feats.expand(n, -1, -1, -1),
                                         avail.expand(n, -1), fvec.expand(n, -1))
            out[[i for i, _ in part]] = ll.numpy()
        return out

    def candidate_terms(self, observed: Mapping[str, np.ndarray], available: np.ndarray,
                        formula: str | None, candidates: Sequence[str], *,
                        simulated: SimulatedSpectra | None = None,
                        features: np.ndarray | None = None,
                        probabilities: np.ndarray | None = None,
                        labels: np.ndarray | None = None, missing: str = "drop",
                        smooth: float = 0.0) -> dict[str, np.ndarray | None]:
        """The ranking terms of distinct canonical ``candidates`` for one molecule.

        The ``spec`` term compares the observed modalities that ``simulated`` provides
        (:attr:`SimulatedSpectra.modalities`); it is None when ``simulated`` is None or no
        such modality is observed. The ``lines`` term is computed where ``spec`` is and a 13C
        spectrum is among those compared (None otherwise; under ``"worst"`` a candidate
        without simulated spectra counts the largest line distance). ``missing`` says what a
        candidate without simulated spectra does: ``"drop"`` the term for every candidate, or
        count it ``"worst"`` (distance 1, the distance of an empty spectrum). A non-finite
        ``ll`` (candidate outside the vocabulary) becomes 10 below the lowest finite one.
        ``smooth``: see :func:`~mspectmol.structure.ranking.spectral_match.spectral_distance`.
        """
        if missing not in ("drop", "worst"):
            raise MspectmolError(f"missing must be 'drop' or 'worst', got {missing!r}")
        batch = {m: np.asarray(observed[m], dtype=np.float32)[None] for m in self.modalities}
        avail = np.asarray(available, dtype=bool)
        if features is None:
            features = self.features(batch)[0]
        if probabilities is None:
            probabilities = self.group_probabilities(batch, avail[None])[0]
        if labels is None:
            labels = np.stack([label(c) for c in candidates])
        terms: dict[str, np.ndarray | None] = {
            "ll": self.log_likelihood(features, avail, formula, candidates),
            "fg": fg_agreement(probabilities, labels), "spec": None, "lines": None}
        provided = set(simulated.modalities) if simulated is not None else set()
        obs = {m: batch[m][0] for j, m in enumerate(self.modalities)
               if avail[j] and m in provided}
        if obs:
            sims = simulated.get_many(candidates)
            if missing == "worst" or all(s is not None for s in sims):
                terms["spec"] = -np.asarray([1.0 if s is None else
                                             spectral_distance(obs, s, smooth) for s in sims])
            if terms["spec"] is not None and "c_nmr" in obs:
                terms["lines"] = line_terms(obs["c_nmr"], [None if s is None else s["c_nmr"]
                                                           for s in sims],
                                            simulated.grids["c_nmr"])
        ll = terms["ll"]
        finite = np.isfinite(ll)
        if not finite.all():
            terms["ll"] = np.where(finite, ll, ll[finite].min() - 10 if finite.any() else -1e3)
        return terms

    def rank(self, observed: Mapping[str, np.ndarray], available: np.ndarray,
             formula: str | None, candidates: Sequence[str], *,
             sources: Sequence[str] | None = None, simulated: SimulatedSpectra | None = None,
             weights: RankWeights | None = None, features: np.ndarray | None = None,
             probabilities: np.ndarray | None = None,
             labels: np.ndarray | None = None, missing: str = "drop",
             smooth: float = 0.0, draw_counts: Mapping[str, int] | None = None
             ) -> list[RankedCandidate]:
        """Rank candidate structures for one molecule's observed spectra.

        Parameters
        ----------
        observed
            ``{modality: (n_points,)}`` of this molecule (zeros for missing modalities).
        available
            ``(n_modalities,)`` bool.
        candidates
            SMILES; invalid ones raise, duplicates (same canonical SMILES) are merged.
        sources
            Where each candidate came from (shown in reports).
        simulated
            Source of simulated spectra; None drops the ``spec`` term.
        features, probabilities, labels
            Precomputed memory features, PA-IB probabilities or candidate labels (speed).
        missing, smooth
            Candidates without simulated spectra, spectral smoothing: see
            :meth:`candidate_terms`.
        draw_counts
            ``{canonical SMILES: draws}`` from the structure generator: adds the ``gen`` term
            ``log(1 + draws)`` (weighted by ``weights.gen``).
        """
        weights = weights or RankWeights()
        seen: dict[str, int] = {}
        cands, srcs = [], []
        for i, smi in enumerate(candidates):
            c = canonical(smi)
            if c is None:
                raise MspectmolError(f"candidate {smi!r} is not a valid SMILES")
            if c not in seen:
                seen[c] = len(cands)
                cands.append(c)
                srcs.append(sources[i] if sources is not None else "candidates")
        if not cands:
            raise MspectmolError("no candidates to rank")
        terms = self.candidate_terms(observed, available, formula, cands, simulated=simulated,
                                     features=features, probabilities=probabilities,
                                     labels=labels, missing=missing, smooth=smooth)
        if draw_counts is not None:
            terms["gen"] = np.log1p([float(draw_counts.get(c, 0)) for c in cands])
        scores = combine(terms, weights)
        out = []
        for i in rank_order(scores):
            out.append(RankedCandidate(
                cands[i], float(scores[i]), float(terms["ll"][i]), float(terms["fg"][i]),
                None if terms["spec"] is None else float(terms["spec"][i]), srcs[i],
                None if draw_counts is None else float(terms["gen"][i]),
                lines=None if terms["lines"] is None else float(terms["lines"][i])))
        return out

    def generate_and_rank(self, observed: Mapping[str, np.ndarray], available: np.ndarray,
                          formula: str | None, k_gen: int, simulated: SimulatedSpectra, *,
                          weights: RankWeights | None = None, beam_width: int | None = None,
                          smooth: float = 0.0, features: np.ndarray | None = None,
                          probabilities: np.ndarray | None = None) -> list[RankedCandidate]:
        """De novo "generate and rank": generate ``k_gen`` structures for one molecule by beam
        search and re-rank them.

        Only decoder outputs are candidates; each is simulated (``simulated``, cached) and a
        candidate whose simulation fails counts as the largest spectral distance (1).

        Parameters
        ----------
        observed, available
            ``{modality: (n_points,)}`` spectra (zeros where missing) and ``(n_modalities,)``
            availability, in the model's modality order.
        formula
            Hill formula (conditions and filters the beam) or None.
        k_gen
            Structures kept from the beam (the candidates).
        simulated
            Simulated spectra of the candidates (its
            :attr:`~mspectmol.structure.ranking.simulation.SimulatedSpectra.modalities` must
            include an observed one).
        weights
            Ranking weights (default: :class:`~mspectmol.structure.ranking.scores.RankWeights`
            defaults).
        beam_width
            Default ``2 k_gen`` with a formula, else ``k_gen``.
        smooth
            Gaussian blur (grid points) of the spectra before comparing them
            (:func:`~mspectmol.structure.ranking.spectral_match.spectral_distance`).
        features, probabilities
            Precomputed memory features and group probabilities of this molecule (speed).

        Returns
        -------
        list of RankedCandidate
            Best first, every one with ``source == "generated"``.

        Raises
        ------
        MspectmolError
            ``k_gen`` < 1, no observed modality that ``simulated`` provides, or no valid
            structure (of the formula) among the beam hypotheses.
        """
        if k_gen < 1:
            raise MspectmolError(f"the number of generated candidates must be >= 1, got {k_gen}")
        avail = np.asarray(available, dtype=bool)
        usable = [m for j, m in enumerate(self.modalities)
                  if avail[j] and m in simulated.modalities]
        if not usable:
            observed_names = [m for j, m in enumerate(self.modalities) if avail[j]]
            raise MspectmolError(
                f"re-ranking compares simulated {'/'.join(simulated.modalities)} spectra, but "
                f"only {'/'.join(observed_names) or 'no'} spectra are observed; give one of "
                "those spectra or use the full simulation")
        batch = {m: np.asarray(observed[m], dtype=np.float32)[None] for m in self.modalities}
        feats = self.features(batch) if features is None else np.asarray(features)[None]
        probs = (self.group_probabilities(batch, avail[None])[0] if probabilities is None
                 else probabilities)
        width = beam_width or (2 * k_gen if formula else k_gen)
        res = self.generate(feats, avail[None], [formula], k=k_gen, beam_width=width)[0]
        if not res.smiles:
            of = f" of formula {formula}" if formula else ""
            raise MspectmolError(f"no valid structure{of} among {res.n_hypotheses} beam "
                                 "hypotheses; try a larger beam width")
        return self.rank(observed, avail, formula, res.smiles,
                         sources=["generated"] * len(res.smiles), simulated=simulated,
                         weights=weights, features=feats[0], probabilities=probs,
                         missing="worst", smooth=smooth)
