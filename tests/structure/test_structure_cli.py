"""``mspectmol elucidate`` and ``mspectmol benchmark --suite structure --quick``."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mspectmol.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, tiny_model_builder):
    """A tiny PA-IB encoder and a tiny structure decoder reading its features."""
    return tiny_model_builder(tmp_path_factory.mktemp("models"),
                             ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CCCl"], 40)


def test_elucidate_ranks_candidates(tmp_path, tiny_models, capsys):
    cands = tmp_path / "cands.smi"
    cands.write_text("# candidates\nCC(=O)Oc1ccccc1C(=O)O aspirin\nCC(=O)Nc1ccc(O)cc1 para\n"
                     "OC(=O)c1ccccc1OC(C)=O same-as-aspirin\n")
    out = tmp_path / "out"
    code = main(["elucidate", "--model", str(tiny_models / "structure"),
                 "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--c-nmr", str(EXAMPLES / "aspirin_c_nmr.csv"),
                 "--candidates", str(cands), "--no-simulate", "-k", "5", "-o", str(out)])
    assert code == 0
    rows = list(csv.DictReader((out / "structures.csv").open()))
    assert {r["smiles"] for r in rows} == {"CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1"}
    assert [int(r["rank"]) for r in rows] == [1, 2]
    doc = json.loads((out / "structures.json").read_text())
    assert doc["mode"] == "ranking" and doc["spectra"] == ["ir", "c_nmr"]
    assert (out / "structures.svg").read_text().startswith("<?xml")
    assert "ranking: 2 structure(s)" in capsys.readouterr().out


def test_elucidate_errors(tmp_path, tiny_models):
    model = ["--model", str(tiny_models / "structure")]
    assert main(["elucidate", *model, "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"),
                 "-o", str(tmp_path)]) == 2  # no IR
    bad = tmp_path / "bad.smi"
    bad.write_text("CCO\nC1CC\n")
    assert main(["elucidate", *model, "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--candidates", str(bad), "-o", str(tmp_path)]) == 2
    assert main(["elucidate", *model, "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--formula", "C9H8O4x", "-o", str(tmp_path)]) == 2
    assert main(["elucidate", *model, "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--library", "-o", str(tmp_path)]) == 2  # --library needs --formula
    assert main(["elucidate", "--model", str(tmp_path / "nothing"),
                 "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "-o", str(tmp_path)]) == 2


def test_elucidate_de_novo_with_packaged_model(tmp_path):
    from mspectmol.structure.model.tokens import canonical
    from mspectmol.structure.pretrained import DEFAULT_STRUCTURE_MODEL

    if not (DEFAULT_STRUCTURE_MODEL / "model.json").is_file():
        pytest.skip("no packaged structure model")
    out = tmp_path / "denovo"
    code = main(["elucidate", "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"),
                 "--c-nmr", str(EXAMPLES / "aspirin_c_nmr.csv"), "-k", "5", "-o", str(out)])
    assert code == 0
    smiles = [r["smiles"] for r in csv.DictReader((out / "structures.csv").open())]
    assert 1 <= len(smiles) <= 5 and len(set(smiles)) == len(smiles)
    assert all(canonical(s) == s for s in smiles)


@pytest.mark.slow
def test_benchmark_quick(tmp_path):
    out = tmp_path / "bench"
    assert main(["benchmark", "--suite", "structure", "--quick", "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    names = {r["setting"] for r in rows}
    assert "denovo/pa_ib/IR+1H+13C/formula" in names and "random-isomers" in names
    assert "library/perturbed/ll+fg+spec" in names
    clean = next(r for r in rows if r["setting"] == "library/clean/ll+fg+spec")
    assert clean["top10"] == 1.0  # the true molecule is always a library candidate
    assert all(0.0 <= r["top1"] <= r["top5"] <= r["top10"] <= 1.0 for r in rows)
    assert np.isfinite(clean["mces@1"])
    assert (out / "table.md").is_file() and (out / "results.csv").is_file()
    before = sorted(p.stat().st_mtime for p in (out / "runs").glob("*.json"))
    assert main(["benchmark", "--suite", "structure", "--quick", "--out", str(out)]) == 0
    assert sorted(p.stat().st_mtime for p in (out / "runs").glob("*.json")) == before


def test_elucidate_drops_candidates_of_another_formula(tmp_path, tiny_models):
    cands = tmp_path / "cands.smi"
    cands.write_text("CC(=O)Oc1ccccc1C(=O)O aspirin\nCC(=O)Nc1ccc(O)cc1 para\n")
    out = tmp_path / "out"
    assert main(["elucidate", "--model", str(tiny_models / "structure"),
                 "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--formula", "C9H8O4",
                 "--candidates", str(cands), "--no-simulate", "-o", str(out)]) == 0
    rows = list(csv.DictReader((out / "structures.csv").open()))
    assert [r["smiles"] for r in rows] == ["CC(=O)Oc1ccccc1C(=O)O"]


def test_elucidate_shows_progress_unless_told_not_to():
    from mspectmol.cli.elucidate import options_from_args
    from mspectmol.cli.main import build_parser

    parser = build_parser(["elucidate"])
    base = ["elucidate", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--workers", "2"]
    shown = options_from_args(parser.parse_args(base))
    hidden = options_from_args(parser.parse_args([*base, "--no-progress"]))
    assert shown.progress and not hidden.progress and shown.jobs == 2
