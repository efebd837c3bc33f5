"""``elucidate --ms``: the formula assumed from a mass spectrum, and the MS/MS fragment term."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mspectmol.cli.main import main
from mspectmol.structure.elucidation.mass import ms_terms, read_mass_evidence

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
#: [M+H]+ of aspirin and its fragments: loss of water, of ketene, of acetic acid.
ASPIRIN_MGF = """BEGIN IONS
TITLE=aspirin
PEPMASS=181.04953
CHARGE=1+
121.02841 60
139.03897 100
163.03897 30
181.04953 20
END IONS
"""


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, tiny_model_builder):
    return tiny_model_builder(tmp_path_factory.mktemp("models"),
                              ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CCCl"], 40)


@pytest.fixture
def mgf(tmp_path):
    path = tmp_path / "aspirin.mgf"
    path.write_text(ASPIRIN_MGF)
    return path


def test_evidence_ranks_the_formula_and_scores_fragments(mgf):
    evidence = read_mass_evidence(mgf)
    assert evidence.formulas.candidates[0].name == "C9H8O4"
    assert evidence.precursor_mz == pytest.approx(181.04953)
    terms = ms_terms(evidence, ["CC(=O)Oc1ccccc1C(=O)O", "COC(=O)c1ccccc1OC=O", "not smiles"])
    assert terms[0] == pytest.approx(1.0) and terms[1] < terms[0] and terms[2] == 0.0


def test_elucidate_assumes_the_formula_and_ranks_with_the_ms_term(tmp_path, tiny_models, mgf,
                                                                 capsys):
    cands = tmp_path / "cands.smi"
    cands.write_text("CC(=O)Oc1ccccc1C(=O)O aspirin\nCOC(=O)c1ccccc1OC=O formyl\n"
                     "CC(=O)Nc1ccc(O)cc1 paracetamol\n")
    out = tmp_path / "out"
    assert main(["elucidate", "--model", str(tiny_models / "structure"),
                 "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--candidates", str(cands),
                 "--no-simulate", "--ms", str(mgf), "--ms-weight", "100", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "formula C9H8O4 assumed from the mass spectrum" in text and "--ms-adduct" in text
    rows = list(csv.DictReader((out / "structures.csv").open()))
    # paracetamol has another formula and is dropped; the MS term decides the order
    assert [r["smiles"] for r in rows] == ["CC(=O)Oc1ccccc1C(=O)O", "COC(=O)c1ccccc1OC=O"]
    assert float(rows[0]["ms"]) == pytest.approx(1.0)
    doc = json.loads((out / "structures.json").read_text())
    assert doc["formula"] == "C9H8O4" and np.isfinite(doc["structures"][1]["ms"])


def test_ms_flags_without_a_file_are_refused(tmp_path, tiny_models, capsys):
    assert main(["elucidate", "--model", str(tiny_models / "structure"),
                 "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--ms-weight", "3",
                 "-o", str(tmp_path)]) == 2
    assert "--ms FILE" in capsys.readouterr().err
