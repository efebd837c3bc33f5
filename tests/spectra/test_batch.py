"""Batched interpolation agrees with the per-spectrum reference (eq. 3)."""

import numpy as np
import pytest

from mspectmol.errors import SpectrumError
from mspectmol.spectra.batch import normalise_rows_max, plan_interpolation, resample_rows
from mspectmol.spectra.preprocessing import canonical_grid, resample


@pytest.mark.parametrize("descending", [False, True])
def test_matches_per_spectrum_resample(descending):
    rng = np.random.default_rng(0)
    x = np.linspace(-2.5, 10.5, 977)
    y = rng.random((5, x.size))
    grid = canonical_grid("h_nmr", 600)
    xs, ys = (x[::-1], y[:, ::-1]) if descending else (x, y)
    out = resample_rows(plan_interpolation(xs, grid), ys)
    ref = np.stack([resample(x, row, grid) for row in y])
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_points_outside_get_fill_and_golden_values():
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([[0.0, 10.0, 20.0]])
    out = resample_rows(plan_interpolation(x, np.array([-1.0, 0.0, 0.25, 1.5, 2.0, 3.0])), y,
                        fill=-1.0)
    np.testing.assert_allclose(out, [[-1.0, 0.0, 2.5, 15.0, 20.0, -1.0]])


def test_bad_axes_and_rows():
    with pytest.raises(SpectrumError, match="monotonic"):
        plan_interpolation(np.array([0.0, 2.0, 1.0]), np.array([0.5]))
    with pytest.raises(SpectrumError, match=">= 2 points"):
        plan_interpolation(np.array([1.0]), np.array([0.5]))
    with pytest.raises(SpectrumError, match="NaN"):
        normalise_rows_max(np.array([[1.0, np.nan]]))
    with pytest.raises(SpectrumError, match="row 1"):
        normalise_rows_max(np.array([[1.0, 2.0], [0.0, 0.0]]), allow_zero=False)
    y = normalise_rows_max(np.array([[1.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(y, [[0.25, 1.0], [0.0, 0.0]])
