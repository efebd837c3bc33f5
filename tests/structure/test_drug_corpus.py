"""The drug-size generator corpus: MOSES sample + v2 training molecules, held-out structures
and their scaffolds removed, cached."""

from __future__ import annotations

import numpy as np
import pytest

import mspectmol.data.sources as sources
import mspectmol.structure.generation.prior_training as prior_training
from mspectmol.cli.main import main
from mspectmol.errors import MspectmolError
from mspectmol.structure.generation import corpus as corpus_module
from mspectmol.structure.generation.corpus import (
    DRUG_MAX_TOKENS,
    drug_candidates,
    embedded_smiles,
    training_corpus,
)
from mspectmol.structure.generation.prior_training import decoder_length

MOSES = ["CC(=O)Nc1ccc(O)cc1", "OC(=O)c1ccccc1OC(C)=O", "c1ccc2ccccc2c1",
         "CCN(CC)CCNC(=O)c1ccccc1", "O=C(O)c1ccccc1OC(C)=O", "C" * 100]


def test_candidates_are_canonical_distinct_and_short():
    got = drug_candidates(MOSES, ["CCOC(=O)c1ccc(N)cc1"], n=len(MOSES), seed=0)
    # aspirin appears twice (two spellings), the 100-carbon chain is too long
    assert len(got) == 5 and len(set(got)) == 5
    assert "CC(=O)Oc1ccccc1C(=O)O" in got and "C" * 100 not in got
    assert got[-1] == "CCOC(=O)c1ccc(N)cc1"  # v2 training molecules come last
    assert DRUG_MAX_TOKENS < 100


def test_candidates_sample_is_seeded():
    a = drug_candidates(MOSES[:4], [], n=3, seed=1)
    assert a == drug_candidates(MOSES[:4], [], n=3, seed=1) and len(a) == 3


def test_drug_corpus_holds_out_test_molecules_and_their_scaffolds(tmp_path, monkeypatch):
    held = embedded_smiles("v2", ("test",), part="v2")
    if not held:
        pytest.skip("the embedded dataset v2 has no index yet")
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path))
    fake = [*MOSES[:4], held[0]]
    monkeypatch.setattr(sources, "moses_smiles", lambda cache_dir, split="train": fake)
    corpus = training_corpus("drug", n=len(fake))
    assert held[0] not in corpus.smiles
    assert "CC(=O)Nc1ccc(O)cc1" in corpus.smiles
    assert corpus.labels.shape == (len(corpus), 37) and corpus.h1.shape == (len(corpus), 4)
    # the v2 training molecules are in it, bar those sharing a held-out scaffold
    assert len(corpus) > 4
    cached = list((tmp_path / "prior").glob(f"drug{len(fake)}s0_corpus_v*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(corpus_module, "describe", lambda s: pytest.fail("not cached"))
    assert training_corpus("drug", n=len(fake)).smiles == corpus.smiles


def test_unknown_corpus_is_refused():
    with pytest.raises(MspectmolError, match="unknown generator corpus 'zinc'"):
        training_corpus("zinc")
    with pytest.raises(MspectmolError, match="unknown generator corpus"):
        prior_training.PriorRecipe(corpus="zinc")


def test_decoder_length_grows_for_drug_size_smiles():
    assert decoder_length(["CCO", "c1ccccc1O"]) == 64
    assert decoder_length(["C" * 70]) == 128


def test_write_pack_passes_the_corpus(tmp_path, monkeypatch, capsys):
    asked = {}

    def fake_save(path, *pack):
        asked["saved"] = path

    def fake_gather(seed, n_variants, corpus_name, corpus_size):
        asked.update(seed=seed, variants=n_variants, corpus=corpus_name, size=corpus_size)
        return (None,) * 5

    monkeypatch.setattr(prior_training, "gather", fake_gather)
    monkeypatch.setattr(prior_training, "save_pack", fake_save)
    out = tmp_path / "drug.npz"
    assert main(["train", "--task", "structure", "--variant", "prior", "--corpus", "drug",
                 "--corpus-size", "1000", "--write-pack", str(out)]) == 0
    assert asked == {"seed": 0, "variants": 8, "corpus": "drug", "size": 1000, "saved": out}
    assert np.isscalar(asked["size"])
