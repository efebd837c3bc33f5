"""Carbon environments (per-atom 13C data) and the 13C rendering that uses them."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from mspectmol.data.carbon_environments import carbon_environments, cf_multiplets
from mspectmol.data.rendering import PeakRenderer, RenderSettings

SMILES = "FC(F)(F)c1ccccc1"
#: Made-up shifts far apart so that each multiplet stands alone: CF3, ipso, ortho, meta, para.
SHIFTS = {1: 60.0, 4: 100.0, 5: 140.0, 9: 140.0, 6: 170.0, 8: 170.0, 7: 200.0}


def _columns():
    mol = Chem.AddHs(Chem.MolFromSmiles(SMILES))
    shifts = [SHIFTS.get(i, float("nan")) for i in range(mol.GetNumAtoms())]
    classes = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    return shifts, classes


def test_environments_count_carbons_protons_and_fluorines():
    env = carbon_environments(SMILES, *_columns())
    np.testing.assert_allclose(env.shift, [200.0, 170.0, 140.0, 100.0, 60.0])
    assert env.count.tolist() == [1, 2, 2, 1, 1]
    assert env.n_h.tolist() == [1, 1, 1, 0, 0]
    # fluorines 1..4 bonds away: CF3 carbon, ipso (2J), ortho (3J), meta (4J), para (none)
    assert env.fluorines.tolist() == [[0, 0, 0, 0], [0, 0, 0, 3], [0, 0, 3, 0],
                                      [0, 3, 0, 0], [3, 0, 0, 0]]
    assert carbon_environments(SMILES, [], _columns()[1]) is None  # v1 record
    assert carbon_environments("CCO", *_columns()) is None  # columns of another molecule


def test_cf_multiplets_are_binomial_and_keep_the_area():
    pos, amp = cf_multiplets(np.array([60.0, 10.0]), np.array([2.0, 1.0]),
                             np.array([[3, 0], [0, 1]]), np.array([[2.7, 0.3], [2.7, 0.4]]))
    np.testing.assert_allclose(pos, [55.95, 58.65, 61.35, 64.05, 9.8, 10.2])
    np.testing.assert_allclose(amp, [0.25, 0.75, 0.75, 0.25, 0.5, 0.5])


@pytest.fixture(scope="module")
def chunk_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("carbon")
    (root / "chunks").mkdir()
    shifts, classes = _columns()
    env = carbon_environments(SMILES, shifts, classes)
    pq.write_table(pa.table({
        "id": ["m0"], "smiles": [SMILES],
        "c_shift": pa.array([env.shift.tolist()], pa.list_(pa.float32())),
        "c_count": pa.array([env.count.tolist()], pa.list_(pa.int16())),
        "c_atom_shift": [shifts], "atom_class": [classes],
    }), root / "chunks" / "v2-000.parquet")
    return root


def _area(grid, row, centre, half=6.0):
    return row[np.abs(grid - centre) <= half].sum()


def test_rendering_splits_c_f_carbons_and_weakens_quaternary_ones(chunk_dir):
    grid = np.linspace(0.0, 220.0, 2201)
    settings = RenderSettings(probability=1.0, c_shift_sd=(0.0, 0.0), c_jitter=0.0,
                              c_width=(0.01, 0.01), c_solvent=0.0, c_quaternary=(0.3, 0.3),
                              c_cf_split=1.0, c_cf_1j=(270.0, 270.0), h_mhz=(397.72, 397.72))
    r = PeakRenderer(np.array(["m0"]), ("c_nmr",), {"c_nmr": grid}, settings, path=chunk_dir)
    row = r.render("c_nmr", np.random.default_rng(0))[0].astype(np.float64)
    # the CF3 carbon is a 1:3:3:1 quartet of 270 Hz at 100 MHz: 2.7 ppm apart
    heights = [row[np.abs(grid - (60.0 + k * 2.7)) < 0.5].max() for k in (-1.5, -0.5, 0.5, 1.5)]
    assert heights[1] / heights[0] == pytest.approx(3.0, rel=0.1)
    assert heights[2] / heights[3] == pytest.approx(3.0, rel=0.1)
    assert row[np.abs(grid - 60.0) < 0.3].max() < 0.5 * heights[1]  # no line at the centre
    # carbons without protons (CF3, ipso) at 0.3 of the area of the one-carbon para line
    para = _area(grid, row, 200.0)
    assert _area(grid, row, 60.0) / para == pytest.approx(0.3, rel=0.05)
    assert _area(grid, row, 100.0) / para == pytest.approx(0.3, rel=0.05)
    clean = r.render("c_nmr", np.random.default_rng(0), clean=True)[0]
    assert np.argmax(clean[np.abs(grid - 60.0) < 3.0]) == np.argmin(np.abs(grid[np.abs(
        grid - 60.0) < 3.0] - 60.0))  # the clean rendering keeps one line


def test_carbon_environments_are_off_by_default(chunk_dir):
    assert not RenderSettings().carbon_environments
    assert RenderSettings(c_cf_split=0.5).carbon_environments
    assert RenderSettings(c_quaternary=(0.2, 1.0)).carbon_environments
    grid = np.linspace(0.0, 220.0, 600)
    r = PeakRenderer(np.array(["m0"]), ("c_nmr",), {"c_nmr": grid}, path=chunk_dir)
    assert r.carbons == [None]  # rendered from the peak list, as before


def test_rendering_without_per_atom_columns_is_unchanged(tmp_path):
    (tmp_path / "chunks").mkdir()
    pq.write_table(pa.table({
        "id": ["a"], "c_shift": pa.array([[60.0, 200.0]], pa.list_(pa.float32())),
        "c_count": pa.array([[1, 1]], pa.list_(pa.int16()))}),
        tmp_path / "chunks" / "v1-000.parquet")
    grid = np.linspace(0.0, 220.0, 600)
    r = PeakRenderer(np.array(["a"]), ("c_nmr",), {"c_nmr": grid},
                     RenderSettings(c_cf_split=0.9), path=tmp_path)
    assert r.carbons == [None]
    assert r.render("c_nmr", np.random.default_rng(1)).shape == (1, 600)


def test_backfill_adds_the_per_atom_columns_once(tmp_path):
    from rdkit.Chem import AllChem

    from mspectmol.data.atom_nmr_backfill import ATOM_COLUMNS, backfill_atom_nmr

    mol = Chem.AddHs(Chem.MolFromSmiles("OCC(F)(F)F"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    coords = mol.GetConformer().GetPositions().ravel().tolist()
    (tmp_path / "chunks").mkdir()
    path = tmp_path / "chunks" / "v1-000.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "smiles": ["OCC(F)(F)F", "CCO"],
                             "coordinates": [coords, None]}), path)
    assert backfill_atom_nmr(tmp_path / "chunks", n_workers=1) == [path]
    table = pq.read_table(path)
    assert set(ATOM_COLUMNS) <= set(table.schema.names)
    row = table.to_pylist()[0]
    assert np.isfinite(row["c_atom_shift"]).sum() == 2
    assert table.to_pylist()[1]["c_atom_shift"] == []  # no geometry: empty, as a failure
    env = carbon_environments(row["smiles"], row["c_atom_shift"], row["atom_class"])
    assert env.fluorines[:, 0].tolist() == [3, 0] and env.n_h.tolist() == [0, 2]
    assert backfill_atom_nmr(tmp_path / "chunks", n_workers=1) == []  # done already
