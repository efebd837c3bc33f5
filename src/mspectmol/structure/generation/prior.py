"""An evidence-conditioned structure generator pre-trained on a large structure corpus.

The spectrum-conditioned decoder (:mod:`~mspectmol.structure.model.decoder`, appendix S.2) learns
SMILES from the few thousand molecules that have spectra; de novo, its beam rarely holds the
true structure. This module trains the same decoder on *every* QM9 structure that is not a
held-out molecule, conditioned not on spectra but on what a chemist reads off them and what
a structure alone predicts, so no spectrum has to be simulated for the corpus:

``groups``
    The 37 functional groups (:mod:`~mspectmol.chem.functional_groups`): labels in training
    (softened to 0.05/0.95 and flipped at random, see :class:`EvidenceNoise`), the PA-IB
    model's probabilities at inference.
``c13_lines``
    Symmetry-distinct carbons per 13C shift region
    (:func:`~mspectmol.structure.evidence.carbon_count.carbon_regions`); at inference the lines
    picked in the observed 13C spectrum.
``h1_protons``
    Protons per 1H shift region: the packaged proton-type profiles' prediction
    (:mod:`~mspectmol.structure.evidence.proton_count`) x the formula's hydrogens; at inference the
    observed integral shares x the formula's hydrogens.
``c13_shifts``
    Where the 13C lines fall: each line a Gaussian (:data:`C13_SIGMA` ppm) sampled every
    5 ppm from 0 to 230 ppm (:func:`shift_histogram`); in training the lines CSP5 predicts
    on one conformer (:mod:`~mspectmol.structure.generation.shift_corpus`), jittered and thinned
    (:class:`CorpusAugment`); at inference the lines picked in the observed 13C spectrum.

Each piece is one memory token (``(n, 4, 1, 91)``: the 37 + 3 + 4 + 47 values in disjoint
columns) with its own availability, plus the formula tokens, so a missing 13C or 1H spectrum
hides its token. Held out of the corpus: every molecule of the embedded dataset's validation
and test parts (scaffold split) and every QM9 molecule that shares a (non-empty) Murcko
scaffold with one, so test structures and their scaffolds are never seen
(:mod:`~mspectmol.structure.generation.corpus`).

This module needs only NumPy, so that a generator can be trained on a machine without
RDKit from a training pack (``scripts/train_structure_prior.py``); the corpus and the
evidence read off observed spectra (:mod:`~mspectmol.structure.generation.generator`) live
beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mspectmol.errors import MspectmolError

#: Evidence tokens, in memory order.
EVIDENCE = ("groups", "c13_lines", "h1_protons", "c13_shifts")
#: Centres (ppm) at which the 13C line density is sampled, and its Gaussian width.
C13_CENTRES = np.arange(0.0, 230.1, 5.0)
C13_SIGMA = 3.0
N_GROUPS, N_C13, N_H1, N_SHIFTS = 37, 3, 4, len(C13_CENTRES)
N_FEATURES = N_GROUPS + N_C13 + N_H1 + N_SHIFTS
_COLUMNS = {"groups": slice(0, N_GROUPS), "c13_lines": slice(N_GROUPS, N_GROUPS + N_C13),
            "h1_protons": slice(N_GROUPS + N_C13, N_GROUPS + N_C13 + N_H1),
            "c13_shifts": slice(N_GROUPS + N_C13 + N_H1, N_FEATURES)}

@dataclass
class Corpus:
    """Training structures and what each predicts: ``smiles`` (canonical, no stereo),
    ``formulas`` (Hill), ``labels`` ``(n, 37)``, ``c13`` ``(n, 3)``, ``h1`` ``(n, 4)``."""

    smiles: list[str]
    formulas: list[str]
    labels: np.ndarray
    c13: np.ndarray
    h1: np.ndarray

    def __len__(self) -> int:
        return len(self.smiles)

    def subset(self, idx: np.ndarray) -> Corpus:
        return Corpus([self.smiles[i] for i in idx], [self.formulas[i] for i in idx],
                      self.labels[idx], self.c13[idx], self.h1[idx])


def evidence_features(groups: np.ndarray | None = None, c13: np.ndarray | None = None,
                      h1: np.ndarray | None = None, shifts: np.ndarray | None = None,
                      n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Memory features ``(n, 4, 1, 91)`` and availability ``(n, 4)`` from group
    probabilities ``(n, 37)``, 13C lines per region ``(n, 3)``, 1H protons per region
    ``(n, 4)`` and the 13C line density ``(n, 47)`` (:func:`shift_histogram`); a piece
    given as None is marked unavailable (zeros)."""
    parts = {"groups": groups, "c13_lines": c13, "h1_protons": h1, "c13_shifts": shifts}
    sizes = {len(np.asarray(p)) for p in parts.values() if p is not None}
    if n is None:
        if len(sizes) != 1:
            raise MspectmolError("evidence pieces differ in length (or none was given)")
        n = sizes.pop()
    elif sizes - {n}:
        raise MspectmolError(f"evidence pieces must have {n} rows")
    feats = np.zeros((n, len(EVIDENCE), 1, N_FEATURES), dtype=np.float32)
    avail = np.zeros((n, len(EVIDENCE)), dtype=bool)
    for j, name in enumerate(EVIDENCE):
        value = parts[name]
        if value is None:
            continue
        cols = _COLUMNS[name]
        v = np.asarray(value, dtype=np.float32).reshape(n, -1)
        if v.shape[1] != cols.stop - cols.start:
            raise MspectmolError(f"evidence {name!r} must have {cols.stop - cols.start} "
                                 f"columns, got {v.shape[1]}")
        if not np.all(np.isfinite(v)):
            raise MspectmolError(f"evidence {name!r} has NaN or infinite values")
        feats[:, j, 0, cols] = v
        avail[:, j] = True
    return feats, avail


@dataclass(frozen=True)
class EvidenceNoise:
    """Training-time corruption, so that evidence read off real spectra still fits: group
    labels softened to ``soft``/``1 - soft`` and each flipped with ``flip``; each 13C region
    count moved by +-1 with ``c13_shift``; Gaussian noise of ``h1_sigma`` protons; each
    evidence token hidden with ``drop``."""

    soft: float = 0.05
    flip: float = 0.03
    c13_shift: float = 0.15
    h1_sigma: float = 0.4
    drop: float = 0.15

    def __call__(self, feats: np.ndarray, avail: np.ndarray, rng: np.random.Generator,
                 rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        f = feats.copy()
        g = f[:, 0, 0, _COLUMNS["groups"]]
        g = np.where(rng.random(g.shape) < self.flip, 1.0 - g, g)
        f[:, 0, 0, _COLUMNS["groups"]] = self.soft + (1 - 2 * self.soft) * g
        c = f[:, 1, 0, _COLUMNS["c13_lines"]]
        step = rng.choice((-1.0, 1.0), size=c.shape) * (rng.random(c.shape) < self.c13_shift)
        f[:, 1, 0, _COLUMNS["c13_lines"]] = np.clip(c + step, 0, None)
        h = f[:, 2, 0, _COLUMNS["h1_protons"]]
        f[:, 2, 0, _COLUMNS["h1_protons"]] = np.clip(
            h + rng.normal(0.0, self.h1_sigma, h.shape), 0, None)
        a = avail & (rng.random(avail.shape) >= self.drop)
        return f, a


def shift_histogram(lines: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """13C line density of each structure ``(n, 47)`` and whose lines are known ``(n,)``.

    Each line (ppm, clipped to 0-230) adds a Gaussian of :data:`C13_SIGMA` ppm sampled at
    :data:`C13_CENTRES` and scaled to sum 1, so a column sum counts lines; None = unknown.
    """
    known = np.array([x is not None for x in lines], dtype=bool)
    out = np.zeros((len(lines), N_SHIFTS), dtype=np.float32)
    sizes = np.array([0 if x is None else len(x) for x in lines])
    if sizes.sum():
        flat = np.clip(np.concatenate([np.asarray(x, dtype=np.float64).ravel()
                                       for x in lines if x is not None and len(x)]),
                       C13_CENTRES[0], C13_CENTRES[-1])
        if not np.all(np.isfinite(flat)):
            raise MspectmolError("13C lines have NaN or infinite shifts")
        owner = np.repeat(np.arange(len(lines)), sizes)
        w = np.exp(-0.5 * ((flat[:, None] - C13_CENTRES[None]) / C13_SIGMA) ** 2)
        w /= w.sum(axis=1, keepdims=True)
        np.add.at(out, owner, w.astype(np.float32))
    return out, known


def corpus_features(corpus: Corpus, lines: Sequence[np.ndarray | None] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Uncorrupted evidence features of every corpus structure (labels as 0/1); the
    ``c13_shifts`` token from the structures' predicted 13C ``lines`` (None: unavailable)."""
    shifts, known = (None, None) if lines is None else shift_histogram(lines)
    feats, avail = evidence_features(corpus.labels.astype(np.float32), corpus.c13, corpus.h1,
                                     shifts)
    if known is not None:
        avail[:, EVIDENCE.index("c13_shifts")] &= known
    return feats, avail


class CorpusAugment:
    """Training-time corruption of corpus evidence (``train_decoder``'s ``augment``): the
    ``c13_shifts`` token is rebuilt for each batch from the structures' predicted ``lines``
    with every line moved by Gaussian noise of ``shift_sigma`` ppm and dropped (merged or
    too weak to pick) with ``line_drop``; then :class:`EvidenceNoise`."""

    def __init__(self, noise: EvidenceNoise, lines: Sequence[np.ndarray | None] | None,
                 shift_sigma: float = 1.5, line_drop: float = 0.06) -> None:
        self.noise, self.lines = noise, lines
        self.shift_sigma, self.line_drop = float(shift_sigma), float(line_drop)

    def settings(self) -> dict[str, float]:
        """The corruption's parameters (for the model file's training record)."""
        return {**self.noise.__dict__, "shift_sigma": self.shift_sigma,
                "line_drop": self.line_drop}

    def __call__(self, feats: np.ndarray, avail: np.ndarray, rng: np.random.Generator,
                 rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.lines is not None:
            noisy = []
            for r in rows:
                x = self.lines[r]
                if x is not None and len(x):
                    x = x[rng.random(len(x)) >= self.line_drop]
                    x = x + rng.normal(0.0, self.shift_sigma, len(x))
                noisy.append(x)
            hist, _ = shift_histogram(noisy)
            feats = feats.copy()
            feats[:, EVIDENCE.index("c13_shifts"), 0, _COLUMNS["c13_shifts"]] = hist
        return self.noise(feats, avail, rng)
