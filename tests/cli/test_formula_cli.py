"""``mspectmol formula`` through ``main()``: files, a bare m/z, JSON output and bad input."""

from __future__ import annotations

import json

from mspectmol.cli.main import main

MGF = """BEGIN IONS
TITLE=fluoropyridine acid
PEPMASS=227.11903
CHARGE=1+
157.04078 62.43
227.11903 100.0
END IONS
"""


def test_formula_of_an_mgf_precursor_as_json(tmp_path, capsys):
    path = tmp_path / "a.mgf"
    path.write_text(MGF)
    out = tmp_path / "f.json"
    assert main(["formula", str(path), "--format", "json", "-o", str(out), "--top", "3"]) == 0
    result = json.loads(out.read_text())
    assert result["candidates"][0]["formula"] == "C11H15FN2O2"
    assert result["adduct"] == "[M+H]+" and result["isotopes"] is None
    assert any("assumed [M+H]+" in n for n in result["notes"])


def test_formula_of_an_ei_spectrum_says_what_it_assumed(tmp_path, capsys):
    path = tmp_path / "chlorobenzene.csv"
    path.write_text("m/z,intensity\n51,10\n77,60\n112,100\n113,6.6\n114,32.4\n115,2.1\n")
    assert main(["formula", str(path), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "C6H5Cl" in text.splitlines()[4]  # header, 2 notes, column titles, rank 1
    assert "molecular ion" in text and "nominal-mass" in text


def test_formula_of_an_mz_with_isotopes(capsys):
    assert main(["formula", "--mz", "227.11903", "--isotopes", "0.1289,0.0118",
                 "--adduct", "M+H", "--top", "1"]) == 0
    assert "C11H15FN2O2" in capsys.readouterr().out


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["formula"]) == 2
    assert main(["formula", "--mz", "227.1", "--adduct", "[M+Xe]+"]) == 2
    assert main(["formula", "--mz", "227.1", "--elements", "CHNa"]) == 2
    err = capsys.readouterr().err
    assert "give a mass spectrum file or --mz" in err and "unknown adduct" in err
    assert "unsupported element" in err
