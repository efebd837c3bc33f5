"""``mspectmol convert`` through main(): golden values, formats, bad input."""

from pathlib import Path

import numpy as np
import pytest

from mspectmol.cli.main import main
from mspectmol.spectra.readers import read_spectra
from mspectmol.spectra.readers.grid import read_grid_parquet
from mspectmol.spectra.resample import cell_means
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_jcamp

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"


def _absorbance(wn: np.ndarray) -> np.ndarray:
    """A smooth known absorbance: two Lorentzian bands on a small baseline."""
    return (0.05 + 0.9 / (1 + ((wn - 1715.0) / 10.0) ** 2)
            + 0.4 / (1 + ((wn - 2950.0) / 25.0) ** 2))


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    header, rows = {}, []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
        else:
            rows.append(line.split(","))
    x = np.asarray(rows[0][2:], float)
    y = np.asarray([r[2:] for r in rows[1:]], float)
    return x, y, header


def test_transmittance_jcamp_to_600_point_absorbance(tmp_path):
    wn = np.arange(4000.0, 349.0, -1.0)                  # descending, as instruments write
    t = 10.0 ** (-_absorbance(wn))
    src = tmp_path / "sample_ir.jdx"
    write_jcamp(src, Spectrum(wn, t, "ir", "1/cm", "transmittance", {"title": "sample"}))
    out = tmp_path / "sample_600.csv"
    assert main(["-q", "convert", str(src), "-o", str(out), "--normalise", "none",
                 "--no-baseline"]) == 0
    x, y, header = _read_csv(out)
    assert x.size == 600 and x[0] == 400.0 and x[-1] == 4000.0
    np.testing.assert_allclose(np.diff(x), 3600.0 / 599.0)
    assert header["y_unit"] == "absorbance"
    # the mean of the exact absorbance over each grid cell (area-preserving resampling)
    fine = np.arange(350.0, 4000.5, 0.25)
    np.testing.assert_allclose(y[0], cell_means(fine, _absorbance(fine), x), atol=2e-3)
    assert x[np.argmax(y[0])] == pytest.approx(1715.0, abs=3.1)


def test_max_normalised_by_default_and_parquet_output(tmp_path):
    wn = np.arange(400.0, 4001.0, 2.0)
    src = tmp_path / "a.jdx"
    write_jcamp(src, Spectrum(wn, 100.0 * 10.0 ** (-_absorbance(wn)), "ir", "cm-1", "%T"))
    out = tmp_path / "a.parquet"
    assert main(["-q", "convert", str(src), "-o", str(out), "-n", "300"]) == 0
    table = read_grid_parquet(out)
    assert table.modality == "ir" and table.Y.shape == (1, 300)
    assert table.Y.max() == pytest.approx(1.0)


def test_examples_convert_one_table_per_modality(tmp_path):
    files = sorted(str(p) for p in EXAMPLES.glob("*_*.*") if p.suffix in (".jdx", ".csv"))
    assert len(files) >= 4
    out = tmp_path / "ex.csv"
    assert main(["-q", "convert", *files, "-o", str(out)]) == 0
    written = sorted(p.name for p in tmp_path.glob("ex_*.csv"))
    assert written == ["ex_c_nmr.csv", "ex_h_nmr.csv", "ex_ir.csv", "ex_raman.csv"]
    x, y, _ = _read_csv(tmp_path / "ex_c_nmr.csv")
    assert y.shape[1] == 600 and np.allclose(y.max(axis=1), 1.0)
    # aspirin's carbonyl carbons lie in 160-180 ppm on the converted grid
    names = [line.split(",")[0] for line in (tmp_path / "ex_c_nmr.csv").read_text()
             .splitlines() if not line.startswith("#")][1:]
    row = y[names.index("aspirin_c_nmr")]
    assert row[(x > 160) & (x < 180)].max() > 0.3


def test_example_h_nmr_in_hz_is_converted_to_ppm():
    spec = next(read_spectra(EXAMPLES / "aspirin_h_nmr.jdx"))
    assert spec.modality == "h_nmr" and spec.metadata["observe_mhz"] == 400.0


@pytest.mark.parametrize("content,problem", [
    ("", "empty"),
    ("##TITLE=x\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n##XUNITS=1/CM\n"
     "##YUNITS=ABSORBANCE\n##XYDATA=(X++(Y..Y))\n400 0.1 0.2\n", ""),
])
def test_bad_files_name_the_file(tmp_path, capsys, content, problem):
    bad = tmp_path / "broken.jdx"
    bad.write_text(content)
    assert main(["convert", str(bad), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "broken.jdx" in err and "Traceback" not in err
    assert problem in err.lower()
    assert not (tmp_path / "o.csv").exists()


def test_out_of_range_axis_unknown_modality_nan(tmp_path, capsys):
    far = tmp_path / "far.csv"
    far.write_text("wavenumber (cm-1),absorbance\n" +
                   "\n".join(f"{w},{0.1 + (w % 70) / 700}" for w in range(5000, 6000, 10)))
    assert main(["convert", str(far), "-m", "ir", "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "far.csv" in err and "4000" in err
    ok = tmp_path / "ok.csv"
    ok.write_text("x,y\n1,2\n3,4\n")
    assert main(["convert", str(ok), "-m", "xray", "-o", str(tmp_path / "o.csv")]) == 2
    assert "unknown modality 'xray'" in capsys.readouterr().err
    nan = tmp_path / "nan.csv"
    nan.write_text("wavenumber (cm-1),absorbance\n400,0.1\n500,nan\n600,0.3\n")
    assert main(["convert", str(nan), "-m", "ir", "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "nan.csv" in err and "NaN" in err
    assert main(["convert", str(ok), "-m", "ir", "-o", str(tmp_path / "o.xlsx")]) == 2
    assert "o.xlsx" in capsys.readouterr().err
