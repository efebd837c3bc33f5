"""Streaming the Alberts et al. parquet format and the memmap store, on tiny generated files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from mspectmol.chem.functional_groups import label_many
from mspectmol.data import store as store_module
from mspectmol.data import streaming as streaming_module
from mspectmol.data.store import GridBatch, LabelCache, MemmapDataset, rebatch
from mspectmol.data.streaming import (
    AlbertsStream,
    GridConverter,
    MsmsBinning,
    convert_to_memmap,
    list_row_groups,
    resolve_rank,
    shard_row_groups,
)
from mspectmol.errors import ConfigError, MspectmolError, SpectrumFileError
from mspectmol.spectra.pipeline import PrepareOptions, line_width, prepare
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers.alberts import ALBERTS_AXES
from mspectmol.spectra.resample import render_lines
from mspectmol.spectra.spectrum import Spectrum

SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "C=C", "CC#N", "CC(=O)OC", "O=C1CCCCC1",
          "c1ccncc1", "OCC(O)CO"]
ROWS = (25, 24)  # two files; row groups of 7 rows -> 4 + 4 groups


def _lists(matrix: np.ndarray, value_type: pa.DataType) -> pa.Array:
    offsets = pa.array(np.arange(0, matrix.size + 1, matrix.shape[1]), pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), value_type))


def write_chunk(path: Path, n: int, seed: int, *, smiles: list | None = None,
                drop: str | None = None, nan_row: int | None = None) -> dict[str, np.ndarray]:
    """An Alberts-style chunk with random spectra; returns the matrices written."""
    rng = np.random.default_rng(seed)
    data = {"ir_spectra": rng.random((n, 1800), dtype=np.float32),
            "h_nmr_spectra": rng.random((n, 10000), dtype=np.float32),
            "c_nmr_spectra": rng.random((n, 10000))}
    if nan_row is not None:
        data["h_nmr_spectra"][nan_row, 17] = np.nan
    smi = smiles or [SMILES[(seed + i) % len(SMILES)] for i in range(n)]
    cols = {"smiles": pa.array(smi, pa.string()), "molecular_formula": pa.array(["X"] * n)}
    for name, matrix in data.items():
        cols[name] = _lists(matrix, pa.float64() if name == "c_nmr_spectra" else pa.float32())
    cols["msms_cfmid_positive_40ev"] = pa.array(
        [[[50.0 + i, 100.0], [75.4, 20.0]] for i in range(n)])
    if drop:
        del cols[drop]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, row_group_size=7)
    return {**data, "smiles": np.array(smi)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("alberts") / "chunks"
    parts = [write_chunk(folder / f"part{k}.parquet", n, seed=k) for k, n in enumerate(ROWS)]
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    merged["ids"] = np.array([f"part{k}:{i}" for k, n in enumerate(ROWS) for i in range(n)])
    return folder, merged


def stream(source: Path, tmp_path: Path, **kw) -> AlbertsStream:
    return AlbertsStream(source, cache_dir=tmp_path / "cache", **kw)


def collect(batches) -> GridBatch:
    return GridBatch.concat(list(batches))


def reference_grid(matrix: np.ndarray, column: str, modality: str) -> np.ndarray:
    """Spectrum by spectrum: IR through the one preprocessing path (no baseline); NMR drawn
    at the training line width from sub-cell means (the path for narrow-line input)."""
    axis, grid = ALBERTS_AXES[column], canonical_grid(modality, 600)
    if modality == "ir":
        return np.stack([prepare(Spectrum(axis, r.astype(np.float64), modality, None,
                                          "absorbance"), grid,
                                 options=PrepareOptions(baseline=False)).y for r in matrix])
    order = np.argsort(axis)
    width, shape = line_width(modality, grid)
    rows = np.stack([render_lines(axis[order], r.astype(np.float64)[order], grid, width, shape)
                     for r in matrix])
    return rows / rows.max(axis=1, keepdims=True)


def test_batches_shapes_grids_values_and_labels(dataset, tmp_path):
    folder, ref = dataset
    s = stream(folder, tmp_path, batch_size=8, shuffle=False)
    batches = list(s)
    assert [len(b) for b in batches] == [8] * 6 + [1]
    for b in batches:
        assert set(b.spectra) == {"ir", "h_nmr", "c_nmr"}
        assert all(x.shape == (len(b), 600) and x.dtype == np.float32 for x in b.spectra.values())
        assert b.labels.shape == (len(b), 37) and b.labels.dtype == np.uint8
    for m in ("ir", "h_nmr", "c_nmr"):
        np.testing.assert_array_equal(s.grids[m], canonical_grid(m, 600))
    got = collect(batches)
    np.testing.assert_array_equal(got.ids, ref["ids"])
    for m, column in (("ir", "ir_spectra"), ("h_nmr", "h_nmr_spectra"),
                      ("c_nmr", "c_nmr_spectra")):
        np.testing.assert_allclose(got.spectra[m], reference_grid(ref[column], column, m),
                                   atol=1e-5)  # float32 sums of ~2,400 terms
    np.testing.assert_array_equal(got.labels, label_many(ref["smiles"].tolist()))
    torch_batch = batches[0].to_torch()
    assert torch_batch.labels.dtype == torch.float32 and torch_batch.available["ir"].all()


def test_msms_binned_when_asked(dataset, tmp_path):
    folder, _ = dataset
    s = stream(folder, tmp_path, modalities=["ms", "ir"], batch_size=50, shuffle=False,
               msms=MsmsBinning(bin_width=0.5, mz_max=500.0))
    b = next(iter(s))
    assert b.spectra["ms"].shape == (49, 1000) and b.spectra["ir"].shape == (49, 600)
    row = b.spectra["ms"][3]  # peaks [53, 100] and [75.4, 20] -> bins 106 and 150, max 1
    assert np.flatnonzero(row).tolist() == [106, 150]
    np.testing.assert_allclose(row[[106, 150]], [1.0, 0.2])


def test_workers_and_ranks_get_disjoint_row_groups_covering_everything(dataset, tmp_path):
    folder, ref = dataset
    groups = list_row_groups(sorted(folder.glob("*.parquet")))
    assert len(groups) == 8
    shards = [shard_row_groups(groups, seed=3, epoch=1, shuffle=True, rank=r, world_size=2,
                               worker=w, num_workers=2) for r in range(2) for w in range(2)]
    flat = [g for shard in shards for g in shard]
    assert len(flat) == len(set(flat)) == 8 and all(len(s) == 2 for s in shards)
    ids = [collect(stream(folder, tmp_path, rank=r, world_size=2, seed=3)).ids for r in (0, 1)]
    assert not set(ids[0]) & set(ids[1])
    assert sorted(np.concatenate(ids)) == sorted(ref["ids"])
    loader = DataLoader(stream(folder, tmp_path, batch_size=5, seed=3), batch_size=None,
                        num_workers=2)
    seen = np.concatenate([b.ids for b in loader])
    assert len(seen) == 49 and sorted(seen) == sorted(ref["ids"])


def test_ranks_come_from_an_initialised_process_group(dataset, tmp_path, monkeypatch):
    """Without rank/world_size the stream takes torch.distributed's (e.g. under torchrun)."""
    folder, ref = dataset
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    ids = []
    for r in (0, 1):
        monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None, r=r: r)
        s = stream(folder, tmp_path, batch_size=6, seed=4)
        assert (s.rank, s.world_size) == (r, 2)
        ids.append(collect(s).ids)
    assert ids[0].size and ids[1].size and not set(ids[0]) & set(ids[1])
    assert sorted(np.concatenate(ids)) == sorted(ref["ids"])


def test_shuffling_is_deterministic_per_seed_and_epoch(dataset, tmp_path):
    folder, ref = dataset

    def order(seed: int, epoch: int) -> list[str]:
        s = stream(folder, tmp_path, seed=seed, batch_size=4, shuffle_buffer=10)
        s.set_epoch(epoch)
        return collect(s).ids.tolist()

    first = order(0, 0)
    assert first == order(0, 0) and sorted(first) == sorted(ref["ids"])
    assert first != order(0, 1) and first != order(1, 0)
    assert first != ref["ids"].tolist()


def test_label_cache_is_reused_across_epochs_and_runs(dataset, tmp_path, monkeypatch):
    folder, _ = dataset
    calls = []

    def counting(smiles, **kw):
        calls.append(len(smiles))
        return label_many(smiles, **kw)

    monkeypatch.setattr(store_module, "label_many", counting)
    s = stream(folder, tmp_path, batch_size=16)
    for epoch in range(2):
        s.set_epoch(epoch)
        list(s)
    assert calls == [25, 24] or calls == [24, 25]  # once per file, whatever the order
    list(stream(folder, tmp_path, batch_size=16))  # a new run reads the cache files
    assert len(calls) == 2
    cached = sorted((tmp_path / "cache").glob("*/labels.parquet"))
    assert len(cached) == 2 and len({p.parent.name for p in cached}) == 2
    cached[0].write_bytes(b"not parquet")  # a damaged entry is recomputed
    list(stream(folder, tmp_path, batch_size=16))
    assert len(calls) == 3


def test_invalid_smiles_raise_or_are_skipped(tmp_path):
    path = tmp_path / "bad.parquet"
    write_chunk(path, 3, seed=0, smiles=["CCO", "C1CC", "CCN"])
    with pytest.raises(SpectrumFileError, match=r"bad\.parquet.*row 1: invalid SMILES 'C1CC'"):
        list(stream(path, tmp_path))
    got = collect(stream(path, tmp_path, skip_invalid=True, shuffle=False))
    assert got.ids.tolist() == ["bad:0", "bad:2"] and got.spectra["ir"].shape == (2, 600)


def test_bad_input_gives_clear_errors(tmp_path):
    nan = tmp_path / "nan.parquet"
    write_chunk(nan, 9, seed=1, nan_row=8)
    with pytest.raises(SpectrumFileError, match=r"nan\.parquet.*h_nmr_spectra.*NaN"):
        list(stream(nan, tmp_path))
    no_ir = tmp_path / "noir.parquet"
    write_chunk(no_ir, 2, seed=1, drop="ir_spectra")
    with pytest.raises(SpectrumFileError, match=r"noir\.parquet.*ir_spectra"):
        stream(no_ir, tmp_path)
    with pytest.raises(ConfigError, match="raman"):
        GridConverter(["ir", "raman"])
    with pytest.raises(ConfigError):
        resolve_rank(2, 2)
    assert resolve_rank(None, None) == (0, 1)
    with pytest.raises(ConfigError):
        list(rebatch([], 0, 1, None))


def test_rebatch_keeps_every_row_and_drops_last_when_asked():
    chunks = [GridBatch(np.array([f"{k}:{i}" for i in range(5)]), np.zeros((5, 37), np.uint8),
                        {"ir": np.full((5, 3), k, np.float32)}) for k in range(3)]
    rng = np.random.default_rng(0)
    out = list(rebatch(chunks, 4, 8, rng))
    assert [len(b) for b in out] == [4, 4, 4, 3]
    assert sorted(np.concatenate([b.ids for b in out])) == sorted(
        np.concatenate([c.ids for c in chunks]))
    assert [len(b) for b in rebatch(chunks, 4, 8, None, drop_last=True)] == [4, 4, 4]


def test_memmap_conversion_resumes_and_matches_streaming(dataset, tmp_path, monkeypatch):
    folder, ref = dataset
    out = tmp_path / "store"
    writes = []
    real_write = streaming_module.write_manifest

    def interrupted(path, manifest):
        writes.append(manifest["groups_done"])
        if len(writes) == 3:  # the start, row group 0 done, then "crash" after group 1's rows
            raise KeyboardInterrupt
        real_write(path, manifest)

    monkeypatch.setattr(streaming_module, "write_manifest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_to_memmap(folder, out, cache_dir=tmp_path / "cache", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["groups_done"] == 1 and manifest["rows_done"] == 7
    with pytest.raises(MspectmolError, match="unfinished.*resume"):
        MemmapDataset(out)
    monkeypatch.setattr(streaming_module, "write_manifest", real_write)
    converted = []
    real_convert = AlbertsStream.convert
    monkeypatch.setattr(AlbertsStream, "convert",
                        lambda self, g: converted.append(g) or real_convert(self, g))
    convert_to_memmap(folder, out, cache_dir=tmp_path / "cache", progress=False)
    assert len(converted) == 7  # row group 0 was not converted again
    ds = MemmapDataset(out)
    streamed = collect(stream(folder, tmp_path, shuffle=False, batch_size=11))
    everything = ds[:]
    assert len(ds) == 49 and ds.modalities == ("ir", "h_nmr", "c_nmr")
    np.testing.assert_array_equal(everything.ids, streamed.ids)
    np.testing.assert_array_equal(everything.labels, streamed.labels)
    for m in ds.modalities:
        np.testing.assert_array_equal(everything.spectra[m], streamed.spectra[m])
        np.testing.assert_array_equal(ds.grids[m], canonical_grid(m, 600))
    assert manifest["sources"][0]["file"] == "part0.parquet"
    assert len(manifest["sources"][0]["sha256"]) == 64
    before = len(converted)
    convert_to_memmap(folder, out, cache_dir=tmp_path / "cache", progress=False)
    assert len(converted) == before  # a finished store is left as it is


def test_memmap_dataset_random_access_and_loader(dataset, tmp_path):
    folder, ref = dataset
    ds = MemmapDataset(convert_to_memmap(folder, tmp_path / "s", cache_dir=tmp_path / "c",
                                         modalities=["ir"], progress=False))
    picked = ds[[30, 2, 2]]
    assert picked.ids.tolist() == [ref["ids"][30], ref["ids"][2], ref["ids"][2]]
    assert ds[4].spectra["ir"].shape == (1, 600)
    orders = [np.concatenate([b.ids for b in ds.iter_batches(10, shuffle=True, seed=5)])
              for _ in range(2)]
    np.testing.assert_array_equal(*orders)
    assert sorted(orders[0]) == sorted(ref["ids"])
    loader = DataLoader(ds, sampler=BatchSampler(SequentialSampler(ds), 16, False),
                        batch_size=None)
    assert [len(b) for b in loader] == [16, 16, 16, 1]
    split = ds.to_split_data()
    assert split.spectra["ir"].shape == (49, 600) and split.labels.dtype == np.float32


def test_store_refuses_other_settings_and_damage(dataset, tmp_path):
    folder, _ = dataset
    small = tmp_path / "one"
    small.mkdir()
    shutil.copy(folder / "part1.parquet", small)
    out = convert_to_memmap(small, tmp_path / "st", cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(MspectmolError, match="other files or settings"):
        convert_to_memmap(small, out, modalities=["ir"], cache_dir=tmp_path / "c",
                          progress=False)
    np.save(out / "labels.npy", np.zeros((3, 37), np.uint8))
    with pytest.raises(MspectmolError, match=r"labels\.npy.*does not match"):
        MemmapDataset(out)
    (out / "manifest.json").write_text("{")
    with pytest.raises(MspectmolError, match="unreadable store manifest"):
        MemmapDataset(out)
    with pytest.raises(MspectmolError, match="not a memmap store"):
        MemmapDataset(tmp_path)


def test_label_cache_tracks_file_content(tmp_path):
    path = tmp_path / "x.parquet"
    write_chunk(path, 3, seed=0, smiles=["CCO", "CCN", "C=C"])
    cache = LabelCache(tmp_path / "c")
    first = cache.path_for(path)
    write_chunk(path, 3, seed=0, smiles=["CCO", "CC(=O)O", "C=C"])
    assert cache.path_for(path) != first
    labels, valid = LabelCache(tmp_path / "c").labels(path)
    np.testing.assert_array_equal(labels, label_many(["CCO", "CC(=O)O", "C=C"]))
    assert valid.all()
