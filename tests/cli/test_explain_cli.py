"""``mspectmol explain`` on tiny saved models and spectrum files written in the test."""

import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.models.io import ModelMeta, grid_info, save_model
from mspectmol.models.registry import get_model_spec
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_csv, write_jcamp

N_POINTS = 120
MODS = ("ir", "h_nmr", "c_nmr")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _save(path, name, thresholds):
    spec = get_model_spec(name)
    overrides = ({"channels": [4, 8], "gate_hidden": 4, "head_hidden": 8} if name == "pa_ib"
                 else {})
    config = spec.make_config(overrides, primary="ir", auxiliary=("h_nmr", "c_nmr"),
                              n_points=N_POINTS, n_labels=len(GROUP_NAMES))
    torch.manual_seed(0)
    model = spec.build(config).eval()
    meta = ModelMeta(model_name=name, config=config, label_names=GROUP_NAMES,
                     modalities={m: grid_info(m, canonical_grid(m, N_POINTS)) for m in MODS},
                     primary="ir", auxiliary=("h_nmr", "c_nmr"),
                     thresholds=thresholds, temperature=1.3)
    save_model(path, model, meta)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    # thresholds of 0.01 make every group a call, so the per-call regions are exercised
    pa_ib = _save(root / "run" / "model", "pa_ib", [0.01] * len(GROUP_NAMES))
    return {"pa_ib_run": pa_ib.parent, "pa_ib": pa_ib,
            "cnn": _save(root / "cnn", "cnn", None)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An IR JCAMP-DX file (%T, descending axis) and two NMR CSV files."""
    root = tmp_path_factory.mktemp("spectra")
    wn = np.arange(3990.0, 410.0, -4.0)
    absorb = 0.02 + 0.9 / (1 + ((wn - 1715.0) / 12.0) ** 2)
    ir = write_jcamp(root / "sample_ir.jdx",
                     Spectrum(wn, 10.0 ** -absorb, "ir", "1/cm", "transmittance",
                              {"title": "sample"}))
    ppm = np.linspace(-1.0, 9.5, 800)
    h = write_csv(root / "sample_h.csv", ppm, 1 / (1 + ((ppm - 2.1) / 0.02) ** 2), "h_nmr")
    cppm = np.linspace(-10.0, 220.0, 900)
    c = write_csv(root / "sample_c.csv", cppm,
                  1 / (1 + ((cppm - 206.0) / 0.8) ** 2) + 1 / (1 + ((cppm - 30.0) / 0.8) ** 2),
                  "c_nmr")
    return {"ir": ir, "h_nmr": h, "c_nmr": c}


def test_explain_files_prints_calls_regions_and_writes_png(models, files, tmp_path, capsys):
    out = tmp_path / "fig.png"
    argv = ["explain", str(models["pa_ib_run"]), "--ir", str(files["ir"]), "--h-nmr",
            str(files["h_nmr"]), "--c-nmr", str(files["c_nmr"]), "--smiles", "CC(C)=O",
            "-o", str(out), "--top", "4", "--regions", "2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "temperature 1.3" in text and "per-group thresholds" in text
    table = lines[lines.index(next(x for x in lines if x.strip().startswith("group"))) + 1:]
    probs = [float(row.split()[-3]) for row in table[:4]]
    assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
    assert "gate importance (shared by every call" in text
    assert "IR:" in text and "cm-1" in text and "1H NMR:" in text and "13C NMR:" in text
    behind = text.split("spectral regions behind each call")[1]
    assert behind.count("    IR: ") == 4          # one region line per call and modality
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert f"figure: {out}" in text


def test_missing_auxiliary_is_unavailable_and_svg_is_valid(models, files, tmp_path, capsys):
    out = tmp_path / "fig.svg"
    assert main(["explain", str(models["pa_ib"]), "--ir", str(files["ir"]), "-o", str(out),
                 "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert "h_nmr missing" in text and "c_nmr missing" in text
    assert "1H NMR:" not in text                  # no regions for a spectrum not given
    assert ET.parse(out).getroot().tag.endswith("svg")


def test_model_without_gates_plots_without_importance(models, files, tmp_path, capsys):
    out = tmp_path / "cnn.png"
    assert main(["explain", str(models["cnn"]), "--ir", str(files["ir"]), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no information-bottleneck gates" in captured.err
    assert "gate importance (shared" not in captured.out
    assert "threshold 0.5" in captured.out
    assert out.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("extra, message", [
    (["--h-nmr", "{h_nmr}"], "primary ir spectrum: pass --ir FILE"),
    ([], "no spectra"),
    (["--ir", "{ir}", "--dataset-id", "x-1"], "not both"),
    (["--ir", "{ir}", "-o", "{tmp}/fig.gif"], "unsupported figure format"),
])
def test_bad_requests_give_clear_errors(models, files, tmp_path, capsys, extra, message):
    args = [a.format(tmp=tmp_path, **files) for a in extra]
    assert main(["explain", str(models["pa_ib"]), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_model_file_and_bad_spectrum_file_are_named(models, files, tmp_path, capsys):
    assert main(["explain", str(tmp_path / "nowhere"), "--ir", str(files["ir"])]) == 2
    assert "nowhere" in capsys.readouterr().err
    broken = tmp_path / "broken.jdx"
    broken.write_text("##TITLE=x\n##JCAMP-DX=4.24\n##XYDATA=(X++(Y..Y))\n1 2\n")
    assert main(["explain", str(models["pa_ib"]), "--ir", str(broken),
                 "-o", str(tmp_path / "f.png")]) == 2
    assert "broken.jdx" in capsys.readouterr().err


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """index.parquet + one chunk of peak lists for three molecules."""
    root = tmp_path_factory.mktemp("dataset")
    ids = ["t-0", "t-1", "t-2"]
    smiles = ["CC(C)=O", "CCO", "CC(=O)O"]
    labels = np.zeros((3, len(GROUP_NAMES)), dtype=np.uint8)
    labels[0, GROUP_NAMES.index("Ketone")] = 1
    index = pa.table({
        "id": ids, "smiles": smiles, "source": ["test"] * 3,
        "heavy_atoms": np.array([4, 3, 4], dtype=np.int64),
        "labels": pa.array(labels.tolist(), type=pa.list_(pa.uint8())),
        "split_random": ["train", "val", "test"], "split_scaffold": ["train", "val", "test"],
    })
    pq.write_table(index, root / "index.parquet")
    f32, i16 = pa.list_(pa.float32()), pa.list_(pa.int16())
    chunk = pa.table({
        "id": ids,
        "frequencies": pa.array([[1715.0, 2950.0], [3600.0, 1050.0], [1750.0, 3500.0]], f32),
        "ir_intensities": pa.array([[5.0, 1.0], [2.0, 3.0], [4.0, 2.0]], f32),
        "raman_activities": pa.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], f32),
        "h_shift": pa.array([[2.1], [1.2, 3.6], [2.0, 11.0]], f32),
        "h_count": pa.array([[6], [3, 2], [3, 1]], i16),
        "c_shift": pa.array([[206.0, 30.0], [18.0, 58.0], [178.0, 21.0]], f32),
        "c_count": pa.array([[1, 2], [1, 1], [1, 1]], i16),
    })
    (root / "chunks").mkdir()
    pq.write_table(chunk, root / "chunks" / "test-000.parquet")
    return root


def test_dataset_id_uses_the_molecule_and_its_labels(models, dataset_dir, tmp_path, capsys):
    out = tmp_path / "t0.png"
    assert main(["explain", str(models["pa_ib"]), "--dataset-id", "t-0", "--data",
                 str(dataset_dir), "-o", str(out), "--top", "all"]) == 0
    text = capsys.readouterr().out
    header = next(x for x in text.splitlines() if x.strip().startswith("group"))
    assert header.rstrip().endswith("true")
    ketone = next(x for x in text.splitlines() if x.strip().startswith("Ketone "))
    alkane = next(x for x in text.splitlines() if x.strip().startswith("Alkane "))
    assert ketone.split()[-1] == "yes" and alkane.split()[-1] == "-"
    assert "ir dataset t-0" in text and out.read_bytes()[:8] == PNG_SIGNATURE


def test_unknown_dataset_id(models, dataset_dir, capsys):
    assert main(["explain", str(models["pa_ib"]), "--dataset-id", "t-9", "--data",
                 str(dataset_dir)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset id 't-9'" in err and "3 molecules" in err
