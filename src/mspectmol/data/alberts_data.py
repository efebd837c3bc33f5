"""Training data from Alberts et al. (2024) parquet files: cached memmap stores, fixed splits.

``mspectmol train``, ``evaluate`` and ``benchmark`` take ``--data`` as a dataset folder of
the embedded format or as Alberts-format parquet data: one chunk file or a folder of
``*.parquet`` chunks without an ``index.parquet`` (:func:`is_alberts_data`).
:func:`load_alberts` converts each modality it is asked for once into a memmap store
(:func:`~mspectmol.data.streaming.convert_to_memmap`, streamed row group by row group) in
``<cache>/alberts/<key>/<modality>-<n_points>/``, where ``<cache>`` is
:func:`~mspectmol.data.store.default_cache_dir` (``$MSPECTMOL_CACHE``) and ``<key>`` a hash of
the files' SHA-256 digests and the functional-group set: the same files are converted once
wherever they lie, changed files get a new folder, and concurrent processes wait for one
another's conversion (a file lock). Beside the stores, ``index.parquet`` holds the id
(``<file stem>:<row>``), SMILES and heavy-atom count of every molecule kept and its fixed
splits: random 8:1:1 and Bemis-Murcko scaffold by the rules of :mod:`mspectmol.data.splits`
with seed :data:`SPLIT_SEED`, and appendix K's size split. Molecules whose SMILES RDKit cannot
read are left out (logged).

The result is an :class:`~mspectmol.data.dataset.EmbeddedDataset` whose spectra are read-only
memory maps; training reads the rows of a split into memory (4 bytes per point: IR and both
MS/MS modalities at 600 points take 7.2 kB a molecule, about 4.6 GB for the ~635k training
molecules of the full dataset's random split).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem, rdBase

from mspectmol.data.dataset import EmbeddedDataset
from mspectmol.data.splits import SIZE_SPLIT_SEED, random_split, scaffold_split, size_split
from mspectmol.data.store import (
    LabelCache,
    MemmapDataset,
    default_cache_dir,
    file_digest,
    groups_fingerprint,
)
from mspectmol.data.streaming import convert_to_memmap
from mspectmol.errors import MspectmolError, UnknownModalityError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.alberts import AlbertsParquet
from mspectmol.spectra.readers.alberts_msms import MSMS_MERGE

log = logging.getLogger("mspectmol.data")

#: Modalities a model can take from the Alberts et al. data.
ALBERTS_MODALITIES = ("ir", "h_nmr", "c_nmr", "msms_pos", "msms_neg")
#: Seed of the random and scaffold splits (fixed: a run's seed does not move them).
SPLIT_SEED = 0
#: Version of the index and store layout (part of the cache key).
LAYOUT_VERSION = 1
INDEX_NAME = "index.parquet"
#: Source name of the molecules in :attr:`EmbeddedDataset.source`.
SOURCE = "alberts2024"


def is_alberts_data(path: str | os.PathLike[str] | None) -> bool:
    """True for a ``.parquet``/``.pq`` file or a folder holding ``*.parquet`` files and no
    ``index.parquet`` (a folder of the embedded format has one); the files' columns are
    checked when they are read (:class:`~mspectmol.spectra.readers.alberts.AlbertsParquet`)."""
    if path is None:
        return False
    p = Path(path)
    if p.is_dir():
        return not (p / INDEX_NAME).is_file() and any(p.glob("*.parquet"))
    return p.suffix.lower() in (".parquet", ".pq")


def _check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    mods = tuple(dict.fromkeys(get_modality(m).name for m in modalities))
    bad = [m for m in mods if m not in ALBERTS_MODALITIES]
    if bad or not mods:
        raise UnknownModalityError(f"the Alberts et al. data has no {', '.join(bad) or 'such'} "
                                   f"spectra; it has {', '.join(ALBERTS_MODALITIES)}")
    return mods


def data_folder(data: AlbertsParquet, cache_dir: Path) -> Path:
    """``<cache_dir>/alberts/<key>``: the key hashes the files' names and digests, the
    functional groups, the split seed and the MS/MS treatment."""
    files = [[f.name, file_digest(f, cache_dir)] for f in data.files]
    text = json.dumps({"files": files, "groups": groups_fingerprint(), "msms": MSMS_MERGE,
                       "layout": LAYOUT_VERSION, "split_seed": SPLIT_SEED}, sort_keys=True)
    return cache_dir / "alberts" / hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (waits for another process's)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _heavy_atoms(smiles: Sequence[str]) -> np.ndarray:
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    return np.array([m.GetNumHeavyAtoms() if m is not None else 0 for m in mols],
                    dtype=np.int32)


def _build_index(data: AlbertsParquet, path: Path, labels: LabelCache) -> None:
    ids: list[str] = []
    smiles: list[str] = []
    dropped = 0
    for file in data.files:
        valid = labels.labels(file)[1]
        column = AlbertsParquet._open(file).read(columns=["smiles"]).column(0).to_pylist()
        rows = np.flatnonzero(valid)
        dropped += int(valid.size - rows.size)
        ids += [f"{file.stem}:{r}" for r in rows]
        smiles += [column[r] for r in rows]
    if not ids:
        raise MspectmolError(f"{data.path}: no molecule with a valid SMILES")
    if dropped:
        log.warning("%s: %d molecules left out (SMILES that RDKit cannot read)", data.path,
                    dropped)
    heavy = _heavy_atoms(smiles)
    columns: dict[str, Any] = {
        "id": pa.array(ids), "smiles": pa.array(smiles), "heavy_atoms": pa.array(heavy),
        "split_random": pa.array(random_split(len(ids), SPLIT_SEED)),
        "split_scaffold": pa.array(scaffold_split(smiles, SPLIT_SEED))}
    try:
        columns["split_size"] = pa.array(size_split(heavy, SIZE_SPLIT_SEED))
    except MspectmolError:
        pass  # all molecules of one size: asking for the size split then says why
    table = pa.table(columns).replace_schema_metadata(
        {"split_seed": str(SPLIT_SEED), "files": json.dumps([f.name for f in data.files])})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def alberts_index(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
                  ) -> tuple[Path, pa.Table]:
    """The cache folder of the data at ``path`` and its index (built on first use).

    Raises
    ------
    SpectrumFileError
        For unreadable or foreign parquet files (naming the file).
    MspectmolError
        When no molecule has a valid SMILES.
    """
    data = AlbertsParquet(path)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = data_folder(data, cache)
    index = folder / INDEX_NAME
    if not index.is_file():
        with _locked(folder):
            if not index.is_file():
                log.info("%s: indexing %d molecules (labels, splits) into %s", data.path,
                         data.num_rows, folder)
                _build_index(data, index, LabelCache(cache))
    return folder, pq.read_table(index)


def alberts_info(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
                 ) -> dict[str, Any]:
    """Fingerprint (the cache key: the files' digests), molecule count and split sizes."""
    folder, index = alberts_index(path, cache_dir)
    splits = {}
    for scheme in ("random", "scaffold"):
        parts = index.column(f"split_{scheme}").to_pylist()
        splits[scheme] = {p: parts.count(p) for p in ("train", "val", "test")}
    return {"fingerprint": folder.name[:12], "molecules": index.num_rows, "splits": splits}


def modality_store(path: str | os.PathLike[str], modality: str, n_points: int = 600, *,
                   cache_dir: str | os.PathLike[str] | None = None,
                   progress: bool = False) -> MemmapDataset:
    """The memmap store of one modality of the data at ``path`` (converted on first use)."""
    mod = _check_modalities([modality])[0]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder, _ = alberts_index(path, cache)
    out = folder / f"{mod}-{int(n_points)}"
    with _locked(folder):
        try:
            return MemmapDataset(out)
        except MspectmolError:
            log.info("%s: converting %s spectra once into %s", path, mod, out)
        convert_to_memmap(path, out, [mod], n_points=n_points, cache_dir=cache,
                          skip_invalid=True, progress=progress)
        return MemmapDataset(out)


def load_alberts(path: str | os.PathLike[str], modalities: Sequence[str],
                 n_points: int = 600, *, cache_dir: str | os.PathLike[str] | None = None,
                 progress: bool = False) -> EmbeddedDataset:
    """Alberts et al. data as an :class:`EmbeddedDataset` (see the module notes).

    Parameters
    ----------
    path
        A parquet chunk or a folder of chunks.
    modalities
        Any of :data:`ALBERTS_MODALITIES`.
    n_points
        Grid size of every modality.
    cache_dir
        Where the index and stores are kept (default :func:`default_cache_dir`).
    progress
        Show progress bars while converting.

    Raises
    ------
    UnknownModalityError
        For a modality the data does not have.
    MspectmolError
        For unreadable files, or stores that disagree with the index.
    """
    mods = _check_modalities(modalities)
    folder, index = alberts_index(path, cache_dir)
    ids = np.asarray(index.column("id").to_pylist())
    stores = {m: modality_store(path, m, n_points, cache_dir=cache_dir, progress=progress)
              for m in mods}
    for store in stores.values():
        if not np.array_equal(np.asarray(store.arrays["ids"]), ids):
            raise MspectmolError(f"{store.folder}: its molecules differ from those of "
                                 f"{folder / INDEX_NAME}; delete the folder to convert it again")
    first = stores[mods[0]]
    n = ids.size
    ds = EmbeddedDataset(
        ids=ids, smiles=np.asarray(index.column("smiles").to_pylist()),
        source=np.full(n, SOURCE), heavy_atoms=index.column("heavy_atoms").to_numpy(),
        labels=np.asarray(first.arrays["labels"]),
        spectra={m: s.arrays[f"spectra_{m}"] for m, s in stores.items()},
        grids={m: s.grids[m] for m, s in stores.items()},
        splits={s: np.asarray(index.column(f"split_{s}").to_pylist())
                for s in ("random", "scaffold", "size") if f"split_{s}" in index.column_names})
    log.info("%s: %d molecules (%s) from %s", path, n, ", ".join(mods), folder)
    return ds
