"""MGF and MSP readers: golden peak lists, metadata, truncation and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers.mgf import read_mgf
from mspectmol.spectra.readers.msp import read_msp

MGF = """COM=generated for a test
BEGIN IONS
TITLE=ethanol-like
PEPMASS=47.049 1000
CHARGE=1+
SMILES=CCO
INCHIKEY=LFQSCWFLJHTTHZ-UHFFFAOYSA-N
IONMODE=positive
COLLISION_ENERGY=40
29.0391 100
31.0184 45.5
END IONS

BEGIN IONS
TITLE=second
PEPMASS=60.5
15 1
END IONS
"""

MSP = """Name: test compound A
Precursor_type: [M+H]+
PrecursorMZ: 181.0707
Ion_mode: P
Collision_energy: 20
Formula: C9H8O4
Comments: "SMILES=CC(=O)Oc1ccccc1C(O)=O" "computed"
Num Peaks: 4
121.0284 100; 139.0390 35.5;
93.0335 12 "annotation"
65.0386\t4.25

NAME: second
PRECURSORMZ: 100
InChIKey: AAAAAAAAAAAAAA-BBBBBBBBBB-N
Num peaks: 1
50 999
"""


def test_mgf_golden(write_file):
    spectra = list(read_mgf(write_file("a.mgf", MGF)))
    assert len(spectra) == 2
    s = spectra[0]
    assert s.modality == "ms" and s.kind == "peaks" and s.x_unit == "m/z"
    np.testing.assert_array_equal(s.x, [29.0391, 31.0184])
    np.testing.assert_array_equal(s.y, [100.0, 45.5])
    m = s.metadata
    assert m["precursor_mz"] == 47.049 and m["precursor_intensity"] == 1000.0
    assert m["charge"] == 1 and m["smiles"] == "CCO" and m["ionmode"] == "positive"
    assert m["inchikey"] == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N" and m["collision_energy"] == "40"
    assert m["title"] == "ethanol-like" and m["record"] == 1
    assert spectra[1].metadata["precursor_mz"] == 60.5


def test_mgf_precursor_mz_and_compound_name_fallbacks(write_file):
    text = "BEGIN IONS\nCOMPOUND_NAME=Dicrotophos\nPRECURSOR_MZ=238.0844\nIONMODE=Positive\n" \
           "112.074 100\nEND IONS\n"
    m = next(read_mgf(write_file("b.mgf", text))).metadata
    assert m["precursor_mz"] == 238.0844 and m["title"] == m["name"] == "Dicrotophos"
    assert m["ionmode"] == "positive"


@pytest.mark.parametrize(("text", "match"), [
    (MGF.replace("31.0184 45.5", "31.0184 abc"), "abc"),
    (MGF.replace("31.0184 45.5", "31.0184 nan"), "record 1.*NaN"),
    (MGF + "BEGIN IONS\nTITLE=cut\n50 1\n", "truncated.*record 3.*END IONS"),
    ("BEGIN IONS\nTITLE=empty\nEND IONS\n", "record 1.*no peaks"),
    ("COM=nothing here\n", "no MGF record"),
])
def test_mgf_bad_input(write_file, text, match):
    with pytest.raises(SpectrumFileError, match=f"bad.mgf.*{match}"):
        list(read_mgf(write_file("bad.mgf", text)))


def test_mgf_modality_conflict_and_binary(write_file):
    with pytest.raises(SpectrumFileError, match="'ms'.*'ir'"):
        list(read_mgf(write_file("a.mgf", MGF), "ir"))
    with pytest.raises(SpectrumFileError, match="b.mgf.*binary"):
        list(read_mgf(write_file("b.mgf", b"BEGIN IONS\n\x00\x01\x02\n")))


def test_msp_golden(write_file):
    spectra = list(read_msp(write_file("lib.msp", MSP)))
    assert len(spectra) == 2
    s = spectra[0]
    np.testing.assert_array_equal(s.x, [121.0284, 139.0390, 93.0335, 65.0386])
    np.testing.assert_array_equal(s.y, [100.0, 35.5, 12.0, 4.25])
    m = s.metadata
    assert m["name"] == m["title"] == "test compound A"
    assert m["precursor_mz"] == 181.0707 and m["adduct"] == "[M+H]+"
    assert m["ionmode"] == "positive" and m["collision_energy"] == "20"
    assert m["smiles"] == "CC(=O)Oc1ccccc1C(O)=O" and m["formula"] == "C9H8O4"
    t = spectra[1]
    assert t.metadata["inchikey"] == "AAAAAAAAAAAAAA-BBBBBBBBBB-N"
    np.testing.assert_array_equal(t.x, [50.0])


def test_msp_records_without_blank_line_between(write_file):
    text = "Name: a\nNum Peaks: 1\n10 1\nName: b\nNum Peaks: 2\n20 2\n30 3\n"
    spectra = list(read_msp(write_file("x.msp", text)))
    assert [s.metadata["name"] for s in spectra] == ["a", "b"]


@pytest.mark.parametrize(("text", "match"), [
    (MSP[: MSP.index("93.0335")], "truncated.*declares 4 peaks but has 2"),
    (MSP.replace("Num Peaks: 4", "Num Peaks: 5"), "declares 5 peaks but has 4"),
    (MSP.replace("139.0390 35.5", "139.0390 x"), "line 9: 'x' is not a number"),
    (MSP.replace("139.0390 35.5", "139.0390 inf"), "line 9.*NaN or infinite"),
    ("Name: a\n10 1\n", "line 2.*neither"),
    ("Name: a\nNum Peaks: many\n", "'Num Peaks: many' is not a number"),
    ("Name: a\nNum Peaks: 0\n\n", "no peaks"),
    ("Name: a\nFormula: C\n", "no 'Num Peaks:' line"),
    ("\n\n# nothing\n", "no MSP record"),
])
def test_msp_bad_input(write_file, text, match):
    with pytest.raises(SpectrumFileError, match=f"bad.msp.*{match}"):
        list(read_msp(write_file("bad.msp", text)))


def test_empty_files(write_file):
    with pytest.raises(SpectrumFileError, match="e.mgf.*empty"):
        list(read_mgf(write_file("e.mgf", "")))
    with pytest.raises(SpectrumFileError, match="e.msp.*empty"):
        list(read_msp(write_file("e.msp", "")))
