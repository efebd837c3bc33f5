"""The generator's training corpora, with what each structure predicts (functional groups,
13C lines and 1H protons per shift region). Two corpora (:data:`CORPORA`):

``qm9``
    Every QM9 structure (qm9pack) that is not held out: molecules of at most 9 heavy atoms.
``drug``
    Drug-size structures: a seeded sample of the MOSES training SMILES (the drug-like ZINC
    subset inside the ``molsets`` wheel, 8-27 heavy atoms) and the embedded dataset v2's
    drug-size training molecules (12-40 heavy atoms), each of at most
    :data:`DRUG_MAX_TOKENS` SMILES tokens.

Held out of both: every molecule of the embedded dataset's validation and test parts
(scaffold split; v1 and v2) and every structure that shares a (non-empty) Murcko scaffold
with one, so test structures and their scaffolds are never seen. A corpus is cached as
``.npz`` (no pickles) under the structure cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mspectmol.chem.functional_groups import label_many
from mspectmol.data.dataset import embedded_smiles, held_out_smiles
from mspectmol.data.splits import murcko_scaffold
from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_path
from mspectmol.structure.cache import cache_root
from mspectmol.structure.evidence.carbon_count import carbon_regions_many
from mspectmol.structure.evidence.proton_count import (
    load_profiles,
    predicted_fractions,
    proton_types_many,
)
from mspectmol.structure.generation.prior import Corpus
from mspectmol.structure.libraries.qm9 import load_index
from mspectmol.structure.model.tokens import (
    canonical,
    formula_counts,
    smiles_formula,
    tokenize,
)

log = logging.getLogger("mspectmol.structure")

#: Bumped when the corpus' columns or exclusion rule change.
CORPUS_VERSION = 1
#: The corpora a generator can be trained on.
CORPORA = ("qm9", "drug")
#: MOSES training structures sampled into the ``drug`` corpus by default.
DRUG_SAMPLE = 300_000
#: Longest SMILES (in tokens) of the ``drug`` corpus; its decoders read up to this + 2.
DRUG_MAX_TOKENS = 94
#: What a corpus is, for model records and cards.
SOURCES = {"qm9": "QM9 (qm9pack)",
           "drug": "MOSES training SMILES (molsets 0.3.1 wheel), a seeded sample, and the "
                   "embedded dataset v2's drug-size training molecules"}




def expected_h1_protons(smiles: Sequence[str], n_hydrogens: np.ndarray) -> np.ndarray:
    """Protons per 1H region predicted from each structure's proton types, ``(n, 4)``."""
    shares = predicted_fractions(proton_types_many(smiles), load_profiles())
    return shares * np.asarray(n_hydrogens, dtype=np.float64)[:, None]


def describe(smiles: Sequence[str]) -> Corpus:
    """Formulas, group labels, 13C lines and expected 1H protons of canonical structures
    (those RDKit cannot label are dropped)."""
    labels, ok = label_many(list(smiles), errors="skip", return_valid=True)
    kept = [s for s, v in zip(smiles, ok, strict=True) if v]
    formulas = [smiles_formula(s) or "" for s in kept]
    n_h = np.array([formula_counts(f).get("H", 0) for f in formulas])
    return Corpus(kept, formulas, np.asarray(labels, dtype=np.uint8),
                  carbon_regions_many(kept).astype(np.float32),
                  expected_h1_protons(kept, n_h).astype(np.float32))


def held_out(smiles: Sequence[str], excluded: Sequence[str]) -> np.ndarray:
    """Mask of ``smiles`` that are an ``excluded`` structure or share its (non-empty) Murcko
    scaffold; both lists canonical without stereo."""
    banned = set(excluded)
    scaffolds = {murcko_scaffold(s) for s in excluded} - {""}
    return np.array([s in banned or murcko_scaffold(s) in scaffolds for s in smiles],
                    dtype=bool)


def corpus_path(excluded: Sequence[str], name: str = "qm9") -> Path:
    """Cache file of a corpus (``name``: ``qm9``, or ``drug`` with its sample size and seed
    appended) for this exclusion list."""
    digest = hashlib.sha256("\n".join(sorted(excluded)).encode()).hexdigest()[:16]
    return cache_root() / "prior" / f"{name}_corpus_v{CORPUS_VERSION}_{digest}.npz"


def _load_corpus(path: Path) -> Corpus | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return Corpus(json.loads(str(z["smiles"])), json.loads(str(z["formulas"])),
                          z["labels"], z["c13"], z["h1"])
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: unreadable corpus cache (%s); rebuilding", path, exc)
        return None


def _save_corpus(path: Path, corpus: Corpus) -> None:
    with atomic_path(path, suffix=".npz", clean=True, what="cannot write the corpus cache") as tmp:
        np.savez_compressed(tmp, smiles=np.array(json.dumps(corpus.smiles)),
                            formulas=np.array(json.dumps(corpus.formulas)),
                            labels=corpus.labels, c13=corpus.c13, h1=corpus.h1)


def qm9_corpus(excluded: Sequence[str]) -> Corpus:
    """Every QM9 structure (the isomer index's) not held out by :func:`held_out`, described
    by :func:`describe`; cached as ``.npz`` (no pickles) next to the isomer index."""
    excl = sorted({c for c in (canonical(s) for s in excluded) if c})
    path = corpus_path(excl)
    cached = _load_corpus(path)
    if cached is not None:
        return cached
    index = load_index()
    every = [s for formula in sorted(index.by_formula) for s in index.by_formula[formula]]
    return _kept_and_saved(every, excl, path, "QM9 corpus")


def _kept_and_saved(every: list[str], excluded: Sequence[str], path: Path, what: str
                    ) -> Corpus:
    """:func:`describe` the structures not :func:`held_out`, cached at ``path``."""
    keep = ~held_out(every, excluded)
    corpus = describe([s for s, k in zip(every, keep, strict=True) if k])
    log.info("%s: %d of %d structures (%d held out)", what, len(corpus), len(every),
             int((~keep).sum()))
    _save_corpus(path, corpus)
    return corpus


def drug_candidates(moses: Sequence[str], v2_train: Sequence[str], n: int, seed: int
                    ) -> list[str]:
    """Canonical, distinct structures of the ``drug`` corpus before exclusion: ``n`` MOSES
    SMILES drawn with ``seed`` (all when ``n`` >= their number) and the v2 training
    molecules, each of at most :data:`DRUG_MAX_TOKENS` tokens."""
    rng = np.random.default_rng(seed)
    pick = (np.arange(len(moses)) if n >= len(moses)
            else np.sort(rng.choice(len(moses), n, replace=False)))
    seen: set[str] = set()
    out = []
    for s in [moses[i] for i in pick] + list(v2_train):
        c = canonical(s)
        if c and c not in seen and len(tokenize(c)) <= DRUG_MAX_TOKENS:
            seen.add(c)
            out.append(c)
    return out


def drug_corpus(excluded: Sequence[str], n: int = DRUG_SAMPLE, seed: int = 0,
                cache_dir: Path | None = None) -> Corpus:
    """The ``drug`` corpus (see the module docstring) without the ``excluded`` structures
    and their scaffolds, described by :func:`describe`; cached like :func:`qm9_corpus`.

    ``cache_dir`` holds the ``molsets`` wheel (default: the structure cache; fetched with
    pip when absent).
    """
    from mspectmol.data.sources import moses_smiles

    if n < 1:
        raise MspectmolError(f"the drug corpus needs a positive sample size, got {n}")
    excl = sorted({c for c in (canonical(s) for s in excluded) if c})
    path = corpus_path(excl, f"drug{n}s{seed}")
    cached = _load_corpus(path)
    if cached is not None:
        return cached
    moses = moses_smiles(cache_dir or cache_root() / "wheels", "train")
    every = drug_candidates(moses, embedded_smiles("v2", ("train",), part="v2"), n, seed)
    return _kept_and_saved(every, excl, path, "drug corpus")


def training_corpus(name: str = "qm9", n: int = DRUG_SAMPLE, seed: int = 0) -> Corpus:
    """A generator corpus (:data:`CORPORA`): :func:`qm9_corpus` without the v1 validation
    and test molecules, or :func:`drug_corpus` (``n`` MOSES structures drawn with ``seed``)
    without those of v1 and v2."""
    if name == "qm9":
        return qm9_corpus(held_out_smiles())
    if name == "drug":
        return drug_corpus(held_out_smiles(("v1", "v2")), n, seed)
    raise MspectmolError(f"unknown generator corpus {name!r}; known: {', '.join(CORPORA)}")
