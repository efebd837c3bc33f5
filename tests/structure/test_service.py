"""The elucidation service: typed options in, a typed result out, on tiny models and toy
simulations."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.elucidation import (
    ElucidationOptions,
    ElucidationResult,
    ElucidationService,
    Observation,
    SpectrumFiles,
)
from mspectmol.structure.elucidation.elucidator import Elucidator, RankedCandidate
from mspectmol.structure.elucidation.options import check_options
from mspectmol.structure.generation.sampling import Sampled
from mspectmol.structure.libraries.qm9 import IsomerIndex
from mspectmol.structure.model.tokens import hill
from mspectmol.structure.ranking import prefilter, refine, simulation
from mspectmol.structure.ranking.simulation import NMRRecord, record_spectra

GRID = {"ir": np.linspace(400, 4000, 600), "h_nmr": np.linspace(0, 12, 600),
        "c_nmr": np.linspace(0, 220, 600)}
EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"


def toy_nmr(smiles, settings=None):
    """A distinct toy NMR per structure (the fast recipe)."""
    n = len(smiles)
    return NMRRecord([(1.0 + 0.5 * n, 3)], [(10.0 * n, 1)])


def toy_full(smiles, settings=None):
    """A distinct toy full-recipe record per structure (IR included)."""
    n = len(smiles)
    return SimpleNamespace(frequencies=[1000.0 + 100 * n], ir_intensities=[1.0],
                           h_shifts=[(1.0 + 0.5 * n, 3)], c_shifts=[(10.0 * n, 1)])


@pytest.fixture(scope="module")
def elucidator():
    """The tiny decoder of test_rerank (it writes some valid structures for random input)."""
    from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
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


@pytest.fixture
def toys(monkeypatch, tmp_path):
    """Toy fast and full simulations, cached under ``tmp_path``."""
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(simulation, "simulate_nmr_fast", toy_nmr)
    monkeypatch.setattr("mspectmol.data.simulator.pipeline.simulate_molecule", toy_full)


def _random_observation():
    spectra = {m: np.random.default_rng(1).random(600).astype(np.float32) for m in GRID}
    return Observation(spectra, np.ones(3, dtype=bool), dict(GRID))


def _nmr_observation(smiles):
    """IR missing, the toy NMR of ``smiles`` as observed."""
    nmr = record_spectra(toy_nmr(smiles), {m: GRID[m] for m in ("h_nmr", "c_nmr")})
    return Observation({"ir": np.zeros(600, dtype=np.float32), **nmr},
                       np.array([False, True, True]), dict(GRID))


def _explained_total(candidate):
    return float(re.search(r"= (\S+)$", candidate.explanation).group(1))


def test_denovo_mode_gives_a_typed_result(elucidator):
    service = ElucidationService(elucidator, Path("tiny"))
    result = service.run(ElucidationOptions(_random_observation(), mode="denovo", k=8))
    assert isinstance(result, ElucidationResult)
    assert result.mode == "denovo" and result.label == "de novo" and result.weights is None
    assert result.spectra == ["ir", "h_nmr", "c_nmr"] and result.model == Path("tiny")
    assert 1 <= len(result.candidates) <= 8 and result.out_of_domain is None
    for c in result.candidates:
        assert isinstance(c, RankedCandidate) and c.source == "generated"
        assert c.ll == c.score and c.fg is None and c.spec is None
        assert c.explanation.startswith("1 x ll ")
        assert _explained_total(c) == pytest.approx(c.score, rel=1e-3)
    assert {"observe", "candidates", "total"} <= set(result.timings)


def test_qm9_mode_prefilters_ranks_and_refines(elucidator, toys):
    isomers = ["CC(C)O", "CCCO"]  # toy spectra differ (by the SMILES' length)
    index = IsomerIndex([(hill("C3H8O"), s) for s in isomers], {"qm9pack": "toy"})
    with ElucidationService(elucidator, qm9_index=index) as service:
        result = service.run(ElucidationOptions(
            _nmr_observation("CC(C)O"), mode="qm9", formula="C3H8O", refine=5,
            candidates=(("CC=O", "acetaldehyde"),)))
    assert result.label == "ranking" and result.spectra == ["h_nmr", "c_nmr"]
    assert result.weights == prefilter.FAST_NMR_WEIGHTS and result.spec_smooth == 10.0
    assert [r.smiles for r in result.candidates][0] == "CC(C)O"  # its own toy spectra
    assert sorted(result.kept) == isomers and len(result.first_stage) == 2
    assert list(result.library) == ["library", "qm9pack", "isomers", "prefilter",
                                    "c13_weight", "h1_weight", "kept", "simulation", "refine"]
    assert result.library["simulation"]["simulated"] == 2
    assert result.library["refine"]["k"] == 5 and result.library["refine"]["simulation"][
        "simulated"] == 2
    assert result.notes[0].startswith("QM9: 2 isomer(s) of formula C3H8O, 2 kept by agreement "
                                      "with the functional groups, 13C lines, 1H integrals")
    assert result.notes[1].startswith("best 2 re-ranked by their full GFN2-xTB + CSP5")
    assert any("dropping candidate acetaldehyde" in w for w in result.warnings)
    for c in result.candidates:  # every term, and the explanation adds up to the score
        assert c.full is not None and c.spec is not None and c.fg is not None
        assert f"{refine.WEIGHT:g} x full" in c.explanation
        assert _explained_total(c) == pytest.approx(c.score, rel=1e-3, abs=1e-3)
    assert result.out_of_domain == []  # the ll term has weight 0: no model's domain applies
    assert "refine" in result.timings


def test_generate_mode_ranks_given_draws_and_warns_outside_the_domain(elucidator, toys):
    from mspectmol.structure.pretrained import PRETRAINED_DIR

    if not (PRETRAINED_DIR / "prior" / "model.json").is_file():
        pytest.skip("no packaged structure generator")
    drawn = Sampled(["CCCCCCCCCCCO", "CCCCCCCCCC(C)O"], [5, 2], [-1.0, -2.0], 7, 7, 7)
    service = ElucidationService(elucidator)
    result = service.run(ElucidationOptions(
        _nmr_observation("CCCCCCCCCCCO"), mode="generate", formula="C11H24O",
        n_generated=7, drawn=drawn, refine=0, generator=PRETRAINED_DIR / "prior"))
    assert result.label == "de novo + rerank" and result.sampled is drawn
    assert result.library["library"] == "generated" and result.library["draws"] == 7
    assert result.library["drawn_weight"] == prefilter.DRAWN_WEIGHT
    assert any("draw counts" in note for note in result.notes)
    assert sorted(c.gen for c in result.candidates) == pytest.approx(
        [np.log1p(2), np.log1p(5)])
    assert all(c.source == "generated" and c.full is None for c in result.candidates)
    [line] = result.out_of_domain
    assert line.startswith("C11H24O is outside what the structure generator was trained on "
                           "(QM9 structures: at most 9 heavy atoms of C, F, N, O)")
    assert "it has 12 heavy atoms" in line


def test_rank_mode_reads_spectrum_files(tmp_path, tiny_model_builder):
    root = tiny_model_builder(tmp_path, ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1"], 40)
    options = ElucidationOptions(
        SpectrumFiles({"ir": EXAMPLES / "aspirin_ir.jdx",
                       "c_nmr": EXAMPLES / "aspirin_c_nmr.csv"}),
        mode="rank", formula="C9H8O4", simulate=False, model=root / "structure",
        candidates=(("CC(=O)Oc1ccccc1C(=O)O", "aspirin"), ("OC(=O)c1ccccc1OC(C)=O", "same"),
                    ("CC(=O)Nc1ccc(O)cc1", "para")))
    with ElucidationService.for_options(options) as service:
        result = service.run(options)
        assert [c.smiles for c in result.candidates] == ["CC(=O)Oc1ccccc1C(=O)O"]
        assert result.candidates[0].source == "aspirin" and result.spectra == ["ir", "c_nmr"]
        assert result.model == root / "structure" and result.out_of_domain == []
        assert any("spectral term left out" in w for w in result.warnings)
        with pytest.raises(MspectmolError, match="holds the structure model"):
            service.run(ElucidationOptions(options.sample, model=tmp_path / "other"))
        with pytest.raises(MspectmolError, match="needs an IR spectrum"):
            service.run(ElucidationOptions(SpectrumFiles({"c_nmr": EXAMPLES /
                                                          "aspirin_c_nmr.csv"})))


@pytest.mark.parametrize("fields, message", [
    ({"mode": "guess"}, "unknown elucidation mode"),
    ({"k": 0}, "k must be >= 1"),
    ({"k": None}, "give k"),
    ({"mode": "qm9"}, "needs a formula"),
    ({"mode": "generate", "formula": "C3H6O"}, "needs n_generated"),
    ({"mode": "rank"}, "needs candidates"),
    ({"mode": "rerank", "n_generated": 5, "simulate": False}, "needs simulate"),
    ({"mode": "qm9", "formula": "C3H6O", "temperature": 0.0}, "temperature must be > 0"),
    ({"mode": "qm9", "formula": "C3H6O", "c13_weight": float("nan")}, "c13_weight"),
    ({"mode": "denovo", "fast_nmr": True}, "fast_nmr applies"),
    ({"formula": "C3H6Ox"}, "element"),
])
def test_options_out_of_range_are_refused(fields, message):
    with pytest.raises(MspectmolError, match=message):
        check_options(ElucidationOptions(SpectrumFiles({}), **fields))


def test_nmr_modes_need_an_nmr_spectrum(elucidator):
    obs = _random_observation()
    obs.available = np.array([True, False, False])
    service = ElucidationService(elucidator, qm9_index=IsomerIndex([], {}))
    with pytest.raises(MspectmolError, match="give a 1H and/or 13C NMR spectrum"):
        service.run(ElucidationOptions(obs, mode="qm9", formula="C2H6O"))
