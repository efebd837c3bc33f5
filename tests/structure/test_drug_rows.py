"""The structure suite's drug-size rows: planning, the two sets of molecules and a run
through the elucidation service with a tiny generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.benchmark import drug_rows
from mspectmol.structure.benchmark.drug_rows import (
    DRUG_DEFAULTS,
    PREFIX,
    alberts_molecules,
    plan_rows,
    v2_test_molecules,
)
from mspectmol.structure.model.tokens import canonical, smiles_formula

SMILES = ["CC(C)=O", "CCC=O", "C=CCO", "CCO", "OCCO"]


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A tiny evidence generator (a few epochs: it need not be good)."""
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

    torch.manual_seed(0)
    corpus = describe(SMILES)
    feats, avail = corpus_features(corpus)
    vocab = build_vocabulary(corpus.smiles, n_random=0)
    config = StructureConfig(vocab_size=len(vocab), n_features=N_FEATURES,
                             n_modalities=len(EVIDENCE), n_tokens=1, memory="evidence",
                             d_model=16, n_heads=2, n_encoder_layers=0, n_decoder_layers=1,
                             ff_dim=32, max_len=24)
    settings = TrainSettings(epochs=3, batch_size=5, lr=3e-3, warmup_steps=2,
                             random_smiles=0.0, formula_dropout=0.0, aux_dropout=0.0,
                             bf16=False)
    model, _ = train_decoder(config, vocab, DecoderData(feats, avail, corpus.smiles,
                                                        corpus.formulas), None, settings)
    folder = tmp_path_factory.mktemp("drug") / "generator"
    save_structure_model(folder, model, vocab, [f"evidence:{e}" for e in EVIDENCE])
    return folder


@pytest.fixture(scope="module")
def alberts_file(tmp_path_factory, alberts_dataset):
    return alberts_dataset(tmp_path_factory.mktemp("alberts") / "example.parquet", n=4)


def _opts(**kw):
    return {"only": "", "n_mces": 1, "prefilter": 50, "c13_weight": 1.0, "h1_weight": 1.0,
            **DRUG_DEFAULTS, **kw}


def test_rows_are_planned_per_set(generator, alberts_file, tmp_path):
    ctx = {"opts": _opts(drug_model=str(generator), drug_transfer=str(alberts_file))}
    names = [r[0] for r in plan_rows(ctx, {"seed": 3})]
    assert names == [f"{PREFIX}/alberts/by-count", f"{PREFIX}/v2-test/by-count"]
    ctx["opts"]["drug_rank"] = 1
    rows = plan_rows(ctx, {"seed": 3})
    assert [r[0] for r in rows][1] == f"{PREFIX}/alberts/prefilter+fast-nmr+gen"
    key = rows[0][4]
    assert key["seed"] == 3 and key["drug_draws"] == DRUG_DEFAULTS["drug_draws"]
    assert all("de novo" in r[1]["method"] and r[1]["formula"] for r in rows)
    assert "drug_refine" not in key and "full" not in rows[1][1]["method"]
    # the second stage: its own row, keyed by its k; the other rows keep their keys
    ctx["opts"]["drug_refine"] = 5
    refined = plan_rows(ctx, {"seed": 3})
    assert [r[0] for r in refined][:3] == [f"{PREFIX}/alberts/by-count",
                                           f"{PREFIX}/alberts/prefilter+fast-nmr+gen",
                                           f"{PREFIX}/alberts/prefilter+fast-nmr+gen+full-top5"]
    assert refined[0][4] == key and refined[1][4] == rows[1][4]
    assert refined[2][4]["drug_refine"] == 5 and "top 5 + full" in refined[2][1]["method"]
    ctx["opts"]["drug_refine"] = -1
    with pytest.raises(MspectmolError, match="drug_refine"):
        plan_rows(ctx, {})
    # no transfer file: only the v2 rows
    ctx["opts"] = _opts(drug_model=str(generator), drug_transfer=str(tmp_path / "none"))
    assert [r[0] for r in plan_rows(ctx, {})] == [f"{PREFIX}/v2-test/by-count"]
    # no generator: not planned, unless asked for
    ctx["opts"] = _opts(drug_model=str(tmp_path / "missing"))
    assert plan_rows(ctx, {}) == []
    ctx["opts"]["only"] = PREFIX
    with pytest.raises(MspectmolError):
        plan_rows(ctx, {})
    ctx["opts"] = _opts(drug_model=str(generator), drug_draws=0)
    with pytest.raises(MspectmolError, match="drug_draws"):
        plan_rows(ctx, {})


def test_alberts_molecules_are_read_as_files_are(alberts_file):
    smiles, spectra = alberts_molecules(alberts_file, 3)
    assert len(smiles) == 3 and all(s == canonical(s) for s in smiles)
    assert {m: x.shape for m, x in spectra.items()} == {m: (3, 600) for m in
                                                         ("ir", "h_nmr", "c_nmr")}
    assert np.allclose(spectra["ir"].max(axis=1), 1.0)


def test_v2_test_molecules_are_rendered_randomised():
    try:
        smiles, spectra = v2_test_molecules(2, 0)
    except (FileNotFoundError, MspectmolError) as exc:
        pytest.skip(f"embedded dataset v2 not built here ({exc})")
    from mspectmol.chem.molecules import heavy_atom_count

    assert len(smiles) == 2 and all(heavy_atom_count(s) >= 12 for s in smiles)
    again = v2_test_molecules(2, 0)
    assert again[0] == smiles and np.array_equal(again[1]["ir"], spectra["ir"])
    assert all(x.shape == (2, 600) and x.max() == pytest.approx(1.0) for x in spectra.values())


def test_by_count_row_runs_through_the_service(generator, alberts_file):
    opts = _opts(drug_model=str(generator), drug_transfer=str(alberts_file), drug_n=2,
                 drug_draws=8)
    ctx = {"opts": opts, "seed": 0, "mces_cache": {}}
    name, info, fn, _, _ = plan_rows(ctx, {"seed": 0})[0]
    try:
        row = fn()
    finally:
        if "drug_service" in ctx:
            ctx["drug_service"].close()
    assert row["setting"] == name and row["n"] == 2
    stats = row[PREFIX]
    assert stats["draws"] == 8 and 0.0 <= stats["valid_fraction"] <= 1.0
    truths = alberts_molecules(alberts_file, 2)[0]
    # every listed candidate has the molecule's formula
    for cands, truth in zip(row["candidates"], truths, strict=True):
        assert all(smiles_formula(c) == smiles_formula(truth) for c in cands)
    assert drug_rows.table_note(opts).startswith(f"Drug-size rows ({PREFIX}/")


def test_evidence_never_seen_in_training_stays_hidden(generator, tmp_path):
    from mspectmol.structure.generation.generator import Generator
    from mspectmol.structure.model.io import load_structure_model, save_structure_model

    assert Generator.load(generator).trained_evidence().all()  # no record: all
    model, vocab, meta = load_structure_model(generator)
    seen = {"groups": 1.0, "c13_lines": 0.9, "h1_protons": 0.9, "c13_shifts": 0.0}
    save_structure_model(tmp_path / "g", model, vocab, list(meta.modalities),
                         training={"evidence_available": seen})
    gen = Generator.load(tmp_path / "g")
    assert gen.trained_evidence().tolist() == [True, True, True, False]
    grids = {"h_nmr": np.linspace(12, 0, 600), "c_nmr": np.linspace(220, 0, 600)}
    c13 = np.zeros(600)
    c13[[100, 300]] = 1.0
    out = gen.sample(np.full(37, 0.5), {"c_nmr": c13}, grids, "C3H6O", n=4)
    assert out.n_draws == 4


def test_default_generator_follows_the_formula(generator, tmp_path, monkeypatch):
    import mspectmol.structure.generation.generator as gen_module
    from mspectmol.structure.model.io import load_structure_model, save_structure_model

    model, vocab, meta = load_structure_model(generator)
    domains = {"prior": {"max_heavy_atoms": 9, "elements": ["C", "F", "N", "O"],
                         "trained_on": "QM9"},
               "prior-drug": {"max_heavy_atoms": 40, "elements": ["C", "Cl", "N", "O", "S"],
                              "trained_on": "drug-size"}}
    monkeypatch.setattr(gen_module, "PRETRAINED_DIR", tmp_path)
    assert gen_module.default_generator("C20H25N3O") is None  # nothing packaged
    for name, domain in domains.items():
        save_structure_model(tmp_path / name, model, vocab, list(meta.modalities),
                             training={"domain": domain})
    assert gen_module.default_generator(None) is None
    assert gen_module.default_generator("C3H6O") is None  # QM9's prior
    assert gen_module.default_generator("C20H25N3O") == tmp_path / "prior-drug"
    assert gen_module.default_generator("C20H25ClN3OS") == tmp_path / "prior-drug"
    assert gen_module.default_generator("C60H100") is None  # beyond both: QM9's, warned
    assert gen_module.default_generator("C20H25BrN2") is None  # an element neither writes


def test_generate_mode_says_which_generator_it_chose(generator, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import mspectmol.structure.generation.generator as gen_module
    from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
    from mspectmol.structure.elucidation import ElucidationOptions, ElucidationService
    from mspectmol.structure.elucidation.elucidator import Elucidator
    from mspectmol.structure.elucidation.options import Observation
    from mspectmol.structure.generation.sampling import Sampled
    from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
    from mspectmol.structure.model.io import load_structure_model, save_structure_model
    from mspectmol.structure.model.tokens import Vocabulary
    from mspectmol.structure.ranking import simulation
    from mspectmol.structure.ranking.simulation import NMRRecord

    model, vocab, meta = load_structure_model(generator)
    for name, heavy in (("prior", 9), ("prior-drug", 40)):
        save_structure_model(tmp_path / name, model, vocab, list(meta.modalities),
                             training={"domain": {"max_heavy_atoms": heavy,
                                                  "elements": ["C", "N", "O"],
                                                  "trained_on": name}})
    monkeypatch.setattr(gen_module, "PRETRAINED_DIR", tmp_path)
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(simulation, "simulate_nmr_fast",
                        lambda smiles, settings=None: NMRRecord([(1.0 + 0.1 * len(smiles), 3)],
                                                                [(5.0 * len(smiles), 1)]))
    torch.manual_seed(0)
    encoder = PAIBModel(PAIBConfig(channels=(4, 8), gate_hidden=8, head_hidden=16)).eval()
    dvocab = Vocabulary.build(["CCO", "CCC"])
    decoder = StructureDecoder(StructureConfig(
        vocab_size=len(dvocab), n_features=8, n_tokens=15, pool=10, n_encoder_layers=0,
        d_model=16, n_heads=2, n_decoder_layers=1, ff_dim=32, max_len=24)).eval()
    eluc = Elucidator(decoder, dvocab, SimpleNamespace(modalities=["ir", "h_nmr", "c_nmr"],
                                                       training={}), encoder)
    grids = {"ir": np.linspace(400, 4000, 600), "h_nmr": np.linspace(0, 12, 600),
             "c_nmr": np.linspace(0, 220, 600)}
    rng = np.random.default_rng(0)
    obs = Observation({m: rng.random(600).astype(np.float32) for m in grids},
                      np.array([False, True, True]), grids)
    drawn = Sampled(["CCCCCCCCCCCO", "CCCCCCCCCC(C)O"], [5, 2], [-1.0, -2.0], 7, 7, 7)
    with ElucidationService(eluc) as service:
        result = service.run(ElucidationOptions(obs, mode="generate", formula="C11H24O",
                                                n_generated=7, drawn=drawn, refine=0))
    assert result.out_of_domain == []  # the drug-size generator's domain holds C11H24O
    assert any("drug-size generator (prior-drug)" in note for note in result.notes)
    assert service.generator_path == tmp_path / "prior-drug"
