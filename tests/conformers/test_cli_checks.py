"""``mspectmol conformers`` through ``main()``: geometry check, training domain, flag names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from mspectmol.cli.main import build_parser, main
from mspectmol.conformers.domain import PACKAGED_DOMAIN, model_domain
from mspectmol.conformers.io import load_conformer_model, save_conformer_model
from mspectmol.conformers.model import ConformerDenoiser

SMILES = "C[C@H](O)C=O"
IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"


def _run(model_dir, ir_file, out, *extra, smiles=SMILES):
    return main(["conformers", "--smiles", smiles, "--ir", str(ir_file), "-n", "3", "-o",
                 str(out), "--model", str(model_dir), *extra])


def _records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_garbage_is_refused_with_one_line_per_problem(model_dir, ir_file, tmp_path, capsys):
    out = tmp_path / "noise.sdf"
    assert _run(model_dir, ir_file, out, "--mode", "noise") == 2  # untrained: garbage
    assert not out.exists()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    kinds = ("bonds too short", "bonds too long", "clashing atoms", "MMFF94 energy far above")
    assert len(warnings) == sum(k in err for k in kinds) >= 2  # one line per kind found
    assert all(SMILES in line and "of 3 conformers" in line for line in warnings)
    assert "none of the 3 conformers passed the geometry check" in err


def test_rank_mode_conformers_pass_and_carry_the_check(model_dir, ir_file, tmp_path, capsys):
    out = tmp_path / "rank.sdf"
    assert _run(model_dir, ir_file, out, "--mode", "rank") == 0  # ETKDG + MMFF, unchanged
    records = _records(out)
    assert len(records) == 3
    for m in records:
        assert m.GetProp("geometry_ok") == "True" and m.GetProp("geometry_problems") == "none"
        assert float(m.GetProp("mmff_energy_above_reference")) < 44.0
        assert m.GetProp("bond_length_range").endswith(" A")
        assert m.GetProp("relaxed") == "no"
    captured = capsys.readouterr()
    assert "WARNING" not in captured.err
    assert "wrote 3 of 3 conformers" in captured.out


def test_relax_repairs_noise_samples(model_dir, ir_file, tmp_path, capsys):
    out = tmp_path / "relaxed.sdf"
    assert _run(model_dir, ir_file, out, "--mode", "noise", "--relax") == 0
    records = _records(out)
    assert len(records) == 3
    assert all(m.GetProp("geometry_ok") == "True" and m.GetProp("relaxed") == "MMFF94"
               for m in records)
    assert all(np.isfinite(float(m.GetProp("score"))) for m in records)


def test_keep_invalid_writes_failed_conformers_marked(model_dir, ir_file, tmp_path, capsys):
    out = tmp_path / "kept.sdf"
    assert _run(model_dir, ir_file, out, "--mode", "noise", "--keep-invalid") == 0
    records = _records(out)
    assert [m.GetIntProp("rank") for m in records] == [1, 2, 3]
    assert all(m.GetProp("geometry_ok") == "False" for m in records)
    assert "3 failed the geometry check and are marked" in capsys.readouterr().out


@pytest.fixture()
def qm9_model_dir(tmp_path, make_config):
    """A tiny model that declares the packaged model's domain in its model.json."""
    torch.manual_seed(0)
    folder = tmp_path / "qm9_model"
    save_conformer_model(folder, ConformerDenoiser(make_config()).eval(), {},
                         PACKAGED_DOMAIN)
    return folder


def test_model_file_stores_the_domain(qm9_model_dir):
    _, meta = load_conformer_model(qm9_model_dir)
    assert model_domain(meta) == PACKAGED_DOMAIN


@pytest.mark.parametrize("smiles, outside", [(IBUPROFEN, "True"), (SMILES, "False")])
def test_out_of_domain_molecule_is_warned_and_marked(smiles, outside, qm9_model_dir, ir_file,
                                                      tmp_path, capsys):
    out = tmp_path / "domain.sdf"
    assert _run(qm9_model_dir, ir_file, out, "--mode", "rank", smiles=smiles) == 0
    assert {m.GetProp("out_of_domain") for m in _records(out)} == {outside}
    err = capsys.readouterr().err
    domain_lines = [line for line in err.splitlines() if "training domain" in line]
    if outside == "True":
        assert len(domain_lines) == 1
        assert "15 heavy atoms (the model saw at most 9)" in domain_lines[0]
        assert Chem.MolToSmiles(Chem.MolFromSmiles(IBUPROFEN)) in domain_lines[0]
    else:
        assert domain_lines == []


def test_uv_flag_matches_other_commands_and_old_spelling_is_deprecated(
        model_dir, ir_file, tmp_path, capsys):
    parser = build_parser()
    for command in ("conformers", "predict"):
        args = parser.parse_args([command, "--uv", "u.csv", "--smiles", "C", "-o", "x.sdf"]
                                 if command == "conformers" else [command, "--uv", "u.csv"])
        assert str(args.file_uv) == "u.csv"
    with pytest.raises(SystemExit):
        main(["conformers", "--help"])
    shown = capsys.readouterr().out
    assert "--uv FILE" in shown and "--uv-vis" not in shown and "--keep-invalid" in shown
    out = tmp_path / "alias.sdf"
    assert _run(model_dir, ir_file, out, "--mode", "rank", "--uv-vis", str(ir_file)) == 0
    err = capsys.readouterr().err
    assert err.count("--uv-vis is deprecated; use --uv") == 1
    assert "the model does not use uv; ignoring" in err
