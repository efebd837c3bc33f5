"""QM9S broadened-spectra CSV reader on small generated files."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.qm9s import QM9S_AXES, read_qm9s, read_qm9s_matrix


def test_axes():
    assert QM9S_AXES["ir"].size == 3501 and QM9S_AXES["ir"][[0, -1]].tolist() == [500, 4000]
    assert QM9S_AXES["uv"].size == 701 and QM9S_AXES["uv"][1] == pytest.approx(1.02)


def test_matrix_golden(qm9s_csv):
    index, x, Y = read_qm9s_matrix(qm9s_csv(rows=3))
    assert index.tolist() == [10, 11, 12]
    np.testing.assert_array_equal(x, QM9S_AXES["ir"])
    assert Y.shape == (3, 3501) and Y.dtype == np.float32
    assert Y[2, 2] == 3.0 and Y[2, 3] == 0.5 and Y[0, 0] == 1.0
    index, _, Y = read_qm9s_matrix(qm9s_csv(rows=3), max_rows=2)
    assert index.tolist() == [10, 11] and Y.shape == (2, 3501)


def test_uv_and_modality_from_name_or_argument(qm9s_csv):
    index, x, Y = read_qm9s_matrix(qm9s_csv("uv_broaden.csv", n_points=701))
    assert Y.shape == (2, 701) and x[-1] == 15.0
    path = qm9s_csv("spectra.csv", rows=1)
    with pytest.raises(SpectrumFileError, match="spectra.csv.*pass -m/--modality"):
        read_qm9s_matrix(path)
    assert read_qm9s_matrix(path, "raman")[2].shape == (1, 3501)
    with pytest.raises(SpectrumFileError, match="'raman'.*'ir'"):
        read_qm9s_matrix(qm9s_csv("raman_boraden.csv"), "ir")


def test_headerless_file_uses_the_qm9s_grid(qm9s_csv):
    index, x, _ = read_qm9s_matrix(qm9s_csv(header=False))
    assert index.tolist() == [10, 11]
    np.testing.assert_array_equal(x, QM9S_AXES["ir"])


def test_spectra_record_coverage(qm9s_csv):
    spectra = list(read_qm9s(qm9s_csv(rows=2)))
    assert [s.metadata["index"] for s in spectra] == [10, 11]
    s = spectra[1]
    assert s.modality == "ir" and s.x_unit == "cm-1" and s.y[1] == 2.0
    assert s.metadata["x_range"] == (500.0, 4000.0)
    assert s.metadata["covers_canonical_range"] is False
    uv = next(read_qm9s(qm9s_csv("uv_boraden.csv", n_points=701)))
    assert uv.modality == "uv" and uv.metadata["covers_canonical_range"] is True


def _drop_last_cell(lines):
    lines[2] = lines[2][:-1]


def _bad_cell(lines):
    lines[1][7] = "abc"


def _nan_cell(lines):
    lines[2][9] = "nan"


def _bad_index(lines):
    lines[1][0] = "1.5"


def _short_header(lines):
    lines[0] = lines[0][:100]


@pytest.mark.parametrize(("edit", "match"), [
    (_drop_last_cell, "line 3: 3501 columns, expected 3502"),
    (_bad_cell, "line 2, column 8: 'abc' is not a number"),
    (_nan_cell, "line 3, column 10: NaN"),
    (_bad_index, "line 2: molecule index '1.5'"),
    (_short_header, "header row: 100 columns, expected 3502"),
])
def test_bad_rows_name_the_file_and_line(qm9s_csv, edit, match):
    with pytest.raises(SpectrumFileError, match=f"ir_boraden.csv.*{match}"):
        read_qm9s_matrix(qm9s_csv(edit=edit))


def test_empty_and_header_only(qm9s_csv, write_file):
    with pytest.raises(SpectrumFileError, match="empty"):
        read_qm9s_matrix(write_file("ir_boraden.csv", ""))
    with pytest.raises(SpectrumFileError, match="no data rows"):
        read_qm9s_matrix(qm9s_csv(rows=0))
