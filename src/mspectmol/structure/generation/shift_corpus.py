"""Predicted 13C lines of many structures, for the generator's ``c13_shifts`` evidence.

The generator (:mod:`~mspectmol.structure.generation.prior`) is trained on structures that have no
spectra. Its finest 13C evidence, where each symmetry-distinct carbon's line falls, is
therefore predicted: CSP5 (the simulator's shift model) on one RDKit ETKDG conformer per
structure, about 0.04 s per QM9-size structure on one thread. That is the fast NMR recipe
of :mod:`~mspectmol.structure.ranking.simulation` less its conformer search and force-field
minimisation; 13C shifts barely depend on the conformer, and the training noise covers the
rest.

Work is split into chunks of :data:`CHUNK` structures, each cached as a ``.npz`` file (no
pickles) named by its structures and :data:`RECIPE`, so an interrupted run resumes and two
processes can share the work (``shard``). Structures RDKit cannot embed, or for which CSP5
gives no shift, get no lines (their evidence is then marked unavailable).

    python -m mspectmol.structure.generation.shift_corpus --shard 0/2  # 1/2 in another process
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mspectmol.data.nmr_corpus import predict_lines
from mspectmol.fileio import atomic_path
from mspectmol.structure.cache import cache_root
from mspectmol.structure.generation.corpus import CORPORA, DRUG_SAMPLE, training_corpus

log = logging.getLogger("mspectmol.structure")

#: Structures per cached chunk.
CHUNK = 2000
#: Bumped when the prediction recipe changes; part of the chunk file names.
RECIPE = 2


def predict_c13_lines(smiles: Sequence[str], seed: int = 0) -> list[np.ndarray | None]:
    """13C lines (ppm, one per symmetry-distinct carbon, highest first) of each structure:
    :func:`mspectmol.data.nmr_corpus.predict_lines` for 13C alone.

    None for a structure RDKit cannot parse or embed, or whose carbons CSP5 does not all
    predict; an empty array for a structure without carbon.
    """
    return [None if x is None else np.ascontiguousarray(x["c_nmr"][:, 0])
            for x in predict_lines(smiles, seed, nuclei=("13C",))]


def _chunk_file(folder: Path, smiles: Sequence[str]) -> Path:
    digest = hashlib.sha256("\n".join(smiles).encode()).hexdigest()[:16]
    return folder / f"c13_lines_r{RECIPE}_{digest}.npz"


def _save(path: Path, lines: Sequence[np.ndarray | None]) -> None:
    ok = np.array([x is not None for x in lines], dtype=bool)
    sizes = np.array([0 if x is None else len(x) for x in lines], dtype=np.int64)
    flat = np.concatenate([x for x in lines if x is not None] or [np.zeros(0)])
    with atomic_path(path, suffix=".npz", clean=True, what="cannot write the cache") as tmp:
        np.savez_compressed(tmp, ok=ok, offsets=np.concatenate([[0], np.cumsum(sizes)]),
                            shifts=flat.astype(np.float32))


def _load(path: Path, n: int) -> list[np.ndarray | None] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            ok, offsets, flat = z["ok"], z["offsets"], z["shifts"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: unreadable chunk (%s); recomputing it", path, exc)
        return None
    if len(ok) != n or len(offsets) != n + 1:
        log.warning("%s: chunk of the wrong length; recomputing it", path)
        return None
    return [flat[offsets[i]:offsets[i + 1]] if ok[i] else None for i in range(n)]


def cached_c13_lines(smiles: Sequence[str], folder: Path, shard: tuple[int, int] = (0, 1),
                     compute: bool = True) -> tuple[list[np.ndarray | None], int]:
    """:func:`predict_c13_lines` of every structure, chunk by chunk, cached in ``folder``.

    With ``shard=(i, k)`` only chunks ``i, i + k, ...`` are computed (others are read when
    cached); with ``compute=False`` nothing is. Returns the lines (None where unknown:
    failed, or in a chunk not computed) and how many structures are in chunks not computed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    index, count = shard
    # chunks over a fixed shuffle, so that any set of finished chunks is a random sample
    order = np.random.default_rng(0).permutation(len(smiles))
    result: list[np.ndarray | None] = [None] * len(smiles)
    missing = 0
    for c, start in enumerate(range(0, len(smiles), CHUNK)):
        idx = order[start:start + CHUNK]
        part = [smiles[i] for i in idx]
        path = _chunk_file(folder, part)
        lines = _load(path, len(part)) if path.is_file() else None
        if lines is None and compute and c % count == index:
            lines = predict_c13_lines(part)
            _save(path, lines)
            log.info("13C lines: chunk %d (%d structures, %d failed) -> %s", c, len(part),
                     sum(x is None for x in lines), path.name)
        if lines is None:
            missing += len(part)
            continue
        for i, x in zip(idx, lines, strict=True):
            result[i] = x
    return result, missing


def corpus_folder(corpus: str = "qm9") -> Path:
    """Where a corpus' 13C-line chunks are cached (beside the corpus cache)."""
    return cache_root() / "prior" / ("c13" if corpus == "qm9" else f"c13-{corpus}")


def main(argv: Sequence[str] | None = None) -> None:
    """Compute (a shard of) a generator corpus' 13C lines."""
    parser = argparse.ArgumentParser(description="13C lines of the generator corpus")
    parser.add_argument("--shard", default="0/1", help="i/k: compute every k-th chunk from i")
    parser.add_argument("--corpus", default="qm9", choices=CORPORA)
    parser.add_argument("--corpus-size", type=int, default=DRUG_SAMPLE,
                        help="drug: MOSES structures sampled")
    args = parser.parse_args(argv)
    index, count = (int(x) for x in args.shard.split("/"))
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    corpus = training_corpus(args.corpus, args.corpus_size)
    cached_c13_lines(corpus.smiles, corpus_folder(args.corpus), (index, count))


if __name__ == "__main__":
    main()
