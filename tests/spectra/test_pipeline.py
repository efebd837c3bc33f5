"""The one preprocessing path: solvent/TMS windows, ALS baseline, denoising, steps."""

import numpy as np
import pytest
from scipy.signal import find_peaks

from mspectmol.errors import MspectmolError
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.pipeline import (
    BASELINE_ALS,
    PrepareOptions,
    baseline_lambda,
    prepare,
)
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.readers import read_spectrum
from mspectmol.spectra.solvents import (
    canonical_solvent,
    find_solvent,
    remove_solvent_peaks,
    zero_windows,
)
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_jcamp

H_GRID = canonical_grid("h_nmr", 600)
C_GRID = canonical_grid("c_nmr", 600)
IR_GRID = canonical_grid("ir", 600)


def _lines(x, centres, heights, fwhm):
    return sum(h / (1 + ((x - c) / (fwhm / 2)) ** 2) for c, h in zip(centres, heights,
                                                                     strict=True))


def _h_spectrum(metadata=None, source="h.jdx"):
    """A ketone's CH3 at 2.10 ppm and CH2 at 3.70, plus CHCl3 7.26, water 1.56 and TMS 0."""
    ppm = np.linspace(-1.0, 10.0, 5501)
    y = _lines(ppm, [2.10, 3.70, 7.26, 1.56, 0.0], [1.0, 0.6, 1.5, 0.4, 0.8], 0.004)
    return Spectrum(ppm, y, "h_nmr", "ppm", "arbitrary", dict(metadata or {}), source=source)


def _near(grid, y, centre, half=0.02):
    return y[np.abs(grid - centre) <= half]


def test_cdcl3_residual_water_and_tms_windows_are_zeroed():
    kept = prepare(_h_spectrum(), H_GRID)
    done = prepare(_h_spectrum(), H_GRID, options=PrepareOptions(solvent="CDCl3"))
    assert _near(H_GRID, kept.y, 7.26).max() == pytest.approx(1.0)   # solvent is the maximum
    for centre in (7.26, 1.56, 0.0):
        assert np.all(_near(H_GRID, done.y, centre, 0.05) == 0.0)
    assert _near(H_GRID, done.y, 2.10).max() == pytest.approx(1.0)   # sample peaks remain
    assert _near(H_GRID, done.y, 3.70).max() > 0.4
    assert done.solvent == "CDCl3"
    removal = next(s for s in done.steps if s.startswith("solvent peaks removed"))
    assert "CHCl3 7.26" in removal and "water 1.56" in removal and "TMS 0.00" in removal
    assert "Fulmer" in removal and "+-0.05 ppm" in removal
    assert done.steps[0] == "solvent: CDCl3 (given)" and done.steps[-1] == "normalise: max"
    assert kept.steps[0].startswith("solvent: not given")


def test_solvent_from_file_metadata_and_overrides():
    named = prepare(_h_spectrum({"solvent": "CHLOROFORM-D"}), H_GRID)
    assert named.solvent == "CDCl3" and "from the file metadata" in named.steps[0]
    assert np.all(_near(H_GRID, named.y, 7.26, 0.05) == 0.0)
    off = prepare(_h_spectrum({"solvent": "CDCl3"}), H_GRID,
                           options=PrepareOptions(solvent="none"))
    assert off.solvent is None and _near(H_GRID, off.y, 7.26).max() > 0.9
    odd = prepare(_h_spectrum({"solvent": "liquid helium"}), H_GRID)
    assert odd.solvent is None and "not in the table" in odd.steps[0]
    keep_tms = prepare(_h_spectrum(), H_GRID,
                                options=PrepareOptions(solvent="CDCl3", reference=False))
    assert _near(H_GRID, keep_tms.y, 0.0).max() > 0.3


def test_solvent_in_jcamp_header_is_detected(tmp_path):
    path = write_jcamp(tmp_path / "h.jdx", _h_spectrum({"title": "ketone"}))
    text = path.read_text().replace("##ORIGIN=", "##.SOLVENT NAME=DMSO-d6\n##ORIGIN=")
    path.write_text(text)
    spectrum = read_spectrum(path, "h_nmr")
    done = prepare(spectrum, H_GRID)
    assert done.solvent == "DMSO-d6" and "'DMSO-d6'" in done.steps[0]
    removal = next(s for s in done.steps if s.startswith("solvent peaks removed"))
    assert "2.50" in removal and "water 3.33" in removal


def test_c13_multiplets_are_inside_the_default_window():
    ppm = np.linspace(-10.0, 220.0, 23001)
    # CDCl3 1:1:1 triplet (J = 32 Hz at 100 MHz) and a sample carbonyl at 206.7
    y = _lines(ppm, [76.84, 77.16, 77.48, 206.7, 30.9], [3, 3, 3, 0.5, 1.0], 0.05)
    spectrum = Spectrum(ppm, y, "c_nmr", "ppm", "arbitrary", source="c.csv")
    done = prepare(spectrum, C_GRID, options=PrepareOptions(solvent="cdcl3"))
    assert np.all(_near(C_GRID, done.y, 77.16, 0.9) == 0.0)
    assert _near(C_GRID, done.y, 30.9, 0.3).max() == pytest.approx(1.0)
    acetone = remove_solvent_peaks(spectrum, "acetone-d6")
    assert np.all(acetone.y[np.abs(acetone.x - 206.26) <= 1.0] == 0.0)   # its C=O as well
    assert "acetone-d6 C=O 206.26" in acetone.metadata["preprocessing"][-1]


def test_zero_windows_and_solvent_names():
    x = np.linspace(0.0, 10.0, 101)
    y, n = zero_windows(x, np.ones_like(x), [2.0, 5.0], 0.1)
    assert n == 6 and y.sum() == 95.0
    with pytest.raises(MspectmolError, match=">= 0"):
        zero_windows(x, x, [1.0], -0.1)
    assert find_solvent("Acetone-d6") == "acetone-d6" and find_solvent("(CD3)2SO") == "DMSO-d6"
    assert find_solvent("toluene-d8") is None and canonical_solvent("OFF") is None
    with pytest.raises(MspectmolError, match="unknown NMR solvent 'xylene'.*CDCl3"):
        canonical_solvent("xylene")


def _ir(wn, sloped: bool, noise=None):
    absorb = _lines(wn, [1715.0, 2950.0, 1100.0], [0.8, 0.3, 0.5], 20.0)
    if sloped:
        absorb = absorb + 0.05 + 0.2 * (wn - 400.0) / 3600.0
    if noise is not None:
        absorb = absorb + noise
    return Spectrum(wn, 100.0 * 10.0 ** -absorb, "ir", "cm-1", "%T", source="ir.jdx")


def test_baseline_correction_flattens_a_sloped_ir_baseline():
    wn = np.arange(4000.0, 399.0, -1.0)
    clean = prepare(_ir(wn, False), IR_GRID, options=PrepareOptions(baseline=False))
    raw = prepare(_ir(wn, True), IR_GRID, options=PrepareOptions(baseline=False))
    fixed = prepare(_ir(wn, True), IR_GRID)
    away = (np.abs(IR_GRID - 1715) > 150) & (np.abs(IR_GRID - 2950) > 150) & \
        (np.abs(IR_GRID - 1100) > 150)
    assert raw.y[away].max() > 0.2            # the slope survives without correction
    assert fixed.y[away].max() < 0.02         # flat after ALS
    assert np.abs(fixed.y - clean.y).max() < 0.05
    assert fixed.steps[0] == "y: %T -> absorbance"
    assert any(s.startswith("baseline: ALS") and "lam=1e+06" in s for s in fixed.steps)
    assert not any(s.startswith("baseline") for s in raw.steps)
    assert fixed.y.dtype == np.float32 and fixed.y.max() == pytest.approx(1.0)


def test_baseline_lambda_follows_the_grid_step():
    assert baseline_lambda("ir", IR_GRID) == pytest.approx(BASELINE_ALS["ir"])
    lam, _ = baseline_lambda("ir", canonical_grid("ir", 120))
    assert lam == pytest.approx(BASELINE_ALS["ir"][0] * (119 / 599) ** 4)


def test_peak_lists_skip_baseline_and_denoise_smooths():
    peaks = Spectrum([1715.0, 2950.0], [1.0, 0.5], "ir", "cm-1", "km/mol", kind="peaks")
    done = prepare(peaks, IR_GRID)
    assert "baseline: skipped (a peak list has none)" in done.steps
    # a broad-band spectrum sampled at the grid's own spacing (no anti-aliasing)
    wn = np.linspace(400.0, 4000.0, 600)
    absorb = _lines(wn, [1700.0, 3000.0], [0.8, 0.5], 120.0)
    noise = np.random.default_rng(0).normal(0.0, 0.02, wn.size)
    opts = PrepareOptions(baseline=False)
    clean = prepare(Spectrum(wn, absorb, "ir", "cm-1", "absorbance"), IR_GRID,
                             options=opts)
    noisy = prepare(Spectrum(wn, absorb + noise, "ir", "cm-1", "absorbance"),
                             IR_GRID, options=opts)
    smooth = prepare(Spectrum(wn, absorb + noise, "ir", "cm-1", "absorbance"),
                              IR_GRID, options=PrepareOptions(baseline=False, denoise=True))
    assert np.std(smooth.y - clean.y) < 0.8 * np.std(noisy.y - clean.y)
    assert any(s.startswith("denoise: Savitzky-Golay") for s in smooth.steps)
    assert not any(s.startswith("anti-alias") for s in noisy.steps)


def test_narrow_lines_keep_their_height_wherever_they_fall():
    """A 1 Hz line (0.0025 ppm at 400 MHz) shows with a similar height wherever it falls
    between two grid points; sampled directly it would range from full height to ~3%."""
    ppm = np.linspace(-1.0, 10.0, 44001)
    step = H_GRID[1] - H_GRID[0]
    start = H_GRID[np.searchsorted(H_GRID, 2.1)]
    heights = []
    for centre in np.linspace(start, start + step, 6):
        y = _lines(ppm, [centre], [1.0], 0.0025)
        done = prepare(Spectrum(ppm, y, "h_nmr", "ppm"), H_GRID, normalisation="none")
        heights.append(_near(H_GRID, done.y, centre, 0.03).max())
        assert any(s.startswith("resample: cell means over 4 sub-cells") for s in done.steps)
        assert any(s.startswith("render: sub-cell areas as lorentzian lines of FWHM 0.0375")
                   for s in done.steps)
    assert min(heights) > 0.6 * max(heights)


def test_lines_as_broad_as_training_are_not_widened_again():
    """A spectrum already drawn at the training width (the shipped examples) keeps it."""
    x = np.linspace(-2.0, 10.0, 2400)
    y = _lines(x, [1.2, 3.7], [3.0, 2.0], 0.04)
    done = prepare(Spectrum(x, y, "h_nmr", "ppm"), H_GRID, normalisation="none")
    assert not any(s.startswith("render") for s in done.steps)
    wide = (done.y > 0.5 * done.y.max()).sum()
    assert wide <= 4  # FWHM 0.04 ppm = 2 grid steps, as the training lines


def _narrow_fixture(modality, fwhm, n_lines, lo, hi, min_gap, seed):
    """10,000 points, ``n_lines`` Lorentzian lines at least ``min_gap`` apart."""
    rng = np.random.default_rng(seed)
    x = np.linspace(*get_modality(modality).x_range, 10_000)
    centres = []
    while len(centres) < n_lines:
        c = rng.uniform(lo, hi)
        if all(abs(c - d) >= min_gap for d in centres):
            centres.append(c)
    centres = np.sort(centres)
    heights = rng.uniform(0.3, 1.0, n_lines)
    return x, _lines(x, centres, heights, fwhm), centres, heights


def _kept(grid, y, centres):
    peaks, _ = find_peaks(y, height=0.02 * y.max())
    step = grid[1] - grid[0]
    return np.mean([np.any(np.abs(grid[peaks] - c) <= step) for c in centres])


@pytest.mark.parametrize(("modality", "fwhm", "lo", "hi", "gap"), [
    ("c_nmr", 0.03, 5.0, 215.0, 3.0),
    ("h_nmr", 0.002, 0.5, 9.5, 0.12),
])
def test_narrow_line_fixtures_keep_95_percent_of_their_lines(modality, fwhm, lo, hi, gap):
    grid = canonical_grid(modality, 600)
    for seed in range(3):
        x, y, centres, _ = _narrow_fixture(modality, fwhm, 20, lo, hi, gap, seed)
        done = prepare(Spectrum(x, y, modality, "ppm"), grid)
        assert _kept(grid, done.y, centres) >= 0.95


def test_h_nmr_integrals_survive_within_5_percent():
    """Relative 1H integrals (proton counts 3:2:1:2) are kept by cell areas + rendering."""
    x = np.linspace(-2.0, 10.0, 10_000)
    centres, counts = [1.25, 2.61, 4.12, 7.31], np.array([3.0, 2.0, 1.0, 2.0])
    y = _lines(x, centres, counts, 0.002)
    done = prepare(Spectrum(x, y, "h_nmr", "ppm"), H_GRID, normalisation="none")
    areas = np.array([done.y[np.abs(H_GRID - c) <= 0.3].sum() for c in centres])
    truth = np.array([y[np.abs(x - c) <= 0.3].sum() for c in centres])
    np.testing.assert_allclose(areas / areas.sum(), truth / truth.sum(), rtol=0.05)
