"""Candidate ranking: terms, weights, simulated-spectrum cache, a toy ranking case."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.structure.ranking.scores import (
    RankWeights,
    choose_weights,
    combine,
    fg_agreement,
)
from mspectmol.structure.ranking.simulation import SimulatedSpectra, record_spectra
from mspectmol.structure.ranking.spectral_match import (
    LINE_CAP,
    line_distance,
    line_positions,
    spectral_distance,
)

GRID = {"ir": np.linspace(400, 4000, 600), "h_nmr": np.linspace(0, 12, 600),
        "c_nmr": np.linspace(0, 220, 600)}


def _peak(grid, centre, width):
    y = np.exp(-0.5 * ((grid - centre) / width) ** 2).astype(np.float32)
    return y / y.max()


def test_fg_agreement_hand_computed():
    p = np.array([0.9, 0.2])
    labels = np.array([[1, 0], [0, 1]])
    expected = [np.log(0.9) + np.log(0.8), np.log(0.1) + np.log(0.2)]
    assert fg_agreement(p, labels) == pytest.approx(expected)
    with pytest.raises(MspectmolError):
        fg_agreement(p, np.ones((2, 3)))


def test_spectral_distance_and_combine():
    a = {"ir": np.array([1.0, 0.0]), "h_nmr": np.array([1.0, 1.0])}
    assert spectral_distance(a, a) == pytest.approx(0.0)
    b = {"ir": np.array([0.0, 1.0]), "h_nmr": np.array([1.0, 1.0])}
    assert spectral_distance(a, b) == pytest.approx(0.5)
    with pytest.raises(MspectmolError):
        spectral_distance(a, {"ir": np.ones(3), "h_nmr": np.ones(2)})
    s = combine({"ll": np.array([-1.0, -2.0]), "fg": None, "spec": np.array([0.0, -0.5])},
                RankWeights(ll=1.0, fg=5.0, spec=2.0))
    assert s == pytest.approx([-1.0, -3.0])
    terms = {"ll": np.array([-1.0, -2.0]), "gen": np.array([0.0, np.log(5.0)])}
    assert combine(terms, RankWeights(ll=1.0, fg=0.0, spec=0.0)) == pytest.approx([-1.0, -2.0])
    assert combine(terms, RankWeights(ll=1.0, fg=0.0, spec=0.0, gen=2.0)) == pytest.approx(
        [-1.0, -2.0 + 2 * np.log(5.0)])


def test_line_positions_pick_prominent_maxima():
    grid = GRID["c_nmr"]
    y = _peak(grid, 30.0, 0.8) + 0.3 * _peak(grid, 128.0, 0.8) + 0.01 * _peak(grid, 170.0, 0.8)
    lines = line_positions(y, grid)
    assert lines.size == 2  # the 1% line is below the 2% prominence
    assert lines == pytest.approx([30.0, 128.0], abs=0.5 * (grid[1] - grid[0]))
    assert line_positions(y, grid, prominence=0.005).size == 3
    assert line_positions(np.zeros(600), grid).size == 0
    with pytest.raises(MspectmolError):
        line_positions(y[:10], grid)


def test_line_distance_hand_computed():
    # observed 10, 50; simulated 12, 50, 90: 10->12 (2), 50->50 (0); 12->10 (2), 50 (0), 90->50
    # capped at 5: ((2 + 0) / 2 + (2 + 0 + 5) / 3) / 2
    assert line_distance([10.0, 50.0], [12.0, 50.0, 90.0]) == pytest.approx(
        0.5 * (1.0 + 7.0 / 3.0))
    assert line_distance([10.0, 50.0], [50.0, 10.0]) == 0.0  # order does not matter
    assert line_distance([], [10.0]) == LINE_CAP == line_distance([1.0], [], cap=5.0)
    assert line_distance([10.0], [11.0], cap=0.5) == pytest.approx(0.5)
    with pytest.raises(MspectmolError):
        line_distance([1.0], [1.0], cap=0.0)


def test_lines_weight_is_left_out_of_settings_when_zero():
    assert "lines" not in RankWeights().to_dict()
    assert RankWeights(lines=1.0).to_dict()["lines"] == 1.0
    assert RankWeights(**RankWeights(lines=2.0).to_dict()) == RankWeights(lines=2.0)
    terms = {"ll": np.array([-1.0, -2.0]), "lines": np.array([-4.0, 0.0])}
    assert combine(terms, RankWeights(ll=1.0, fg=0.0, spec=0.0)) == pytest.approx([-1.0, -2.0])
    assert combine(terms, RankWeights(ll=1.0, fg=0.0, spec=0.0, lines=0.5)) == pytest.approx(
        [-3.0, -2.0])


def test_choose_weights_prefers_informative_term():
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(20):
        spec = -rng.random(5)
        spec[2] = 0.0  # the true candidate always matches the spectra best
        cases.append(({"ll": rng.normal(size=5) * 5, "fg": rng.normal(size=5),
                       "spec": spec}, 2))
    weights, score = choose_weights(cases)
    assert score["top1"] == 1.0
    assert weights.spec > 0


def _fake_record(freq):
    return SimpleNamespace(frequencies=np.array([freq, -50.0]),
                           ir_intensities=np.array([10.0, 5.0]),
                           raman_activities=np.array([1.0, 1.0]),
                           h_shifts=[(1.2, 3), (3.6, 2)], c_shifts=[(18.0, 1), (58.0, 1)])


def test_record_spectra_and_cache(tmp_path):
    calls = []

    def simulator(smiles):
        calls.append(smiles)
        return _fake_record(1700.0)

    spectra = record_spectra(_fake_record(1700.0), GRID)
    assert spectra["ir"].max() == pytest.approx(1.0)
    assert abs(GRID["ir"][spectra["ir"].argmax()] - 1700) < 10  # the negative mode is dropped
    sim = SimulatedSpectra(GRID, {"CCO": spectra}, directory=tmp_path, simulator=simulator)
    assert sim.get("CCO") is not None and calls == []  # library molecule: no simulation
    first = sim.get("CCCO")
    again = sim.get("CCCO")
    assert calls == ["CCCO"]  # cached on disk the second time
    assert np.array_equal(first["c_nmr"], again["c_nmr"])
    off = SimulatedSpectra(GRID, {}, simulate=False, directory=tmp_path)
    assert off.get("CCCCO") is None


@pytest.fixture(scope="module")
def elucidator():
    from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
    from mspectmol.structure.elucidation.elucidator import Elucidator
    from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
    from mspectmol.structure.model.tokens import Vocabulary

    torch.manual_seed(0)
    encoder = PAIBModel(PAIBConfig(channels=(4, 8), gate_hidden=8, head_hidden=16)).eval()
    vocab = Vocabulary.build(["CCO", "c1ccccc1", "CC#N", "CC(=O)O"])
    cfg = StructureConfig(vocab_size=len(vocab), n_features=8, n_tokens=15, pool=10,
                          n_encoder_layers=0, d_model=16, n_heads=2, n_decoder_layers=1,
                          ff_dim=32)
    meta = SimpleNamespace(modalities=["ir", "h_nmr", "c_nmr"])
    return Elucidator(StructureDecoder(cfg).eval(), vocab, meta, encoder)


def test_ranking_puts_true_molecule_first(elucidator):
    library = {
        "CCO": {"ir": _peak(GRID["ir"], 3400, 60), "h_nmr": _peak(GRID["h_nmr"], 3.6, 0.1),
                "c_nmr": _peak(GRID["c_nmr"], 58, 2)},
        "c1ccccc1": {"ir": _peak(GRID["ir"], 3050, 30), "h_nmr": _peak(GRID["h_nmr"], 7.3, 0.1),
                     "c_nmr": _peak(GRID["c_nmr"], 128, 2)},
        "CC#N": {"ir": _peak(GRID["ir"], 2250, 30), "h_nmr": _peak(GRID["h_nmr"], 2.0, 0.1),
                 "c_nmr": _peak(GRID["c_nmr"], 117, 2)},
    }
    sim = SimulatedSpectra(GRID, library, simulate=False)
    for truth in library:
        ranked = elucidator.rank(library[truth], np.ones(3, dtype=bool), None,
                                 ["OCC", "c1ccccc1", "N#CC"], simulated=sim,
                                 weights=RankWeights(ll=0.1, fg=0.1, spec=10.0))
        assert ranked[0].smiles == truth
        assert ranked[0].spec == pytest.approx(0.0, abs=1e-6)
        assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_lines_term_ranks_by_13c_line_positions(elucidator):
    # the observed 13C has lines at 30 and 128 ppm, narrow and of unequal heights; the
    # candidates' simulated spectra are broad, with equal heights: the profile cosine cannot
    # tell them apart as well as the line positions do
    grid = GRID["c_nmr"]
    obs = {"ir": np.zeros(600, np.float32), "h_nmr": _peak(GRID["h_nmr"], 2.0, 0.1),
           "c_nmr": _peak(grid, 30.0, 0.5) + 0.1 * _peak(grid, 128.0, 0.5)}
    library = {"CCO": {"h_nmr": obs["h_nmr"], "c_nmr": _peak(grid, 30.5, 3) + _peak(grid, 128, 3)},
               "COC": {"h_nmr": obs["h_nmr"], "c_nmr": _peak(grid, 31, 3) + _peak(grid, 140, 3)}}
    sim = SimulatedSpectra({m: GRID[m] for m in ("h_nmr", "c_nmr")}, library, simulate=False)
    avail = np.array([False, True, True])
    ranked = elucidator.rank(obs, avail, None, ["COC", "CCO"], simulated=sim,
                             weights=RankWeights(ll=0.0, fg=0.0, spec=0.0, lines=1.0))
    assert [r.smiles for r in ranked] == ["CCO", "COC"]
    step = grid[1] - grid[0]  # line positions are grid points
    assert ranked[0].lines == pytest.approx(-0.25, abs=step)  # one of two lines 0.5 ppm off
    # 30 <-> 31 ppm (1) and 128 <-> 140 ppm (12, capped at 5), both ways: (1 + 5) / 2
    assert ranked[1].lines == pytest.approx(-3.0, abs=step)
    assert ranked[0].score == pytest.approx(ranked[0].lines)
    # without an observed 13C spectrum there is no line term
    no_c = elucidator.rank(obs, np.array([False, True, False]), None, ["COC", "CCO"],
                           simulated=sim)
    assert all(r.lines is None for r in no_c)


def test_draw_counts_add_the_generator_term(elucidator):
    obs = {m: _peak(GRID[m], GRID[m][300], 5.0) for m in GRID}
    avail = np.array([True, False, False])
    cands = ["CCO", "COC", "CC=O"]
    counts = {"COC": 40, "CCO": 1}  # CC=O never drawn (a user's candidate): log(1) = 0
    plain = elucidator.rank(obs, avail, None, cands, weights=RankWeights(1.0, 0.0, 0.0))
    assert all(r.gen is None for r in plain)
    ranked = elucidator.rank(obs, avail, None, cands, draw_counts=counts,
                             weights=RankWeights(ll=0.0, fg=0.0, spec=0.0, gen=1.0))
    assert [r.smiles for r in ranked] == ["COC", "CCO", "CC=O"]
    assert [r.gen for r in ranked] == pytest.approx(np.log1p([40, 1, 0]))
    assert [r.score for r in ranked] == pytest.approx(np.log1p([40, 1, 0]))
    # with weight 0 the counts are reported but do not move the order
    same = elucidator.rank(obs, avail, None, cands, draw_counts=counts,
                           weights=RankWeights(1.0, 0.0, 0.0))
    assert [r.smiles for r in same] == [r.smiles for r in plain]
    assert [r.score for r in same] == pytest.approx([r.score for r in plain])


def test_ranking_without_spectra_and_bad_candidates(elucidator):
    obs = {m: _peak(GRID[m], GRID[m][300], 5.0) for m in GRID}
    sim = SimulatedSpectra(GRID, {}, simulate=False)
    ranked = elucidator.rank(obs, np.array([True, False, False]), "C2H6O", ["CCO", "OCC", "COC"],
                             simulated=sim)
    assert len(ranked) == 2  # CCO and OCC are one structure
    assert all(r.spec is None for r in ranked)
    with pytest.raises(MspectmolError, match="not a valid SMILES"):
        elucidator.rank(obs, np.ones(3, dtype=bool), None, ["C1CC"])


def _write_together(folder, n: int = 2) -> list[Exception]:
    """``n`` threads simulate and cache the same molecule at the same moment."""
    import threading

    together = threading.Barrier(n)

    def simulator(smiles):  # every writer reaches the cache write together
        together.wait(timeout=10)
        return _fake_record(1700.0)

    sim = SimulatedSpectra(GRID, {}, directory=folder, simulator=simulator)
    errors: list[Exception] = []

    def write():
        try:
            assert sim.get("CCCO") is not None
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_writers_of_one_cache_entry_do_not_collide(tmp_path):
    for attempt in range(5):
        folder = tmp_path / str(attempt)
        assert _write_together(folder) == []
        assert len(list(folder.iterdir())) == 1  # the entry, no temporary leftovers
