"""The SMILES decoder: it overfits a handful of molecules, beam search, model files."""

import numpy as np
import pytest
import torch

from mspectmol.errors import ModelFileError
from mspectmol.structure.generation.beam import generate, rank_hypotheses
from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
from mspectmol.structure.model.io import load_structure_model, save_structure_model
from mspectmol.structure.model.tokens import Vocabulary, canonical, smiles_formula
from mspectmol.structure.training import DecoderData, TrainSettings, train_decoder

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)N", "C#CCC#N"]


def _data(n_tokens=4, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(len(MOLECULES), 3, n_tokens, n_features)).astype(np.float32)
    avail = np.ones((len(MOLECULES), 3), dtype=bool)
    return DecoderData(feats, avail, list(MOLECULES), [smiles_formula(s) for s in MOLECULES])


def _tiny_config(vocab, **kw):
    base = {"vocab_size": len(vocab), "n_features": 6, "n_tokens": 4, "d_model": 32,
            "n_heads": 2, "n_encoder_layers": 0, "n_decoder_layers": 2, "ff_dim": 64,
            "dropout": 0.0, "max_len": 24}
    return StructureConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def overfit():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = _data()
    vocab = Vocabulary.build(data.smiles)
    settings = TrainSettings(epochs=120, batch_size=4, lr=3e-3, warmup_steps=10,
                             random_smiles=0.0, formula_dropout=1.0, aux_dropout=0.0,
                             bf16=False)
    model, history = train_decoder(_tiny_config(vocab), vocab, data, None, settings)
    return model, vocab, data, history


def test_decoder_overfits_a_handful_of_molecules(overfit):
    model, vocab, data, history = overfit
    assert history["epochs"][-1]["train_loss"] < 0.05
    results = generate(model, vocab, data.features, data.available, [None] * 4, k=1)
    assert [r.smiles[0] for r in results] == [canonical(s) for s in MOLECULES]


def test_beam_returns_k_distinct_valid_canonical(overfit):
    model, vocab, data, _ = overfit
    results = generate(model, vocab, data.features, data.available, [None] * 4, k=3,
                       beam_width=16)
    for r, truth in zip(results, MOLECULES, strict=True):
        assert 1 <= len(r.smiles) <= 3
        assert len(set(r.smiles)) == len(r.smiles)
        assert all(canonical(s) == s for s in r.smiles)
        assert r.smiles[0] == canonical(truth)
        assert r.scores == sorted(r.scores, reverse=True)


def test_formula_filter(overfit):
    model, vocab, data, _ = overfit
    results = generate(model, vocab, data.features, data.available,
                       [smiles_formula(s) for s in MOLECULES], k=5, beam_width=16)
    for r, truth in zip(results, MOLECULES, strict=True):
        assert all(smiles_formula(s) == smiles_formula(truth) for s in r.smiles)


def test_rank_hypotheses_dedup_invalid_formula():
    vocab = Vocabulary.build(["OCC", "CCO", "C(C", "COC", "CCC"])
    seqs = [vocab.encode(s) for s in ("OCC", "CCO", "C(C", "COC", "CCC")]
    width = max(map(len, seqs))
    tokens = np.array([s + [0] * (width - len(s)) for s in seqs])
    scores = np.array([-1.0, -0.5, -0.1, -2.0, -3.0])
    out = rank_hypotheses(tokens, scores, vocab, k=10)
    assert out.smiles == ["CCO", "COC", "CCC"]  # OCC merged into CCO at its best score
    assert out.scores == [-0.5, -2.0, -3.0]
    assert out.n_valid == 4
    only = rank_hypotheses(tokens, scores, vocab, k=10, formula="C2H6O")
    assert only.smiles == ["CCO", "COC"] and only.n_wrong_formula == 1
    assert rank_hypotheses(tokens, scores, vocab, k=1).smiles == ["CCO"]


def test_model_file_round_trip_and_corruption(tmp_path, overfit):
    model, vocab, data, _ = overfit
    save_structure_model(tmp_path / "m", model, vocab, ["ir", "h_nmr", "c_nmr"],
                         training={"note": "test"})
    loaded, vocab2, meta = load_structure_model(tmp_path / "m")
    assert vocab2 == vocab and meta.training["note"] == "test"
    x = (torch.as_tensor(data.features), torch.as_tensor(data.available),
         torch.full((4, 13), -1))
    tokens = torch.tensor([vocab.encode("CCO")] * 4)
    assert torch.allclose(model.eval()(tokens, *x), loaded(tokens, *x))
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match="truncated or altered"):
        load_structure_model(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_structure_model(tmp_path / "m")
    with pytest.raises(ModelFileError, match="not found"):
        load_structure_model(tmp_path / "missing")


def test_memory_shape_mismatch_is_an_error():
    from mspectmol.errors import ConfigError

    vocab = Vocabulary.build(["CCO"])
    model = StructureDecoder(_tiny_config(vocab))
    with pytest.raises(ConfigError, match="do not match"):
        model(torch.ones(1, 3, dtype=torch.long), torch.zeros(1, 3, 5, 6),
              torch.ones(1, 3, dtype=torch.bool), torch.full((1, 13), -1))


def test_token_elements_and_constrained_beam(overfit):
    from mspectmol.structure.generation.beam import token_elements
    from mspectmol.structure.model.tokens import ELEMENTS

    vocab = Vocabulary(("<pad>", "<bos>", "<eos>", "<unk>", "Cl", "[nH]", "c", "=", "%10",
                        "[13CH3]"))
    table = token_elements(vocab)
    names = {t: [ELEMENTS[i] for i in np.flatnonzero(row)] for t, row in
             zip(vocab.tokens, table, strict=True)}
    assert names["Cl"] == ["Cl"] and names["[nH]"] == ["N"] and names["c"] == ["C"]
    assert names["[13CH3]"] == ["C"] and names["="] == [] and names["%10"] == []
    # Ethanol's formula for every molecule's spectra: every output has that formula.
    model, vocab, data, _ = overfit
    results = generate(model, vocab, data.features, data.available, ["C2H6O"] * 4, k=3,
                       beam_width=8)
    assert sum(bool(r.smiles) for r in results) >= 2
    assert all(smiles_formula(s) == "C2H6O" for r in results for s in r.smiles)


def test_half_precision_model_file(tmp_path, overfit):
    model, vocab, data, _ = overfit
    full = save_structure_model(tmp_path / "f", model, vocab, ["ir", "h_nmr", "c_nmr"])
    half = save_structure_model(tmp_path / "h", model, vocab, ["ir", "h_nmr", "c_nmr"],
                                half=True)
    size = [(p.parent / "model.safetensors").stat().st_size for p in (full, half)]
    assert size[1] < 0.6 * size[0]
    loaded, _, _ = load_structure_model(tmp_path / "h")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = (torch.as_tensor(data.features), torch.as_tensor(data.available),
         torch.full((4, 13), -1))
    tokens = torch.tensor([vocab.encode("CCO")] * 4)
    assert torch.allclose(model.eval()(tokens, *x), loaded(tokens, *x), atol=0.05)
    results = generate(loaded, vocab, data.features, data.available, [None] * 4, k=1)
    assert [r.smiles[0] for r in results] == [canonical(s) for s in MOLECULES]
