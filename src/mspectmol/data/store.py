"""On-disk side of the streamed Alberts et al. data: batch format, label cache, memmap store.

:class:`GridBatch` is the batch both :class:`~mspectmol.data.streaming.AlbertsStream` and
:class:`MemmapDataset` yield. :class:`LabelCache` keeps the 37 functional-group labels of
each parquet file in ``<cache_dir>/<sha256 of the file>/labels.parquet``, so they are
computed from SMILES once. The memmap store (written by
:func:`~mspectmol.data.streaming.convert_to_memmap`) is a folder of ``.npy`` files, one
``(n, n_points)`` float32 matrix per modality (``spectra_<modality>.npy``), ``labels.npy``
(``(n, 37)`` uint8) and ``ids.npy`` (``"<file stem>:<row>"``), described by
``manifest.json`` (grids, settings, source files with their SHA-256, row-group offsets and
progress). Rows of a row group are written to the memmaps and flushed before the manifest
records them (temporary file + rename), so an interrupted conversion resumes cleanly.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mspectmol.chem.functional_groups import GROUP_KEYS, GROUPS, label_many
from mspectmol.data.batches import SplitData, TorchBatch, epoch_order, make_split
from mspectmol.errors import ConfigError, MspectmolError, SpectrumFileError
from mspectmol.fileio import atomic_write
from mspectmol.spectra.readers.alberts import AlbertsParquet
from mspectmol.spectra.readers.base import PathArg

MANIFEST_NAME = "manifest.json"
STORE_FORMAT = "mspectmol-memmap"
STORE_VERSION = 1
_HASH_BLOCK = 1 << 22
_MANIFEST_KEYS = ("settings", "sources", "grids", "n_rows", "arrays", "row_groups",
                  "groups_done", "rows_done", "complete")


@dataclass
class GridBatch:
    """Molecules as arrays: ``ids`` (str), ``labels`` (b, 37) uint8, ``spectra`` float32."""

    ids: np.ndarray
    labels: np.ndarray
    spectra: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, rows: Any) -> GridBatch:
        """The rows ``rows`` (indices, slice or mask) as a new batch."""
        return GridBatch(self.ids[rows], self.labels[rows],
                         {m: x[rows] for m, x in self.spectra.items()})

    @staticmethod
    def concat(parts: Sequence[GridBatch]) -> GridBatch:
        """Rows of ``parts`` one after the other (at least one part)."""
        if len(parts) == 1:
            return parts[0]
        return GridBatch(np.concatenate([p.ids for p in parts]),
                         np.concatenate([p.labels for p in parts]),
                         {m: np.concatenate([p.spectra[m] for p in parts])
                          for m in parts[0].spectra})

    def to_torch(self) -> TorchBatch:
        """Tensors for the training loop (float32 labels; every row available)."""
        n = len(self)
        return TorchBatch({m: torch.from_numpy(np.ascontiguousarray(x))
                           for m, x in self.spectra.items()},
                          {m: torch.ones(n, dtype=torch.bool) for m in self.spectra},
                          torch.from_numpy(self.labels.astype(np.float32)))


def rebatch(chunks: Iterable[GridBatch], batch_size: int, buffer_rows: int,
            rng: np.random.Generator | None, drop_last: bool = False) -> Iterator[GridBatch]:
    """Regroup ``chunks`` into batches of ``batch_size``, shuffling within buffers when ``rng``.

    Rows gather until the buffer holds ``buffer_rows`` (at least one batch); the buffer is
    permuted, its full batches go out and the remainder stays for the next buffer.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    need = max(int(buffer_rows), batch_size) if rng is not None else batch_size
    pending: list[GridBatch] = []
    count = 0

    def flush(final: bool) -> Iterator[GridBatch]:
        buf = GridBatch.concat(pending)
        pending.clear()  # frees the parts before the permuted copy is made
        if rng is not None:
            buf = buf.take(rng.permutation(len(buf)))
        cut = len(buf) if final and not drop_last else len(buf) // batch_size * batch_size
        for start in range(0, cut, batch_size):
            yield buf.take(slice(start, min(start + batch_size, cut)))
        pending[:] = [buf.take(np.arange(cut, len(buf)))] if not final and cut < len(buf) else []

    for chunk in chunks:
        pending.append(chunk)
        count += len(chunk)
        if count >= need:
            yield from flush(False)
            count = sum(len(p) for p in pending)
    if count:
        yield from flush(True)


def default_cache_dir() -> Path:
    """``$MSPECTMOL_CACHE``, else ``$XDG_CACHE_HOME/mspectmol``, else ``~/.cache/mspectmol``."""
    if os.environ.get("MSPECTMOL_CACHE"):
        return Path(os.environ["MSPECTMOL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mspectmol"


def file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """SHA-256 of a file's content, remembered in ``cache_dir/digests.json`` by size and mtime."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = None if cache_dir is None else cache_dir / "digests.json"
    memo: dict[str, str] = {}
    if memo_path is not None and memo_path.exists():
        try:
            memo = json.loads(memo_path.read_text())
        except (OSError, ValueError):
            memo = {}
        memo = memo if isinstance(memo, dict) else {}
        if key in memo:
            return memo[key]
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            h.update(block)
    digest = h.hexdigest()
    if memo_path is not None:
        memo[key] = digest
        atomic_write(memo_path, json.dumps(memo, indent=0).encode())
    return digest


def groups_fingerprint() -> str:
    """Short hash of the functional-group set (keys and SMARTS) the labels come from."""
    text = "\n".join(f"{g.key}\t{g.smarts}" for g in GROUPS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class LabelCache:
    """Functional-group labels of whole parquet files, computed once and kept on disk.

    ``labels(file)`` returns ``(labels (n, 37) uint8, valid (n,) bool)`` for every row of
    the file (invalid or missing SMILES: zero labels, ``valid`` False), from
    ``<cache_dir>/<sha256>/labels.parquet`` when present and made with the same groups.
    """

    def __init__(self, cache_dir: PathArg | None = None, keep: int = 8) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._memory: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._keep = int(keep)

    def path_for(self, file: Path) -> Path:
        """Where the labels of ``file`` are cached."""
        return self.cache_dir / file_digest(file, self.cache_dir) / "labels.parquet"

    def labels(self, file: Path) -> tuple[np.ndarray, np.ndarray]:
        """Labels and validity of every row of ``file`` (see the class notes)."""
        file = Path(file)
        if file in self._memory:
            self._memory.move_to_end(file)
            return self._memory[file]
        path = self.path_for(file)
        n_rows = AlbertsParquet._open(file).metadata.num_rows
        found = self._load(path, n_rows)
        if found is None:
            found = self._compute(file)
            self._save(path, *found)
        self._memory[file] = found
        while len(self._memory) > self._keep:
            self._memory.popitem(last=False)
        return found

    def rows(self, file: Path, first_row: int, smiles: list, *, skip_invalid: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(kept positions, labels, ids "<file stem>:<row>")`` of rows ``first_row...``.

        One row per ``smiles``; an invalid SMILES raises :class:`SpectrumFileError`, or with
        ``skip_invalid`` leaves its row out.
        """
        labels, valid = self.labels(file)
        n = len(smiles)
        keep = np.flatnonzero(valid[first_row:first_row + n])
        if keep.size < n and not skip_invalid:
            bad = int(np.setdiff1d(np.arange(n), keep)[0])
            raise SpectrumFileError(f"row {first_row + bad}: invalid SMILES {smiles[bad]!r} (no "
                                    "functional-group labels); pass skip_invalid=True to drop "
                                    "such rows", file)
        rows = first_row + keep
        return keep, labels[rows], np.char.add(f"{Path(file).stem}:", rows.astype(str))

    @staticmethod
    def _compute(file: Path) -> tuple[np.ndarray, np.ndarray]:
        import pyarrow as pa

        try:
            table = AlbertsParquet._open(file).read(columns=["smiles"])
            table.validate(full=True)
            smiles = table.column(0).to_pylist()
        except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
            raise SpectrumFileError(f"cannot read the smiles column ({exc})", file) from None
        good, parsed = label_many([s if isinstance(s, str) else "" for s in smiles],
                                  errors="skip", return_valid=True)
        out = np.zeros((len(smiles), len(GROUP_KEYS)), dtype=np.uint8)
        out[parsed] = good
        valid = parsed & np.array([isinstance(s, str) and bool(s.strip()) for s in smiles],
                                  dtype=bool)
        out[~valid] = 0
        return out, valid

    @staticmethod
    def _load(path: Path, n_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError):
            return None  # a damaged cache entry is recomputed
        meta = table.schema.metadata or {}
        if (meta.get(b"mspectmol.groups", b"").decode() != groups_fingerprint()
                or table.num_rows != n_rows or table.column_names != ["valid", *GROUP_KEYS]):
            return None
        labels = np.stack([table.column(k).to_numpy() for k in GROUP_KEYS], axis=1)
        return labels.astype(np.uint8), table.column("valid").to_numpy(zero_copy_only=False)

    @staticmethod
    def _save(path: Path, labels: np.ndarray, valid: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"valid": valid, **{k: labels[:, i] for i, k in enumerate(GROUP_KEYS)}})
        table = table.replace_schema_metadata({"mspectmol.groups": groups_fingerprint()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write(path, sink.getvalue().to_pybytes())


# ------------------------------------------------------------------------- memmap store


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a store folder, or None when there is none yet.

    Raises :class:`MspectmolError` for an unreadable, foreign, incomplete or newer manifest.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MspectmolError(f"{path}: unreadable store manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise MspectmolError(f"{path}: not a {STORE_FORMAT} manifest")
    if manifest.get("version") != STORE_VERSION:
        raise MspectmolError(f"{path}: store version {manifest.get('version')!r}; this "
                             f"mspectmol reads version {STORE_VERSION}")
    missing = [k for k in _MANIFEST_KEYS if k not in manifest]
    if missing:
        raise MspectmolError(f"{path}: the manifest lacks {', '.join(missing)}")
    return manifest


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Replace the manifest atomically (temporary file, then rename)."""
    atomic_write(Path(folder) / MANIFEST_NAME, json.dumps(manifest, indent=1).encode("utf-8"))


def create_arrays(folder: Path, n_rows: int, widths: Mapping[str, int], id_width: int
                  ) -> dict[str, dict[str, Any]]:
    """Create the store's ``.npy`` files (``widths``: modality -> points) and describe them."""
    specs = {f"spectra_{m}": ((n_rows, w), "<f4") for m, w in widths.items()}
    specs["labels"] = ((n_rows, len(GROUP_KEYS)), "|u1")
    specs["ids"] = ((n_rows,), f"<U{int(id_width)}")
    arrays = {}
    for name, (shape, dtype) in specs.items():
        array = np.lib.format.open_memmap(Path(folder) / f"{name}.npy", mode="w+",
                                          dtype=np.dtype(dtype), shape=shape)
        arrays[name] = {"file": f"{name}.npy", "dtype": dtype, "shape": list(shape),
                        "offset": int(array.offset)}
        del array
    return arrays


def write_rows(folder: Path, arrays: Mapping[str, Mapping[str, Any]], start: int,
               values: Mapping[str, np.ndarray]) -> None:
    """Write ``values[name]`` at row ``start`` of each array and flush it to disk.

    Only the rows written are mapped, so memory stays flat however large the store is.
    """
    for name, rows in values.items():
        meta = arrays[name]
        if len(rows) == 0:
            continue
        dtype = np.dtype(meta["dtype"])
        row_bytes = dtype.itemsize * int(np.prod(meta["shape"][1:], dtype=np.int64))
        view = np.memmap(Path(folder) / meta["file"], dtype=dtype, mode="r+",
                         offset=int(meta["offset"]) + start * row_bytes,
                         shape=(len(rows), *meta["shape"][1:]))
        view[:] = rows
        view.flush()
        del view


class MemmapDataset(Dataset):
    """A finished memmap store, read back with random access.

    ``dataset[rows]`` (an int, a slice or an index array) is a :class:`GridBatch`; to feed
    a ``DataLoader``, pass ``sampler=BatchSampler(...)`` and ``batch_size=None``.

    Raises :class:`MspectmolError` when the folder holds no store, the conversion is
    unfinished, or an array file is missing or does not match the manifest.
    """

    def __init__(self, folder: PathArg) -> None:
        self.folder = Path(folder)
        manifest = read_manifest(self.folder)
        if manifest is None:
            raise MspectmolError(f"{self.folder}: no {MANIFEST_NAME}; not a memmap store")
        if not manifest.get("complete"):
            raise MspectmolError(f"{self.folder}: conversion unfinished ({manifest['rows_done']}"
                                 f" of {manifest['n_rows']} molecules); run convert_to_memmap "
                                 "again to resume it")
        self.manifest = manifest
        self.arrays: dict[str, np.ndarray] = {}
        for name, meta in manifest["arrays"].items():
            try:
                path = self.folder / meta["file"]
                array = np.load(path, mmap_mode="r")
                dtype = np.dtype(meta["dtype"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise MspectmolError(f"{self.folder}: cannot open store array {name!r} "
                                     f"({exc})") from None
            if list(array.shape) != meta["shape"] or array.dtype != dtype:
                raise MspectmolError(f"{path}: shape {array.shape} / {array.dtype} does not "
                                     f"match the manifest ({meta['shape']} / {meta['dtype']})")
            self.arrays[name] = array
        self.grids = {m: np.asarray(g, dtype=np.float64) for m, g in manifest["grids"].items()}

    def __len__(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities in store order."""
        return tuple(self.grids)

    def __getitem__(self, index: Any) -> GridBatch:
        rows = np.array([index]) if isinstance(index, int | np.integer) else index
        if not isinstance(rows, slice):
            rows = np.asarray(rows, dtype=np.int64)
        return GridBatch(np.asarray(self.arrays["ids"][rows]),
                         np.asarray(self.arrays["labels"][rows]),
                         {m: np.asarray(self.arrays[f"spectra_{m}"][rows])
                          for m in self.modalities})

    def iter_batches(self, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                     epoch: int = 0) -> Iterator[GridBatch]:
        """Batches in stored order or in the shuffled order of ``(seed, epoch)``."""
        if batch_size < 1:
            raise MspectmolError(f"batch_size must be >= 1, got {batch_size}")
        order = epoch_order(len(self), seed, epoch) if shuffle else np.arange(len(self))
        for start in range(0, order.size, batch_size):
            yield self[order[start:start + batch_size]]

    def to_split_data(self, rows: np.ndarray | None = None) -> SplitData:
        """Rows (default all) in memory as a :class:`~mspectmol.data.batches.SplitData`."""
        batch = self[slice(None) if rows is None else rows]
        return make_split(batch.ids, batch.labels, batch.spectra)
