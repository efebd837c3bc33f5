"""predict, explain and convert see the same vectors; peak lists give the calls of the spectra
they came from; simulate's parquet is an input like any other; nonsense gets one line."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

from mspectmol.cli.explain import inputs_from_files
from mspectmol.cli.explain import predict as explain_predict
from mspectmol.cli.main import main
from mspectmol.data.samples import SampleSpec
from mspectmol.models.inference import find_model
from mspectmol.models.inputs import load_sample
from mspectmol.models.io import load_model
from mspectmol.predict.pipeline import predict_inputs
from mspectmol.spectra.readers import read_spectrum
from mspectmol.spectra.units import to_canonical

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
MOLECULES = ("aspirin", "chloroacetophenone", "paracetamol")


@pytest.fixture(scope="module")
def packaged():
    return load_model(find_model(None))


def _files(mol):
    return {"ir": EXAMPLES / f"{mol}_ir.jdx", "h_nmr": EXAMPLES / f"{mol}_h_nmr.jdx",
            "c_nmr": EXAMPLES / f"{mol}_c_nmr.csv"}


@pytest.mark.parametrize("mol", MOLECULES)
def test_predict_equals_explain(packaged, mol):
    model, meta = packaged
    files = _files(mol)
    sample = load_sample(meta, SampleSpec(mol, files))
    (pred,) = predict_inputs(model, meta, [sample])
    inputs = inputs_from_files(meta, files)
    for m in files:
        np.testing.assert_array_equal(sample.spectra[m], inputs.spectra[m])
    prob, _ = explain_predict(model, meta, inputs)
    np.testing.assert_allclose(pred.probabilities, prob, atol=1e-6)


def _peak_list(path, modality, out):
    s = to_canonical(read_spectrum(path, modality))
    idx, _ = find_peaks(s.y, height=0.01 * s.y.max())
    out.write_text("ppm,intensity\n" + "\n".join(f"{s.x[i]:.4f},{s.y[i]:.5f}" for i in idx))
    return out


@pytest.mark.parametrize("mol", MOLECULES)
def test_peak_lists_give_the_calls_of_their_spectra(packaged, tmp_path, mol):
    model, meta = packaged
    files = _files(mol)
    peaks = dict(files)
    for m in ("h_nmr", "c_nmr"):
        peaks[m] = _peak_list(files[m], m, tmp_path / f"{mol}_{m}_peaks.csv")
    a, b = predict_inputs(model, meta, [load_sample(meta, SampleSpec(mol, files)),
                                        load_sample(meta, SampleSpec(mol, peaks))])
    names = meta.label_names
    assert {names[i] for i in a.calls} == {names[i] for i in b.calls}
    assert any("peak list" in w for w in b.inputs.warnings)


def test_simulate_parquet_is_read_by_predict_and_convert(tmp_path, capsys):
    from mspectmol.data.simulator.records import SimulationRecord
    from mspectmol.data.simulator.settings import SimulationSettings
    from mspectmol.data.simulator.store import write_records

    record = SimulationRecord(
        smiles="CC(C)=O", canonical_smiles="CC(C)=O", inchikey="CSCPPACGZOOCGX-UHFFFAOYSA-N",
        formula="C3H6O", charge=0, unpaired_electrons=0,
        atomic_numbers=[6, 6, 8, 6] + [1] * 6, coordinates=np.zeros((10, 3)), energy=-1.0,
        frequencies=[-30.0, 530.0, 1220.0, 1365.0, 1440.0, 1745.0, 2960.0, 3010.0],
        ir_intensities=[1.0, 10.0, 80.0, 60.0, 20.0, 300.0, 15.0, 10.0],
        raman_activities=[1.0] * 8, dipole=[0.0, 0.0, 1.0], polarizability=np.eye(3),
        h_shifts=[(2.09, 6)], c_shifts=[(206.7, 1), (30.8, 2)], imaginary_rounds=0,
        n_imaginary=1, timings={}, settings=SimulationSettings().to_dict(), versions={},
        warnings=[])
    path = tmp_path / "sim.parquet"
    write_records(path, [record])
    ir = read_spectrum(path, "ir")
    assert ir.is_peaks and ir.x.min() > 0 and ir.metadata["smiles"] == "CC(C)=O"
    out = tmp_path / "sim_600.csv"
    assert main(["-q", "convert", str(path), "-m", "c_nmr", "-o", str(out)]) == 0
    rows = [r.split(",") for r in out.read_text().splitlines() if not r.startswith("#")]
    x, y = np.asarray(rows[0][2:], float), np.asarray(rows[1][2:], float)
    assert x[np.argmax(y)] == pytest.approx(30.8, abs=0.5)  # two carbons: the taller line
    assert main(["-q", "predict", "--ir", str(path), "--h-nmr", str(path), "--c-nmr",
                 str(path), "--format", "json", "-o", str(tmp_path / "p"),
                 "--no-progress"]) == 0
    assert (tmp_path / "p" / "sim.json").is_file()


@pytest.mark.parametrize(("content", "match"), [
    ("wavenumber (cm-1),absorbance\n" + "\n".join(f"{w},0.2" for w in range(400, 4000, 8)),
     "flat"),
    ("wavenumber (cm-1),absorbance\n" + "\n".join(f"{w},{-0.1 - (w % 50) / 500}"
                                                 for w in range(400, 4000, 8)),
     "no intensity is positive"),
    ("wavenumber (cm-1),%T\n" + "\n".join(f"{w},{(w - 2200) / 12}"
                                         for w in range(400, 4000, 8)), "far outside 0-100"),
])
def test_nonsense_ir_ends_in_one_line_and_status_2(tmp_path, capsys, content, match):
    bad = tmp_path / "bad_ir.csv"
    bad.write_text(content)
    code = main(["predict", "--ir", str(bad), "--format", "json", "-o", str(tmp_path / "o"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "bad_ir.csv" in err and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _jcamp_ir(path, y, yfactor=1.0):
    x = np.linspace(4000.0, 400.0, len(y))
    lines = ["##TITLE=t", "##JCAMP-DX=4.24", "##DATA TYPE=INFRARED SPECTRUM", "##XUNITS=1/CM",
             "##YUNITS=ABSORBANCE", "##XFACTOR=1", f"##YFACTOR={yfactor}",
             f"##FIRSTX={x[0]}", f"##LASTX={x[-1]}", f"##NPOINTS={len(x)}",
             "##XYPOINTS=(XY..XY)", *(f"{a}, {b}" for a, b in zip(x, y, strict=True)),
             "##END="]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_more_nonsense_is_refused_before_any_call(tmp_path, capsys):
    good = EXAMPLES / "aspirin_ir.jdx"
    yfactor0 = _jcamp_ir(tmp_path / "y0.jdx", np.abs(np.sin(np.arange(300) / 9)) + 0.1, 0.0)
    flat_c = tmp_path / "flat_c.csv"
    flat_c.write_text("ppm,intensity\n" + "\n".join(f"{x / 10},1.0" for x in range(2200)))
    hz_c = tmp_path / "hz_c.txt"
    hz_c.write_text("\n".join(f"{x * 10} {np.exp(-((x - 500) / 3) ** 2):.6f}"
                              for x in range(2201)))
    spike = tmp_path / "spike_h.csv"
    spike.write_text("ppm,intensity\n" + "\n".join(
        f"{-2 + 12 * i / 3000:.5f},{1.0 if i == 1500 else 0.0}" for i in range(3000)))
    dup = tmp_path / "dup_ir.csv"
    dup.write_text("wavenumber (cm-1),absorbance\n" + "\n".join(
        f"{w},{0.1 + (w % 70) / 100}\n{w},{0.9 - (w % 70) / 100}" for w in range(400, 4000, 6)))
    cases = [(["--ir", str(yfactor0)], "y0.jdx", "flat"),
             (["--ir", str(good), "--c-nmr", str(flat_c)], "flat_c.csv", "flat"),
             (["--ir", str(good), "--c-nmr", str(hz_c)], "hz_c.txt", "looks like Hz"),
             (["--ir", str(good), "--h-nmr", str(spike)], "spike_h.csv", "single point"),
             (["--ir", str(dup)], "dup_ir.csv", "twice with different intensities")]
    for files, name, match in cases:
        code = main(["predict", *files, "--format", "json", "-o", str(tmp_path / "o"),
                     "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and name in err and match in err, (name, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_manifest_unit_columns_declare_a_files_units(tmp_path, capsys):
    x = np.arange(4000.0, 449.0, -2.0)
    t = 100 * 10 ** -(0.9 / (1 + ((x - 1715) / 10) ** 2) + 0.4 / (1 + ((x - 1200) / 12) ** 2))
    ir = tmp_path / "s_ir.txt"
    ir.write_text("\n".join(f"{a} {b:.4f}" for a, b in zip(x, t, strict=True)))
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"sample,ir,ir_y_unit\ns,{ir.name},%T\n")
    assert main(["-q", "predict", "--manifest", str(manifest), "--format", "json", "-o",
                 str(tmp_path / "o"), "--no-progress"]) == 0
    doc = json.loads((tmp_path / "o" / "s.json").read_text())
    steps = doc["spectra"]["ir"]["preprocessing"]
    assert any("intensity unit declared: %T" in s for s in steps)
    assert not any("read as %T" in w for w in doc["warnings"])


def test_convert_takes_files_of_several_modalities(tmp_path):
    out = tmp_path / "all.csv"
    assert main(["-q", "convert", str(EXAMPLES / "aspirin_ir.jdx"),
                 str(EXAMPLES / "aspirin_h_nmr.jdx"), str(EXAMPLES / "aspirin_c_nmr.csv"),
                 "-o", str(out)]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"all_ir.csv", "all_h_nmr.csv",
                                                     "all_c_nmr.csv"}
