"""JCAMP-DX reader: golden values, compressed data, compound files, NMR and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError, UnitError, UnknownModalityError
from mspectmol.spectra.readers.asdf import decode_line, is_compressed
from mspectmol.spectra.readers.jcamp import read_jcamp
from mspectmol.spectra.units import to_canonical


def _one(path, modality=None):
    spectra = list(read_jcamp(path, modality))
    assert len(spectra) == 1
    return spectra[0]


def test_affn_xydata_golden_values_with_factors(write_file, jcamp):
    x = [400.0, 402.0, 404.0, 406.0]
    y = [0.25, 0.5, 0.75, 1.0]
    path = write_file("ir.jdx", jcamp(x=x, y=y, xfactor=2.0, yfactor=0.25,
                                      yunits="TRANSMITTANCE", extra=["##$SMILES=CCO",
                                                                     "##MOLFORM=C2H6O"]))
    s = _one(path)
    assert s.modality == "ir" and s.kind == "profile"
    assert s.x_unit == "cm-1" and s.y_unit == "transmittance"
    np.testing.assert_array_equal(s.x, x)
    np.testing.assert_array_equal(s.y, y)
    assert s.metadata["title"] == "test spectrum"
    assert s.metadata["smiles"] == "CCO" and s.metadata["formula"] == "C2H6O"
    assert s.metadata["original_x_unit"] == "1/CM"
    assert s.metadata["source"] == str(path)
    canon = to_canonical(s)
    np.testing.assert_allclose(canon.y, -np.log10(y))


def test_xfactor_scales_peak_table_abscissae(write_file, jcamp):
    path = write_file("ms.jdx", jcamp(x=[15.0, 29.0, 31.0], y=[10.0, 999.0, 120.0],
                                      table="peaks", data_type="MASS SPECTRUM", xunits="M/Z",
                                      yunits="RELATIVE ABUNDANCE", xfactor=0.5, yfactor=2.0))
    s = _one(path)
    assert s.modality == "ms" and s.kind == "peaks" and s.y_unit == "relative"
    np.testing.assert_array_equal(s.x, [15.0, 29.0, 31.0])
    np.testing.assert_array_equal(s.y, [10.0, 999.0, 120.0])


def test_difdup_compressed_data_decodes_exactly(write_file, jcamp, difdup):
    ys = [100, 101, 102, 102, 102, 90, -5, -5, -5, -5, -5, -5, -5, -5, -5, -5, -5, 0, 1234, 7]
    xs = [400.0 + 2 * i for i in range(len(ys))]
    lines = difdup(xs, ys, per_line=5)
    assert any(is_compressed(line) for line in lines)
    path = write_file("c.jdx", jcamp(x=xs, y=ys, data_lines=lines, yfactor=0.5))
    s = _one(path)
    np.testing.assert_array_equal(s.x, xs)
    np.testing.assert_array_equal(s.y, np.array(ys) * 0.5)


@pytest.mark.parametrize(("line", "expected"), [
    ("100 A0JT%J", [100, 10, 11, 12, 12, 13]),
    ("100 A0JTB", [100, 10, 11, 12, 2]),   # DIF followed by SQZ (mis-read by jcamp 1.3)
    ("100 A0J B", [100, 10, 11, 2]),       # DIF followed by a space
    ("5@S3", [5] + [0] * 13),              # DUP after SQZ, two-digit count
    ("1 a2k", [1, -12, -14]),
])
def test_asdf_line_golden(line, expected):
    values, _ = decode_line(line)
    assert values == expected


def test_yfactor_and_xydata_on_nmr_in_hz_converts_to_ppm(write_file, jcamp):
    x = [4000.0, 2000.0, 0.0]
    path = write_file("h.jdx", jcamp(x=x, y=[1, 5, 2], data_type="NMR SPECTRUM",
                                     xunits="HZ", yunits="ARBITRARY UNITS",
                                     extra=["##.OBSERVE FREQUENCY=400.0",
                                            "##.OBSERVE NUCLEUS=^1H"]))
    s = _one(path)
    assert s.modality == "h_nmr" and s.x_unit == "Hz"
    assert s.metadata["observe_mhz"] == 400.0
    np.testing.assert_allclose(to_canonical(s).x, [0.0, 5.0, 10.0])


def test_shift_reference_references_the_hz_axis(write_file, jcamp):
    path = write_file("h.jdx", jcamp(x=[4000.0, 2000.0, 0.0], y=[1, 5, 2],
                                     data_type="NMR SPECTRUM", xunits="HZ",
                                     extra=["##.OBSERVE FREQUENCY=400.0",
                                            "##.OBSERVE NUCLEUS=^1H",
                                            "##.SHIFT REFERENCE=INTERNAL, CDCl3, 3, 1.0"]))
    s = _one(path)
    assert s.metadata["shift_offset"] == 400.0
    np.testing.assert_allclose(to_canonical(s).x, [1.0, 6.0, 11.0])


def test_nmr_ppm_13c(write_file, jcamp):
    path = write_file("c13.jdx", jcamp(x=[200.0, 100.0, 0.0], y=[1, 2, 3],
                                       data_type="NMR SPECTRUM", xunits="PPM",
                                       yunits="ARBITRARY UNITS",
                                       extra=["##.OBSERVE NUCLEUS=^13C"]))
    assert _one(path).modality == "c_nmr"


def test_nmr_hz_without_observe_frequency_is_a_unit_error(write_file, jcamp):
    path = write_file("h.jdx", jcamp(x=[4000.0, 0.0], y=[1, 2], data_type="NMR SPECTRUM",
                                     xunits="HZ", extra=["##.OBSERVE NUCLEUS=^1H"]))
    with pytest.raises(UnitError, match="h.jdx.*frequency"):
        _one(path)


def test_ntuples_nmr_via_nmrglue(write_file):
    text = "\n".join([
        "##TITLE=ntuples test", "##JCAMP-DX=5.00", "##DATA TYPE=NMR SPECTRUM",
        "##DATA CLASS=NTUPLES", "##.OBSERVE FREQUENCY=100.0", "##.OBSERVE NUCLEUS=^13C",
        "##NTUPLES=NMR SPECTRUM",
        "##VAR_NAME=FREQUENCY, SPECTRUM/REAL, SPECTRUM/IMAG, PAGE NUMBER",
        "##SYMBOL=X, R, I, N", "##VAR_TYPE=INDEPENDENT, DEPENDENT, DEPENDENT, PAGE",
        "##VAR_FORM=AFFN, ASDF, ASDF, AFFN", "##VAR_DIM=4, 4, 4, 2",
        "##UNITS=HZ, ARBITRARY UNITS, ARBITRARY UNITS,", "##FIRST=20000.0, 1, 0, 1",
        "##LAST=5000.0, 4, 0, 2", "##FACTOR=1, 0.5, 0.5, 1",
        "##PAGE=N=1", "##DATA TABLE=(X++(R..R)), XYDATA", "20000 2 4", "10000 6 8",
        "##PAGE=N=2", "##DATA TABLE=(X++(I..I)), XYDATA", "20000 0 0", "10000 0 0",
        "##END NTUPLES=NMR SPECTRUM", "##END="]) + "\n"
    s = _one(write_file("nt.jdx", text))
    assert s.modality == "c_nmr" and s.x_unit == "Hz" and s.metadata["observe_mhz"] == 100.0
    np.testing.assert_array_equal(s.y, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(to_canonical(s).x, [50.0, 100.0, 150.0, 200.0])


def test_compound_link_file_yields_each_block(write_file, jcamp):
    ir = jcamp(title="ir block", x=[400.0, 500.0], y=[1, 2])
    ms = jcamp(title="ms block", x=[28.0, 44.0], y=[50, 100], table="peaks",
               data_type="MASS SPECTRUM", xunits="M/Z", yunits="RELATIVE ABUNDANCE")
    text = ("##TITLE=compound\n##JCAMP-DX=4.24\n##DATA TYPE=LINK\n##BLOCKS=2\n"
            "##MOLFORM=CO2\n" + ir + ms + "##END=\n")
    spectra = list(read_jcamp(write_file("link.jdx", text)))
    assert [s.modality for s in spectra] == ["ir", "ms"]
    assert [s.metadata["block"] for s in spectra] == [1, 2]
    assert spectra[1].metadata["compound_title"] == "compound"
    assert spectra[0].metadata["formula"] == "CO2"
    np.testing.assert_array_equal(spectra[1].y, [50, 100])


def test_modality_argument_confirms_or_conflicts(write_file, jcamp):
    path = write_file("ir.jdx", jcamp())
    assert _one(path, "ir").modality == "ir"
    with pytest.raises(SpectrumFileError, match="ir.jdx.*'ir'.*'raman'"):
        _one(path, "raman")
    with pytest.raises(UnknownModalityError):
        _one(path, "nonsense")


def test_missing_data_type_uses_modality_argument(write_file, jcamp):
    path = write_file("x.jdx", jcamp(data_type=""))
    with pytest.raises(SpectrumFileError, match="pass -m/--modality"):
        _one(path)
    assert _one(path, "raman").modality == "raman"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"xunits": "FURLONGS"}, UnitError, "x.jdx.*FURLONGS"),
    ({"yunits": "FURLONGS PER FORTNIGHT"}, UnitError, "x.jdx.*FURLONGS PER"),
    ({"data_type": "NEUTRON SPECTRUM"}, UnknownModalityError, "x.jdx.*NEUTRON"),
    ({"data_type": "NMR SPECTRUM", "xunits": "PPM", "extra": ["##.OBSERVE NUCLEUS=^19F"]},
     UnknownModalityError, "x.jdx.*19F"),
    ({"data_type": "NMR FID"}, SpectrumFileError, "x.jdx.*FID"),
    ({"data_type": "nD NMR SPECTRUM"}, SpectrumFileError, "x.jdx.*multidimensional"),
    ({"extra": ["##NUMDIM=2"]}, SpectrumFileError, "x.jdx.*NUMDIM=2"),
    ({"y": (1, float("nan"), 3)}, SpectrumFileError, "x.jdx.*NaN"),
    ({"data_lines": ["400 1 ? 3"]}, SpectrumFileError, r"x.jdx.*missing values \('\?'\)"),
    ({"data_lines": ["400 1 inf 3"]}, SpectrumFileError, "x.jdx.*NaN or infinite"),
    ({"data_lines": ["400 1 2 x!"]}, SpectrumFileError, "x.jdx.*line 14.*not numbers"),
    ({"data_lines": ["400 A0J!"]}, SpectrumFileError, "x.jdx.*line 14.*'!'"),
    ({"data_lines": ["400 1 2 abc"]}, SpectrumFileError, "x.jdx.*5 values.*NPOINTS=3"),
    ({"npoints": 5}, SpectrumFileError, "x.jdx.*NPOINTS=5"),
    ({"x": [400.0], "y": [1.0]}, SpectrumFileError, "x.jdx.*at least 2 points"),
    ({"end": False}, SpectrumFileError, "x.jdx.*truncated"),
])
def test_bad_input_names_the_file_and_problem(write_file, jcamp, kwargs, error, match):
    path = write_file("x.jdx", jcamp(**kwargs))
    with pytest.raises(error, match=match):
        _one(path)


def test_corrupt_compressed_data_fails_the_y_check(write_file, jcamp, difdup):
    ys = list(range(10, 22))
    lines = difdup([400.0 + i for i in range(12)], ys, per_line=4)
    lines[1] = "403D0" + lines[1][4:]  # wrong check value (40 instead of 13)
    path = write_file("x.jdx", jcamp(x=[400.0, 411.0], y=ys, data_lines=lines))
    with pytest.raises(SpectrumFileError, match="x.jdx.*Y-check"):
        _one(path)


def test_truncated_mid_data_and_empty_and_binary(write_file, jcamp):
    text = jcamp(x=[400.0 + i for i in range(40)], y=list(range(40)))
    with pytest.raises(SpectrumFileError, match="cut.jdx.*truncated"):
        _one(write_file("cut.jdx", text[: len(text) // 2]))
    with pytest.raises(SpectrumFileError, match="empty.jdx.*empty"):
        _one(write_file("empty.jdx", ""))
    junk = bytes(np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8))
    with pytest.raises(SpectrumFileError, match="junk.jdx.*binary"):
        _one(write_file("junk.jdx", junk))
    with pytest.raises(SpectrumFileError, match="mixed.jdx.*binary.*line"):
        _one(write_file("mixed.jdx", text.encode()[:300] + b"\x00\x01\x02" + b"\n##END=\n"))
    with pytest.raises(SpectrumFileError, match="missing.jdx.*not found"):
        _one(write_file("a.jdx", "x").parent / "missing.jdx")


def test_text_outside_blocks_and_block_without_data(write_file):
    with pytest.raises(SpectrumFileError, match="outside a JCAMP-DX block"):
        _one(write_file("a.jdx", "hello\n##TITLE=x\n##END=\n"))
    with pytest.raises(SpectrumFileError, match="no data table"):
        _one(write_file("b.jdx", "##TITLE=x\n##XUNITS=1/CM\n##END=\n"))


def test_comments_are_ignored(write_file, jcamp):
    text = jcamp(x=[400.0, 402.0], y=[3, 4]).replace("400 3", "400 3 $$ first point")
    s = _one(write_file("c.jdx", "$$ generated for a test\n" + text))
    np.testing.assert_array_equal(s.y, [3, 4])
