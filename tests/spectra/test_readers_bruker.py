"""Bruker processed 1D NMR (``pdata/<n>``) through nmrglue: axis, modality, errors, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nmrglue.fileio import bruker

from mspectmol.cli.main import main
from mspectmol.errors import SpectrumFileError
from mspectmol.spectra.readers import detect_format, get_format, read_bruker, read_spectrum

SI = 2048


def _params(values: dict) -> dict:
    return {"_coreheader": ["##TITLE= Parameter file", "##JCAMPDX= 5.0"], "_comments": [],
            **values}


def _write_experiment(root: Path, *, nucleus: str = "<1H>", sf: float = 400.13,
                      offset: float = 12.0, width_ppm: float = 16.0, peak: float = 7.26,
                      solvent: str | None = "<CDCl3>", acqus: bool = True,
                      dtype_float: bool = False, procno: int = 1) -> Path:
    """Write an experiment folder with one Lorentzian peak at ``peak`` ppm; return it."""
    x = offset - np.arange(SI) * (width_ppm / SI)
    y = 1e6 / (1.0 + ((x - peak) / 0.05) ** 2) + 100.0
    procs = _params({"SI": SI, "XDIM": SI, "OFFSET": offset, "SW_p": width_ppm * sf,
                     "SF": sf, "AXNUC": nucleus, "NC_proc": 0, "BYTORDP": 0,
                     "DTYPP": 2 if dtype_float else 0})
    root.mkdir(parents=True, exist_ok=True)
    bruker.write_pdata(str(root), {"procs": procs}, y.astype(float), write_procs=True,
                       pdata_folder=procno, isfloat=dtype_float, big=False,
                       submatrix_shape=(SI,))
    if acqus:
        values = {"NUC1": nucleus, "SFO1": sf, "BF1": sf}
        if solvent:
            values["SOLVENT"] = solvent
        bruker.write_jcamp(_params(values), str(root / "acqus"))
    return root


def _peak(spec) -> float:
    return float(spec.x[np.argmax(spec.y)])


def test_h_nmr_experiment_folder(tmp_path):
    exp = _write_experiment(tmp_path / "10")
    assert detect_format(exp) == "bruker"
    spec = read_spectrum(exp)
    step = 16.0 / SI
    assert spec.modality == "h_nmr" and spec.x_unit == "ppm" and spec.x.size == SI
    assert _peak(spec) == pytest.approx(7.26, abs=step)
    assert spec.x[0] == pytest.approx(12.0) and spec.x[-1] == pytest.approx(12.0 - 16.0 + step)
    assert np.all(np.diff(spec.x) < 0)
    assert spec.metadata["observe_mhz"] == pytest.approx(400.13)
    assert spec.metadata["nucleus"] == "1H" and spec.metadata["solvent"] == "CDCl3"
    assert spec.metadata["format"] == "bruker"


def test_c_nmr_from_pdata_folder_and_float_data(tmp_path):
    exp = _write_experiment(tmp_path / "exp", nucleus="<13C>", sf=100.61, offset=230.0,
                            width_ppm=250.0, peak=77.16, dtype_float=True)
    pdata = exp / "pdata" / "1"
    assert detect_format(pdata) == "bruker"
    for folder in (exp, pdata):
        spec = read_spectrum(folder)
        assert spec.modality == "c_nmr"
        assert _peak(spec) == pytest.approx(77.16, abs=250.0 / SI)
        assert spec.x.max() == pytest.approx(230.0) and spec.x.min() < -19.0
        assert spec.metadata["solvent"] == "CDCl3"


def test_nucleus_from_procs_without_acqus_and_explicit_modality(tmp_path):
    exp = _write_experiment(tmp_path / "e", acqus=False, procno=3)
    pdata = exp / "pdata" / "3"
    spec = next(get_format("bruker").read(pdata, None))
    assert spec.modality == "h_nmr" and "solvent" not in spec.metadata
    assert read_spectrum(pdata, "h_nmr", format="bruker-pdata").modality == "h_nmr"
    with pytest.raises(SpectrumFileError, match="'c_nmr' was requested"):
        read_spectrum(pdata, "c_nmr")
    # no nucleus anywhere: the caller's modality decides, or a clear error
    exp2 = _write_experiment(tmp_path / "f", nucleus="<off>", acqus=False)
    assert read_spectrum(exp2 / "pdata" / "1", "c_nmr").modality == "c_nmr"
    with pytest.raises(SpectrumFileError, match="cannot tell the modality"):
        read_spectrum(exp2 / "pdata" / "1")


def test_errors_name_the_folder_and_problem(tmp_path):
    fluorine = _write_experiment(tmp_path / "f19", nucleus="<19F>")
    with pytest.raises(SpectrumFileError, match="19F.*not supported") as err:
        list(read_bruker(fluorine))
    assert "f19" in str(err.value)

    exp = _write_experiment(tmp_path / "trunc")
    one_r = exp / "pdata" / "1" / "1r"
    one_r.write_bytes(one_r.read_bytes()[:-100])
    with pytest.raises(SpectrumFileError, match="truncated") as err:
        read_spectrum(exp)
    assert "1r" in str(err.value)

    exp = _write_experiment(tmp_path / "noprocs")
    (exp / "pdata" / "1" / "procs").unlink()
    with pytest.raises(SpectrumFileError, match="no procs"):
        list(read_bruker(exp))

    exp = _write_experiment(tmp_path / "fidonly")
    (exp / "pdata" / "1" / "1r").unlink()
    with pytest.raises(SpectrumFileError, match="no 1r"):
        list(read_bruker(exp))

    exp = _write_experiment(tmp_path / "twod")
    (exp / "pdata" / "1" / "1r").rename(exp / "pdata" / "1" / "2rr")
    with pytest.raises(SpectrumFileError, match="2D"):
        read_spectrum(exp)

    exp = _write_experiment(tmp_path / "nan", dtype_float=True)
    one_r = exp / "pdata" / "1" / "1r"
    values = np.frombuffer(one_r.read_bytes(), "<f8").copy()
    values[5] = np.nan
    one_r.write_bytes(values.astype("<f8").tobytes())
    with pytest.raises(SpectrumFileError, match="NaN"):
        read_spectrum(exp)

    empty = tmp_path / "empty"
    (empty / "pdata").mkdir(parents=True)
    (empty / "acqus").write_text("##$NUC1= <1H>\n##END=\n")
    assert detect_format(empty) == "bruker"
    with pytest.raises(SpectrumFileError, match="no processed spectrum folder"):
        read_spectrum(empty)


def test_cli_convert_bruker_folder(tmp_path):
    exp = _write_experiment(tmp_path / "1")
    out = tmp_path / "out.csv"
    # the one line sits at CDCl3's 7.26 ppm, which convert would remove like predict does
    assert main(["-q", "convert", str(exp), "-o", str(out), "--solvent", "none"]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()
            if not line.startswith("#")]
    x = np.asarray(rows[0][2:], float)
    y = np.asarray(rows[1][2:], float)
    assert x[np.argmax(y)] == pytest.approx(7.26, abs=2 * (x[1] - x[0]))
