"""``mspectmol predict --engine``: the NumPy engine (the default for PA-IB models) and the torch
engine write the same JSON reports for the shipped examples, numbers equal to float rounding."""

import json
import math
from pathlib import Path

import pytest

from mspectmol.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"


def _run(tmp_path, engine, *args):
    out = tmp_path / engine
    argv = ["predict", *args, "--format", "json", "--no-progress", "-o", str(out)]
    if engine != "default":
        argv += ["--engine", engine]
    assert main(argv) == 0
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def test_engines_write_the_same_json_for_the_examples(tmp_path, same_document):
    numpy = _run(tmp_path, "default", "--folder", str(EXAMPLES))
    torch = _run(tmp_path, "torch", "--folder", str(EXAMPLES))
    assert list(numpy) == ["aspirin.json", "chloroacetophenone.json", "paracetamol.json"]
    assert numpy.keys() == torch.keys()
    for name, doc in torch.items():
        assert doc["calls"] and doc["call_regions"]
        same_document(numpy[name], doc)
        probabilities = [g["probability"] for g in doc["groups"]]
        got = [g["probability"] for g in numpy[name]["groups"]]
        assert all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-7)
                   for a, b in zip(got, probabilities, strict=True))


@pytest.mark.parametrize("files", [("ir", "h_nmr"), ("ir",)])
def test_engines_agree_with_spectra_missing(tmp_path, files, same_document):
    paths = {"ir": EXAMPLES / "paracetamol_ir.jdx", "h_nmr": EXAMPLES / "paracetamol_h_nmr.jdx"}
    args = [a for m in files for a in (f"--{m.replace('_', '-')}", str(paths[m]))]
    numpy = _run(tmp_path, "numpy", *args)
    torch = _run(tmp_path, "torch", *args)
    (doc,) = torch.values()
    assert doc["spectra_missing"] == [m for m in ("h_nmr", "c_nmr") if m not in files]
    same_document(numpy["paracetamol.json"], doc)


def test_the_numpy_engine_refuses_other_models(tmp_path, capsys):
    from mspectmol.models.io import ModelMeta, grid_info, save_model
    from mspectmol.models.registry import get_model_spec
    from mspectmol.spectra.preprocessing import canonical_grid

    spec = get_model_spec("cnn_late")
    config = spec.make_config({"width_scale": 0.005}, primary="ir", n_points=600,
                              n_labels=37)
    meta = ModelMeta(model_name="cnn_late", config=config,
                     label_names=tuple(f"g{i}" for i in range(37)),
                     modalities={"ir": grid_info("ir", canonical_grid("ir", 600))},
                     primary="ir")
    save_model(tmp_path / "cnn", spec.build(config), meta)
    argv = ["predict", str(tmp_path / "cnn"), "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
            "--format", "json", "-o", str(tmp_path / "out"), "--engine", "numpy"]
    assert main(argv) != 0
    assert "NumPy engine runs pa_ib models" in capsys.readouterr().err
    argv[-1] = "auto"
    assert main(argv) == 0
