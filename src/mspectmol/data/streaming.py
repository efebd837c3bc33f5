"""Stream the Alberts et al. (2024) parquet dataset as training batches on 600-point grids.

The full dataset (~790k molecules, tens of GB) does not fit in memory. :class:`AlbertsStream`,
a torch ``IterableDataset`` over a chunk file or folder, reads only the needed columns, row
group by row group, ``read_batch`` rows at a time, and converts them on the fly onto the
canonical grids (:class:`~mspectmol.data.alberts_grids.GridConverter`, re-exported here: IR
and NMR resampled as the one preprocessing path does, the MS/MS modalities ``msms_pos`` and
``msms_neg`` binned with their three collision energies merged, rows scaled to maximum 1).

Sharding and shuffling: epoch ``e`` permutes the list of all row groups with
``default_rng([seed, 11, e])`` (the same on every process); rank ``r`` of ``w`` takes every
``w``-th, DataLoader worker ``k`` of ``K`` every ``K``-th of those, so shards are disjoint and
cover the data (ranks may differ by a row group's rows). Rows are shuffled within a buffer of
``shuffle_buffer`` rows seeded by ``(seed, epoch, rank, worker)``. Labels come from the
per-file :class:`~mspectmol.data.store.LabelCache`; :func:`convert_to_memmap` writes a store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mspectmol.data.alberts_grids import STREAM_MODALITIES, GridConverter, MsmsBinning
from mspectmol.data.store import (
    STORE_FORMAT,
    STORE_VERSION,
    GridBatch,
    LabelCache,
    create_arrays,
    file_digest,
    groups_fingerprint,
    read_manifest,
    rebatch,
    write_manifest,
    write_rows,
)
from mspectmol.errors import ConfigError, MspectmolError, SpectrumFileError
from mspectmol.spectra.preprocessing import N_POINTS
from mspectmol.spectra.readers.alberts import AlbertsParquet
from mspectmol.spectra.readers.alberts_msms import MSMS_MERGE, MSMS_MODALITIES
from mspectmol.spectra.readers.base import PathArg

__all__ = ["STREAM_MODALITIES", "AlbertsStream", "GridConverter", "MsmsBinning", "RowGroup",
           "convert_to_memmap", "iter_row_group", "list_row_groups", "resolve_rank",
           "shard_row_groups"]

_ORDER_TAG, _BUFFER_TAG = 11, 12


# --------------------------------------------------------------------------- row groups


@dataclass(frozen=True)
class RowGroup:
    """One parquet row group: its file, index in the file, first row and row count."""

    file: Path
    index: int
    first_row: int
    num_rows: int


def list_row_groups(files: Sequence[Path]) -> list[RowGroup]:
    """The row groups of ``files`` in file order (from the parquet footers only)."""
    groups = []
    for file in files:
        meta = AlbertsParquet._open(file).metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        groups += [RowGroup(file, g, int(starts[g]), n) for g, n in enumerate(sizes)]
    return groups


def iter_row_group(group: RowGroup, columns: Sequence[str], read_batch: int = 1024
                   ) -> Iterator[tuple[int, Any]]:
    """Yield ``(first_row_in_file, pyarrow.RecordBatch)`` of one row group's ``columns``.

    Raises :class:`SpectrumFileError` for a missing column or an undecodable row group.
    """
    import pyarrow as pa

    pf = AlbertsParquet._open(group.file)
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        raise SpectrumFileError(f"no column(s) {', '.join(missing)}", group.file)
    row = group.first_row
    try:
        for batch in pf.iter_batches(batch_size=read_batch, row_groups=[group.index],
                                     columns=list(columns)):
            batch.validate(full=True)  # e.g. SMILES that are not UTF-8
            yield row, batch
            row += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise SpectrumFileError(f"cannot read row group {group.index} (truncated or corrupt: "
                                f"{exc})", group.file) from None


def shard_row_groups(groups: Sequence[RowGroup], *, seed: int, epoch: int, shuffle: bool,
                     rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1
                     ) -> list[RowGroup]:
    """The row groups of one rank's worker in ``epoch`` (see the module notes)."""
    order = np.arange(len(groups))
    if shuffle:
        order = np.random.default_rng([seed, _ORDER_TAG, epoch]).permutation(len(groups))
    return [groups[i] for i in order[rank::world_size][worker::num_workers]]


def resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: as given, else torch.distributed's, else ``(0, 1)``."""
    dist = torch.distributed
    live = dist.is_available() and dist.is_initialized()
    r = int(rank) if rank is not None else (dist.get_rank() if live else 0)
    w = int(world_size) if world_size is not None else (dist.get_world_size() if live else 1)
    if not 0 <= r < w:
        raise ConfigError(f"need 0 <= rank < world_size, got rank {r}, world_size {w}")
    return r, w


class AlbertsStream(IterableDataset):
    """Batches of an Alberts et al. parquet file or folder, converted on the fly.

    Parameters
    ----------
    source
        A chunk file or a folder of ``*.parquet`` chunks.
    modalities, n_points, normalise, msms
        What to yield (see :class:`GridConverter`).
    batch_size
        Molecules per yielded :class:`GridBatch` (use ``DataLoader(..., batch_size=None)``).
    shuffle, seed, shuffle_buffer
        Row-group order and within-buffer shuffling (deterministic by seed and epoch).
    rank, world_size
        Distributed shard; default from ``torch.distributed`` when initialised.
    cache_dir
        Label cache folder (:func:`default_cache_dir` when None).
    skip_invalid
        Drop rows whose SMILES RDKit cannot parse instead of raising.
    drop_last
        Drop each shard's last, short batch.
    read_batch
        Rows per parquet read (bounds memory).
    """

    def __init__(self, source: PathArg, modalities: Sequence[str] = STREAM_MODALITIES, *,
                 batch_size: int = 256, n_points: int = N_POINTS, normalise: bool = True,
                 msms: MsmsBinning | None = None, shuffle: bool = True, seed: int = 0,
                 shuffle_buffer: int = 8192, rank: int | None = None,
                 world_size: int | None = None, cache_dir: PathArg | None = None,
                 skip_invalid: bool = False, drop_last: bool = False,
                 read_batch: int = 1024) -> None:
        super().__init__()
        self.data = AlbertsParquet(source)
        self.converter = GridConverter(modalities, n_points, normalise=normalise, msms=msms)
        try:
            self.columns = self.converter.columns(self.data.columns)
        except ConfigError as exc:
            raise SpectrumFileError(str(exc), self.data.files[0]) from None
        self.groups = list_row_groups(self.data.files)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        if batch_size < 1 or read_batch < 1:
            raise ConfigError("batch_size and read_batch must be >= 1")
        self.batch_size, self.read_batch = int(batch_size), int(read_batch)
        self.shuffle, self.seed, self.shuffle_buffer = bool(shuffle), int(seed), shuffle_buffer
        self.labels = LabelCache(cache_dir)
        self.skip_invalid, self.drop_last = bool(skip_invalid), bool(drop_last)
        self.epoch = 0

    @property
    def grids(self) -> dict[str, np.ndarray]:
        """Modality -> x grid of the yielded spectra."""
        return self.converter.grids

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration follows."""
        self.epoch = int(epoch)

    def prepare_labels(self) -> None:
        """Compute (or load) the labels of every file now, in this process."""
        for file in self.data.files:
            self.labels.labels(file)

    def shard(self, worker: int = 0, num_workers: int = 1) -> list[RowGroup]:
        """This rank's worker's row groups in the current epoch."""
        return shard_row_groups(self.groups, seed=self.seed, epoch=self.epoch,
                                shuffle=self.shuffle, rank=self.rank,
                                world_size=self.world_size, worker=worker,
                                num_workers=num_workers)

    def __iter__(self) -> Iterator[GridBatch]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = None
        if self.shuffle:
            rng = np.random.default_rng([self.seed, _BUFFER_TAG, self.epoch, self.rank, worker])
        chunks = (c for group in self.shard(worker, n_workers) for c in self.convert(group))
        yield from rebatch(chunks, self.batch_size, self.shuffle_buffer, rng, self.drop_last)

    def convert(self, group: RowGroup) -> Iterator[GridBatch]:
        """The molecules of one row group as chunks of up to ``read_batch`` rows."""
        for first, batch in iter_row_group(group, self.columns, self.read_batch):
            keep, labels, ids = self.labels.rows(group.file, first, batch.column(0).to_pylist(),
                                                 skip_invalid=self.skip_invalid)
            spectra = self.converter.convert(batch, group.file, first)
            if keep.size < batch.num_rows:
                spectra = {m: x[keep] for m, x in spectra.items()}
            yield GridBatch(ids, labels, spectra)


def _store_header(stream: AlbertsStream) -> dict[str, Any]:
    conv = stream.converter
    settings = {"modalities": list(conv.modalities), "normalise": conv.normalise,
                "msms": asdict(conv.msms) if conv.msms else None,
                "skip_invalid": stream.skip_invalid, "label_groups": groups_fingerprint()}
    if set(conv.modalities) & set(MSMS_MODALITIES):
        settings["msms_merge"] = MSMS_MERGE
    sources = [{"file": f.name, "sha256": file_digest(f, stream.labels.cache_dir)}
               for f in stream.data.files]
    return {"format": STORE_FORMAT, "version": STORE_VERSION, "settings": settings,
            "sources": sources, "grids": {m: g.tolist() for m, g in conv.grids.items()}}


def _start_store(out: Path, stream: AlbertsStream, header: dict[str, Any]) -> dict[str, Any]:
    entries, offset = [], 0
    for group in stream.groups:
        valid = stream.labels.labels(group.file)[1]
        count = int(valid[group.first_row:group.first_row + group.num_rows].sum()) \
            if stream.skip_invalid else group.num_rows
        entries.append({"file": group.file.name, "index": group.index, "offset": offset,
                        "count": count})
        offset += count
    if offset == 0:
        raise MspectmolError(f"{stream.data.path}: no molecule with a valid SMILES to store")
    width = max(len(f.stem) for f in stream.data.files) + 1 + len(str(max(
        g.first_row + g.num_rows for g in stream.groups)))
    arrays = create_arrays(out, offset, {m: g.size for m, g in stream.grids.items()}, width)
    manifest = {**header, "n_rows": offset, "arrays": arrays, "row_groups": entries,
                "groups_done": 0, "rows_done": 0, "complete": False}
    write_manifest(out, manifest)
    return manifest


def convert_to_memmap(source: PathArg, out_dir: PathArg,
                      modalities: Sequence[str] = STREAM_MODALITIES, *,
                      n_points: int = N_POINTS, normalise: bool = True,
                      msms: MsmsBinning | None = None, cache_dir: PathArg | None = None,
                      skip_invalid: bool = False, read_batch: int = 1024,
                      progress: bool = True) -> Path:
    """Convert Alberts et al. parquet data once into a memmap store (:mod:`~.store`).

    Resumable: run again with the same source and settings, it continues after the last
    finished row group; a finished store is left as it is. Arguments as in
    :class:`AlbertsStream`; rows are stored in file and row-group order.

    Returns
    -------
    Path
        The store folder; read it with :class:`~mspectmol.data.store.MemmapDataset`.

    Raises
    ------
    MspectmolError
        When ``out_dir`` holds a store made from other files or settings.
    SpectrumFileError
        For unreadable input, as :class:`AlbertsStream`.
    """
    from tqdm.auto import tqdm

    stream = AlbertsStream(source, modalities, n_points=n_points, normalise=normalise,
                           msms=msms, shuffle=False, cache_dir=cache_dir, rank=0, world_size=1,
                           skip_invalid=skip_invalid, read_batch=read_batch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = _store_header(stream)
    manifest = read_manifest(out)
    if manifest is None:
        manifest = _start_store(out, stream, header)
    elif any(manifest.get(k) != v for k, v in header.items()):
        raise MspectmolError(f"{out}: holds a store made from other files or settings; delete "
                             "it or choose another folder")
    if manifest["complete"]:
        return out
    entries = manifest["row_groups"]
    with tqdm(total=manifest["n_rows"], initial=manifest["rows_done"], unit="mol",
              desc="memmap store", disable=not progress) as bar:
        for k in range(manifest["groups_done"], len(entries)):
            entry = entries[k]
            parts = list(stream.convert(stream.groups[k]))
            if parts:
                batch = GridBatch.concat(parts)
                write_rows(out, manifest["arrays"], entry["offset"],
                           {"ids": batch.ids, "labels": batch.labels,
                            **{f"spectra_{m}": x for m, x in batch.spectra.items()}})
            manifest.update(groups_done=k + 1, rows_done=entry["offset"] + entry["count"])
            write_manifest(out, manifest)
            bar.update(entry["count"])
    manifest["complete"] = True
    write_manifest(out, manifest)
    return out

