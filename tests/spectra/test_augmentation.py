"""Augmentations of appendix Q and the noise of appendix R: reproducibility, bounds, geometry."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from mspectmol.errors import MspectmolError, SpectrumError
from mspectmol.spectra.augmentation import (
    Augmenter,
    augment_spectrum,
    compose,
    gaussian_noise,
    gaussian_smoothing,
    horizontal_shift,
    noise_weights,
    shift_rows,
    smooth_rows,
    vertical_noise,
)
from mspectmol.spectra.spectrum import Spectrum

N = 600


def peak_batch(batch: int = 8, centre: int = 300, dtype=np.float32) -> np.ndarray:
    i = np.arange(N)
    row = 0.05 + np.exp(-0.5 * ((i - centre) / 4.0) ** 2)
    return np.tile(row / row.max(), (batch, 1)).astype(dtype)


FNS = {
    "shift": lambda y, r: horizontal_shift(y, r),
    "noise": lambda y, r: vertical_noise(y, r),
    "smooth": lambda y, r: gaussian_smoothing(y, r),
    "gaussian_noise": lambda y, r: gaussian_noise(y, r, 0.05),
    "augmenter": Augmenter("shift+noise+smooth"),
}


@pytest.mark.parametrize("name", FNS)
def test_same_seed_reproduces_and_other_seed_differs(name):
    y = peak_batch()
    fn = FNS[name]
    a = fn(y, np.random.default_rng(7))
    b = fn(y, np.random.default_rng(7))
    c = fn(y, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == y.shape and a.dtype == np.float32
    assert np.array_equal(y, peak_batch())  # input untouched


@pytest.mark.parametrize("name", ["shift", "noise", "smooth", "gaussian_noise"])
def test_rows_get_independent_draws(name):
    out = FNS[name](peak_batch(16), np.random.default_rng(3))
    assert len({row.tobytes() for row in out}) > 1


def test_shift_moves_argmax_by_drawn_amount():
    y = peak_batch(32)
    out = horizontal_shift(y, np.random.default_rng(11), max_shift=10)
    drawn = np.random.default_rng(11).integers(-10, 11, size=32)
    np.testing.assert_array_equal(out.argmax(axis=1), 300 + drawn)
    many = horizontal_shift(peak_batch(400), np.random.default_rng(0), 10).argmax(axis=1) - 300
    assert many.min() == -10 and many.max() == 10


def test_shift_rows_fills_edges():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert shift_rows(y, 2).tolist() == [1, 1, 1, 2]
    assert shift_rows(y, -1, fill="zero").tolist() == [2, 3, 4, 0]
    assert shift_rows(y, 1, fill=-5.0).tolist() == [-5, 1, 2, 3]
    two = shift_rows(np.stack([y, y]), [1, -1])
    assert two.tolist() == [[1, 1, 2, 3], [2, 3, 4, 4]]
    with pytest.raises(SpectrumError, match="whole numbers"):
        shift_rows(y, 0.5)
    with pytest.raises(SpectrumError, match="max_shift"):
        horizontal_shift(y, np.random.default_rng(0), -1)


def test_vertical_noise_is_bounded_and_weaker_on_peaks():
    y = peak_batch(64, dtype=np.float64)
    out = vertical_noise(y, np.random.default_rng(5), max_level=0.05)
    delta = out - y
    bound = 0.05 * noise_weights(y)
    assert np.all(np.abs(delta) <= bound + 1e-15)
    assert np.abs(delta).max() > 0.045  # the bound is reached at the baseline
    top = np.abs(delta[:, 300])
    assert top.max() <= 0.025 + 1e-15
    assert np.abs(delta[:, :200]).mean() > 1.5 * top.mean()
    assert delta.mean() == pytest.approx(0.0, abs=2e-3)  # symmetric noise


def test_noise_weights_and_scale_invariance():
    y = np.array([0.0, 0.5, 1.0, -1.0])
    np.testing.assert_allclose(noise_weights(y), [1.0, 1 / 1.5, 0.5, 0.5])
    np.testing.assert_allclose(noise_weights(y, "linear"), [1.0, 0.5, 0.0, 0.0])
    big = vertical_noise(100 * y, np.random.default_rng(1))
    small = vertical_noise(y, np.random.default_rng(1))
    np.testing.assert_allclose(big, 100 * small)
    with pytest.raises(SpectrumError, match="weighting"):
        noise_weights(y, "cubic")


def test_zero_placeholder_rows_stay_zero():
    y = peak_batch(3)
    y[1] = 0.0
    for fn in FNS.values():
        assert not fn(y, np.random.default_rng(2))[1].any()


def test_gaussian_noise_sigma_follows_each_maximum():
    y = np.zeros((2, 20000))
    y[0, 0], y[1, 0] = 1.0, 10.0
    out = gaussian_noise(y, np.random.default_rng(4), 0.1)
    np.testing.assert_allclose(out[:, 1:].std(axis=1), [0.1, 1.0], rtol=0.03)
    assert np.array_equal(gaussian_noise(y, np.random.default_rng(4), 0.0), y)


def test_smoothing_matches_scipy_and_preserves_area():
    y = peak_batch(4, dtype=np.float64)
    sig = np.array([0.75, 1.0, 1.25, 2.0])
    out = smooth_rows(y, sig)
    ref = np.stack([gaussian_filter1d(y[i], sig[i]) for i in range(4)])
    np.testing.assert_allclose(out, ref, atol=1e-14)
    np.testing.assert_allclose(out.sum(axis=1), y.sum(axis=1), rtol=1e-9)
    assert np.all(out.max(axis=1) < y.max(axis=1))


def test_smoothing_draws_sigma_from_range():
    y = peak_batch(10, dtype=np.float64)
    out = gaussian_smoothing(y, np.random.default_rng(9), (0.75, 1.25))
    sig = np.random.default_rng(9).uniform(0.75, 1.25, size=10)
    np.testing.assert_allclose(out, smooth_rows(y, sig))
    with pytest.raises(SpectrumError, match="sigma_range"):
        gaussian_smoothing(y, np.random.default_rng(0), (0.0, 1.0))


def test_augmenter_parses_names_and_matches_compose():
    y = peak_batch()
    aug = Augmenter("shift + noise")
    assert aug.names == ("shift", "noise") and repr(aug) == "Augmenter('shift+noise')"
    manual = compose(lambda v, r: horizontal_shift(v, r, 10),
                     lambda v, r: vertical_noise(v, r, 0.05))
    np.testing.assert_array_equal(aug(y, np.random.default_rng(1)),
                                  manual(y, np.random.default_rng(1)))
    same = Augmenter(["noise", "smooth"], max_level=0.0)(y, np.random.default_rng(1))
    np.testing.assert_allclose(same.sum(axis=1), y.sum(axis=1), rtol=1e-5)
    ident = Augmenter("none")(y, np.random.default_rng(1))
    assert np.array_equal(ident, y) and ident is not y
    with pytest.raises(MspectmolError, match="unknown augmentation"):
        Augmenter("shift+flip")


def test_one_dimensional_input_and_bad_input():
    v = peak_batch(1)[0]
    out = Augmenter("shift+smooth")(v, np.random.default_rng(0))
    assert out.shape == (N,)
    with pytest.raises(SpectrumError, match="shape"):
        horizontal_shift(np.zeros((2, 2, 2)), np.random.default_rng(0))
    with pytest.raises(SpectrumError, match="finite"):
        vertical_noise(np.array([1.0, np.nan]), np.random.default_rng(0))


def test_augment_spectrum_keeps_axis_and_logs():
    s = Spectrum(np.linspace(400, 4000, N), peak_batch(1)[0], "ir", source="s.csv")
    out = augment_spectrum(s, Augmenter("noise"), np.random.default_rng(0))
    assert np.array_equal(out.x, s.x) and not np.array_equal(out.y, s.y)
    assert out.metadata["preprocessing"] == ["augment: Augmenter('noise')"]
    bad = Augmenter("noise", max_level=-1.0)
    with pytest.raises(SpectrumError, match="s.csv: max_level"):
        augment_spectrum(s, bad, np.random.default_rng(0))
