"""Writers: CSV, parquet and JCAMP-DX files that the readers read back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mspectmol.errors import SpectrumError, UnitError
from mspectmol.spectra.readers import read_grid_parquet, read_spectra, read_spectrum
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_csv, write_jcamp, write_parquet

X = np.linspace(400.0, 4000.0, 7)
Y = np.array([[0.0, 0.125, 1.0, 0.5, 0.25, 0.0625, 0.0],
              [1.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5]])


def test_csv_single_spectrum_round_trip(tmp_path):
    path = write_csv(tmp_path / "one.csv", X, Y[1], "ir", names=["sample A"],
                     y_unit="absorbance")
    lines = path.read_text().splitlines()
    assert "x_cm-1,y_absorbance" in lines
    s = read_spectrum(path)
    assert s.modality == "ir" and s.y_unit == "absorbance" and s.metadata["title"] == "sample A"
    np.testing.assert_array_equal(s.x, X)
    np.testing.assert_array_equal(s.y, Y[1])


def test_csv_wide_round_trip_with_float32_and_commas_in_names(tmp_path):
    rows = (Y / 3).astype(np.float32)
    path = write_csv(tmp_path / "wide.csv", X, rows, "raman", names=["a, b", "c"])
    spectra = list(read_spectra(path))
    assert [s.metadata["title"] for s in spectra] == ["a, b", "c"]
    assert all(s.modality == "raman" for s in spectra)
    np.testing.assert_array_equal(np.array([s.y for s in spectra], np.float32), rows)


def test_parquet_round_trip(tmp_path):
    path = write_parquet(tmp_path / "g.parquet", X, Y, "ir", names=["a", "b"],
                         metadata={"n_points": 7}, dtype="float64")
    table = read_grid_parquet(path)
    assert table.modality == "ir" and table.names == ["a", "b"]
    assert table.metadata == {"n_points": 7} and table.x_unit == "cm-1"
    np.testing.assert_array_equal(table.x, X)
    np.testing.assert_array_equal(table.Y, Y)
    spectra = list(read_spectra(path))
    assert [s.metadata["title"] for s in spectra] == ["a", "b"]
    np.testing.assert_array_equal(spectra[1].y, Y[1])
    import pyarrow.parquet as pq
    info = json.loads(pq.read_schema(path).metadata[b"mspectmol"])
    assert info["x"] == X.tolist() and info["modality"] == "ir"


def test_parquet_float32_default(tmp_path):
    table = read_grid_parquet(write_parquet(tmp_path / "f.parquet", X, Y, "ir"))
    assert table.Y.dtype == np.float32 and table.names == ["spectrum_1", "spectrum_2"]
    np.testing.assert_array_equal(table.Y, Y.astype(np.float32))


@pytest.mark.parametrize("kind", ["profile", "uneven", "peaks"])
def test_jcamp_round_trip_exact(tmp_path, kind):
    if kind == "peaks":
        s = Spectrum([15.0, 29.5, 46.0], [12.5, 999.0, 0.001], "ms",
                     metadata={"title": "ms test", "smiles": "CCO", "formula": "C2H6O"})
    elif kind == "uneven":
        s = Spectrum([400.0, 401.0, 405.5], [1e-5, 0.5, -0.25], "ir", y_unit="absorbance")
    else:
        s = Spectrum(np.linspace(10.0, -2.0, 250), np.sin(np.arange(250.0)) * 1e3, "h_nmr",
                     metadata={"observe_mhz": 400.13, "title": "nmr test"})
    back = read_spectrum(write_jcamp(tmp_path / f"{kind}.jdx", s))
    assert back.modality == s.modality and back.kind == s.kind
    assert back.x_unit == s.x_unit and back.y_unit == s.y_unit
    np.testing.assert_array_equal(back.y, s.y)
    np.testing.assert_allclose(back.x, s.x, rtol=0, atol=1e-12)
    for key in ("title", "smiles", "formula", "observe_mhz"):
        if key in s.metadata:
            assert back.metadata[key] == s.metadata[key]
    assert max(len(line) for line in (tmp_path / f"{kind}.jdx").read_text().splitlines()) <= 80


def test_jcamp_transmittance_and_hz(tmp_path):
    s = Spectrum([4000.0, 0.0], [1.0, 2.0], "c_nmr", x_unit="Hz",
                 metadata={"observe_mhz": 100.0})
    assert read_spectrum(write_jcamp(tmp_path / "c.jdx", s)).metadata["observe_mhz"] == 100.0
    t = Spectrum([400.0, 500.0], [50.0, 100.0], "ir", y_unit="%T")
    assert read_spectrum(write_jcamp(tmp_path / "t.jdx", t)).y_unit == "%T"
    bad = Spectrum([4000.0, 0.0], [1.0, 2.0], "c_nmr", x_unit="Hz")
    with pytest.raises(UnitError, match="observe_mhz"):
        write_jcamp(tmp_path / "bad.jdx", bad)
    odd = Spectrum([1.0, 2.0], [1.0, 2.0], "ir", y_unit="furlongs")
    with pytest.raises(UnitError, match="furlongs"):
        write_jcamp(tmp_path / "odd.jdx", odd)


@pytest.mark.parametrize(("x", "y", "names", "match"), [
    (X, Y[:, :5], None, "do not match a grid of 7"),
    (X, np.where(Y > 0.9, np.nan, Y), None, "NaN or infinite"),
    (X[::-1].copy()[[0, 2, 1, 3, 4, 5, 6]], Y, None, "strictly increasing or decreasing"),
    (X, Y, ["only one"], "1 names for 2 spectra"),
    (X[:1], Y[:, :1], None, "at least 2 points"),
    (X, np.array([["a"] * 7]), None, "numeric"),
])
def test_writer_bad_input(tmp_path, x, y, names, match):
    for writer, name in ((write_csv, "o.csv"), (write_parquet, "o.parquet")):
        with pytest.raises(SpectrumError, match=f"{name}.*{match}"):
            writer(tmp_path / name, x, y, "ir", names=names)


def test_writer_units_and_metadata_errors(tmp_path):
    with pytest.raises(UnitError, match="bananas"):
        write_csv(tmp_path / "u.csv", X, Y, "ir", y_unit="bananas")
    with pytest.raises(SpectrumError, match="JSON"):
        write_parquet(tmp_path / "m.parquet", X, Y, "ir", metadata={"bad": object()})
    with pytest.raises(SpectrumError, match="dtype"):
        write_parquet(tmp_path / "d.parquet", X, Y, "ir", dtype="int8")


def test_grid_parquet_bad_input(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mspectmol.errors import SpectrumFileError

    path = write_parquet(tmp_path / "g.parquet", X, Y, "ir")
    raw = path.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(raw[: len(raw) - 40])
    with pytest.raises(SpectrumFileError, match="cut.parquet.*truncated or corrupt"):
        read_grid_parquet(cut)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"name": ["a"]}), plain)
    with pytest.raises(SpectrumFileError, match="plain.parquet.*no 'mspectmol'"):
        read_grid_parquet(plain)
    broken = tmp_path / "broken.parquet"
    pq.write_table(pa.table({"name": ["a"]}).replace_schema_metadata({b"mspectmol": b"{"}),
                   broken)
    with pytest.raises(SpectrumFileError, match="broken.parquet.*malformed"):
        read_grid_parquet(broken)
