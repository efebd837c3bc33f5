"""De novo "generate and rank" (``Elucidator.generate_and_rank``) and the fast NMR
simulation."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.generation.beam import BeamResult
from mspectmol.structure.model.tokens import canonical
from mspectmol.structure.ranking.scores import RankWeights
from mspectmol.structure.ranking.simulation import (
    NMRRecord,
    SimulatedSpectra,
    record_spectra,
    simulate_nmr_fast,
)

GRID = {"ir": np.linspace(400, 4000, 600), "h_nmr": np.linspace(0, 12, 600),
        "c_nmr": np.linspace(0, 220, 600)}
EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
#: Toy NMR peak lists: each candidate's own simulated spectra.
TOY = {"CCO": NMRRecord([(1.2, 3), (3.6, 2), (2.5, 1)], [(18.0, 1), (58.0, 1)]),
       "CC#N": NMRRecord([(2.0, 3)], [(1.5, 1), (117.0, 1)]),
       "c1ccccc1": NMRRecord([(7.3, 6)], [(128.0, 6)])}


@pytest.fixture(scope="module")
def elucidator():
    from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
    from mspectmol.structure.elucidation.elucidator import Elucidator
    from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
    from mspectmol.structure.model.tokens import Vocabulary

    torch.manual_seed(0)
    encoder = PAIBModel(PAIBConfig(channels=(4, 8), gate_hidden=8, head_hidden=16)).eval()
    vocab = Vocabulary.build(["CCO", "c1ccccc1", "CC#N", "CC(=O)O", "OCCO", "CCC"])
    cfg = StructureConfig(vocab_size=len(vocab), n_features=8, n_tokens=15, pool=10,
                          n_encoder_layers=0, d_model=16, n_heads=2, n_decoder_layers=1,
                          ff_dim=32, max_len=24)
    meta = SimpleNamespace(modalities=["ir", "h_nmr", "c_nmr"], training={})
    return Elucidator(StructureDecoder(cfg).eval(), vocab, meta, encoder)


def _observed(smiles):
    spectra = record_spectra(TOY[smiles], {m: GRID[m] for m in ("h_nmr", "c_nmr")})
    return {"ir": np.zeros(600, dtype=np.float32), **spectra}


def test_reranked_list_holds_only_decoder_candidates(elucidator, tmp_path):
    obs = {m: np.random.default_rng(1).random(600).astype(np.float32) for m in GRID}
    avail = np.ones(3, dtype=bool)
    feats = elucidator.features({m: v[None] for m, v in obs.items()})
    beam = elucidator.generate(feats, avail[None], [None], k=8, beam_width=8)[0]
    assert beam.smiles, "the toy decoder should produce some valid structure"
    sim = SimulatedSpectra(GRID, directory=tmp_path, simulator=lambda s: TOY["CCO"],
                           fast_nmr=True)
    ranked = elucidator.generate_and_rank(obs, avail, None, 8, sim)
    smiles = [r.smiles for r in ranked]
    assert sorted(smiles) == sorted(beam.smiles)  # the beam's structures, nothing else
    assert len(set(smiles)) == len(smiles)
    assert all(canonical(s) == s for s in smiles)
    assert all(r.source == "generated" and r.spec is not None for r in ranked)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    with pytest.raises(MspectmolError, match=">= 1"):
        elucidator.generate_and_rank(obs, avail, None, 0, sim)
    with pytest.raises(MspectmolError, match="only ir spectra are observed"):
        elucidator.generate_and_rank(obs, np.array([True, False, False]), None, 8, sim)


def test_rerank_puts_matching_candidate_first(elucidator, tmp_path, monkeypatch,
                                              toy_simulator):
    order = ["c1ccccc1", "CC#N", "CCO", "OCCO"]  # the beam's order; OCCO cannot be simulated

    def fake_generate(features, available, formulas, k=10, beam_width=None):
        return [BeamResult(smiles=order[:k], scores=[-1.0, -2.0, -3.0, -4.0][:k],
                           n_hypotheses=k, n_valid=k)]

    monkeypatch.setattr(elucidator, "generate", fake_generate)
    calls = []
    sim = SimulatedSpectra(GRID, directory=tmp_path, simulator=toy_simulator(TOY, calls),
                           fast_nmr=True)
    for truth in TOY:
        ranked = elucidator.generate_and_rank(_observed(truth), np.ones(3, dtype=bool), None,
                                              4, sim,
                                              weights=RankWeights(ll=0.1, fg=0.1, spec=10.0))
        assert ranked[0].smiles == truth
        assert ranked[0].spec == pytest.approx(0.0, abs=1e-6)
        assert sorted(r.smiles for r in ranked) == sorted(order)
        failed = next(r for r in ranked if r.smiles == "OCCO")
        assert failed.spec == -1.0  # a failed simulation is the worst match, not dropped
    assert sorted(set(calls)) == sorted(order)
    assert calls.count("CCO") == 1  # simulated once, then read from the cache
    assert sim.stats["simulated"] == 3 and sim.stats["failed"] == 3


def test_fast_and_full_caches_never_mix(tmp_path, toy_simulator):
    calls = []
    fast = SimulatedSpectra(GRID, directory=tmp_path, simulator=toy_simulator(TOY, calls),
                            fast_nmr=True)
    assert fast.modalities == ("c_nmr", "h_nmr")
    spectra = fast.get("CCO")
    assert set(spectra) == {"h_nmr", "c_nmr"}
    assert [p.name for p in tmp_path.iterdir()][0].count("nmrfast") == 1
    full_calls = []

    def full_simulator(smiles):
        full_calls.append(smiles)
        return SimpleNamespace(frequencies=np.array([1700.0]), ir_intensities=np.array([1.0]),
                               raman_activities=np.array([1.0]), h_shifts=[(1.0, 3)],
                               c_shifts=[(20.0, 1)])

    full = SimulatedSpectra(GRID, directory=tmp_path, simulator=full_simulator)
    assert set(full.get("CCO")) == set(GRID) and full_calls == ["CCO"]  # not the fast entry
    assert set(fast.get("CCO")) == {"h_nmr", "c_nmr"} and calls == ["CCO"]  # its own entry
    with pytest.raises(MspectmolError, match="library"):
        SimulatedSpectra(GRID, {"CCO": spectra}, fast_nmr=True)
    with pytest.raises(MspectmolError, match="h_nmr or c_nmr"):
        SimulatedSpectra({"ir": GRID["ir"]}, fast_nmr=True)


def test_fast_nmr_simulation_on_model_grid():
    from mspectmol.spectra.preprocessing import canonical_grid

    record = simulate_nmr_fast("CC(=O)OC")
    assert record.h_shifts and record.c_shifts
    assert sum(n for _, n in record.h_shifts) == 6 and sum(n for _, n in record.c_shifts) == 3
    grids = {m: canonical_grid(m, 600) for m in ("h_nmr", "c_nmr")}
    spectra = record_spectra(record, grids)
    for m, y in spectra.items():
        assert y.shape == grids[m].shape and np.isfinite(y).all()
        assert y.max() == pytest.approx(1.0)
    carbonyl = grids["c_nmr"][np.argmax(spectra["c_nmr"] * (grids["c_nmr"] > 100))]
    assert 150 < carbonyl < 190  # the ester carbon


def test_elucidate_rerank_cli(tmp_path, monkeypatch):
    from mspectmol.cli.main import main
    from mspectmol.structure.pretrained import DEFAULT_STRUCTURE_MODEL

    ir = ["--ir", str(EXAMPLES / "aspirin_ir.jdx")]
    nmr = ["--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx")]
    cands = tmp_path / "c.smi"
    cands.write_text("CCO\n")
    for extra in (["--rerank", "0"], ["--rerank", "5", "--candidates", str(cands)],
                  ["--rerank", "5", "--no-simulate"], ["--rerank", "5", "--spec-smooth", "-1"],
                  ["--fast-nmr"],
                  ["--rerank", "5", "--fast-nmr"]):  # the last: no NMR spectrum given
        if extra[-1] == "--fast-nmr" and not (DEFAULT_STRUCTURE_MODEL / "model.json").is_file():
            continue
        assert main(["elucidate", *ir, *extra, "-o", str(tmp_path / "x")]) == 2, extra
    if not (DEFAULT_STRUCTURE_MODEL / "model.json").is_file():
        pytest.skip("no packaged structure model")
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["elucidate", *ir, *nmr, "--rerank", "6", "--fast-nmr", "--spec-smooth", "2",
                 "-k", "4", "-o", str(out)]) == 0
    doc = json.loads((out / "structures.json").read_text())
    assert doc["mode"] == "de novo + rerank"
    rows = doc["structures"]
    assert 1 <= len(rows) <= 4 and all(r["source"] == "generated" for r in rows)
    assert all(r["spec"] is not None for r in rows)
    assert any((tmp_path / "cache" / "simulated").glob("*nmrfast*.npz"))


def test_smoothed_spectral_distance_tolerates_small_shifts():
    from mspectmol.structure.ranking.spectral_match import spectral_distance

    grid = GRID["h_nmr"]
    a = {"h_nmr": np.exp(-0.5 * ((grid - 3.0) / 0.02) ** 2)}
    b = {"h_nmr": np.exp(-0.5 * ((grid - 3.1) / 0.02) ** 2)}  # 0.1 ppm = 5 grid points away
    far = {"h_nmr": np.exp(-0.5 * ((grid - 7.0) / 0.02) ** 2)}
    assert spectral_distance(a, b) > 0.9
    assert spectral_distance(a, b, 5.0) < 0.5
    assert spectral_distance(a, far, 5.0) > 0.99
    assert spectral_distance(a, a, 5.0) == pytest.approx(0.0, abs=1e-9)
