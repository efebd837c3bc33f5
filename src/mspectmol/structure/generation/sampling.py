"""Sampling many distinct structures of one formula from a SMILES decoder.

Beam search returns the few most probable strings, which for a formula are often the same
structure written differently; to propose hundreds of distinct isomers for re-ranking,
:func:`sample_structures` draws token sequences at a temperature (formula-constrained as
the beam, :class:`~mspectmol.structure.generation.beam.FormulaConstraint`), canonicalises them
and keeps each distinct structure of the formula once, with how often it was drawn and the best
log-probability (at temperature 1) of its strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.generation.beam import FormulaConstraint
from mspectmol.structure.generation.syntax import SmilesSyntax, unsaturation_halves
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
class Sampled:
    """Distinct structures drawn (most frequent first), their counts and best
    log-probabilities, and how many draws were made / valid / of the formula."""

    smiles: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    n_draws: int = 0
    n_valid: int = 0
    n_formula: int = 0

    def count_map(self) -> dict[str, int]:
        """``{SMILES: draws}`` of the distinct structures (the ranking's ``draw_counts``)."""
        return dict(zip(self.smiles, self.counts, strict=True))


@torch.no_grad()
def draw(model: StructureDecoder, features: torch.Tensor, available: torch.Tensor,
         formula: torch.Tensor, n: int, *, temperature: float = 1.0,
         elements: np.ndarray | None = None, generator: torch.Generator | None = None,
         syntax: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences for one molecule: tokens ``(n, L)`` (``<bos>`` first, ``<pad>`` after
    ``<eos>``) and their summed log-probabilities at temperature 1 ``(n,)``.

    ``elements`` (the :func:`token_elements` table) constrains the heavy atoms to the
    formula; ``syntax`` (the vocabulary's tokens, with ``elements``) also keeps every string
    parseable (:class:`~mspectmol.structure.generation.syntax.SmilesSyntax`).
    """
    model.eval()
    memory, pad = model.encode_memory(features[None], available[None], formula[None])
    cross, mask = model.cross_cache(memory.expand(n, -1, -1), pad.expand(n, -1))
    limit = FormulaConstraint(elements, formula[None].expand(n, -1)) \
        if elements is not None else None
    grammar = None
    if syntax is not None and elements is not None:
        known = bool((formula >= 0).all())  # a formula with its hydrogens: budget unsaturation
        grammar = SmilesSyntax(syntax, elements, n, torch.as_tensor(
            unsaturation_halves(formula.numpy(), ELEMENTS)) if known else None)
    seqs = torch.full((n, 1), Vocabulary.bos, dtype=torch.long)
    total = torch.zeros(n)
    done = torch.zeros(n, dtype=torch.bool)
    past = None
    for pos in range(model.config.max_len - 1):
        logp, past = model.step(seqs[:, -1], pos, cross, mask, past)
        if limit is not None:
            logp = limit.apply(logp)
        if grammar is not None:
            logp = grammar.apply(logp, limit.remaining())  # grammar implies limit
        probs = torch.softmax(logp / temperature, dim=-1)
        dead = ~torch.isfinite(logp).any(-1)  # no token allowed: end this draw as invalid
        probs[dead] = 0.0
        probs[dead, Vocabulary.eos] = 1.0
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        token = torch.where(done, torch.full_like(token, Vocabulary.pad), token)
        picked = logp.gather(1, token[:, None]).squeeze(1)
        total = total + torch.where(done | dead, torch.zeros_like(picked), picked)
        total[dead & ~done] = float("-inf")
        seqs = torch.cat((seqs, token[:, None]), dim=1)
        if limit is not None:
            limit.advance(None, token)  # <pad> after <eos> counts no atom
        if grammar is not None:
            grammar.advance(None, token)
        done = done | (token == Vocabulary.eos)
        if bool(done.all()):
            break
    return seqs.numpy(), total.numpy()


def sample_structures(model: StructureDecoder, vocab: Vocabulary, features: np.ndarray,
                      available: np.ndarray, formula: str, *, n: int = 1000,
                      temperature: float = 1.0, batch_size: int = 500, seed: int = 0,
                      constrain: bool = True, syntax: bool = False) -> Sampled:
    """Distinct canonical structures of ``formula`` among ``n`` draws for one molecule.

    Parameters
    ----------
    features, available
        The molecule's memory ``(n_modalities, n_tokens, n_features)`` and ``(n_modalities,)``.
    formula
        Hill formula; it conditions the decoder, constrains decoding and filters the result.
    syntax
        Also keep every draw a parseable SMILES string (with ``constrain``).
    """
    if n < 1 or batch_size < 1:
        raise MspectmolError(f"draws and batch size must be >= 1, got {n} and {batch_size}")
    if not temperature > 0:
        raise MspectmolError(f"temperature must be > 0, got {temperature}")
    gen = torch.Generator().manual_seed(seed)
    feats = torch.as_tensor(np.asarray(features, dtype=np.float32))
    avail = torch.as_tensor(np.asarray(available, dtype=bool))
    fvec = torch.as_tensor(formula_vector(formula))
    elements = token_elements(vocab) if constrain else None
    out = Sampled()
    found: dict[str, list[float]] = {}
    parsed: dict[str, str | None] = {}
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        tokens, scores = draw(model, feats, avail, fvec, m, temperature=temperature,
                              elements=elements, generator=gen,
                              syntax=vocab.tokens if syntax else None)
        for seq, score in zip(tokens, scores, strict=True):
            out.n_draws += 1
            if not np.isfinite(score):
                continue
            text = vocab.decode(seq[1:])
            if text not in parsed:
                smi = canonical(text)
                parsed[text] = smi if smi and smiles_formula(smi) == formula else (
                    "" if smi else None)
            smi = parsed[text]
            if smi is None:
                continue
            out.n_valid += 1
            if not smi:
                continue
            out.n_formula += 1
            entry = found.setdefault(smi, [0, -np.inf])
            entry[0] += 1
            entry[1] = max(entry[1], float(score))
    ranked = sorted(found.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    out.smiles = [s for s, _ in ranked]
    out.counts = [int(v[0]) for _, v in ranked]
    out.log_probs = [float(v[1]) for _, v in ranked]
    return out
