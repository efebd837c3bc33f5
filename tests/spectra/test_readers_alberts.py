"""Alberts et al. parquet reader on tiny generated chunks and on the shared 100-row sample."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError, UnknownModalityError
from mspectmol.spectra.readers.alberts import ALBERTS_AXES, AlbertsParquet, read_alberts

SHARED = Path(os.environ.get("MSPECTMOL_SHARED", Path(__file__).resolve().parents[3] / "shared"))
ALBERTS_SAMPLE = SHARED / "data" / "alberts-example" / "example_data_1.parquet"


def test_axes():
    assert ALBERTS_AXES["ir_spectra"].shape == (1800,)
    assert ALBERTS_AXES["ir_spectra"][[0, -1]].tolist() == [400.0, 4000.0]
    assert ALBERTS_AXES["h_nmr_spectra"][[0, -1]].tolist() == [10.0, -2.0]
    assert ALBERTS_AXES["c_nmr_spectra"][[0, -1]].tolist() == [230.0, -20.0]
    with pytest.raises(ValueError):
        ALBERTS_AXES["ir_spectra"][0] = 1.0


def test_load_arrays_golden(alberts_parquet):
    data = AlbertsParquet(alberts_parquet(n=3))
    assert data.num_rows == 3 and "hsqc_nmr_spectrum" in data.columns
    arrays = data.load_arrays()
    assert arrays["smiles"] == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert arrays["ir_spectra"].shape == (3, 1800) and arrays["ir_spectra"].dtype == np.float32
    assert arrays["c_nmr_spectra"].shape == (3, 10000)
    for i in range(3):
        assert arrays["ir_spectra"][i].argmax() == 100 * (i + 1)
        assert arrays["h_nmr_spectra"][i, 1000 * (i + 1)] == 2.0
        assert arrays["c_nmr_spectra"][i, 2000 * (i + 1)] == 3.0
    assert AlbertsParquet(alberts_parquet(n=3)).load_arrays(max_rows=2)["ir_spectra"].shape \
        == (2, 1800)


def test_iter_batches_goes_row_group_by_row_group(alberts_parquet):
    data = AlbertsParquet(alberts_parquet(n=3))
    sizes = [b.num_rows for b in data.iter_batches(["smiles"], batch_size=10)]
    assert sizes == [2, 1]  # two row groups of at most 2 rows
    with pytest.raises(ValueError):
        list(data.iter_batches([]))
    with pytest.raises(SpectrumFileError, match="no column.*nope"):
        list(data.iter_batches(["nope"]))


@pytest.mark.parametrize("generation", ["cfmid", "old"])
def test_msms_resolves_both_column_generations(alberts_parquet, generation):
    data = AlbertsParquet(alberts_parquet(n=2, generation=generation))
    peaks = data.msms("positive", 40)
    assert len(peaks) == 2 and peaks[1].shape == (2, 2)
    np.testing.assert_array_equal(peaks[1], [[51.0, 100.0], [75.5, 25.0]])
    np.testing.assert_array_equal(data.msms("negative", 10)[0], [[50.0, 100.0], [75.5, 21.0]])
    with pytest.raises(ValueError):
        data.msms("sideways", 40)


@pytest.mark.parametrize(("modality", "column", "size"), [
    ("ir", "ir_spectra", 1800), ("h_nmr", "h_nmr_spectra", 10000),
    ("c_nmr", "c_nmr_spectra", 10000)])
def test_spectra_per_molecule(alberts_parquet, modality, column, size):
    spectra = list(read_alberts(alberts_parquet(n=3), modality))
    assert len(spectra) == 3
    s = spectra[1]
    assert s.modality == modality and s.x.size == size
    assert s.metadata["smiles"] == "c1ccccc1" and s.metadata["row"] == 1
    np.testing.assert_array_equal(s.x, ALBERTS_AXES[column])


def test_ms_spectra_are_peaks(alberts_parquet):
    s = next(read_alberts(alberts_parquet(n=1), "ms"))
    assert s.kind == "peaks" and s.metadata["collision_energy"] == 40
    np.testing.assert_array_equal(s.x, [50.0, 75.5])


def test_directory_of_chunks(alberts_parquet, tmp_path):
    alberts_parquet("chunks/a.parquet", n=3)
    alberts_parquet("chunks/b.parquet", n=2)
    data = AlbertsParquet(tmp_path / "chunks")
    assert data.num_rows == 5
    assert data.load_arrays(["smiles"])["smiles"] == ["CCO", "c1ccccc1", "CC(=O)O", "CCO",
                                                      "c1ccccc1"]


def test_bad_input(alberts_parquet, write_file, tmp_path):
    path = alberts_parquet(n=3)
    with pytest.raises(SpectrumFileError, match="choose one with -m/--modality"):
        list(read_alberts(path))
    with pytest.raises(UnknownModalityError):
        list(read_alberts(path, "xray"))
    with pytest.raises(SpectrumFileError, match="no 'raman' spectra"):
        list(read_alberts(path, "raman"))
    raw = path.read_bytes()
    cut = write_file("cut.parquet", raw[: len(raw) // 2])
    with pytest.raises(SpectrumFileError, match="cut.parquet.*truncated or corrupt"):
        AlbertsParquet(cut)
    with pytest.raises(SpectrumFileError, match="nan.parquet.*ir_spectra.*row 1.*NaN"):
        AlbertsParquet(alberts_parquet("nan.parquet", n=2, nan_row=1)).load_arrays()
    with pytest.raises(SpectrumFileError, match="short.parquet.*1799 values, expected 1800"):
        list(read_alberts(alberts_parquet("short.parquet", n=1, ir_length=1799), "ir"))
    import pyarrow as pa
    import pyarrow.parquet as pq
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    with pytest.raises(SpectrumFileError, match="other.parquet.*not an Alberts"):
        AlbertsParquet(other)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(SpectrumFileError, match="no \\*.parquet"):
        AlbertsParquet(tmp_path / "empty_dir")


needs_sample = pytest.mark.skipif(not ALBERTS_SAMPLE.is_file(),
                                  reason=f"{ALBERTS_SAMPLE} not available")


def _window_fraction(matrix: np.ndarray, axis: np.ndarray, lo: float, hi: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Share of each spectrum's intensity in [lo, hi] with the axis and with it mirrored."""
    inside = (axis >= lo) & (axis <= hi)
    total = matrix.sum(axis=1)
    return matrix[:, inside].sum(axis=1) / total, matrix[:, inside[::-1]].sum(axis=1) / total


@needs_sample
def test_shared_sample_shapes_and_axis_directions():
    from rdkit import Chem

    data = AlbertsParquet(ALBERTS_SAMPLE)
    arrays = data.load_arrays()
    assert arrays["ir_spectra"].shape == (100, 1800)
    assert arrays["h_nmr_spectra"].shape == (100, 10000)
    assert arrays["c_nmr_spectra"].shape == (100, 10000)
    mols = [Chem.MolFromSmiles(s) for s in arrays["smiles"]]
    aromatic_h = np.array([any(a.GetIsAromatic() and a.GetTotalNumHs() for a in m.GetAtoms())
                           for m in mols])
    assert 10 < aromatic_h.sum() < 100
    # aromatic protons at 6.5-8.5 ppm and aromatic carbons at 110-160 ppm: the signal must
    # be there with the descending axes, not where the mirrored (ascending) axes put it
    for column, lo, hi in (("h_nmr_spectra", 6.5, 8.5), ("c_nmr_spectra", 110.0, 160.0)):
        frac, mirrored = _window_fraction(arrays[column], ALBERTS_AXES[column], lo, hi)
        assert frac[aromatic_h].mean() > 2.0 * mirrored[aromatic_h].mean()
        assert frac[aromatic_h].mean() > 3.0 * frac[~aromatic_h].mean()
    carbonyl = np.array([m.HasSubstructMatch(Chem.MolFromSmarts("[CX3]=O")) for m in mols])
    frac, mirrored = _window_fraction(arrays["ir_spectra"], ALBERTS_AXES["ir_spectra"],
                                      1650.0, 1800.0)
    assert frac[carbonyl].mean() > 1.2 * frac[~carbonyl].mean()
    assert frac[carbonyl].mean() > 10.0 * mirrored[carbonyl].mean()
    assert len(data.msms("positive", 40)) == 100


@needs_sample
def test_shared_sample_through_the_dispatcher():
    from mspectmol.spectra.readers import read_spectra

    first = next(read_spectra(ALBERTS_SAMPLE, "h_nmr"))
    assert first.metadata["smiles"] == "CC(C)CCNc1ncc(F)cc1C(=O)O"
    # the isopentyl CH3 doublet (6 H) is the strongest 1H signal, near 0.9 ppm
    assert 0.5 < first.x[np.argmax(first.y)] < 1.3
