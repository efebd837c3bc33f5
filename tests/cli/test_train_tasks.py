"""``mspectmol train --task structure|conformers``: options, recipes and the model written."""

import json

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

import mspectmol.conformers.train as conformer_train
import mspectmol.structure.generation.prior_training as prior_training
from mspectmol.cli.main import main
from mspectmol.conformers.data import ConformerRecord
from mspectmol.conformers.graph import graph_from_mol
from mspectmol.errors import MspectmolError
from mspectmol.models.modelfile import read_document
from mspectmol.structure.generation.corpus import describe
from mspectmol.structure.generation.prior_training import (
    balanced_lines,
    read_pack,
    save_pack,
)
from mspectmol.structure.model.io import load_structure_model
from mspectmol.structure.model.tokens import Vocabulary

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)N", "CCN", "OCC(=O)O", "CC#N", "CCCO", "CC(C)O"]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    corpus = describe(MOLECULES)
    lines = [np.array([58.0, 18.0], np.float32)] + [None] * (len(MOLECULES) - 1)
    vocab = Vocabulary.build(MOLECULES + ["OCC", "Oc1ccccc1"])
    path = tmp_path_factory.mktemp("pack") / "pack.npz"
    save_pack(path, corpus, lines, vocab, [[s] for s in corpus.smiles], "toy")
    return path


@pytest.mark.parametrize("argv, message", [
    (["--task", "structure", "--patience", "3"], "--patience: not an option of --task "
                                                 "structure"),
    (["--task", "structure", "--variant", "prior", "--ranking-val", "5"],
     "--ranking-val: not an option of --task structure --variant prior"),
    (["--task", "conformers", "--device", "cuda", "--config", "quick"],
     "--device, --config: not an option of --task conformers"),
    (["--task", "classifier", "--hidden", "8"], "--hidden: not an option of --task "
                                                "classifier"),
    (["--hidden", "8"], "--hidden: not an option of --task classifier"),
    (["--task", "structure", "--variant", "nope"], "unknown structure variant 'nope'"),
])
def test_options_of_another_task_are_refused(argv, message, capsys):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_prior_trains_from_a_pack_into_the_one_format(pack, tmp_path, capsys):
    out = tmp_path / "prior"
    argv = ["train", "--task", "structure", "--variant", "prior", "--pack", str(pack),
            "--epochs", "2", "--batch-size", "4", "--d-model", "16", "--layers", "1",
            "--threads", "1", "-o", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    doc = read_document(out, "structure")
    assert doc.format_version == 2 and doc.body["config"]["d_model"] == 16
    record = doc.body["training"]
    assert record["command"].startswith("mspectmol train --task structure --variant prior "
                                        f"--pack {pack} --d-model 16 --layers 1 --epochs 2")
    assert sorted(record["command"].split()) == sorted(["mspectmol", "--output",
                                                        *argv[:-2], str(out)])
    assert [r["epoch"] for r in record["epochs"]] == [1, 2]
    assert record["smiles_variants"] == "precomputed, pack" and record["n_val"] == 1
    card = (out / "MODEL_CARD.md").read_text()
    assert f"Rebuild: `{record['command']}`" in card
    load_structure_model(out)


def test_prior_continues_from_a_trained_generator(pack, tmp_path, capsys):
    first = tmp_path / "first"
    base = ["train", "--task", "structure", "--variant", "prior", "--pack", str(pack),
            "--batch-size", "4", "--threads", "1"]
    assert main([*base, "--epochs", "1", "--d-model", "16", "--layers", "1",
                 "-o", str(first)]) == 0
    trained, _, meta = load_structure_model(first)
    out = tmp_path / "more"
    assert main([*base, "--epochs", "1", "--lr", "0", "--init", str(first), "-o", str(out)]) == 0
    capsys.readouterr()
    more, _, meta2 = load_structure_model(out)
    assert meta2.config == meta.config  # the architecture comes from --init
    # at learning rate 0 the weights stay those of the generator it started from
    for (name, a), b in zip(trained.state_dict().items(), more.state_dict().values(),
                            strict=True):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-3), name
    record = meta2.training
    assert record["init"]["model"] == "first" and record["init"]["epochs"] == 1
    assert "continued from `first` (1 epoch, " in (out / "MODEL_CARD.md").read_text()
    # another width, or a corpus with another vocabulary, is refused in one line
    assert main([*base, "--init", str(first), "--d-model", "32", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--d-model 32 (the model has 16)" in err[0]
    other = tmp_path / "other.npz"
    corpus, lines, _, variants, source = read_pack(pack)
    save_pack(other, corpus, lines, Vocabulary.build([*MOLECULES, "ClCCBr"]), variants, source)
    assert main(["train", "--task", "structure", "--variant", "prior", "--pack", str(other),
                 "--init", str(first), "-o", str(tmp_path / "y")]) == 2
    assert "its vocabulary" in capsys.readouterr().err
    assert main([*base, "--init", str(tmp_path / "nothing"), "-o", str(tmp_path / "z")]) == 2
    assert "neither a generator folder nor a packaged generator" in capsys.readouterr().err


def test_balanced_lines_keeps_every_known_structure_and_as_many_others():
    lines = [np.ones(2, np.float32) if i in (2, 5, 9) else None for i in range(12)]
    idx = np.arange(1, 12)
    chosen = balanced_lines(idx, lines, seed=0)
    assert set(chosen) >= {2, 5, 9} and len(chosen) == 6
    assert chosen.tolist() == sorted(chosen.tolist())
    assert chosen.tolist() == balanced_lines(idx, lines, seed=0).tolist()  # seeded
    assert len(balanced_lines(np.array([2, 3, 5, 9]), lines, seed=0)) == 4  # fewer others
    with pytest.raises(MspectmolError, match="no training structure has predicted 13C"):
        balanced_lines(np.array([0, 1, 3]), lines, seed=0)


def test_prior_trains_on_balanced_lines(tmp_path, capsys):
    corpus = describe(MOLECULES)
    lines = [np.array([58.0, 18.0], np.float32)] * 3 + [None] * (len(MOLECULES) - 3)
    path = tmp_path / "lines.npz"
    save_pack(path, corpus, lines, Vocabulary.build(MOLECULES + ["OCC", "Oc1ccccc1"]),
              [[s] for s in corpus.smiles], "toy")
    out = tmp_path / "balanced"
    assert main(["train", "--task", "structure", "--variant", "prior", "--pack", str(path),
                 "--epochs", "1", "--batch-size", "4", "--d-model", "16", "--layers", "1",
                 "--threads", "1", "--balance-lines", "-o", str(out)]) == 0
    capsys.readouterr()
    record = load_structure_model(out)[2].training
    assert record["n_train"] in (4, 6) and "--balance-lines" in record["command"]
    assert record["evidence_available"]["c13_shifts"] > 0
    assert "as many others, drawn at random (--balance-lines)" in (
        out / "MODEL_CARD.md").read_text()


def test_write_pack_gathers_and_stops(pack, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prior_training, "gather", lambda seed, n, corpus, size: read_pack(pack))
    out = tmp_path / "new.npz"
    assert main(["train", "--task", "structure", "--variant", "prior", "--write-pack",
                 str(out), "--smiles-variants", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert read_pack(out)[0].smiles == read_pack(pack)[0].smiles


def test_structure_decoder_is_trained_with_its_ranking_weights(tmp_path, capsys):
    out = tmp_path / "decoder"
    assert main(["train", "--task", "structure", "--variant", "transformer", "--epochs", "1",
                 "--max-train", "16", "--ranking-val", "2", "--minutes", "0", "-o",
                 str(out)]) == 0
    _, _, meta = load_structure_model(out)
    assert meta.training["variant"] == "transformer" and meta.training["n_train"] == 16
    assert set(meta.training["ranking_weights"]) >= {"ll", "fg", "spec"}
    assert "Rebuild: `mspectmol train --task structure --variant transformer --minutes 0.0 " \
           "--ranking-val 2 --epochs 1" in \
           (out / "MODEL_CARD.md").read_text()


def test_conformer_task_builds_the_recipe(tmp_path, monkeypatch, capsys):
    records = []
    for i, smi in enumerate(["CCO", "CC=O", "CCN", "OCO", "CC#N", "NCO"]):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(mol, randomSeed=1)
        xyz = mol.GetConformer().GetPositions()
        spectra = {m: np.random.default_rng(i).random(600).astype(np.float32)
                   for m in ("ir", "h_nmr")}
        records.append(ConformerRecord(str(i), smi, graph_from_mol(mol), xyz, xyz, spectra,
                                       split="train" if i < 4 else "val"))
    asked = {}

    def fake_records(modalities, *, split_scheme):
        asked.update(modalities=modalities, split=split_scheme)
        return records

    monkeypatch.setattr(conformer_train, "load_conformer_records", fake_records)
    out = tmp_path / "conformers"
    assert main(["train", "--task", "conformers", "--auxiliary", "h_nmr", "--split", "random",
                 "--epochs", "2", "--batch-size", "2", "--hidden", "16", "--n-steps", "10",
                 "--refine-val", "1", "-o", str(out)]) == 0
    assert asked == {"modalities": ("ir", "h_nmr"), "split": "random"}
    doc = read_document(out, "conformers")
    assert doc.body["config"]["hidden"] == 16 and doc.body["config"]["auxiliary"] == ["h_nmr"]
    assert json.loads((out / "model.json").read_text())["training"]["settings"]["epochs"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.safetensors"]
