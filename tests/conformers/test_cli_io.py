"""The ``mspectmol conformers`` command, model files and the benchmark report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from rdkit import Chem

from mspectmol.cli.main import main
from mspectmol.conformers.io import load_conformer_model
from mspectmol.conformers.model import ConformerDenoiser
from mspectmol.conformers.report import summarise, write_outputs
from mspectmol.errors import ModelFileError


def test_model_round_trip(model_dir, make_config):
    model, meta = load_conformer_model(model_dir)
    assert model.config == make_config()
    assert meta["training"] == {"note": "test"}
    assert "ir" in meta["modalities"] and meta["kind"] == "conformers"
    assert meta["format_version"] == 2
    torch.manual_seed(0)
    fresh = ConformerDenoiser(make_config())  # same seed: the saved weights
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_corrupt_model_files_raise(model_dir, tmp_path):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelFileError, match="content hash mismatch"):
        load_conformer_model(model_dir)
    (model_dir / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_conformer_model(model_dir)
    with pytest.raises(ModelFileError, match="no conformer model"):
        load_conformer_model(tmp_path / "nowhere")


def test_cli_writes_sdf_that_rdkit_reads(model_dir, ir_file, tmp_path, capsys):
    out = tmp_path / "sub" / "out.sdf"
    rc = main(["conformers", "--smiles", "C[C@H](O)C=O", "--ir", str(ir_file), "-n", "3",
               "-o", str(out), "--model", str(model_dir), "--mode", "refine",
               "--keep-invalid"])  # the untrained test model's conformers fail the check
    assert rc == 0
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert len(mols) == 3 and all(m is not None for m in mols)
    scores = [float(m.GetProp("score")) for m in mols]
    assert scores == sorted(scores) and all(np.isfinite(scores))
    for m in mols:
        assert m.GetNumAtoms() == 11  # C3 O2 and six hydrogens
        assert m.GetConformer().Is3D()
        assert m.GetProp("conditioning") == "ir"
        assert m.GetProp("stereo_matches_smiles") in ("True", "False")
        assert m.GetProp("geometry_ok") == "False" and m.GetProp("geometry_problems") != "none"
        assert m.GetProp("out_of_domain") == "unknown"  # the test model states no domain
        # same constitution (the untrained test model need not get the stereo right)
        assert Chem.MolToSmiles(Chem.RemoveHs(m), isomericSmiles=False) == "CC(O)C=O"
    assert "wrote 3 of 3 conformers" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--smiles", "C1CC", "--ir", "{ir}"], "C1CC"),
    (["--smiles", "CCO"], "needs a ir spectrum"),
    (["--smiles", "CCO", "--ir", "{tmp}/missing.jdx"], "missing.jdx"),
    (["--smiles", "CCO", "--ir", "{ir}", "-n", "0"], "at least 1"),
])
def test_cli_bad_input_exits_2(argv, message, model_dir, ir_file, tmp_path, capsys):
    argv = [a.format(ir=ir_file, tmp=tmp_path) for a in argv]
    rc = main(["conformers", *argv, "-o", str(tmp_path / "x.sdf"), "--model", str(model_dir)])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_report_tables(tmp_path):
    def row(i, first, best, rot):
        return {"id": f"m{i}", "smiles": "CC", "rotatable": rot, "rmsd_dft": [first, best],
                "rmsd_gfn2": [first, best], "stereo_ok": [True, True], "seconds": 0.1}

    rows = {"etkdg_mmff": [row(0, 0.4, 0.2, 0), row(1, 0.6, 0.6, 2),
                           {"id": "m2", "smiles": "C", "failed": "ETKDG found no conformer"}],
            "pa_ib_refine": [dict(row(0, 0.3, 0.3, 0), scores=[2.0, 1.0], mirrored=[0, 0],
                                  t_start=2), dict(row(1, 0.7, 0.4, 2), scores=[1.0, 2.0],
                                                   mirrored=[1, 0], t_start=2),
                             dict(row(2, 9.0, 9.0, 0), scores=[1.0, 2.0], mirrored=[0, 0],
                                  t_start=2)]}
    summary = summarise(rows, {"n_samples": 2}, match_ids=["m0"])
    e = summary["methods"]["etkdg_mmff"]["dft"]
    assert e["mean_best1"] == pytest.approx(0.5) and e["coverage"] == pytest.approx(0.5)
    assert summary["excluded_molecules"] == ["m2"]  # failed for one method: left out of all
    assert summary["methods"]["etkdg_mmff"]["n_failed"] == 1
    p = summary["methods"]["pa_ib_refine"]
    assert p["dft"]["mean_ranked"] == pytest.approx((0.3 + 0.7) / 2)
    assert p["by_rotatable_bonds"]["2+"] == {"n": 1, "mean_best1": pytest.approx(0.7)}
    comp = summary["comparisons"][0]
    assert comp["mean_diff_best1"] == pytest.approx(0.0) and comp["n"] == 2
    write_outputs(tmp_path, summary, {"quick": True})
    assert "RDKit ETKDG + MMFF" in (tmp_path / "table.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["info"]["quick"]
    assert (tmp_path / "results.csv").read_text().startswith("method,")
