"""The structure models' training domain, and the warning ``mspectmol elucidate`` gives for a
formula outside it."""

import json
from pathlib import Path

import pytest

from mspectmol.cli.main import main
from mspectmol.errors import MspectmolError
from mspectmol.structure.model.domain import (
    ModelDomain,
    model_domain,
    training_domain,
    vocabulary_elements,
)
from mspectmol.structure.model.io import load_structure_model, save_structure_model
from mspectmol.structure.model.tokens import Vocabulary
from mspectmol.structure.pretrained import PRETRAINED_DIR

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"


def test_a_formula_is_checked_against_size_and_elements():
    domain = ModelDomain(9, ("C", "F", "N", "O"), "QM9 structures")
    assert domain.describe() == "QM9 structures: at most 9 heavy atoms of C, F, N, O"
    assert domain.outside("C7H10O2") == []
    assert domain.outside("C9H8O4") == ["13 heavy atoms"]
    assert domain.outside("C2H5ClS") == ["elements S, Cl"]
    assert ModelDomain(None, ("C",), "x").outside("C40H82") == []
    with pytest.raises(MspectmolError):
        domain.outside("C9H8Q")


def test_domain_comes_from_the_record_else_the_declared_limits_else_the_vocabulary():
    vocab = Vocabulary.build(["CCO", "c1ccncc1", "CCCl", "C[N+](C)(C)C"])
    assert vocabulary_elements(vocab) == ("C", "Cl", "N", "O")
    stored = {"domain": {"max_heavy_atoms": 5, "elements": ["C", "O"], "trained_on": "toys"}}
    assert model_domain(stored, vocab) == ModelDomain(5, ("C", "O"), "toys")
    assert model_domain({"variant": "evidence-prior"}, vocab).max_heavy_atoms == 9
    assert model_domain({"variant": "pa_ib"}, vocab).max_heavy_atoms == 16
    assert model_domain({}, vocab) == ModelDomain(None, ("C", "Cl", "N", "O"), "its vocabulary")
    assert training_domain(["CCO", "Clc1ccccc1"], "toys") == {
        "max_heavy_atoms": 7, "elements": ["C", "Cl", "O"], "trained_on": "toys"}
    with pytest.raises(MspectmolError, match="not a valid SMILES"):
        training_domain(["C1CC"], "toys")


@pytest.mark.parametrize("name, limit, elements", [
    ("prior", 9, ("C", "F", "N", "O")),
    ("default", 16, ("Br", "C", "Cl", "F", "I", "N", "O", "P", "S")),
])
def test_packaged_models_declare_their_domain(name, limit, elements):
    if not (PRETRAINED_DIR / name / "model.json").is_file():
        pytest.skip(f"no packaged structure model {name}")
    _, vocab, meta = load_structure_model(PRETRAINED_DIR / name)
    domain = model_domain(meta.training, vocab)
    assert domain.max_heavy_atoms == limit and domain.elements == elements


@pytest.fixture(scope="module")
def small_domain_model(tmp_path_factory, tiny_model_builder):
    """A tiny structure model whose record says it was trained on at most 5 heavy atoms."""
    root = tiny_model_builder(tmp_path_factory.mktemp("models"),
                              ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CCCl"], 40)
    model, vocab, meta = load_structure_model(root / "structure")
    record = {"domain": {"max_heavy_atoms": 5, "elements": ["C", "Cl", "N", "O"],
                         "trained_on": "toy molecules"}}
    save_structure_model(root / "small", model, vocab, list(meta.modalities),
                         encoder=meta.encoder, training=record)
    return root / "small"


def _elucidate(model, out, *extra):
    cands = out.parent / "cands.smi"
    cands.write_text("CC(=O)Oc1ccccc1C(=O)O aspirin\nCCCCl chlorobutane\n")
    return main(["elucidate", "--model", str(model), "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--candidates", str(cands), "--no-simulate", "-o", str(out), *extra])


def test_elucidate_warns_outside_the_training_domain(tmp_path, small_domain_model, capsys):
    assert _elucidate(small_domain_model, tmp_path / "big", "--formula", "C9H8O4") == 0
    printed = capsys.readouterr().out
    warnings = [line for line in printed.splitlines() if line.startswith("WARNING:")]
    assert warnings == ["WARNING: C9H8O4 is outside what the structure decoder was trained on "
                        "(toy molecules: at most 5 heavy atoms of C, Cl, N, O): it has 13 heavy "
                        "atoms; expect wrong structures"]
    doc = json.loads((tmp_path / "big" / "structures.json").read_text())
    assert doc["out_of_domain"] == [warnings[0].removeprefix("WARNING: ")]
    assert [r["smiles"] for r in doc["structures"]] == ["CC(=O)Oc1ccccc1C(=O)O"]


def test_elucidate_is_quiet_inside_the_domain(tmp_path, small_domain_model, capsys):
    assert _elucidate(small_domain_model, tmp_path / "small", "--formula", "C3H7Cl") == 0
    assert "WARNING" not in capsys.readouterr().out
    doc = json.loads((tmp_path / "small" / "structures.json").read_text())
    assert doc["out_of_domain"] == []
    assert _elucidate(small_domain_model, tmp_path / "none") == 0  # no formula: not checked
    assert json.loads((tmp_path / "none" / "structures.json").read_text())[
        "out_of_domain"] is None
