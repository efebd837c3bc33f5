"""Drug-size molecules with predicted 1H and 13C lines only: extra classifier training rows.

The embedded dataset's drug-size part grows slowly: GFN2-xTB IR and Raman cost seconds per
molecule. CSP5 (the simulator's shift model) gives the 1H and 13C lines of a drug-size
molecule on one RDKit ETKDG conformer in a few hundredths of a second, so NMR can cover far
more of the molecules chemists measure. ``mspectmol train --set nmr_corpus=N`` adds ``N``
such molecules to the training part as rows whose IR and Raman are missing
(:func:`corpus_split`): the NMR encoders and the fused head learn from them, while the
primary's loss terms skip rows without the primary spectrum.

The molecules are MOSES training SMILES (the ``molsets`` wheel, 250-350 Da ZINC molecules)
drawn in a seeded order (:func:`corpus_candidates`), canonical without stereo, leaving out
every validation and test molecule of the embedded dataset (v1 and v2, scaffold split) and
every structure sharing a Murcko scaffold with one. The lines are the simulator's recipe
(CSP5 per atom, equivalent atoms averaged into one line whose height is their number) on an
ETKDG conformer instead of the GFN2-xTB optimum; 13C shifts barely depend on the conformer.
They are computed in chunks of :data:`CHUNK` molecules, each cached as ``.npz`` (no pickles)
under ``$MSPECTMOL_CACHE`` (default ``~/.cache/mspectmol``) ``/nmr-corpus``, so an
interrupted run resumes and later runs reuse them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.chem.functional_groups import label_many
from mspectmol.data.batches import SplitData, make_split
from mspectmol.data.dataset import held_out_smiles
from mspectmol.data.render_settings import RenderSettings
from mspectmol.data.rendering import PeakRenderer
from mspectmol.data.splits import murcko_scaffold
from mspectmol.data.store import default_cache_dir
from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_path

log = logging.getLogger("mspectmol.data")

#: Molecules per cached chunk.
CHUNK = 500
#: Bumped when the line recipe changes; part of the chunk file names.
RECIPE = 2
#: Prefix of the corpus molecules' ids (``moses:<row of the MOSES training file>``).
ID_PREFIX = "moses:"
#: The NMR modalities the corpus provides.
MODALITIES = ("h_nmr", "c_nmr")
#: Seed of the corpus' draw order (fixed, so every training seed sees the same molecules).
SEED = 0
#: What the corpus is, for model records and cards.
SOURCE = ("MOSES training SMILES (molsets 0.3.1 wheel), seeded draw without the embedded "
          "validation and test molecules and their scaffolds; CSP5 1H and 13C lines on one "
          "RDKit ETKDG conformer")
#: CSP5 batch size.
_BATCH = 64
#: ``(shift_ppm, n_atoms)`` lines of one nucleus.
Lines = np.ndarray


@dataclass(frozen=True)
class NmrCorpus:
    """Molecules with their 37 group labels and their 1H and 13C lines.

    ``lines[modality][i]`` is an ``(k, 2)`` array of ``(shift_ppm, n_atoms)``.
    """

    ids: np.ndarray
    smiles: list[str]
    labels: np.ndarray
    lines: dict[str, list[Lines]]

    def __len__(self) -> int:
        return len(self.smiles)

    def peaks(self, modality: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(positions, heights)]`` of ``modality``, one per molecule."""
        return [(x[:, 0].astype(np.float64), x[:, 1].astype(np.float64))
                for x in self.lines[modality]]


def cache_folder() -> Path:
    """:func:`~mspectmol.data.store.default_cache_dir` ``/nmr-corpus``."""
    return default_cache_dir() / "nmr-corpus"


def _canonical(smiles: str) -> str | None:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)


def corpus_candidates(source: Sequence[str], n: int, excluded: Sequence[str],
                      seed: int = SEED) -> list[tuple[int, str]]:
    """The first ``n`` usable ``(row, canonical SMILES)`` of ``source`` in a seeded order.

    Left out: unparsable and repeated structures, the ``excluded`` structures and every
    structure sharing a (non-empty) Murcko scaffold with one.
    """
    banned = {c for c in (_canonical(s) for s in excluded) if c}
    scaffolds = {murcko_scaffold(s) for s in banned} - {""}
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for row in np.random.default_rng(seed).permutation(len(source)):
        if len(out) >= n:
            break
        c = _canonical(source[int(row)])
        if not c or c in seen or c in banned or murcko_scaffold(c) in scaffolds:
            continue
        seen.add(c)
        out.append((int(row), c))
    return out


#: The nuclei CSP5 predicts and the modality of their lines.
NUCLEI = {"13C": ("c_nmr", 6), "1H": ("h_nmr", 1)}


def predict_lines(smiles: Sequence[str], seed: int = 0,
                  nuclei: Sequence[str] = ("13C", "1H")) -> list[dict[str, Lines] | None]:
    """CSP5 lines of each structure on one ETKDG conformer: ``{modality: (k, 2)}`` arrays of
    ``(shift ppm, atoms)``, one row per symmetry-distinct atom of each of ``nuclei``.

    None for a structure RDKit cannot parse or embed, or for which CSP5 misses an atom of
    one of the nuclei; a structure without such atoms gets an empty ``(0, 2)`` array.
    """
    import csp5  # heavy (its shift models), needed only here
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from mspectmol.data.simulator.nmr import equivalence_classes, group_equivalent

    unknown = sorted(set(nuclei) - set(NUCLEI))
    if unknown or not nuclei:
        raise MspectmolError(f"nuclei must be among {', '.join(NUCLEI)}, got {list(nuclei)}")
    out: list[dict[str, Lines] | None] = [None] * len(smiles)
    mols, where = [], []
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        mol = Chem.AddHs(mol)
        if not any(a.GetAtomicNum() == NUCLEI[n][1] for n in nuclei for a in mol.GetAtoms()):
            out[i] = {NUCLEI[n][0]: np.zeros((0, 2), np.float32) for n in nuclei}
            continue  # nothing to predict: no conformer needed
        params = AllChem.ETKDGv3()
        params.randomSeed = seed
        params.maxIterations = 200
        if AllChem.EmbedMolecule(mol, params) == 0:
            mols.append(mol)
            where.append(i)
    for start in range(0, len(mols), _BATCH):
        batch = mols[start:start + _BATCH]
        tables = {nucleus: _predict_batch(csp5, batch, nucleus) for nucleus in nuclei}
        for j, mol in enumerate(batch):
            lines = {}
            for nucleus in nuclei:
                modality, z = NUCLEI[nucleus]
                shifts = np.full(mol.GetNumAtoms(), np.nan)
                if j in tables[nucleus]:
                    rows = tables[nucleus][j]
                    shifts[rows["atom_index"].to_numpy(dtype=int)] = rows["shift_ppm"].to_numpy()
                atoms = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == z]
                if not np.all(np.isfinite(shifts[atoms])):
                    break
                lines[modality] = np.array(group_equivalent(shifts, equivalence_classes(mol)),
                                           dtype=np.float32).reshape(-1, 2)
            else:
                out[where[start + j]] = lines
    return out


def _predict_batch(csp5: Any, batch: list[Any], nucleus: str) -> dict[int, Any]:
    """CSP5's predictions for ``batch``, ``{position in batch: rows}``.

    CSP5 numbers the molecules it keeps (``molecule_id``) after skipping those it cannot
    predict (no atom of the nucleus, atoms too close), so ids are mapped back through the
    molecule objects of its records, never by position.
    """
    try:
        result = csp5.predict_mols(batch, nucleus=nucleus, device="cpu", batch_size=_BATCH)
    except Exception as exc:  # csp5 raises plain ValueError/RuntimeError
        log.warning("CSP5 failed on %d structures (%s)", len(batch), exc)
        return {}
    position = {id(mol): j for j, mol in enumerate(batch)}
    where = {rec.molecule_id: position[id(rec.mol)] for rec in result.molecule_records
             if id(rec.mol) in position}
    return {where[k]: rows for k, rows in result.predictions.groupby("molecule_id")
            if k in where}


def _chunk_path(folder: Path, smiles: Sequence[str]) -> Path:
    digest = hashlib.sha256("\n".join(smiles).encode()).hexdigest()[:16]
    return folder / f"lines_r{RECIPE}_{len(smiles)}_{digest}.npz"


def _save(path: Path, lines: Sequence[dict[str, Lines] | None]) -> None:
    arrays: dict[str, np.ndarray] = {"ok": np.array([x is not None for x in lines])}
    for m in MODALITIES:
        parts = [x[m] if x is not None else np.zeros((0, 2), np.float32) for x in lines]
        arrays[f"{m}_n"] = np.array([p.shape[0] for p in parts], dtype=np.int32)
        arrays[m] = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz", clean=True, what="cannot write the NMR corpus") as tmp:
        np.savez(tmp, **arrays)


def _load(path: Path, n: int) -> list[dict[str, Lines] | None] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            ok = z["ok"]
            split = {m: np.split(z[m], np.cumsum(z[f"{m}_n"])[:-1]) for m in MODALITIES}
    except (OSError, KeyError, ValueError) as exc:
        log.warning("%s: unreadable NMR corpus chunk (%s); computing it again", path, exc)
        return None
    if ok.size != n:
        return None
    return [{m: split[m][i] for m in MODALITIES} if ok[i] else None for i in range(n)]


def _compute_chunk(path: Path, smiles: list[str]) -> Path:
    """Worker: one chunk's lines, saved at ``path``."""
    _save(path, predict_lines(smiles))
    return path


def _pin_threads() -> None:
    """One thread per worker process (CSP5's torch and BLAS would otherwise each start one
    per core and the workers would fight over them)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def cached_lines(smiles: Sequence[str], folder: Path, workers: int = 1,
                 compute: Callable[[Path, list[str]], Path] = _compute_chunk
                 ) -> list[dict[str, Lines] | None]:
    """The lines of ``smiles``, chunk by chunk from the cache in ``folder``, the missing
    chunks computed by ``workers`` processes (``compute(path, smiles)`` writes one)."""
    chunks = [list(smiles[i:i + CHUNK]) for i in range(0, len(smiles), CHUNK)]
    paths = [_chunk_path(folder, c) for c in chunks]
    todo = [(p, c) for p, c in zip(paths, chunks, strict=True) if _load(p, len(c)) is None]
    if todo:
        log.info("NMR corpus: predicting the 1H and 13C lines of %d molecules (%d chunks of "
                 "%d, %d processes; cached in %s)", sum(len(c) for _, c in todo), len(todo),
                 CHUNK, workers, folder)
    if todo and workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                 initializer=_pin_threads) as pool:
            for done, path in enumerate(pool.map(compute, *zip(*todo, strict=True)), 1):
                log.info("NMR corpus: chunk %d/%d done (%s)", done, len(todo), path.name)
    else:
        for done, (path, chunk) in enumerate(todo, 1):
            compute(path, chunk)
            log.info("NMR corpus: chunk %d/%d done", done, len(todo))
    out: list[dict[str, Lines] | None] = []
    for path, chunk in zip(paths, chunks, strict=True):
        loaded = _load(path, len(chunk))
        if loaded is None:
            raise MspectmolError(f"{path}: the NMR corpus chunk was not written")
        out += loaded
    return out


def nmr_corpus(n: int, *, workers: int = 1, source: Sequence[str] | None = None,
               excluded: Sequence[str] | None = None, folder: Path | None = None) -> NmrCorpus:
    """``n`` drug-size molecules with their labels and predicted 1H and 13C lines.

    Parameters
    ----------
    n
        Molecules drawn (those RDKit cannot embed, or CSP5 cannot predict, are then dropped).
    workers
        Processes predicting the chunks not yet cached.
    source
        SMILES to draw from (default: the MOSES training SMILES of the ``molsets`` wheel,
        fetched with pip into the cache when absent).
    excluded
        Structures left out with their scaffolds (default: the embedded dataset's validation
        and test molecules, v1 and v2).
    folder
        Chunk cache (default :func:`cache_folder`).
    """
    if n < 1:
        raise MspectmolError(f"the NMR corpus needs a positive number of molecules, got {n}")
    folder = folder or cache_folder()
    if source is None:
        from mspectmol.data.sources import moses_smiles

        source = moses_smiles(folder.parent / "wheels", "train")
    if excluded is None:
        excluded = held_out_smiles(("v1", "v2"))
    picked = corpus_candidates(source, n, excluded)
    lines = cached_lines([s for _, s in picked], folder, workers)
    kept = [(row, s, x) for (row, s), x in zip(picked, lines, strict=True) if x is not None]
    if not kept:
        raise MspectmolError("no molecule of the NMR corpus got predicted lines")
    smiles = [s for _, s, _ in kept]
    labels, ok = label_many(smiles, errors="skip", return_valid=True)
    kept = [k for k, v in zip(kept, ok, strict=True) if v]
    if len(kept) < len(picked):
        log.info("NMR corpus: %d of %d molecules kept (no conformer, no shift or no label "
                 "for the others)", len(kept), len(picked))
    return NmrCorpus(np.array([f"{ID_PREFIX}{row}" for row, _, _ in kept]),
                     [s for _, s, _ in kept], np.asarray(labels, dtype=np.uint8),
                     {m: [x[m] for _, _, x in kept] for m in MODALITIES})


def corpus_renderer(corpus: NmrCorpus, grids: dict[str, np.ndarray],
                    settings: RenderSettings | None = None) -> PeakRenderer:
    """A renderer of the corpus' NMR lines on ``grids`` (its NMR modalities only)."""
    return PeakRenderer.from_peaks({m: corpus.peaks(m) for m in MODALITIES if m in grids},
                                   grids, settings)


def corpus_split(corpus: NmrCorpus, modalities: Sequence[str],
                 grids: dict[str, np.ndarray]) -> SplitData:
    """The corpus as training rows of ``modalities``: its NMR spectra rendered as the dataset's
    (training line widths, exact positions, maximum 1), every other modality missing."""
    rng = np.random.default_rng(0)  # unused by the clean rendering
    renderer = corpus_renderer(corpus, grids)
    n_points = next(iter(grids.values())).size
    spectra = {m: renderer.render(m, rng, clean=True) if m in renderer.modalities else
               np.full((len(corpus), n_points), np.nan, dtype=np.float32) for m in modalities}
    return make_split(corpus.ids, corpus.labels, spectra, n_points)
