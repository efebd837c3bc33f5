"""Conformer training through the shared loop: fixed seeds, exact resumption, model files."""

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

import mspectmol.conformers.train as conformer_train
from mspectmol.conformers.data import ConformerRecord
from mspectmol.conformers.graph import graph_from_mol
from mspectmol.conformers.io import read_conformer_meta
from mspectmol.conformers.train import TrainSettings, train_conformer_model, train_model
from mspectmol.errors import MspectmolError

SMILES = ["CCO", "CC=O", "CCN", "OCO", "CC#N", "NCO", "CCC", "CO"]


@pytest.fixture(scope="module")
def records():
    out = []
    for i, smi in enumerate(SMILES):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(mol, randomSeed=1)
        xyz = mol.GetConformer().GetPositions()
        gen = np.random.default_rng(i)
        out.append(ConformerRecord(str(i), smi, graph_from_mol(mol), xyz, xyz + 0.01,
                                   {m: gen.random(64).astype(np.float32)
                                    for m in ("ir", "raman")},
                                   split="train" if i < 6 else "val"))
    return out


SETTINGS = TrainSettings(epochs=3, batch_size=3, seed=2, val_molecules=3)


def _weights(model):
    return [v.clone() for v in model.state_dict().values()]


def test_fixed_seed_runs_agree_and_an_interrupted_run_resumes_exactly(
        records, make_config, tmp_path, monkeypatch):
    train, val = records[:6], records[6:]
    model, summary = train_conformer_model(make_config(), train, val, SETTINGS)
    again, _ = train_conformer_model(make_config(), train, val, SETTINGS)
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), _weights(again), strict=True))
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3]
    assert summary["best_val_loss"] == min(r["val_loss"] for r in summary["history"])

    calls, real = [], conformer_train.validation_loss

    def crash_in_epoch_three(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(conformer_train, "validation_loss", crash_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        train_conformer_model(make_config(), train, val, SETTINGS, tmp_path)
    monkeypatch.setattr(conformer_train, "validation_loss", real)
    resumed, done = train_conformer_model(make_config(), train, val, SETTINGS, tmp_path)
    assert [r["train_loss"] for r in done["history"]] == \
        [r["train_loss"] for r in summary["history"]]
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), _weights(resumed),
                                                 strict=True))
    with pytest.raises(MspectmolError, match="checkpoint of different train data"):
        train_conformer_model(make_config(), train[1:], val, SETTINGS, tmp_path)


def test_train_model_writes_a_conformer_model_file(records, make_config, tmp_path):
    settings = TrainSettings(epochs=1, batch_size=4, seed=0, val_molecules=2)
    model, meta = train_model(make_config(), records, settings, tmp_path / "model",
                              checkpoint=tmp_path / "checkpoint", refine_val=2)
    assert meta["kind"] == "conformers" and meta["domain"]["max_heavy_atoms"] == 3
    assert meta["training"]["refine_selection"]["chosen"] == model.config.refine_t_start
    assert read_conformer_meta(tmp_path / "model")["training"]["n_train"] == 6
    assert not (tmp_path / "checkpoint" / "last.safetensors").exists()
