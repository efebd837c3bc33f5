"""Delimited text reader: headers with units, delimiters, wide layout and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError, UnitError, UnknownModalityError
from mspectmol.spectra.readers.delimited import read_delimited


def _one(path, modality=None):
    spectra = list(read_delimited(path, modality))
    assert len(spectra) == 1
    return spectra[0]


def test_header_with_units_golden(write_file):
    text = "# title: test sample\n# smiles: CCO\nwavenumber (cm-1),transmittance (%)\n" \
           "400,50\n402.5,25.5\n405,100\n"
    s = _one(write_file("ir.csv", text), "ir")
    assert s.modality == "ir" and s.x_unit == "cm-1" and s.y_unit == "%T"
    np.testing.assert_array_equal(s.x, [400.0, 402.5, 405.0])
    np.testing.assert_array_equal(s.y, [50.0, 25.5, 100.0])
    assert s.metadata["title"] == "test sample" and s.metadata["smiles"] == "CCO"
    assert s.metadata["original_x_unit"] == "wavenumber (cm-1)"


@pytest.mark.parametrize(("text", "modality", "x_unit", "y_unit"), [
    ("ppm\tintensity\n1.5\t2\n3\t4\n", "h_nmr", "ppm", "arbitrary"),
    ("m/z;intensity\n10,5;3\n20;4\n", None, "m/z", "arbitrary"),
    ("Raman shift [cm-1] counts\n500 1\n600 2\n", None, "cm-1", "counts"),
    ("wavelength (nm) absorbance\n200 0.1\n300 0.2\n", "uv", "nm", "absorbance"),
    ("x_eV,y_absorbance\n1,0.5\n2,0.25\n", None, "eV", "absorbance"),
    ("1H shift (ppm),intensity\n1,2\n3,4\n", None, "ppm", "arbitrary"),
])
def test_delimiters_and_unit_headers(write_file, text, modality, x_unit, y_unit):
    s = _one(write_file("s.txt", text), modality)
    assert s.x_unit == x_unit and s.y_unit == y_unit
    assert s.x.size == 2


def test_semicolon_with_decimal_comma(write_file):
    s = _one(write_file("ms.csv", "m/z;intensity\n10,5;3\n20;4,25\n"))
    assert s.modality == "ms" and s.kind == "peaks"
    np.testing.assert_array_equal(s.x, [10.5, 20.0])
    np.testing.assert_array_equal(s.y, [3.0, 4.25])


def test_headerless_needs_modality_and_gets_canonical_unit(write_file):
    path = write_file("plain.txt", "1 2\n3 4\n")
    with pytest.raises(SpectrumFileError, match="plain.txt.*pass -m/--modality"):
        _one(path)
    s = _one(path, "uv")
    assert s.x_unit == "eV" and s.y_unit == "arbitrary"
    np.testing.assert_array_equal(s.y, [2.0, 4.0])


def test_ambiguous_unit_needs_modality(write_file):
    path = write_file("a.csv", "wavenumber (cm-1),intensity\n400,1\n500,2\n")
    with pytest.raises(SpectrumFileError, match="ir or raman"):
        _one(path)
    assert _one(path, "raman").modality == "raman"


def test_cm1_axis_with_absorbance_or_transmittance_is_ir(write_file):
    for column in ("absorbance", "%T", "T%", "Transmittance [%]", "Absorbance [-]"):
        path = write_file("a.csv", f"Wavenumber [cm-1],{column}\n400,1\n500,2\n")
        s = _one(path)
        assert s.modality == "ir"
        assert any("read as IR" in g for g in s.metadata["guesses"])
    s = _one(write_file("t.csv", "cm-1\tT%\n400\t90\n500\t40\n"))
    assert s.modality == "ir" and s.y_unit == "%T"


def test_comment_modality_and_conflict(write_file):
    path = write_file("c.csv", "# modality: raman\ncm-1,intensity\n400,1\n500,2\n")
    assert _one(path).modality == "raman"
    with pytest.raises(SpectrumFileError, match="c.csv.*'raman'.*'ir'"):
        _one(path, "ir")
    with pytest.raises(UnknownModalityError, match="d.csv.*xray"):
        _one(write_file("d.csv", "# modality: xray\n1,2\n3,4\n"))


def test_several_intensity_columns_give_several_spectra(write_file):
    spectra = list(read_delimited(write_file("m.csv", "ppm,a,b\n1,2,3\n4,5,6\n"), "c_nmr"))
    assert [s.metadata["column"] for s in spectra] == ["a", "b"]
    np.testing.assert_array_equal(spectra[1].y, [3.0, 6.0])


def test_wide_layout_with_quoted_names(write_file):
    text = '# x_unit: cm-1\nname,modality,400,500,600\n"benzene, 1,2-dimethyl-",ir,1,2,3\n' \
           "b,ir,4,5,6\n"
    spectra = list(read_delimited(write_file("w.csv", text)))
    assert [s.metadata["title"] for s in spectra] == ["benzene, 1,2-dimethyl-", "b"]
    np.testing.assert_array_equal(spectra[0].x, [400.0, 500.0, 600.0])
    np.testing.assert_array_equal(spectra[1].y, [4.0, 5.0, 6.0])


def test_nmr_hz_with_observe_comment(write_file):
    s = _one(write_file("h.csv", "# observe_mhz: 500\nHz,intensity\n500,1\n1000,2\n"), "h_nmr")
    assert s.metadata["observe_mhz"] == 500.0 and s.x_unit == "Hz"


@pytest.mark.parametrize(("text", "error", "match"), [
    ("ppm,intensity\n1,2\n3,abc\n", SpectrumFileError, r"line 3, column 2: 'abc' is not"),
    ("ppm,intensity\n1,2\n3,nan\n", SpectrumFileError, r"line 3, column 2.*NaN"),
    ("ppm,intensity\n1,2\n3,inf\n", SpectrumFileError, r"line 3.*NaN or infinite"),
    ("ppm,intensity\n1,2\n3,4,5\n", SpectrumFileError, r"line 3: 3 columns"),
    ("ppm,intensity\n", SpectrumFileError, r"no data rows"),
    ("# only a comment\n\n", SpectrumFileError, r"no data rows"),
    ("furlongs,intensity\n1,2\n3,4\n", UnitError, r"x unit from the header 'furlongs'"),
    ("shift (furlongs),intensity\n1,2\n3,4\n", UnitError, r"furlongs"),
    ("ppm,intensity (bananas)\n1,2\n3,4\n", UnitError, r"bananas"),
    ("m/z,intensity\n1,2\n3,4\n", SpectrumFileError, r"holds a 'ms' spectrum but .*'h_nmr'"),
    ("Hz,intensity\n1,2\n3,4\n", UnitError, r"observe frequency"),
])
def test_bad_input(write_file, text, error, match):
    path = write_file("bad.csv", text)
    with pytest.raises(error, match=f"bad.csv.*{match}"):
        _one(path, "h_nmr")


def test_empty_and_binary_files(write_file):
    with pytest.raises(SpectrumFileError, match="e.csv.*empty"):
        _one(write_file("e.csv", ""))
    with pytest.raises(SpectrumFileError, match="b.csv.*binary.*line 2"):
        _one(write_file("b.csv", b"ppm,intensity\n\x00\x01\x02\x03\n"), "h_nmr")
