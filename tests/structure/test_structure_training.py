"""Decoder training options: precomputed randomised SMILES, devices, time budgets, packs."""

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_write
from mspectmol.structure.generation.corpus import describe
from mspectmol.structure.generation.prior_training import read_pack, save_pack
from mspectmol.structure.model.decoder import StructureConfig
from mspectmol.structure.model.tokens import Vocabulary, canonical
from mspectmol.structure.training import DecoderData, TrainSettings, train_decoder

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)N"]
VARIANTS = [["OCC", "C(O)C"], ["Oc1ccccc1"], []]


def _data(**kw):
    feats = np.random.default_rng(0).normal(size=(3, 2, 1, 5)).astype(np.float32)
    return DecoderData(feats, np.ones((3, 2), dtype=bool), list(MOLECULES),
                       ["C2H6O", "C6H6O", "C2H5NO"], **kw)


def test_targets_come_from_precomputed_variants():
    data = _data(variants=VARIANTS)
    rng = np.random.default_rng(0)
    drawn = {data.target(0, 1.0, rng) for _ in range(40)}
    assert drawn == {"OCC", "C(O)C"}
    assert data.target(1, 0.0, rng) == canonical("c1ccccc1O")
    assert data.target(2, 1.0, rng) == canonical("CC(=O)N")  # no variant: canonical
    sub = data.subset(np.array([1]))
    assert sub.variants == [["Oc1ccccc1"]] and sub.smiles == [canonical("c1ccccc1O")]


def test_trusted_smiles_are_kept_as_given_and_lengths_are_checked():
    assert _data(canonicalise=False).smiles == MOLECULES  # "c1ccccc1O" not rewritten
    assert _data().smiles[1] == canonical("c1ccccc1O")
    with pytest.raises(MspectmolError, match="2 of 3"):
        _data(variants=VARIANTS[:2])


def _config(vocab):
    return StructureConfig(vocab_size=len(vocab), n_features=5, n_modalities=2, n_tokens=1,
                           d_model=16, n_heads=2, n_encoder_layers=0, n_decoder_layers=1,
                           ff_dim=32, dropout=0.0, max_len=24)


def test_training_with_variants_needs_no_rdkit_call(monkeypatch):
    import mspectmol.structure.training as training

    def no_rdkit(*_a, **_k):
        raise AssertionError("RDKit randomisation called despite precomputed variants")

    monkeypatch.setattr(training, "randomised", no_rdkit)
    data = _data(variants=VARIANTS)
    vocab = Vocabulary.build(MOLECULES + [v for row in VARIANTS for v in row])
    settings = TrainSettings(epochs=2, batch_size=3, warmup_steps=1, random_smiles=1.0,
                             formula_dropout=0.0, aux_dropout=0.0, bf16=False)
    model, history = train_decoder(_config(vocab), vocab, data, data, settings)
    assert len(history["epochs"]) == 2 and np.isfinite(history["best_val_loss"])
    assert next(model.parameters()).device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_devices_are_checked():
    data = _data()
    vocab = Vocabulary.build(data.smiles)
    with pytest.raises(MspectmolError, match="no GPU"):
        train_decoder(_config(vocab), vocab, data, None, TrainSettings(device="cuda"))
    with pytest.raises(MspectmolError, match="unknown training device"):
        train_decoder(_config(vocab), vocab, data, None, TrainSettings(device="abacus"))


def test_time_budget_stops_after_the_first_epoch_past_it():
    data = _data()
    vocab = Vocabulary.build(data.smiles)
    settings = TrainSettings(epochs=50, batch_size=3, warmup_steps=1, random_smiles=0.0,
                             max_minutes=1e-9, bf16=False)
    _, history = train_decoder(_config(vocab), vocab, data, None, settings)
    assert len(history["epochs"]) == 1 and "time budget" in history["stopped"]


@pytest.mark.parametrize("native", [True, False])
def test_bf16_follows_the_cpu_unless_forced(native, monkeypatch):
    import mspectmol.models.precision as precision

    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    data = _data()
    vocab = Vocabulary.build(data.smiles)
    assert TrainSettings().bf16 is None
    settings = TrainSettings(epochs=1, batch_size=3, warmup_steps=1, random_smiles=0.0)
    _, history = train_decoder(_config(vocab), vocab, data, None, settings)
    assert history["settings"]["bf16"] is native  # bfloat16 only where native
    settings.bf16 = False
    _, history = train_decoder(_config(vocab), vocab, data, None, settings)
    assert history["settings"]["bf16"] is False


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_training_pack_round_trip_and_corrupt_pack(tmp_path):
    corpus = describe(MOLECULES)
    lines = [np.array([58.0, 18.0], np.float32), None, np.zeros(0, np.float32)]
    vocab = Vocabulary.build(MOLECULES + ["OCC"])
    path = tmp_path / "pack.npz"
    save_pack(path, corpus, lines, vocab, [["OCC"], ["Oc1ccccc1"], ["NC(C)=O"]],
                        "toy")
    back, back_lines, back_vocab, variants, source = read_pack(path)
    assert back.smiles == corpus.smiles and back.formulas == corpus.formulas
    assert np.array_equal(back.labels, corpus.labels) and np.allclose(back.h1, corpus.h1)
    assert np.allclose(back_lines[0], [58.0, 18.0]) and back_lines[1] is None
    assert len(back_lines[2]) == 0
    assert back_vocab == vocab and variants[1] == ["Oc1ccccc1"] and source == "toy"
    path.write_bytes(b"not a pack")
    with pytest.raises(MspectmolError, match="pack.npz: not a readable training pack"):
        read_pack(path)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fixed_seed_runs_agree_and_an_interrupted_run_resumes_exactly(tmp_path, monkeypatch):
    import mspectmol.structure.training as training

    data = _data(variants=VARIANTS)
    vocab = Vocabulary.build(MOLECULES + [v for row in VARIANTS for v in row])
    settings = TrainSettings(epochs=3, batch_size=2, warmup_steps=1, random_smiles=0.5,
                             formula_dropout=0.3, aux_dropout=0.3, bf16=False, seed=4)
    first, history = train_decoder(_config(vocab), vocab, data, data, settings)
    second, _ = train_decoder(_config(vocab), vocab, data, data, settings)
    assert all(torch.equal(a, b) for a, b in zip(_state(first).values(),
                                                   _state(second).values(), strict=True))
    assert [r["epoch"] for r in history["epochs"]] == [1, 2, 3]
    assert history["best_epoch"] in (1, 2, 3) and history["minutes"] > 0

    calls = []
    real = training.validation_loss

    def crash_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "validation_loss", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train_decoder(_config(vocab), vocab, data, data, settings, checkpoint_dir=tmp_path)
    monkeypatch.setattr(training, "validation_loss", real)
    resumed, again = train_decoder(_config(vocab), vocab, data, data, settings,
                                   checkpoint_dir=tmp_path)
    assert [r["train_loss"] for r in again["epochs"]] == \
        [r["train_loss"] for r in history["epochs"]]
    assert all(torch.equal(a, b) for a, b in zip(_state(first).values(),
                                                   _state(resumed).values(), strict=True))
    other = TrainSettings(**{**settings.__dict__, "lr": 0.5})
    with pytest.raises(MspectmolError, match="checkpoint of different settings .*lr"):
        train_decoder(_config(vocab), vocab, data, data, other, checkpoint_dir=tmp_path)
