"""Beam search over SMILES tokens, batched over molecules, with a key/value cache.

Each molecule keeps ``beam_width`` hypotheses; a finished hypothesis (``<eos>`` emitted)
stays in its beam with a frozen score. The hypotheses are then decoded, parsed by RDKit,
canonicalised (no stereo) and de-duplicated, keeping each structure's best score (its
summed token log-probability); invalid strings are dropped. With a formula, only structures
of exactly that formula are kept. With a formula the search is also constrained while
decoding: an atom token is allowed only while its element's heavy-atom count stays within
the formula, and ``<eos>`` only once every heavy-atom count is reached (hydrogens are implicit
in SMILES, so the final formula filter still checks them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.model.decoder import StructureDecoder
from mspectmol.structure.model.tokens import (
    ELEMENTS,
    Vocabulary,
    canonical,
    formula_vector,
    smiles_formula,
    token_elements,
)


@dataclass
class BeamResult:
    """Ranked structures of one molecule and what was dropped."""

    smiles: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    n_hypotheses: int = 0
    n_valid: int = 0
    n_wrong_formula: int = 0


class FormulaConstraint:
    """Decoding constraint of rows with a formula: an atom token only while its element's
    heavy-atom count stays within the formula, ``<eos>`` only once every count is reached.

    Parameters
    ----------
    elements
        The :func:`token_elements` table.
    target
        ``(B, len(ELEMENTS))`` formula counts per hypothesis; rows of -1 are unconstrained.
    """

    def __init__(self, elements: np.ndarray, target: torch.Tensor) -> None:
        self.heavy = torch.as_tensor([e != "H" for e in ELEMENTS])
        self.tok_el = torch.as_tensor(elements)
        self.target = target
        self.has = (target[:, 0] >= 0)[:, None]
        self.used = torch.zeros_like(target)

    def apply(self, logp: torch.Tensor) -> torch.Tensor:
        """``logp`` ``(B, vocab)`` with the tokens the formula forbids set to -inf."""
        over = ((self.used[:, None, :] + self.tok_el[None]) > self.target[:, None, :]).any(-1)
        complete = ((self.used == self.target) | ~self.heavy).all(-1)
        block = over.clone()
        block[:, Vocabulary.eos] = ~complete
        return logp.masked_fill(block & self.has, float("-inf"))

    def remaining(self) -> torch.Tensor:
        """``(B,)`` heavy atoms each hypothesis may still place (large where unconstrained)."""
        left = ((self.target - self.used) * self.heavy).sum(-1)
        return torch.where(self.has[:, 0], left, torch.full_like(left, 1 << 30))

    def advance(self, parent: torch.Tensor | None, token: torch.Tensor) -> None:
        """Count the chosen ``token`` of each hypothesis (continuing hypothesis ``parent``)."""
        if parent is not None:
            self.used, self.target, self.has = (self.used[parent], self.target[parent],
                                                self.has[parent])
        self.used = self.used + self.tok_el[token]


@torch.no_grad()
def beam_search(model: StructureDecoder, features: torch.Tensor, available: torch.Tensor,
                formula: torch.Tensor, *, beam_width: int = 10, max_len: int | None = None,
                elements: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw beam search (formula-constrained for rows with a formula when ``elements``, the
    :func:`token_elements` table, is given).

    Returns
    -------
    tokens, scores
        ``(B, beam_width, L)`` int64 token ids (``<bos>`` first) and ``(B, beam_width)``
        summed log-probabilities, best first.
    """
    if beam_width < 1:
        raise MspectmolError(f"beam width must be >= 1, got {beam_width}")
    model.eval()
    vocab = model.config.vocab_size
    eos, bos = Vocabulary.eos, Vocabulary.bos
    max_len = min(max_len or model.config.max_len, model.config.max_len)
    b, w = features.shape[0], beam_width
    memory, pad = model.encode_memory(features, available, formula)
    memory = memory.repeat_interleave(w, dim=0)
    pad = pad.repeat_interleave(w, dim=0)
    cross, mask = model.cross_cache(memory, pad)
    scores = torch.full((b, w), float("-inf"))
    scores[:, 0] = 0.0
    seqs = torch.full((b * w, 1), bos, dtype=torch.long)
    done = torch.zeros(b * w, dtype=torch.bool)
    past = None
    frozen = torch.full((vocab,), float("-inf"))
    frozen[eos] = 0.0
    limit = (FormulaConstraint(elements, formula.repeat_interleave(w, dim=0))
             if elements is not None else None)
    for pos in range(max_len - 1):
        logp, past = model.step(seqs[:, -1], pos, cross, mask, past)
        if limit is not None:
            logp = limit.apply(logp)
        logp = torch.where(done[:, None], frozen[None, :], logp)
        total = (scores.reshape(-1, 1) + logp).reshape(b, w * vocab)
        scores, flat = total.topk(w, dim=1)
        parent = (flat // vocab) + torch.arange(b)[:, None] * w
        token = flat % vocab
        parent, token = parent.reshape(-1), token.reshape(-1)
        seqs = torch.cat((seqs[parent], token[:, None]), dim=1)
        done = done[parent] | (token == eos)
        past = [(k[parent], v[parent]) for k, v in past]
        if limit is not None:
            limit.advance(parent, token)
        if bool(done.all()):
            break
    return seqs.reshape(b, w, -1).numpy(), scores.numpy()


def rank_hypotheses(tokens: np.ndarray, scores: np.ndarray, vocab: Vocabulary, *, k: int,
                    formula: str | None = None) -> BeamResult:
    """Top ``k`` valid, canonical, distinct structures of one molecule's hypotheses."""
    out = BeamResult(n_hypotheses=len(tokens))
    best: dict[str, float] = {}
    for seq, score in zip(tokens, scores, strict=True):
        if not np.isfinite(score):
            continue
        smi = canonical(vocab.decode(seq[1:]))
        if smi is None:
            continue
        out.n_valid += 1
        if formula is not None and smiles_formula(smi) != formula:
            out.n_wrong_formula += 1
            continue
        if smi not in best or score > best[smi]:
            best[smi] = float(score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
    out.smiles = [s for s, _ in ranked]
    out.scores = [v for _, v in ranked]
    return out


def generate(model: StructureDecoder, vocab: Vocabulary, features: np.ndarray,
             available: np.ndarray, formulas: Sequence[str | None], *, k: int = 10,
             beam_width: int | None = None, batch_size: int = 32,
             constrain: bool = True) -> list[BeamResult]:
    """Top-``k`` structures for each molecule (see the module docstring).

    Parameters
    ----------
    features, available
        Memory features ``(n, n_modalities, n_tokens, n_features)`` and availability.
    formulas
        Hill formulas (RDKit ``CalcMolFormula`` style) or None per molecule; a formula both
        conditions the decoder and filters its output.
    beam_width
        Hypotheses kept per molecule (default ``k``).
    constrain
        Constrain decoding to the formula's heavy-atom counts (see the module docstring).
    """
    if k < 1:
        raise MspectmolError(f"k must be >= 1, got {k}")
    width = beam_width or k
    n = len(features)
    if len(formulas) != n or len(available) != n:
        raise MspectmolError("features, availability and formulas differ in length")
    fvec = np.stack([formula_vector(f) for f in formulas]) if n else np.zeros((0, 1))
    elements = token_elements(vocab) if constrain else None
    results: list[BeamResult] = []
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        toks, sc = beam_search(model, torch.as_tensor(features[sl]),
                               torch.as_tensor(available[sl]), torch.as_tensor(fvec[sl]),
                               beam_width=width, elements=elements)
        for i in range(len(toks)):
            results.append(rank_hypotheses(toks[i], sc[i], vocab, k=k,
                                           formula=formulas[start + i]))
    return results
