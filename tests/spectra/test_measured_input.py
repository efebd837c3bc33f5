"""Measured spectra in, faithfully: units, layouts, headerless files, peak lists, nonsense.

Every fixture is made here (a few KB); each case goes through the one preprocessing path,
:func:`mspectmol.spectra.pipeline.prepare`, as ``predict``, ``explain`` and ``convert`` do.
"""

import numpy as np
import pytest

from mspectmol.errors import SpectrumError, SpectrumFileError
from mspectmol.spectra.multiplets import expand_multiplet, split_counts
from mspectmol.spectra.pipeline import PrepareOptions, prepare
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers import read_spectrum
from mspectmol.spectra.spectrum import Spectrum

IR_GRID = canonical_grid("ir", 600)
H_GRID = canonical_grid("h_nmr", 600)
C_GRID = canonical_grid("c_nmr", 600)


def _band(x, centre, height, fwhm=20.0):
    return height / (1.0 + ((x - centre) / (fwhm / 2.0)) ** 2)


def _absorbance(x):
    return _band(x, 1715.0, 1.0) + _band(x, 2950.0, 0.5, 40.0) + _band(x, 1200.0, 0.3)


def _jcamp(path, x, y, xunits, yunits, extra=()):
    lines = ["##TITLE=test", "##JCAMP-DX=4.24", "##DATA TYPE=INFRARED SPECTRUM",
             f"##XUNITS={xunits}", f"##YUNITS={yunits}", "##XFACTOR=1", "##YFACTOR=1",
             f"##FIRSTX={x[0]:.6f}", f"##LASTX={x[-1]:.6f}", f"##NPOINTS={len(x)}", *extra,
             "##XYPOINTS=(XY..XY)"]
    lines += [f"{a:.6f}, {b:.8g}" for a, b in zip(x, y, strict=True)]
    path.write_text("\n".join(lines + ["##END="]) + "\n")
    return path


def _peak_at(y, grid):
    return float(grid[int(np.argmax(y))])


@pytest.mark.parametrize("yunits", ["(micromol/mol)-1m-1 (base 10)", "L/(MOL.CM)",
                                    "l mol-1 cm-1", "KUBELKA-MUNK"])
def test_absorbance_proportional_units_read_with_the_right_maximum(tmp_path, yunits):
    wn = np.arange(4000.0, 449.0, -0.5)
    path = _jcamp(tmp_path / "q.jdx", wn, 3.2e-4 * _absorbance(wn), "1/CM", yunits)
    done = prepare(read_spectrum(path), IR_GRID)
    assert _peak_at(done.y, IR_GRID) == pytest.approx(1715.0, abs=7.0)
    assert done.y.max() == pytest.approx(1.0)


def test_micrometre_axis_reads_as_wavenumbers(tmp_path):
    wn = np.arange(4000.0, 449.0, -2.0)
    um = 1e4 / wn
    path = _jcamp(tmp_path / "um.jdx", um, 10 ** -_absorbance(wn), "MICROMETERS",
                  "TRANSMITTANCE")
    done = prepare(read_spectrum(path), IR_GRID)
    assert _peak_at(done.y, IR_GRID) == pytest.approx(1715.0, abs=7.0)


def test_atr_range_is_accepted_masked_and_reported(tmp_path):
    wn = np.arange(4000.0, 599.0, -1.0)
    path = _jcamp(tmp_path / "atr.jdx", wn, _absorbance(wn), "1/CM", "ABSORBANCE")
    done = prepare(read_spectrum(path), IR_GRID)
    assert done.coverage == pytest.approx(3400 / 3600, abs=0.01)
    assert np.all(done.y[IR_GRID < 594.0] == 0.0)  # the cell around 597 is half covered
    assert any("coverage 0.944" in s for s in done.steps)
    gas = np.arange(4000.0, 1000.0, -1.0)  # half the grid: warned about
    path = _jcamp(tmp_path / "gas.jdx", gas, _absorbance(gas), "1/CM", "ABSORBANCE")
    done = prepare(read_spectrum(path), IR_GRID)
    assert any("covers 83%" in w for w in done.warnings)


def test_semicolon_decimal_comma_csv_reads(tmp_path):
    wn = np.arange(4000.0, 449.0, -2.0)
    rows = [f"{a:.1f};{b:.5f}".replace(".", ",") for a, b in zip(wn, _absorbance(wn),
                                                                strict=True)]
    path = tmp_path / "eu.csv"
    path.write_text("Wellenzahl [cm-1];Extinktion\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    s = read_spectrum(path)
    assert s.modality == "ir" and s.y_unit == "absorbance"
    assert _peak_at(prepare(s, IR_GRID).y, IR_GRID) == pytest.approx(1715.0, abs=7.0)
    tab = tmp_path / "tab.txt"
    tab.write_text("cm-1\tT%\n" + "\n".join(f"{a:.1f}\t{100 * 10 ** -b:.4f}".replace(".", ",")
                                            for a, b in zip(wn, _absorbance(wn), strict=True)))
    s = read_spectrum(tab)
    assert s.modality == "ir" and s.y_unit == "%T"
    assert _peak_at(prepare(s, IR_GRID).y, IR_GRID) == pytest.approx(1715.0, abs=7.0)


def test_headerless_percent_transmittance_is_decided_and_said(tmp_path):
    wn = np.arange(4000.0, 449.0, -2.0)
    path = tmp_path / "plain.txt"
    path.write_text("\n".join(f"{a:.1f} {100 * 10 ** -b:.4f}" for a, b in zip(
        wn, _absorbance(wn), strict=True)))
    s = read_spectrum(path, "ir")
    assert s.y_unit == "%T"
    done = prepare(s, IR_GRID)
    assert _peak_at(done.y, IR_GRID) == pytest.approx(1715.0, abs=7.0)
    assert any("read as %T" in w and "--y-unit" in w for w in done.warnings)
    declared = prepare(s, IR_GRID, options=PrepareOptions(y_unit={"ir": "%T"}))
    assert not any("read as %T" in w for w in declared.warnings)
    absorb = tmp_path / "abs.txt"
    absorb.write_text("\n".join(f"{a:.1f} {b:.5f}" for a, b in zip(wn, _absorbance(wn),
                                                                   strict=True)))
    assert read_spectrum(absorb, "ir").y_unit == "absorbance"


def test_an_undecidable_headerless_column_is_refused_with_the_flag(tmp_path):
    wn = np.arange(4000.0, 449.0, -10.0)
    path = tmp_path / "mid.txt"
    path.write_text("\n".join(f"{a:.1f} {50 + 10 * np.sin(a / 50):.3f}" for a in wn))
    with pytest.raises(SpectrumFileError, match="mid.txt.*--y-unit"):
        read_spectrum(path, "ir")


def test_h_nmr_beyond_10_ppm_is_reported():
    x = np.linspace(-1.0, 14.0, 6000)
    y = _band(x, 2.1, 3.0, 0.01) + _band(x, 12.1, 1.0, 0.05)  # CH3 and a carboxylic acid OH
    done = prepare(Spectrum(x, y, "h_nmr", "ppm"), H_GRID)
    assert any("outside the model's grid" in w and "carboxylic" in w for w in done.warnings)


def test_multiplets_split_with_binomial_intensities():
    assert split_counts("td") == ([3, 2], False, False)
    pos, amp = expand_multiplet(1.0, 3.0, "t", "7.0", mhz=400.0)
    np.testing.assert_allclose(pos, [1.0 - 7 / 400, 1.0, 1.0 + 7 / 400])
    np.testing.assert_allclose(amp, [0.75, 1.5, 0.75])
    pos, amp = expand_multiplet(2.0, 1.0, "m", None, range_ppm=(1.9, 2.1))
    assert amp.sum() == pytest.approx(1.0) and pos.min() == 1.9 and pos.max() == 2.1


def test_h_peak_table_with_multiplicity_and_j_is_rendered(tmp_path):
    path = tmp_path / "peaks.csv"
    path.write_text("# observe_mhz: 600\nShift (ppm),H's,Multiplicity,J (Hz)\n"
                    "1.21,3,t,7.1\n4.12,2,q,7.1\n7.40,5,m,\n")
    s = read_spectrum(path)
    assert s.modality == "h_nmr" and s.is_peaks and s.y.sum() == pytest.approx(10.0)
    done = prepare(s, H_GRID, normalisation="none")
    areas = [done.y[np.abs(H_GRID - c) < 0.2].sum() for c in (1.21, 4.12, 7.40)]
    np.testing.assert_allclose(np.array(areas) / sum(areas), [0.3, 0.2, 0.5], atol=0.02)
    bad = tmp_path / "bad.csv"
    bad.write_text("ppm,nH,mult,J\n1.2,three,t,7\n")
    with pytest.raises(SpectrumFileError, match="bad.csv.*line 2"):
        read_spectrum(bad)


def test_short_irregular_tables_are_peak_lists_unless_declared(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("ppm,intensity\n14.1,1\n22.7,1\n31.9,1\n60.3,1\n173.8,0.4\n")
    s = read_spectrum(path)
    assert s.is_peaks and any("peak list" in g for g in s.metadata["guesses"])
    done = prepare(s, C_GRID)
    assert _peak_at(done.y, C_GRID) == pytest.approx(14.1, abs=1.0) or \
        done.y[np.abs(C_GRID - 173.8) < 0.5].max() > 0.3
    assert any("peak list" in w for w in done.warnings)
    declared = prepare(s, C_GRID, options=PrepareOptions(kind="peaks"))
    assert not any("peak list" in w for w in declared.warnings)


@pytest.mark.parametrize(("x", "y", "kw", "match"), [
    (np.linspace(400, 4000, 500), np.full(500, 0.3), {}, "flat"),
    (np.linspace(400, 4000, 500), -np.abs(np.sin(np.linspace(0, 9, 500))) - 0.1, {},
     "no intensity is positive"),
    (np.linspace(400, 4000, 500), np.linspace(-150, 150, 500), {"y_unit": "%T"},
     "far outside 0-100"),
    (np.linspace(400, 4000, 500), np.where(np.arange(500) == 250, 1.0, 0.0), {},
     "single point"),
])
def test_nonsense_is_refused_in_one_line(x, y, kw, match):
    s = Spectrum(x, y, "ir", "cm-1", kw.get("y_unit", "absorbance"), source="bad.csv")
    with pytest.raises(SpectrumError, match=f"bad.csv.*{match}"):
        prepare(s, IR_GRID)


def test_hz_like_nmr_axis_and_conflicting_duplicates_are_refused():
    x = np.linspace(0, 22000, 2201)
    s = Spectrum(x, _band(x, 5000, 1.0, 5.0), "c_nmr", "ppm", source="hz.csv")
    with pytest.raises(SpectrumError, match="hz.csv.*looks like Hz.*--x-unit Hz"):
        prepare(s, C_GRID)
    x = np.repeat(np.linspace(400, 4000, 300), 2)
    y = np.tile([0.1, 0.9], 300) * (1 + np.sin(x / 100) ** 2)
    with pytest.raises(SpectrumError, match="twice with different intensities"):
        prepare(Spectrum(x, y, "ir", "cm-1", "absorbance", source="dup.csv"), IR_GRID)
