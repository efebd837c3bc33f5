"""The second ranking stage (structure/ranking/refine.py): the best candidates re-ranked by their
full-recipe simulation."""

from types import SimpleNamespace

import numpy as np
import pytest

from mspectmol.errors import MspectmolError
from mspectmol.structure.elucidation.elucidator import RankedCandidate
from mspectmol.structure.ranking import refine
from mspectmol.structure.ranking.simulation import SimulatedSpectra, record_spectra
from mspectmol.structure.ranking.spectral_match import LINE_CAP, spectral_distance

GRID = {"ir": np.linspace(400, 4000, 600), "h_nmr": np.linspace(0, 12, 600),
        "c_nmr": np.linspace(0, 220, 600), "raman": np.linspace(400, 4000, 600)}
#: Toy full-recipe records (IR lines and NMR peak lists) of four candidates.
TOY = {
    "CCO": SimpleNamespace(frequencies=[1050.0, 2950.0, 3600.0], ir_intensities=[80.0, 40.0, 60.0],
                           h_shifts=[(1.2, 3), (3.6, 2), (2.5, 1)],
                           c_shifts=[(18.0, 1), (58.0, 1)]),
    "COC": SimpleNamespace(frequencies=[1100.0, 2900.0], ir_intensities=[90.0, 50.0],
                           h_shifts=[(3.3, 6)], c_shifts=[(60.0, 2)]),
    "CC=O": SimpleNamespace(frequencies=[1730.0, 2720.0], ir_intensities=[100.0, 20.0],
                            h_shifts=[(2.2, 3), (9.8, 1)], c_shifts=[(31.0, 1), (200.0, 1)]),
}


def _ranked(names):
    """A first-stage ranking, best first, with decreasing scores 0, -1, -2, ..."""
    return [RankedCandidate(s, -float(i), None, -1.0, -0.1, "generated", 0.0)
            for i, s in enumerate(names)]


def test_full_spectra_keeps_the_full_recipe_modalities(tmp_path):
    sim = refine.full_spectra(GRID)
    assert sim.modalities == ("c_nmr", "h_nmr", "ir") and not sim.fast_nmr
    assert sim.remember_failures
    with pytest.raises(MspectmolError, match="no grid"):
        refine.full_spectra({"raman": GRID["raman"]})


def test_refine_moves_the_best_spectral_match_first(tmp_path, toy_simulator):
    calls = []
    grids = {m: GRID[m] for m in refine.MODALITIES}
    sim = SimulatedSpectra(grids, directory=tmp_path, remember_failures=True,
                           simulator=toy_simulator(TOY, calls, "optimise"))
    observed = record_spectra(TOY["CC=O"], grids)
    first = _ranked(["CCO", "C1CO1", "COC", "CC=O", "OCC=O"])
    out = refine.refine(first, observed, sim, k=4)
    assert [r.smiles for r in out] == ["CC=O", "CCO", "COC", "C1CO1", "OCC=O"]
    assert sorted(calls) == sorted(["CCO", "C1CO1", "COC", "CC=O"])  # only the top k
    assert out[0].full == pytest.approx(0.0, abs=1e-9)
    assert out[0].score == pytest.approx(-3.0, abs=1e-6)  # first-stage score + weight * 0
    failed = next(r for r in out if r.smiles == "C1CO1")
    assert failed.full == -1.0  # a failed simulation counts as the largest distance
    assert failed.full_lines == -LINE_CAP  # and the largest line distance
    assert failed.score == pytest.approx(-1.0 - refine.WEIGHT - refine.LINES_WEIGHT * LINE_CAP)
    assert out[0].full_lines == pytest.approx(0.0)  # the same 13C lines
    assert out[-1] is first[-1] and out[-1].full is None  # not refined: unchanged
    # other terms are kept
    assert all(r.fg == -1.0 and r.spec == -0.1 and r.gen == 0.0 for r in out)
    # weights 0 keep the first-stage order; cached now, nothing simulated again
    calls.clear()
    assert [r.smiles for r in refine.refine(first, observed, sim, k=4, weight=0.0,
                                            lines_weight=0.0)] == [r.smiles for r in first]
    assert calls == []
    # only the given modalities are compared: from 1H alone the ethanol match is still worst
    only_h = refine.refine(first, {"h_nmr": observed["h_nmr"]}, sim, k=4)
    assert only_h[0].smiles == "CC=O"
    assert all(r.full_lines is None for r in only_h)  # no observed 13C: no line term


def test_refine_line_term_moves_the_candidate_with_the_observed_13c_lines(tmp_path,
                                                                         toy_simulator):
    grids = {m: GRID[m] for m in refine.MODALITIES}
    sim = SimulatedSpectra(grids, directory=tmp_path, simulator=toy_simulator(TOY, []))
    observed = record_spectra(TOY["CCO"], grids)
    first = _ranked(["COC", "CCO"])
    # the full term alone (weight 0 for lines) against the lines alone
    by_lines = refine.refine(first, {"c_nmr": observed["c_nmr"]}, sim, k=2, weight=0.0,
                             lines_weight=1.0)
    assert [r.smiles for r in by_lines] == ["CCO", "COC"]
    coc = by_lines[1]
    # 18 and 58 ppm against one line at 60: (42 capped at 5 + 2) / 2 one way, 2 the other
    step = GRID["c_nmr"][1] - GRID["c_nmr"][0]
    assert coc.full_lines == pytest.approx(-0.5 * ((5.0 + 2.0) / 2 + 2.0), abs=step)
    assert coc.score == pytest.approx(0.0 + coc.full_lines)
    unweighted = refine.refine(first, {"c_nmr": observed["c_nmr"]}, sim, k=2, weight=0.0,
                               lines_weight=0.0)
    assert [r.smiles for r in unweighted] == ["COC", "CCO"]  # reported, not weighed
    assert unweighted[0].full_lines == pytest.approx(coc.full_lines)


def test_refine_refuses_bad_settings(tmp_path, toy_simulator):
    sim = SimulatedSpectra({"ir": GRID["ir"]}, directory=tmp_path, simulator=toy_simulator(TOY, []))
    first = _ranked(["CCO", "COC"])
    observed = {"ir": np.ones(600, dtype=np.float32)}
    with pytest.raises(MspectmolError, match="k >= 1"):
        refine.refine(first, observed, sim, k=0)
    with pytest.raises(MspectmolError, match=">= 0"):
        refine.refine(first, observed, sim, weight=-1.0)
    with pytest.raises(MspectmolError, match=">= 0"):
        refine.refine(first, observed, sim, smooth=float("nan"))
    with pytest.raises(MspectmolError, match=">= 0"):
        refine.refine(first, observed, sim, lines_weight=-1.0)
    with pytest.raises(MspectmolError, match="none was given"):
        refine.refine(first, {"h_nmr": np.ones(600)}, sim)
    assert refine.refine([], observed, sim) == []


def test_aligned_distance_finds_a_whole_spectrum_shift():
    x = np.arange(300, dtype=float)
    observed = {"h_nmr": np.exp(-0.5 * ((x - 100) / 3) ** 2) + np.exp(-0.5 * ((x - 200) / 3) ** 2)}
    moved = {"h_nmr": np.roll(observed["h_nmr"], 12)}
    plain = refine.aligned_distance(observed, moved, smooth=2.0, max_shift=0)
    assert plain == pytest.approx(spectral_distance(observed, moved, smooth=2.0))
    assert plain > 0.5
    assert refine.aligned_distance(observed, moved, smooth=2.0, max_shift=5) > 0.2  # too small
    assert refine.aligned_distance(observed, moved, smooth=2.0, max_shift=12) == pytest.approx(
        0.0, abs=1e-6)
    # a spectrum with another line pattern stays far whatever the shift
    other = {"h_nmr": np.exp(-0.5 * ((x - 150) / 3) ** 2)}
    assert refine.aligned_distance(observed, other, smooth=2.0, max_shift=20) > 0.25
    assert refine.aligned_distance(observed, {"h_nmr": np.zeros(300)}, max_shift=3) == 1.0
    with pytest.raises(MspectmolError, match="non-negative integer"):
        refine.aligned_distance(observed, moved, max_shift=-1)
    with pytest.raises(MspectmolError, match="differ in length"):
        refine.aligned_distance(observed, {"h_nmr": np.ones(10)}, max_shift=3)


def test_refine_tolerates_a_referencing_offset(tmp_path, toy_simulator):
    grids = {m: GRID[m] for m in ("h_nmr", "c_nmr")}
    sim = SimulatedSpectra(grids, directory=tmp_path, remember_failures=True,
                           simulator=toy_simulator(TOY, [], "optimise"))
    exact = record_spectra(TOY["CC=O"], grids)
    offset = {m: np.roll(y, 8) for m, y in exact.items()}  # 0.16 ppm 1H, 2.9 ppm 13C
    first = _ranked(["CCO", "COC", "CC=O"])
    aligned = refine.refine(first, offset, sim, k=3, max_shift=refine.MAX_SHIFT)
    assert aligned[0].smiles == "CC=O" and aligned[0].full == pytest.approx(0.0, abs=1e-3)
    plain = refine.refine(first, offset, sim, k=3, max_shift=0)
    assert next(r.full for r in plain if r.smiles == "CC=O") < -0.05
    with pytest.raises(MspectmolError, match="max_shift"):
        refine.refine(first, offset, sim, max_shift=-2)
