"""A sample's mass spectrum in the prediction reports: the peaks a structure explains (golden
aspirin fragments), the formulas and explained peaks as JSON and text, the HTML section."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from mspectmol.chem.formula import formula_mass
from mspectmol.chem.formula.composition import ELECTRON_MASS
from mspectmol.chem.fragments import explain_peaks, explained_intensity, fragment_table
from mspectmol.errors import MspectmolError
from mspectmol.predict.mass import MassOptions, mass_report, parse_ms_elements
from mspectmol.predict.mass_html import mass_section, peaks_svg

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
PRECURSOR = 181.0495  # [M+H]+ of C9H8O4
#: m/z, intensity: the protonated aspirin's MS/MS (acetyl loss, then water), a stray peak,
#: the precursor and a small ion below the scored range.
PEAKS = [(30.0, 3.0), (93.0335, 12.0), (121.0284, 100.0), (139.0390, 45.0), (150.0, 5.0),
         (163.0390, 30.0), (181.0495, 20.0)]
MGF = ("BEGIN IONS\nTITLE=aspirin\nPEPMASS=181.0495\nCHARGE=1+\n"
       + "".join(f"{m} {y}\n" for m, y in PEAKS) + "END IONS\n")


@pytest.fixture
def mgf(tmp_path):
    path = tmp_path / "aspirin_ms.mgf"
    path.write_text(MGF)
    return path


def test_aspirin_fragments_explain_its_msms_peaks():
    mz, intensity = zip(*PEAKS, strict=True)
    result = explain_peaks(ASPIRIN, mz, intensity, precursor_mz=PRECURSOR)
    by_mz = {round(p.mz, 4): p for p in result.peaks}
    golden = {121.0284: ("C7H5O2+", 1, 0), 139.0390: ("C7H7O3+", 1, 2),
              163.0390: ("C9H7O3+", 1, 0)}
    for m, (formula, cuts, shift) in golden.items():
        p = by_mz[m]
        assert (p.status, p.formula, p.cuts, p.h_shift) == ("explained", formula, cuts, shift)
        assert abs(p.error_ppm) < 1.0 and p.fragment_mz == pytest.approx(m, abs=2e-4)
    # 121: the salicyl part without the ester oxygen (atoms 4-12 of the SMILES)
    assert by_mz[121.0284].atoms == tuple(range(4, 13))
    assert by_mz[93.0335].formula == "C6H5O+" and by_mz[93.0335].cuts == 2
    assert [by_mz[m].status for m in (30.0, 150.0, 181.0495)] == ["below range", "unexplained",
                                                                 "precursor"]
    assert result.scored == 5 and result.n_explained == 4
    # the same share as the ranking term of mspectmol elucidate
    assert result.explained == pytest.approx(explained_intensity(
        fragment_table(ASPIRIN), mz, intensity, precursor_mz=PRECURSOR))
    assert 0.8 < result.explained < 1.0


def test_negative_ions_are_explained_with_their_charge():
    deprotonated = formula_mass({"C": 9, "H": 7, "O": 4}) + ELECTRON_MASS
    salicylate = formula_mass({"C": 7, "H": 5, "O": 3}) + ELECTRON_MASS
    result = explain_peaks(ASPIRIN, [salicylate, deprotonated], [100.0, 10.0],
                           precursor_mz=deprotonated, charge=-1)
    assert result.peaks[0].formula == "C7H5O3-" and result.peaks[0].cuts == 1
    assert result.explained == pytest.approx(1.0)
    with pytest.raises(ValueError, match="invalid SMILES"):
        explain_peaks("C1CC((", [100.0], [1.0], precursor_mz=None)


def test_mass_report_json_and_text(mgf):
    report = mass_report(mgf, ASPIRIN)
    doc = report.formulas_dict()
    assert doc["candidates"][0]["formula"] == "C9H8O4" == report.best_formula
    assert doc["adduct"] == "[M+H]+" and doc["ion_mz"] == pytest.approx(PRECURSOR)
    assert any("--ms-adduct" in n for n in doc["notes"])   # the option of predict
    peaks = report.explained_dict()
    assert set(peaks) >= {"smiles", "structure_formula", "structure_formula_rank",
                          "explained_share", "share_rule", "scored_peaks", "peaks"}
    assert peaks["structure_formula"] == "C9H8O4" and peaks["structure_formula_rank"] == 1
    assert set(peaks["peaks"][0]) == {"mz", "intensity", "status", "fragment_mz", "error_ppm",
                                      "cuts", "h_shift", "formula", "atoms"}
    lines = report.text_lines()
    assert lines[0].startswith(f"mass spectrum {mgf}: ion m/z 181.04950 ([M+H]+")
    rank1 = next(ln for ln in lines if re.match(r"\s+1\s+C9H8O4\s", ln))
    assert float(rank1.split()[2]) == pytest.approx(-0.19, abs=0.01)   # ppm error
    head = next(i for i, ln in enumerate(lines) if ln.startswith("peaks explained by"))
    assert "C9H8O4, rank 1 of the formulas" in lines[head] and "4 of 5 scored" in lines[head]
    table = lines[head + 2:]
    assert [ln.split()[0] for ln in table] == ["163.0390", "150.0000", "139.0390", "121.0284",
                                               "93.0335"]   # by decreasing m/z
    assert table[3].split()[2:4] == ["C7H5O2+", "121.0284"] and "unexplained" in table[1]


def test_formula_table_lists_five_and_a_wrong_structure_is_flagged(mgf):
    report = mass_report(mgf, "OC(=O)c1ccccc1O", MassOptions(adduct="M+H", ppm=20))
    assert report.structure_formula == "C7H6O3" and report.structure_rank is None
    assert any("C7H6O3 is not among" in n for n in report.notes)
    lines = report.text_lines()
    ranked = [ln for ln in lines if re.match(r"\s+\d+\s+C", ln)]
    assert len(ranked) == 5 and len(report.formulas.candidates) == 10
    assert any("5 more candidates in the JSON report" in ln for ln in lines)
    assert not any("assumed" in n for n in report.formulas.notes)   # the ion type was given


def test_bad_input_names_the_file_or_setting(tmp_path):
    empty = tmp_path / "empty.mgf"
    empty.write_text("BEGIN IONS\nTITLE=x\nEND IONS\n")
    with pytest.raises(MspectmolError, match="empty.mgf"):
        mass_report(empty)
    with pytest.raises(MspectmolError, match="unknown adduct"):
        MassOptions(adduct="[M+Xe]+").check()
    with pytest.raises(MspectmolError, match="MS elements: unsupported element 'Xx'"):
        parse_ms_elements("CHXx", "MS elements")
    assert parse_ms_elements("") is None and parse_ms_elements("CHNO")["N"] == 20


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("rect", "br"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_section_is_well_formed_and_escaped(tmp_path):
    path = tmp_path / "<img src=x>&_ms.mgf"
    path.write_text(MGF)
    report = mass_report(path, ASPIRIN)
    html = mass_section(report)
    checker = _Tags()
    checker.feed(html)
    assert not checker.errors and not checker.stack
    assert "<img" not in html and "&lt;img src=x&gt;&amp;_ms.mgf" in html
    assert '<table class="formulas">' in html and '<table class="explained">' in html
    assert '<tr class="call"><td class="num">1</td><td>C9H8O4</td>' in html
    svg = peaks_svg(report)
    assert svg.startswith('<svg class="ms-peaks"') and svg.endswith("</svg>")
    assert svg.count("<line") >= len(PEAKS) + 2 and ">C7H5O2+</text>" in svg
    assert 'font-style="italic">m/z</text>' in svg and "relative intensity (%)" in svg
    # without a structure: the formulas and the plain stick spectrum
    plain = mass_section(mass_report(path))
    assert "Give the structure (SMILES)" in plain and '<svg class="ms-peaks"' in plain
    assert np.isfinite(report.mz).all()


def test_nominal_mass_ei_spectrum_matches_fragments_within_a_wider_window(tmp_path):
    path = tmp_path / "acetophenone_ms.csv"
    path.write_text("m/z,intensity\n51,20\n77,80\n105,100\n120,35\n121,3.2\n")
    report = mass_report(path, "CC(=O)c1ccccc1")
    assert report.formulas.adduct == "[M]+" and report.structure_rank is not None
    formulas = {round(p.mz): p.formula for p in report.explanation.peaks}
    assert formulas[105] == "C7H5O+" and formulas[77] == "C6H5+"   # benzoyl, phenyl
    assert any("within 0.3 Da" in n for n in report.notes)
