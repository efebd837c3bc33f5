"""The v2 index (v1 + drug-size molecules): v1's splits unchanged, scaffolds kept apart, loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mspectmol.data.build_v2 import V1_COLUMNS, finalize_index_v2, part_status
from mspectmol.data.dataset import (
    EMBEDDED_DIR,
    EMBEDDED_V2_DIR,
    chunk_dirs,
    load_dataset,
    read_chunks,
)
from mspectmol.data.splits import murcko_scaffold
from mspectmol.errors import MspectmolError

pytestmark = pytest.mark.skipif(not (EMBEDDED_V2_DIR / "index.parquet").is_file()
                                or not (EMBEDDED_DIR / "index.parquet").is_file(),
                                reason="v2 index not built")


@pytest.fixture(scope="module")
def v1_index():
    return pq.read_table(EMBEDDED_DIR / "index.parquet")


@pytest.fixture(scope="module")
def v2_index():
    return pq.read_table(EMBEDDED_V2_DIR / "index.parquet")


def test_v1_molecules_keep_exactly_their_v1_rows_and_splits(v1_index, v2_index):
    v1_rows = v2_index.filter(np.asarray(v2_index.column("part").to_pylist()) == "v1")
    assert v1_rows.num_rows == v1_index.num_rows
    for column in V1_COLUMNS:  # ids, SMILES, labels, random and scaffold splits, in v1 order
        assert v1_rows.column(column).to_pylist() == v1_index.column(column).to_pylist(), column


def test_no_scaffold_straddles_two_splits_across_v1_and_v2(v2_index):
    parts: dict[str, set[str]] = {}
    for smi, part in zip(v2_index.column("smiles").to_pylist(),
                         v2_index.column("split_scaffold").to_pylist(), strict=True):
        parts.setdefault(murcko_scaffold(smi), set()).add(part)
    assert all(len(p) == 1 for p in parts.values())


def test_index_holds_the_finished_chunks_and_says_how_many(v2_index):
    meta = {k.decode(): v.decode() for k, v in v2_index.schema.metadata.items()}
    v2_ids = [i for i, p in zip(v2_index.column("id").to_pylist(),
                                v2_index.column("part").to_pylist(), strict=True) if p == "v2"]
    assert all(i.startswith("drug-") for i in v2_ids) and v2_ids == sorted(v2_ids)
    assert int(meta["v2_indexed"]) == len(v2_ids) and int(meta["v2_planned"]) == 8000
    assert json.loads(meta["chunk_dirs"]) == ["../chunks", "chunks"]
    built = set(read_chunks(EMBEDDED_V2_DIR, ["id"]).column("id").to_pylist())
    assert set(v2_ids) <= built
    status = part_status(EMBEDDED_V2_DIR)
    assert status.chunks_planned == 160 and status.built >= len(v2_ids)


def test_size_split_tests_on_the_largest_of_v1_and_v2(v2_index):
    heavy = v2_index.column("heavy_atoms").to_numpy()
    split = np.asarray(v2_index.column("split_size").to_pylist())
    if not (split == "test").any():
        pytest.skip("no molecule of the size split's test set built yet")
    assert heavy[split == "test"].min() > heavy[split != "test"].max()
    assert (split[np.asarray(v2_index.column("part").to_pylist()) == "v1"] != "test").all()


def test_load_v2_reads_both_parts_and_v1_stays_the_default(v2_index):
    ds = load_dataset(["ir", "h_nmr"], version="v2")
    assert len(ds) == v2_index.num_rows
    assert ds.spectra["ir"].shape == (len(ds), 600)
    assert (ds.spectra["ir"].max(axis=1) == 1).all()
    np.testing.assert_array_equal(ds.splits["size"], v2_index.column("split_size").to_pylist())
    assert chunk_dirs(EMBEDDED_DIR) == [EMBEDDED_DIR / "chunks"]
    assert len(chunk_dirs(EMBEDDED_V2_DIR)) == 2
    with pytest.raises(MspectmolError, match="unknown dataset version"):
        load_dataset(["ir"], version="v3")


def test_v1_spectra_are_the_same_in_v2(v2_index):
    v1 = load_dataset(["raman"])
    v2 = load_dataset(["raman"], version="v2")
    np.testing.assert_array_equal(v2.ids[:len(v1)], v1.ids)
    np.testing.assert_array_equal(v2.spectra["raman"][:len(v1)], v1.spectra["raman"])


def test_partial_builds_keep_each_molecules_split(tmp_path: Path):
    chunks = sorted((EMBEDDED_V2_DIR / "chunks").glob("drug-*.parquet"))
    if len(chunks) < 2:
        pytest.skip("fewer than two drug-size chunks built")
    v2 = tmp_path / "v2"
    (v2 / "chunks").mkdir(parents=True)
    shutil.copy(EMBEDDED_V2_DIR / "plan.csv", v2 / "plan.csv")
    shutil.copy(chunks[0], v2 / "chunks" / chunks[0].name)
    first = pq.read_table(finalize_index_v2(v2, EMBEDDED_DIR)).to_pylist()
    shutil.copy(chunks[1], v2 / "chunks" / chunks[1].name)
    second = {r["id"]: r for r in pq.read_table(finalize_index_v2(v2, EMBEDDED_DIR)).to_pylist()}
    assert len(second) > len(first)
    for row in first:
        assert second[row["id"]] == row, row["id"]
    meta = pq.read_schema(v2 / "index.parquet").metadata
    assert meta[b"v2_chunks_done"] == b"2"
    ds = load_dataset(["c_nmr"], path=v2)  # v1's chunks found through chunk_dirs
    assert len(ds) == len(second)
