"""Integrity of the embedded dataset that ships inside the package."""

import csv
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from mspectmol.chem.functional_groups import label
from mspectmol.data.build import chunk_plan, read_plan
from mspectmol.data.dataset import (
    DATASET_MODALITIES,
    EMBEDDED_DIR,
    broaden_many,
    load_dataset,
    read_chunks,
)
from mspectmol.data.splits import murcko_scaffold
from mspectmol.errors import UnknownModalityError
from mspectmol.spectra.preprocessing import broaden, canonical_grid

pytestmark = pytest.mark.skipif(not (EMBEDDED_DIR / "index.parquet").is_file(),
                                reason="embedded dataset not built")


@pytest.fixture(scope="module")
def ds():
    return load_dataset()


@pytest.fixture(scope="module")
def chunks():
    return read_chunks(columns=["id", "smiles", "canonical_smiles", "atomic_numbers",
                                "coordinates", "ref_coordinates", "frequencies", "source"])


def test_broaden_many_matches_broaden():
    grid = canonical_grid("ir", 600)
    pos = np.array([1000.0, 1700.0, 3000.0, 500.0, 2200.0])
    amp = np.array([1.0, 5.0, 2.0, 3.0, 1.0])
    owner = np.array([0, 0, 0, 2, 2])
    out = broaden_many(pos, amp, owner, 3, grid, 15.0, "lorentzian", chunk=2)
    np.testing.assert_allclose(out[0], broaden(pos[:3], amp[:3], grid, 15.0), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_allclose(out[2], broaden(pos[3:], amp[3:], grid, 15.0), rtol=1e-4, atol=1e-6)


def test_every_planned_molecule_is_accounted_for():
    plan = read_plan(EMBEDDED_DIR)
    chunk_dir = EMBEDDED_DIR / "chunks"
    for name, part in chunk_plan(plan, 200):
        path = chunk_dir / f"{name}.parquet"
        if not path.is_file():
            continue
        done = set(pq.read_table(path, columns=["id"]).column("id").to_pylist())
        with (chunk_dir / f"{name}.failures.csv").open(newline="") as fh:
            failed = {row["name"] for row in csv.DictReader(fh)}
        assert done.isdisjoint(failed)
        assert done | failed == {e.id for e in part}, name


def test_dataset_size_targets_when_complete():
    plan = read_plan(EMBEDDED_DIR)
    names = [n for n, _ in chunk_plan(plan, 200)]
    if not all((EMBEDDED_DIR / "chunks" / f"{n}.parquet").is_file() for n in names):
        pytest.skip("dataset build still in progress")
    src = Counter(pq.read_table(EMBEDDED_DIR / "index.parquet").column("source").to_pylist())
    assert src["qm9"] >= 4000
    assert sum(v for k, v in src.items() if k != "qm9") >= 2000


def test_arrays_shapes_and_normalisation(ds):
    n = len(ds)
    assert ds.labels.shape == (n, 37) and ds.labels.dtype == np.uint8
    for m in DATASET_MODALITIES:
        y = ds.spectra[m]
        assert y.shape == (n, 600) and y.dtype == np.float32
        assert np.isfinite(y).all() and y.min() >= 0
        top = y.max(axis=1)
        assert np.allclose(top[top > 0], 1.0)
    # every molecule has IR and Raman bands; only H-free molecules lack a 1H spectrum
    assert (ds.spectra["ir"].max(axis=1) == 1).all()
    no_h = ds.spectra["h_nmr"].max(axis=1) == 0
    for smi in ds.smiles[no_h]:
        assert all(a.GetTotalNumHs() == 0 for a in Chem.MolFromSmiles(smi).GetAtoms())


def test_labels_recomputed_from_smiles(ds):
    for i in range(0, len(ds), max(1, len(ds) // 300)):
        np.testing.assert_array_equal(ds.labels[i], label(ds.smiles[i]), err_msg=ds.ids[i])


def test_splits_disjoint_and_scaffold_separated(ds):
    for scheme in ("random", "scaffold"):
        parts = {p: set(ds.ids[ds.split_indices(scheme, p)]) for p in ("train", "val", "test")}
        assert sum(map(len, parts.values())) == len(ds)
        assert not (parts["train"] & parts["test"]) and not (parts["train"] & parts["val"])
        assert len(parts["train"]) == pytest.approx(0.8 * len(ds), abs=0.02 * len(ds) + 2)
    sc = ds.splits["scaffold"]
    train_scaffolds = {murcko_scaffold(s) for s in ds.smiles[sc == "train"]}
    test_scaffolds = {murcko_scaffold(s) for s in ds.smiles[sc == "test"]}
    assert not (train_scaffolds & test_scaffolds)


def test_geometries_match_formula(chunks):
    for row in chunks.slice(0, 400).to_pylist():
        mol = Chem.AddHs(Chem.MolFromSmiles(row["smiles"]))
        numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
        assert row["atomic_numbers"] == numbers, row["id"]
        assert len(row["coordinates"]) == 3 * len(numbers)
        n_modes = 3 * len(numbers) - 6
        assert len(row["frequencies"]) in (n_modes, n_modes + 1)
        if row["source"] == "qm9":
            ref = np.asarray(row["ref_coordinates"]).reshape(-1, 3)
            gfn2 = np.asarray(row["coordinates"]).reshape(-1, 3)
            assert ref.shape == gfn2.shape
            # same connectivity: bonded heavy-atom distances agree within 0.1 A
            for b in mol.GetBonds():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                d_ref = np.linalg.norm(ref[i] - ref[j])
                d_gfn = np.linalg.norm(gfn2[i] - gfn2[j])
                assert abs(d_ref - d_gfn) < 0.1, (row["id"], i, j)


def test_unknown_modality_is_refused():
    with pytest.raises(UnknownModalityError, match="has no 'uv'"):
        load_dataset(["uv"])


def test_size_split_tests_on_the_largest_molecules(ds):
    split = ds.splits["size"]
    assert set(split) == {"train", "val", "test"}
    test_sizes = ds.heavy_atoms[split == "test"]
    assert test_sizes.min() > ds.heavy_atoms[split != "test"].max()
    assert 0.05 < (split == "test").mean() < 0.15
    assert len(ds.split_indices("size", "val")) > 0
