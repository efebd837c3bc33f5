"""The evidence-conditioned structure generator: corpus, evidence features, sampling."""

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.generation.corpus import describe, held_out
from mspectmol.structure.generation.generator import observed_evidence
from mspectmol.structure.generation.prior import (
    C13_CENTRES,
    EVIDENCE,
    N_FEATURES,
    CorpusAugment,
    EvidenceNoise,
    corpus_features,
    evidence_features,
    shift_histogram,
)
from mspectmol.structure.generation.sampling import sample_structures
from mspectmol.structure.model.decoder import StructureConfig
from mspectmol.structure.model.tokens import canonical, smiles_formula
from mspectmol.structure.training import DecoderData, TrainSettings, train_decoder

# Two pairs of isomers: C4H8O (butanal, butanone) and C3H6O2 (propanoic acid, methyl acetate).
MOLECULES = ["CCCC=O", "CCC(C)=O", "CCC(=O)O", "COC(C)=O"]


def test_describe_counts_carbons_and_protons():
    c = describe(["CCC(C)=O", "c1ccccc1"])
    assert c.formulas == ["C4H8O", "C6H6"]
    assert c.c13.tolist() == [[3, 0, 1], [0, 1, 0]]  # benzene: one aromatic line
    assert np.allclose(c.h1.sum(axis=1), [8, 6])  # protons per region sum to the formula's H
    assert c.h1[1, 2] > 5  # aromatic protons in the 5.5-8.9 ppm region
    assert c.labels.shape == (2, 37) and c.labels[0].sum() >= 1


def test_held_out_removes_molecules_and_their_scaffolds():
    smiles = ["CCO", "Cc1ccccc1", "Oc1ccccc1", "C1CCCC1", "CCC"]
    mask = held_out(smiles, ["CCO", "c1ccccc1N"])
    # ethanol itself; toluene and phenol share aniline's benzene scaffold; acyclic propane
    # (empty scaffold) and cyclopentane stay
    assert mask.tolist() == [True, True, True, False, False]


def test_evidence_features_layout_and_errors():
    g, c, h = np.full((2, 37), 0.5), np.array([[1, 2, 0], [3, 0, 1]]), np.ones((2, 4))
    feats, avail = evidence_features(g, c, None)
    assert feats.shape == (2, len(EVIDENCE), 1, N_FEATURES)
    assert avail.tolist() == [[True, True, False, False]] * 2
    assert feats[1, 1, 0, 37:40].tolist() == [3, 0, 1] and not feats[:, 2].any()
    assert not feats[:, 0, 0, 37:].any()  # disjoint columns
    with pytest.raises(MspectmolError, match="differ in length"):
        evidence_features(g, c[:1], h)
    with pytest.raises(MspectmolError, match="columns"):
        evidence_features(g[:, :5], c, h)
    with pytest.raises(MspectmolError, match="NaN"):
        evidence_features(g, c, np.full((2, 4), np.nan))
    feats, avail = evidence_features(n=3)
    assert feats.shape[0] == 3 and not avail.any()


def test_evidence_noise_corrupts_within_bounds():
    corpus = describe(MOLECULES * 50)
    feats, avail = corpus_features(corpus)
    noisy, av = EvidenceNoise(drop=0.5)(feats, avail, np.random.default_rng(0))
    g = noisy[:, 0, 0, :37]
    assert np.allclose(np.minimum(np.abs(g - 0.05), np.abs(g - 0.95)), 0, atol=1e-6)
    assert 0.01 < np.mean((g > 0.5) != (feats[:, 0, 0, :37] > 0.5)) < 0.06
    assert np.all(noisy >= 0) and 0.4 < av[:, :3].mean() < 0.6 and not av[:, 3].any()
    assert np.abs(noisy[:, 1] - feats[:, 1]).max() == 1  # 13C counts move by one line at most


def test_shift_histogram_counts_lines_where_they_fall():
    hist, known = shift_histogram([np.array([20.0, 20.0, 170.0]), None, np.zeros(0),
                                   np.array([-5.0, 400.0])])
    assert known.tolist() == [True, False, True, True]
    assert np.allclose(hist.sum(axis=1), [3, 0, 0, 2])  # one unit per line
    assert C13_CENTRES[np.argmax(hist[0])] == 20.0 and hist[0, C13_CENTRES == 170.0] > 0.5
    assert hist[3, 0] > 0.5 and hist[3, -1] > 0.5  # out-of-range lines clipped to the ends
    with pytest.raises(MspectmolError, match="NaN"):
        shift_histogram([np.array([np.nan])])


def test_corpus_features_use_lines_and_augment_jitters_them():
    corpus = describe(MOLECULES)
    lines = [np.array([200.0, 45.0, 16.0, 14.0]), None, np.array([180.0, 28.0, 9.0]),
             np.array([171.0, 51.0, 21.0])]
    feats, avail = corpus_features(corpus, lines)
    col = EVIDENCE.index("c13_shifts")
    assert avail[:, col].tolist() == [True, False, True, True]
    assert np.allclose(feats[:, col, 0].sum(axis=1), [4, 0, 3, 3])
    aug = CorpusAugment(EvidenceNoise(flip=0.0, drop=0.0), lines, shift_sigma=2.0,
                        line_drop=0.0)
    noisy, av = aug(feats, avail, np.random.default_rng(0), np.arange(4))
    assert av.tolist() == avail.tolist()
    assert np.allclose(noisy[:, col, 0].sum(axis=1), [4, 0, 3, 3], atol=1e-5)
    assert not np.allclose(noisy[:, col], feats[:, col])  # lines moved
    drop = CorpusAugment(EvidenceNoise(drop=0.0), lines * 50, line_drop=0.5)
    many = np.repeat(feats, 50, axis=0)
    out, _ = drop(many, np.repeat(avail, 50, axis=0), np.random.default_rng(1),
                  np.arange(200))
    kept = out[:, col, 0].sum() / many[:, col, 0].sum()
    assert 0.4 < kept < 0.6
    assert {"shift_sigma", "line_drop", "flip"} <= set(aug.settings())


def test_observed_evidence_reads_lines_off_the_13c_spectrum():
    ppm = np.linspace(-20, 230, 600)
    y = np.exp(-0.5 * ((ppm - 30) / 0.5) ** 2) + 0.5 * np.exp(-0.5 * ((ppm - 170) / 0.5) ** 2)
    feats, avail = observed_evidence(np.full(37, 0.1), {"c_nmr": y}, {"c_nmr": ppm}, "C3H6O2")
    assert avail.tolist() == [True, True, False, True]
    density = feats[EVIDENCE.index("c13_shifts"), 0, -len(C13_CENTRES):]
    assert np.isclose(density.sum(), 2) and C13_CENTRES[np.argmax(density)] == 30.0
    assert feats[1, 0, 37:40].tolist() == [1, 0, 1]


@pytest.fixture(scope="module")
def prior():
    """A tiny generator overfitted to four molecules with their exact evidence."""
    from mspectmol.structure.training import build_vocabulary

    torch.manual_seed(0)
    torch.set_num_threads(1)
    corpus = describe(MOLECULES)
    feats, avail = corpus_features(corpus)
    data = DecoderData(feats, avail, corpus.smiles, corpus.formulas)
    vocab = build_vocabulary(corpus.smiles, n_random=0)
    config = StructureConfig(vocab_size=len(vocab), n_features=N_FEATURES,
                             n_modalities=len(EVIDENCE),
                             n_tokens=1, memory="evidence", d_model=32, n_heads=2,
                             n_encoder_layers=0, n_decoder_layers=2, ff_dim=64, dropout=0.0,
                             max_len=24)
    settings = TrainSettings(epochs=150, batch_size=4, lr=3e-3, warmup_steps=10,
                             random_smiles=0.0, formula_dropout=0.0, aux_dropout=0.0,
                             bf16=False)
    model, _ = train_decoder(config, vocab, data, None, settings)
    return model, vocab, feats, avail


def test_sampling_recovers_the_structure_the_evidence_describes(prior):
    model, vocab, feats, avail = prior
    for i, truth in enumerate(MOLECULES):
        out = sample_structures(model, vocab, feats[i], avail[i], smiles_formula(truth),
                                n=40, seed=i)
        assert out.smiles[0] == canonical(truth)  # drawn most often
        assert out.n_draws == 40 and out.n_formula <= out.n_valid <= 40
        assert len(set(out.smiles)) == len(out.smiles)
        assert sum(out.counts) == out.n_formula
        assert all(smiles_formula(s) == smiles_formula(truth) for s in out.smiles)


def test_sampling_is_seeded_and_checks_arguments(prior):
    model, vocab, feats, avail = prior
    a = sample_structures(model, vocab, feats[0], avail[0], "C4H8O", n=30, temperature=2.0,
                          seed=3)
    b = sample_structures(model, vocab, feats[0], avail[0], "C4H8O", n=30, temperature=2.0,
                          seed=3, batch_size=7)
    assert a.n_formula == sum(a.counts)
    assert sample_structures(model, vocab, feats[0], avail[0], "C4H8O", n=30,
                             temperature=2.0, seed=3).smiles == a.smiles
    assert b.n_draws == 30
    with pytest.raises(MspectmolError, match="temperature"):
        sample_structures(model, vocab, feats[0], avail[0], "C4H8O", temperature=0.0)
    with pytest.raises(MspectmolError, match=">= 1"):
        sample_structures(model, vocab, feats[0], avail[0], "C4H8O", n=0)
