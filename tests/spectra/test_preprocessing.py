"""Golden values for grids, interpolation (eq. 3), normalisation, broadening, binning, baselines."""

import os
from pathlib import Path

import numpy as np
import pytest

from mspectmol.errors import SpectrumError
from mspectmol.spectra.baseline import baseline_als, baseline_rubberband, subtract_baseline
from mspectmol.spectra.preprocessing import (
    bin_ms,
    bin_peaks,
    broaden,
    canonical_grid,
    coverage_fraction,
    grid_spectrum,
    interpolate,
    normalise,
    normalise_array,
    peaks_to_profile,
    resample,
    stack_to_grid,
    to_grid,
)
from mspectmol.spectra.spectrum import Spectrum

SHARED = Path(os.environ.get("MSPECTMOL_SHARED", Path(__file__).resolve().parents[3] / "shared"))
ALBERTS = SHARED / "data" / "alberts-example" / "example_data_1.parquet"


def ir(x, y, **kw):
    return Spectrum(np.asarray(x, float), np.asarray(y, float), "ir", source="test.jdx", **kw)


# ---------------------------------------------------------------- grids and interpolation
def test_ir_grid_endpoints_exact():
    g = canonical_grid("ir")
    assert g.size == 600 and g[0] == 400.0 and g[-1] == 4000.0
    np.testing.assert_allclose(np.diff(g), 3600.0 / 599)
    assert canonical_grid("h_nmr", 13)[[0, -1]].tolist() == [-2.0, 10.0]
    assert canonical_grid("ir", 11, (400, 410)).tolist() == [float(v) for v in range(400, 411)]


@pytest.mark.parametrize("n, rng", [(1, None), (2.5, None), (10, (5.0, 5.0)), (10, (1, np.inf))])
def test_grid_rejects_bad_arguments(n, rng):
    with pytest.raises(SpectrumError):
        canonical_grid("ir", n, rng)


def test_piecewise_linear_interpolation_is_exact():
    s = interpolate(ir([400, 404, 410], [0, 8, 2]), 11, (400, 410))
    assert s.y.tolist() == [0, 2, 4, 6, 8, 7, 6, 5, 4, 3, 2]
    assert s.x.tolist() == list(range(400, 411))
    assert s.metadata["coverage"] == 1.0
    assert s.metadata["preprocessing"][-1].startswith("interpolate: 11 points")


def test_linear_function_on_default_grid():
    x = np.sort(np.random.default_rng(1).uniform(400, 4000, 300))
    x = np.concatenate([[400.0], x, [4000.0]])
    s = interpolate(ir(x, 2 * x + 1))
    np.testing.assert_allclose(s.y, 2 * canonical_grid("ir") + 1, rtol=1e-12)


def test_descending_input_equals_ascending():
    x = np.linspace(400, 4000, 977)
    y = np.sin(x / 150.0) ** 2
    up = interpolate(ir(x, y))
    down = interpolate(ir(x[::-1], y[::-1]))
    np.testing.assert_array_equal(up.y, down.y)


def test_percent_transmittance_becomes_absorbance():
    x = np.linspace(400, 4000, 50)
    absorbance = (x - 400) / 3600  # linear, so interpolation is exact
    s = interpolate(ir(x, 100 * 10 ** (-absorbance), y_unit="%T"))
    np.testing.assert_allclose(s.y, (canonical_grid("ir") - 400) / 3600, atol=1e-12)
    assert s.y_unit == "absorbance"


def test_micrometre_axis_is_converted():
    um = np.linspace(2.5, 25.0, 400)
    s = interpolate(ir(um, um, x_unit="um"))  # y = 1e4 / x_cm
    np.testing.assert_allclose(s.y[[0, -1]], [25.0, 2.5])


def test_partial_coverage_fills_and_records():
    s = interpolate(ir([400, 1000, 2200], [1, 1, 1]), min_coverage=0.4, fill=-1.0)
    assert s.metadata["coverage"] == pytest.approx(0.5)
    g = canonical_grid("ir")
    assert np.all(s.y[g > 2200] == -1.0) and np.all(s.y[g <= 2200] == 1.0)


def test_low_coverage_names_source():
    with pytest.raises(SpectrumError, match=r"test\.jdx.*covers only 16\.7%"):
        interpolate(ir([400, 1000], [1, 2]))


def test_range_outside_grid_names_source():
    with pytest.raises(SpectrumError, match=r"test\.jdx.*outside the ir grid"):
        interpolate(ir([5000, 6000], [1, 2]))


def test_peak_list_and_single_point_are_refused():
    peaks = Spectrum(np.array([100.0]), np.array([1.0]), "ms", source="a.msp")
    with pytest.raises(SpectrumError, match="a.msp.*peaks_to_profile"):
        interpolate(peaks)
    with pytest.raises(SpectrumError, match=r"test\.jdx.*at least 2 points"):
        interpolate(ir([500, 500], [1, 2]))


def test_resample_needs_increasing_x():
    with pytest.raises(SpectrumError, match="strictly increasing"):
        resample(np.array([3.0, 1.0, 2.0]), np.ones(3), np.arange(3.0))
    assert coverage_fraction(np.array([0.0, 5.0]), 0.0, 10.0) == 0.5
    assert coverage_fraction(np.array([20.0, 30.0]), 0.0, 10.0) == 0.0


# ---------------------------------------------------------------- normalisation
def test_normalisation_methods_per_row():
    y = np.array([[0.0, 1.0, 4.0, 3.0], [2.0, 2.0, 6.0, 10.0]])
    np.testing.assert_allclose(normalise_array(y, "max"), y / [[4.0], [10.0]])
    np.testing.assert_allclose(normalise_array(y, "area").sum(axis=1), 1.0)
    mm = normalise_array(y, "minmax")
    np.testing.assert_allclose(mm[1], [0, 0, 0.5, 1])
    z = normalise_array(y, "zscore")
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=1), 1)
    assert np.array_equal(normalise_array(y, "none"), y)


def test_all_zero_max_raises_unless_placeholder():
    with pytest.raises(SpectrumError, match="allow_zero"):
        normalise_array(np.zeros(5))
    out = normalise_array(np.array([[0.0, 0, 0], [1, 2, 4]], dtype=np.float32), allow_zero=True)
    assert out.dtype == np.float32 and not np.isnan(out).any()
    np.testing.assert_allclose(out, [[0, 0, 0], [0.25, 0.5, 1]])


@pytest.mark.parametrize("method", ["minmax", "zscore"])
def test_constant_rows_raise_even_with_allow_zero(method):
    with pytest.raises(SpectrumError, match="constant"):
        normalise_array(np.full(600, 0.1), method, allow_zero=True)
    assert not normalise_array(np.zeros(4), method, allow_zero=True).any()


def test_negative_spectrum_and_unknown_method():
    with pytest.raises(SpectrumError, match="not positive"):
        normalise_array(-np.ones(4), "max", allow_zero=True)
    with pytest.raises(SpectrumError, match="unknown normalisation"):
        normalise_array(np.ones(4), "l2")
    with pytest.raises(SpectrumError, match="finite"):
        normalise_array(np.array([1.0, np.nan]))


def test_normalise_spectrum_logs_and_names_source():
    s = normalise(ir([400, 500], [1, 3]))
    assert s.y.tolist() == [pytest.approx(1 / 3), 1.0] and s.y_unit == "relative"
    assert s.metadata["preprocessing"] == ["normalise: max"]
    with pytest.raises(SpectrumError, match="test.jdx"):
        normalise(ir([400, 500], [0, 0]))


# ---------------------------------------------------------------- broadening
@pytest.mark.parametrize("shape", ["lorentzian", "gaussian"])
def test_half_height_at_half_fwhm(shape):
    grid = np.array([990.0, 992.5, 1000.0, 1007.5, 1010.0])
    y = broaden(np.array([1000.0]), np.array([3.0]), grid, 15.0, shape)
    assert y[2] == pytest.approx(3.0)
    assert y[1] == pytest.approx(1.5) and y[3] == pytest.approx(1.5)
    assert y[0] == pytest.approx(y[4]) and 0.0 < y[0] < 1.5


def test_lorentzian_and_gaussian_tails_differ_and_outside_peaks_count():
    grid = np.linspace(400, 4000, 600)
    lor = broaden(np.array([4030.0]), np.array([1.0]), grid, 15.0, "lorentzian")
    assert lor[-1] == pytest.approx(1 / (1 + (2 * 30 / 15) ** 2))
    gau = broaden(np.array([4030.0]), np.array([1.0]), grid, 15.0, "gaussian")
    assert gau[-1] == pytest.approx(np.exp(-4 * np.log(2) * 4))


def test_broadening_is_additive_and_chunk_independent():
    rng = np.random.default_rng(0)
    pos, amp = rng.uniform(300, 4100, 700), rng.uniform(0, 1, 700)
    grid = canonical_grid("ir")
    widths = rng.uniform(5, 30, 700)
    full = broaden(pos, amp, grid, widths, "lorentzian")
    np.testing.assert_allclose(broaden(pos, amp, grid, widths, "lorentzian", chunk=64), full)
    assert np.all(full > 0) and full.shape == (600,)
    with pytest.raises(SpectrumError, match="fwhm"):
        broaden(pos, amp, grid, widths[:10])
    one_by_one = sum(broaden(pos[i:i + 1], amp[i:i + 1], grid, 10.0, "gaussian")
                     for i in range(0, 700, 70))
    sub = broaden(pos[::70], amp[::70], grid, 10.0, "gaussian", chunk=3)
    np.testing.assert_allclose(sub, one_by_one, rtol=1e-12)


def test_broaden_rejects_bad_width_and_shape():
    with pytest.raises(SpectrumError, match="fwhm"):
        broaden(np.array([1.0]), np.array([1.0]), np.arange(3.0), 0.0)
    with pytest.raises(SpectrumError, match="line shape"):
        broaden(np.array([1.0]), np.array([1.0]), np.arange(3.0), 1.0, "voigt")


def test_peaks_to_profile_uses_registry_defaults():
    peaks = ir([1700.0, 2950.0], [1.0, 0.5], kind="peaks")
    s = peaks_to_profile(peaks)
    g = canonical_grid("ir")
    assert s.kind == "profile" and s.metadata["fwhm"] == 15.0
    assert s.metadata["line_shape"] == "lorentzian"
    assert abs(g[np.argmax(s.y)] - 1700) <= 3.0
    expect = broaden(np.array([1700.0, 2950.0]), np.array([1.0, 0.5]), g, 15.0)
    np.testing.assert_allclose(s.y, expect)


def test_narrow_lines_are_widened_to_the_grid():
    ms = Spectrum(np.array([100.8, 500.0]), np.array([10.0, 5.0]), "ms")
    s = peaks_to_profile(ms)
    step = 1000.0 / 599
    assert s.metadata["fwhm"] == pytest.approx(2 * step)
    assert s.y.max() > 5.0  # a 0.5-wide line between grid points would all but vanish
    kept = peaks_to_profile(ms, min_fwhm_points=0)
    assert kept.metadata["fwhm"] == 0.5 and kept.y.max() < 1.0


def test_bad_peak_lists_are_named():
    with pytest.raises(SpectrumError, match="x.msp: the peak list is empty"):
        peaks_to_profile(Spectrum(np.array([]), np.array([]), "ms", source="x.msp"))
    with pytest.raises(SpectrumError, match="negative"):
        peaks_to_profile(Spectrum(np.array([50.0]), np.array([-1.0]), "ms"))
    with pytest.raises(SpectrumError, match="x.msp: none of the 1 peaks"):
        peaks_to_profile(Spectrum(np.array([5000.0]), np.array([1.0]), "ms", source="x.msp"))
    with pytest.raises(SpectrumError, match="interpolate"):
        peaks_to_profile(ir([400, 500], [1, 1]))


# ---------------------------------------------------------------- MS binning
def test_bin_ms_max_and_sum_into_right_bins():
    mz = np.array([0.05, 0.15, 0.19, 0.3, 999.95, 1000.0, -1.0])
    val = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    s = bin_ms(Spectrum(mz, val, "ms"), 0.1, 0, 1000, "max")
    assert s.y.size == 10000 and s.kind == "profile"
    assert s.y[[0, 1, 3, 9999]].tolist() == [1.0, 3.0, 4.0, 5.0] and s.y.sum() == 13.0
    assert s.metadata["peaks_dropped"] == 2
    assert s.x[0] == pytest.approx(0.05) and s.x[-1] == pytest.approx(999.95)
    summed = bin_peaks(mz, val, 0.1, reduce="sum")
    assert summed[1] == 5.0 and summed.sum() == 15.0


def test_bin_sqrt_and_unit_bins():
    y = bin_peaks(np.array([10.2, 10.7, 11.0]), np.array([4.0, 9.0, 16.0]), 1.0, 0, 20,
                  reduce="sum", sqrt=True)
    assert y.size == 20 and y[10] == 5.0 and y[11] == 4.0


def test_bin_rejects_bad_ranges_and_intensities():
    with pytest.raises(SpectrumError, match="whole number"):
        bin_peaks(np.array([1.0]), np.array([1.0]), 0.3, 0, 1)
    with pytest.raises(SpectrumError, match="non-negative"):
        bin_peaks(np.array([1.0]), np.array([-1.0]))
    with pytest.raises(SpectrumError, match="reduce"):
        bin_peaks(np.array([1.0]), np.array([1.0]), reduce="mean")


# ---------------------------------------------------------------- pipeline
def test_to_grid_profile_and_peaks():
    x = np.linspace(4000, 400, 1800)
    v = to_grid(ir(x, np.exp(-((x - 1715) / 20) ** 2)))
    assert v.dtype == np.float32 and v.shape == (600,) and v.max() == pytest.approx(1.0)
    ms = to_grid(Spectrum(np.array([43.0, 58.0]), np.array([100.0, 30.0]), "ms"), 100)
    assert ms.shape == (100,) and ms.max() == pytest.approx(1.0)
    s = grid_spectrum(ir(x, x / 4000), normalise="area")
    assert [step.split(":")[0] for step in s.metadata["preprocessing"]] == [
        "interpolate", "normalise"]
    assert s.y.sum() == pytest.approx(1.0)


def test_stack_to_grid_with_missing_rows():
    x = np.linspace(400, 4000, 100)
    specs = [ir(x, x), None, ir(x, 5000 - x)]
    m = stack_to_grid(specs, allow_missing=True)
    assert m.shape == (3, 600) and m.dtype == np.float32
    assert not m[1].any() and m[0, -1] == pytest.approx(1.0) and m[2, 0] == pytest.approx(1.0)
    with pytest.raises(SpectrumError, match="spectrum 1 is missing"):
        stack_to_grid(specs)
    assert stack_to_grid([], 50).shape == (0, 50)


# ---------------------------------------------------------------- baselines
def _peaks_on_baseline():
    t = np.linspace(0.0, 1.0, 600)
    base = 0.5 + 0.8 * t - 0.6 * t**2
    peaks = sum(a * np.exp(-(((t - c) / 0.01) ** 2)) for a, c in [(2, 0.2), (1, 0.5), (3, 0.8)])
    return t, base, peaks


def test_als_recovers_smooth_baseline():
    t, base, peaks = _peaks_on_baseline()
    z = baseline_als(base + peaks, lam=1e6, p=0.001)
    away = peaks < 1e-3
    assert np.abs(z - base)[away].max() < 0.02
    assert np.abs(z - base).max() < 0.1
    batch = baseline_als(np.stack([base + peaks, 2 * (base + peaks)]), lam=1e6, p=0.001)
    np.testing.assert_allclose(batch[1], 2 * z, rtol=1e-6, atol=1e-9)


def test_rubberband_follows_linear_baseline_under_peaks():
    t, _, peaks = _peaks_on_baseline()
    line = 1.0 - 0.7 * t
    np.testing.assert_allclose(baseline_rubberband(line + peaks, t), line, atol=1e-12)
    convex = (t - 0.5) ** 2
    np.testing.assert_allclose(baseline_rubberband(convex), convex, atol=1e-12)
    with pytest.raises(SpectrumError, match="strictly increasing"):
        baseline_rubberband(line, t[::-1])


def test_subtract_baseline_on_spectrum():
    t, base, peaks = _peaks_on_baseline()
    x = 400 + 3600 * t
    s = subtract_baseline(ir(x, 1.0 - 0.7 * t + peaks), "rubberband")
    np.testing.assert_allclose(s.y, peaks, atol=1e-12)
    assert s.metadata["preprocessing"][-1].startswith("baseline: rubberband")
    with pytest.raises(SpectrumError, match="test.jdx"):
        subtract_baseline(ir(x, base), "poly")


# ---------------------------------------------------------------- real data (optional)
@pytest.mark.skipif(not ALBERTS.exists(), reason="shared Alberts sample not available")
def test_alberts_sample_to_grid():
    pq = pytest.importorskip("pyarrow.parquet")
    row = pq.read_table(ALBERTS, columns=["ir_spectra", "h_nmr_spectra"]).slice(0, 1)
    row = row.to_pylist()[0]
    ir_y = np.asarray(row["ir_spectra"])
    v = to_grid(ir(np.linspace(400, 4000, ir_y.size), ir_y))
    expect = np.interp(canonical_grid("ir"), np.linspace(400, 4000, ir_y.size), ir_y)
    np.testing.assert_allclose(v, expect / expect.max(), rtol=1e-5, atol=1e-6)
    h = np.asarray(row["h_nmr_spectra"])
    nmr = Spectrum(np.linspace(10, -2, h.size), h, "h_nmr")
    w = to_grid(nmr)
    ref = np.interp(canonical_grid("h_nmr"), np.linspace(-2, 10, h.size), h[::-1])
    np.testing.assert_allclose(w, ref / ref.max(), rtol=1e-5, atol=1e-6)
