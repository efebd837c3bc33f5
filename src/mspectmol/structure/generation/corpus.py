"""The generator's training corpus: every QM9 structure that is not held out, with what each
predicts (functional groups, 13C lines and 1H protons per shift region).

Held out: every molecule of the embedded dataset's validation and test parts (scaffold
split) and every QM9 molecule that shares a (non-empty) Murcko scaffold with one, so test
structures and their scaffolds are never seen. The corpus is cached as ``.npz`` (no pickles)
next to the QM9 isomer index.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mspectmol.chem.functional_groups import label_many
from mspectmol.data.dataset import EMBEDDED_DIR
from mspectmol.data.splits import murcko_scaffold
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
from mspectmol.structure.model.tokens import canonical, formula_counts, smiles_formula

log = logging.getLogger("mspectmol.structure")

#: Bumped when the corpus' columns or exclusion rule change.
CORPUS_VERSION = 1




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


def corpus_path(excluded: Sequence[str]) -> Path:
    """Cache file of the QM9 corpus for this exclusion list."""
    digest = hashlib.sha256("\n".join(sorted(excluded)).encode()).hexdigest()[:16]
    return cache_root() / "prior" / f"qm9_corpus_v{CORPUS_VERSION}_{digest}.npz"


def qm9_corpus(excluded: Sequence[str]) -> Corpus:
    """Every QM9 structure (the isomer index's) not held out by :func:`held_out`, described
    by :func:`describe`; cached as ``.npz`` (no pickles) next to the isomer index."""
    excl = sorted({c for c in (canonical(s) for s in excluded) if c})
    path = corpus_path(excl)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return Corpus(json.loads(str(z["smiles"])), json.loads(str(z["formulas"])),
                              z["labels"], z["c13"], z["h1"])
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable corpus cache (%s); rebuilding", path, exc)
    index = load_index()
    every = [s for formula in sorted(index.by_formula) for s in index.by_formula[formula]]
    keep = ~held_out(every, excl)
    corpus = describe([s for s, k in zip(every, keep, strict=True) if k])
    log.info("prior corpus: %d of %d QM9 structures (%d held out)", len(corpus), len(every),
             int((~keep).sum()))
    with atomic_path(path, suffix=".npz", clean=True, what="cannot write the corpus cache") as tmp:
        np.savez_compressed(tmp, smiles=np.array(json.dumps(corpus.smiles)),
                            formulas=np.array(json.dumps(corpus.formulas)),
                            labels=corpus.labels, c13=corpus.c13, h1=corpus.h1)
    return corpus


def held_out_smiles() -> list[str]:
    """The embedded dataset's validation and test structures (scaffold split)."""
    index = pq.read_table(EMBEDDED_DIR / "index.parquet", columns=["smiles", "split_scaffold"])
    split = index.column("split_scaffold").to_pylist()
    return [s for s, p in zip(index.column("smiles").to_pylist(), split, strict=True)
            if p in ("val", "test")]


def training_corpus() -> Corpus:
    """The generator's corpus: :func:`qm9_corpus` without :func:`held_out_smiles`."""
    return qm9_corpus(held_out_smiles())
