"""The MS/MS modalities of the Alberts et al. data: binning one column, merging the energies."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers.alberts_msms import (
    MSMS_MODALITIES,
    msms_bins,
    msms_columns,
    msms_grid,
)

SHARED = Path(os.environ.get("MSPECTMOL_SHARED", Path(__file__).resolve().parents[3] / "shared"))
ALBERTS_SAMPLE = SHARED / "data" / "alberts-example" / "example_data_1.parquet"
GRID = canonical_grid("msms_pos", 600)
SOURCE = Path("chunk.parquet")
PAIRS = pa.list_(pa.list_(pa.float64()))


def test_registry_entries_and_aliases():
    for name, alias in (("msms_pos", "MS/MS+"), ("msms_neg", "msms_negative")):
        mod = get_modality(alias)
        assert mod.name == name and mod.x_unit == "m/z" and mod.x_range == (0.0, 1000.0)
        assert not mod.x_decreasing and mod.peak_list
    assert get_modality("msms").name == "ms"  # the single-spectrum alias is unchanged
    assert GRID[[0, -1]].tolist() == [0.0, 1000.0] and GRID.size == 600
    assert MSMS_MODALITIES == {"msms_pos": "positive", "msms_neg": "negative"}


def test_columns_in_either_spelling():
    assert msms_columns("msms_pos", []) == ["msms_cfmid_positive_10ev",
                                            "msms_cfmid_positive_20ev",
                                            "msms_cfmid_positive_40ev"]
    old = ["msms_negative_10ev", "msms_negative_20ev", "msms_negative_40ev"]
    assert msms_columns("msms_neg", ["smiles", *old]) == old


def test_bins_keep_the_largest_peak_of_each_cell_centred_on_the_grid():
    step = GRID[1] - GRID[0]  # 1000 / 599 m/z
    rows = [[[GRID[30] + 0.4 * step, 20.0], [GRID[30] - 0.4 * step, 70.0], [91.05, 100.0]],
            None, [], [[-0.6 * step, 5.0], [1000.0 + 0.6 * step, 5.0], [1000.0, 3.0]]]
    out = msms_bins(pa.array(rows, PAIRS), GRID, "column x", SOURCE)
    assert out.shape == (4, 600) and out.dtype == np.float32
    assert out[0, 30] == 70.0 and out[0, int(np.argmin(abs(GRID - 91.05)))] == 100.0
    assert np.count_nonzero(out[0]) == 2
    assert not out[1].any() and not out[2].any()      # null and empty rows: no signal
    assert out[3].tolist() == [0.0] * 599 + [3.0]      # outside the first and last cells: dropped
    sliced = msms_bins(pa.array(rows, PAIRS).slice(3), GRID, "column x", SOURCE)
    np.testing.assert_array_equal(sliced, out[3:])


@pytest.mark.parametrize("row", [[[50.0]], [[50.0, 1.0, 2.0]], [[50.0, float("nan")]],
                                 [[50.0, -1.0]]])
def test_bad_pairs_name_the_row(row):
    array = pa.array([[[10.0, 1.0]], row], PAIRS)
    with pytest.raises(SpectrumFileError, match=r"column x, row 1: peaks are not finite"):
        msms_bins(array, GRID, "column x", SOURCE)


def test_energies_are_scaled_to_one_each_and_summed():
    cell = lambda mz: int(np.argmin(abs(GRID - mz)))  # noqa: E731
    e10 = pa.array([[[100.0, 50.0]], []], PAIRS)
    e20 = pa.array([[[100.0, 10.0], [60.0, 5.0]], [[80.0, 7.0]]], PAIRS)
    e40 = pa.array([[[60.0, 100.0]], None], PAIRS)
    out = msms_grid([e10, e20, e40], GRID, "msms_pos", SOURCE)
    assert out[0, cell(100.0)] == pytest.approx(2.0)   # 1 (10 eV) + 1 (20 eV)
    assert out[0, cell(60.0)] == pytest.approx(1.5)    # 0.5 (20 eV) + 1 (40 eV)
    assert np.count_nonzero(out[0]) == 2
    assert out[1, cell(80.0)] == pytest.approx(1.0) and np.count_nonzero(out[1]) == 1


@pytest.mark.skipif(not ALBERTS_SAMPLE.is_file(), reason="shared Alberts example not present")
def test_the_shared_example_bins_every_positive_peak():
    columns = msms_columns("msms_pos", pq.read_schema(ALBERTS_SAMPLE).names)
    table = pq.read_table(ALBERTS_SAMPLE, columns=columns)
    merged = msms_grid([table.column(c).combine_chunks() for c in columns], GRID, "msms_pos",
                       ALBERTS_SAMPLE)
    assert merged.shape == (100, 600) and (merged.max(axis=1) > 0).all()
    assert merged.max() <= 3.0 + 1e-6
    peaks = table.column(columns[2]).to_pylist()
    for i in (0, 50, 99):  # every 40 eV peak lands in the cell of its m/z
        for mz, _ in peaks[i]:
            assert merged[i, int(np.floor(mz / (GRID[1] - GRID[0]) + 0.5))] > 0
