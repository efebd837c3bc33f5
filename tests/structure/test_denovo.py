"""De novo generate-and-rank with the evidence generator: ``elucidate --generate`` and the
benchmark rows' planning."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mspectmol.cli.main import main
from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.structure.model.tokens import canonical, smiles_formula

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
C3H6O = sorted({canonical(s) for s in ("CC(C)=O", "CCC=O", "C=CCO", "C1COC1", "CC1CO1",
                                       "OC1CC1", "C=COC")})


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_model_builder):
    """A tiny encoder + structure decoder and a tiny generator fitted to C3H6O isomers."""
    from mspectmol.structure.generation.corpus import describe
    from mspectmol.structure.generation.prior import EVIDENCE, N_FEATURES, corpus_features
    from mspectmol.structure.model.decoder import StructureConfig
    from mspectmol.structure.model.io import save_structure_model
    from mspectmol.structure.training import (
        DecoderData,
        TrainSettings,
        build_vocabulary,
        train_decoder,
    )

    root = tiny_model_builder(tmp_path_factory.mktemp("models"), C3H6O, 24)
    torch.manual_seed(0)
    corpus = describe(C3H6O)
    feats, avail = corpus_features(corpus)
    vocab = build_vocabulary(corpus.smiles, n_random=0)
    config = StructureConfig(vocab_size=len(vocab), n_features=N_FEATURES,
                             n_modalities=len(EVIDENCE),
                             n_tokens=1, memory="evidence", d_model=32, n_heads=2,
                             n_encoder_layers=0, n_decoder_layers=1, ff_dim=64, max_len=24)
    settings = TrainSettings(epochs=60, batch_size=7, lr=3e-3, warmup_steps=5,
                             random_smiles=0.0, formula_dropout=0.0, aux_dropout=0.0,
                             bf16=False)
    model, _ = train_decoder(config, vocab, DecoderData(feats, avail, corpus.smiles,
                                                        corpus.formulas), None, settings)
    save_structure_model(root / "generator", model, vocab, [f"evidence:{e}" for e in EVIDENCE])
    return root


@pytest.mark.parametrize("extra, message", [
    (["--generate", "10"], "--generate needs --formula"),
    (["--formula", "C3H6O", "--generate", "0"], "N >= 1 draws"),
    (["--formula", "C3H6O", "--generate", "5", "--library", "qm9"], "cannot be combined"),
    (["--formula", "C3H6O", "--generate", "5", "--rerank", "3"], "cannot be combined"),
    (["--formula", "C3H6O", "--temperature", "2"], "apply to --generate only"),
    (["--formula", "C3H6O", "--syntax"], "apply to --generate only"),
    (["--formula", "C3H6O", "--drawn-weight", "1"], "apply to --generate only"),
    (["--formula", "C3H6O", "--generate", "5", "--drawn-weight", "-1"], "must be >= 0, got -1"),
    (["--formula", "C3H6O", "--generate", "5", "--temperature", "0"], "must be > 0"),
    (["--formula", "C3H6O", "--generate", "5", "--no-simulate"], "--no-simulate"),
    (["--formula", "C3H6O", "--generate", "5", "--weights", "0", "1"], "3 to 5 values"),
    (["--formula", "C3H6O", "--refine", "5"], "--refine applies to"),
    (["--formula", "C3H6O", "--generate", "5", "--refine", "-1"], "K >= 0"),
    (["--formula", "C3H6O", "--generate", "5", "--refine-shift", "-1"], "POINTS >= 0"),
    (["--formula", "C3H6O", "--generate", "5", "--refine", "0", "--refine-shift", "3"],
     "--refine-shift applies to"),
])
def test_cli_generate_argument_errors(tmp_path, capsys, extra, message):
    args = ["elucidate", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "-o", str(tmp_path)]
    assert main([*args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_generates_and_ranks(tmp_path, models, monkeypatch, capsys):
    from mspectmol.structure.ranking import simulation
    from mspectmol.structure.ranking.simulation import NMRRecord

    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path / "cache"))
    simulated = []

    def toy_nmr(smiles, settings=None):  # a distinct toy NMR per structure
        simulated.append(smiles)
        return NMRRecord([(1.0 + 0.5 * len(smiles), 3)], [(10.0 * len(smiles), 1)])

    monkeypatch.setattr(simulation, "simulate_nmr_fast", toy_nmr)
    refined = []

    def toy_full(smiles, settings=None):  # the second stage's full recipe, IR included
        from types import SimpleNamespace

        refined.append(smiles)
        return SimpleNamespace(frequencies=[1000.0 + 100 * len(smiles)], ir_intensities=[1.0],
                               h_shifts=[(1.0 + 0.5 * len(smiles), 3)],
                               c_shifts=[(10.0 * len(smiles), 1)])

    monkeypatch.setattr("mspectmol.data.simulator.pipeline.simulate_molecule", toy_full)
    base = ["elucidate", "--model", str(models / "structure"), "--ir",
            str(EXAMPLES / "aspirin_ir.jdx"), "--formula", "C3H6O", "--generate", "60",
            "--generator", str(models / "generator")]
    assert main([*base, "-o", str(tmp_path / "x")]) == 2  # no NMR spectrum
    assert "--generate ranks by simulated NMR" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main([*base, "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"), "--prefilter", "4",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "distinct structure(s) in 60 draws of formula C3H6O" in printed
    doc = json.loads((out / "structures.json").read_text())
    assert doc["mode"] == "de novo + rerank" and doc["library"]["library"] == "generated"
    assert doc["library"]["draws"] == 60 and doc["library"]["temperature"] == 1.0
    assert doc["library"]["syntax"] is False
    rows = doc["structures"]
    assert 1 <= len(rows) <= 4 and all(r["source"] == "generated" for r in rows)
    assert all(smiles_formula(r["smiles"]) == "C3H6O" for r in rows)
    assert sorted(simulated) == sorted(r["smiles"] for r in rows)
    assert all(r["gen"] >= np.log(2) for r in rows)  # log(1 + draws), each drawn at least once
    assert doc["weights"]["gen"] > 0 and " gen " in printed
    # the second stage re-ranked the best 20 (here all kept) with the full recipe
    assert sorted(refined) == sorted(r["smiles"] for r in rows)
    assert all(r["full"] is not None and r["full"] <= 0 for r in rows)
    assert doc["library"]["refine"]["k"] == 20 and "re-ranked by their full" in printed
    assert doc["library"]["refine"]["max_shift"] == 20
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    # --refine-shift sets the shift searched
    assert main([*base, "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"), "--prefilter", "4",
                 "--refine-shift", "0", "-o", str(tmp_path / "s0")]) == 0
    doc_s0 = json.loads((tmp_path / "s0" / "structures.json").read_text())
    assert doc_s0["library"]["refine"]["max_shift"] == 0
    # --refine 0 turns it off
    assert main([*base, "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"), "--prefilter", "4",
                 "--refine", "0", "-o", str(tmp_path / "r0")]) == 0
    doc0 = json.loads((tmp_path / "r0" / "structures.json").read_text())
    assert all(r["full"] is None for r in doc0["structures"]) and "refine" not in doc0["library"]
    # --syntax: every structure still of the formula, the choice recorded
    assert main([*base, "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"), "--prefilter", "4",
                 "--refine", "0", "--syntax", "-o", str(tmp_path / "syn")]) == 0
    doc_syn = json.loads((tmp_path / "syn" / "structures.json").read_text())
    assert doc_syn["library"]["syntax"] is True and doc_syn["structures"]
    assert all(smiles_formula(r["smiles"]) == "C3H6O" for r in doc_syn["structures"])
    # a model that does not read evidence is refused, naming the folder
    assert main([*base[:-1], str(models / "structure"), "--h-nmr",
                 str(EXAMPLES / "aspirin_h_nmr.jdx"), "-o", str(tmp_path / "y")]) == 2
    assert "not an evidence-conditioned generator" in capsys.readouterr().err


def test_generator_loading_errors(tmp_path, models):
    from mspectmol.structure.generation.generator import Generator

    with pytest.raises(ModelFileError, match="not found"):
        Generator.load(tmp_path / "missing")
    gen = Generator.load(models / "generator")
    # a generator of an older evidence layout is refused, saying how to rebuild it
    from mspectmol.structure.model.io import save_structure_model

    save_structure_model(tmp_path / "old", gen.decoder, gen.vocab,
                         ["evidence:groups", "evidence:c13_lines", "evidence:h1_protons",
                          "evidence:other"])
    with pytest.raises(ModelFileError, match="rebuild it"):
        Generator.load(tmp_path / "old")
    grids = {"h_nmr": np.linspace(0, 12, 600), "c_nmr": np.linspace(0, 220, 600)}
    with pytest.raises(MspectmolError, match="NaN"):
        gen.sample(np.full(37, np.nan), {}, grids, "C3H6O", n=5)
    out = gen.sample(None, {}, grids, "C3H6O", n=30)  # formula alone
    assert out.n_draws == 30 and all(smiles_formula(s) == "C3H6O" for s in out.smiles)


def test_benchmark_row_planning(models):
    from mspectmol.structure.benchmark.prior_rows import PREFIX, PRIOR_DEFAULTS, plan_rows
    from mspectmol.structure.benchmark.qm9_rows import QM9_DEFAULTS

    opts = {"rerank_n": 50, "only": "", "n_mces": 5, **QM9_DEFAULTS, **PRIOR_DEFAULTS,
            "prior_model": str(models / "generator"), "prior_n": 4}
    ctx = {"opts": opts, "quick": False, "rerank_subset": np.arange(0, 100, 2)}
    rows = plan_rows(ctx, {"seed": 0})
    assert [r[0] for r in rows] == [f"{PREFIX}/IR+1H+13C/by-count", f"{PREFIX}/IR/by-count",
                                    f"{PREFIX}/IR+1H+13C/prefilter+fast-nmr",
                                    f"{PREFIX}/IR+1H+13C/prefilter+fast-nmr+gen",
                                    f"{PREFIX}/IR+1H+13C/prefilter+fast-nmr+gen+full-top20"]
    assert rows[2][4]["weights"]["gen"] == 0 and rows[3][4]["weights"]["gen"] > 0
    assert "refine" not in rows[3][4] and rows[4][4]["refine"]["k"] == 20
    assert rows[4][4]["weights"] == rows[3][4]["weights"] and "GFN2-xTB" in rows[4][1]["method"]
    assert "+gen" in rows[3][1]["method"] and "+gen" not in rows[2][1]["method"]
    key = rows[0][4]
    # the pre-filter's draw weight keys the ranked rows only, and only when it is not 0
    assert "drawn_weight" not in key and all(r[4]["drawn_weight"] == 2.0 for r in rows[2:])
    off = plan_rows({**ctx, "opts": {**opts, "drawn_weight": 0.0}}, {"seed": 0})
    assert all("drawn_weight" not in r[4] for r in off)
    assert key["subset"] == [0, 2, 4, 6] and key["draws"] == PRIOR_DEFAULTS["prior_draws"]
    assert key["seed"] == 0 and "prior_jobs" not in key  # jobs do not change results
    assert all("de novo" in r[1]["method"] for r in rows)
    ctx["opts"] = {**opts, "prior_model": str(models / "missing")}
    assert plan_rows(ctx, {}) == []  # no generator: not planned ...
    ctx["opts"]["only"] = PREFIX
    with pytest.raises(ModelFileError):  # ... unless asked for
        plan_rows(ctx, {})
    ctx["opts"] = {**opts, "prior_jobs": 0}
    with pytest.raises(MspectmolError, match="prior_jobs"):
        plan_rows(ctx, {})
    ctx["opts"] = {**opts, "prior_draws": 0}
    with pytest.raises(MspectmolError, match="prior_draws"):
        plan_rows(ctx, {})
    ctx["opts"] = {**opts, "drawn_weight": -1.0}
    with pytest.raises(MspectmolError, match="drawn_weight"):
        plan_rows(ctx, {})
    assert "render" not in key and rows[0][1]["spectra"] == "IR+1H+13C"
    ctx["opts"] = {**opts, "prior_render": "randomised"}
    randomised = plan_rows(ctx, {"seed": 0})
    assert randomised[0][4]["render"] == "randomised"
    assert all(r[1]["spectra"].endswith("(randomised rendering)") for r in randomised)
    ctx["opts"] = {**opts, "prior_render": "noisy"}
    with pytest.raises(MspectmolError, match="prior_render"):
        plan_rows(ctx, {})


def test_observed_spectra_are_the_datasets_or_a_randomised_rendering():
    from mspectmol.structure.benchmark.common import small_dataset
    from mspectmol.structure.benchmark.prior_rows import observed_spectra

    mods = ("ir", "h_nmr", "c_nmr")
    ds = small_dataset(0, {"max_heavy": 9, "n_val": 1, "n_test": 1, "max_train": 2}, None)
    rows = np.arange(3)
    own = observed_spectra(ds, rows, mods, "")
    first = observed_spectra(ds, rows, mods, "randomised")
    again = observed_spectra(ds, rows, mods, "randomised")
    for m in mods:
        assert np.array_equal(own[m], ds.spectra[m][rows])
        assert first[m].shape == own[m].shape and np.isfinite(first[m]).all()
        assert np.array_equal(first[m], again[m])  # seeded
        assert not np.allclose(first[m], own[m])
