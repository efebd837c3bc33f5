"""Alberts et al. parquet data as a training dataset: MS/MS modalities, cached stores, splits."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from mspectmol.chem.functional_groups import label_many
from mspectmol.data import alberts_data
from mspectmol.data.alberts_data import (
    ALBERTS_MODALITIES,
    alberts_info,
    is_alberts_data,
    load_alberts,
)
from mspectmol.data.splits import random_split, scaffold_split
from mspectmol.data.store import GridBatch
from mspectmol.data.streaming import AlbertsStream, GridConverter
from mspectmol.errors import ConfigError, UnknownModalityError
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers.alberts_msms import msms_columns, msms_grid

N = 40
BAD_ROW = 5


@pytest.fixture(scope="module")
def chunk(tmp_path_factory, alberts_dataset):
    folder = tmp_path_factory.mktemp("alberts")
    return alberts_dataset(folder / "chunk.parquet", n=N, seed=1, bad_smiles_row=BAD_ROW)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_what_counts_as_alberts_data(tmp_path, chunk, random_dataset):
    assert is_alberts_data(chunk) and is_alberts_data(chunk.parent)
    assert is_alberts_data(tmp_path / "missing.pq")  # a parquet name: read (or refused) later
    (tmp_path / "embedded").mkdir()
    embedded = random_dataset(tmp_path / "embedded", n=12)
    assert not is_alberts_data(embedded)  # index.parquet: a folder of the embedded format
    assert not is_alberts_data(None) and not is_alberts_data(tmp_path / "spectra.csv")
    assert not is_alberts_data(tmp_path)  # no parquet files


def test_converter_merges_the_energies_of_each_mode(chunk, tmp_path):
    stream = AlbertsStream(chunk, ["ir", "msms_pos", "msms_neg"], shuffle=False,
                           skip_invalid=True, cache_dir=tmp_path)
    got = GridBatch.concat(list(stream))
    assert len(got) == N - 1 and f"chunk:{BAD_ROW}" not in got.ids
    table = pq.read_table(chunk)
    keep = np.delete(np.arange(N), BAD_ROW)
    for mod in ("msms_pos", "msms_neg"):
        grid = canonical_grid(mod, 600)
        np.testing.assert_array_equal(stream.grids[mod], grid)
        ref = msms_grid([table.column(c).combine_chunks() for c in msms_columns(mod, [])],
                        grid, mod, chunk)[keep]
        ref /= np.where(ref.max(axis=1, keepdims=True) > 0, ref.max(axis=1, keepdims=True), 1)
        np.testing.assert_allclose(got.spectra[mod], ref, rtol=1e-6)
    assert got.spectra["msms_pos"].max(axis=1).min() == 1.0
    assert not got.spectra["msms_neg"][1].any()  # row 1 has no negative-mode peaks
    with pytest.raises(ConfigError, match="msms_pos, msms_neg"):
        GridConverter(["raman"])


def test_load_converts_once_and_splits_by_the_fixed_rules(chunk, cache, monkeypatch):
    ds = load_alberts(chunk, ["IR", "msms+", "msms_neg"], cache_dir=cache)
    keep = np.delete(np.arange(N), BAD_ROW)
    smiles = pq.read_table(chunk, columns=["smiles"]).column(0).to_pylist()
    assert ds.ids.tolist() == [f"chunk:{i}" for i in keep]
    assert ds.smiles.tolist() == [smiles[i] for i in keep] and set(ds.source) == {"alberts2024"}
    np.testing.assert_array_equal(ds.labels, label_many([smiles[i] for i in keep]))
    assert set(ds.spectra) == {"ir", "msms_pos", "msms_neg"}
    assert all(isinstance(x, np.memmap) and x.shape == (N - 1, 600) for x in ds.spectra.values())
    np.testing.assert_array_equal(ds.splits["random"], random_split(N - 1, 0))
    np.testing.assert_array_equal(ds.splits["scaffold"], scaffold_split(ds.smiles.tolist(), 0))
    assert "size" in ds.splits and ds.heavy_atoms.min() >= 1
    folder = next((cache / "alberts").iterdir())
    assert {p.name for p in folder.iterdir()} >= {"index.parquet", "ir-600", "msms_pos-600",
                                                  "msms_neg-600"}
    manifest = json.loads((folder / "msms_pos-600" / "manifest.json").read_text())
    assert "summed" in manifest["settings"]["msms_merge"]

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(alberts_data, "convert_to_memmap", no_conversion)
    again = load_alberts(chunk, ["msms_neg", "ir"], cache_dir=cache)
    np.testing.assert_array_equal(again.spectra["ir"], ds.spectra["ir"])
    info = alberts_info(chunk, cache)
    assert info["molecules"] == N - 1 and info["fingerprint"] == folder.name[:12]
    assert sum(info["splits"]["scaffold"].values()) == N - 1


def test_the_cache_is_keyed_by_the_files_content(chunk, cache, tmp_path, alberts_dataset):
    copy = tmp_path / "elsewhere" / "chunk.parquet"
    copy.parent.mkdir()
    shutil.copy(chunk, copy)
    before = {p.name for p in (cache / "alberts").iterdir()}
    load_alberts(copy, ["ir"], cache_dir=cache)
    assert {p.name for p in (cache / "alberts").iterdir()} == before  # same digests
    alberts_dataset(copy, n=N, seed=2)                                # other molecules
    other = load_alberts(copy, ["msms_pos"], cache_dir=cache)
    assert len(other) == N and len(list((cache / "alberts").iterdir())) == len(before) + 1


def test_older_column_names_and_unknown_modalities(tmp_path, alberts_dataset):
    old = alberts_dataset(tmp_path / "old.parquet", n=12, old_msms_names=True)
    ds = load_alberts(old, ["msms_neg"], cache_dir=tmp_path / "cache")
    assert ds.spectra["msms_neg"].shape == (12, 600)
    with pytest.raises(UnknownModalityError, match="no raman spectra; it has ir, h_nmr"):
        load_alberts(old, ["ir", "raman"], cache_dir=tmp_path / "cache")
    assert ALBERTS_MODALITIES == ("ir", "h_nmr", "c_nmr", "msms_pos", "msms_neg")
