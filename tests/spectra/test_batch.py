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


@pytest.mark.parametrize("modality, x", [
    ("h_nmr", np.linspace(10.0, -2.0, 3001)),  # descending, finer: cell means, then lines
    ("ir", np.linspace(4000.0, 400.0, 1800)),  # descending, finer: cell means
    ("ir", np.linspace(400.0, 4000.0, 300)),   # coarser: interpolation
])
def test_resampling_plan_reads_rows_in_their_own_axis_order(modality, x):
    from mspectmol.spectra.batch import plan_resampling
    from mspectmol.spectra.pipeline import RENDERED, line_width
    from mspectmol.spectra.resample import cell_means, render_lines

    rng = np.random.default_rng(1)
    y = rng.random((4, x.size)).astype(np.float32) ** 4
    grid = canonical_grid(modality, 600)
    got = plan_resampling(x, grid, modality).apply(y)
    flipped = plan_resampling(x[::-1], grid, modality).apply(y[:, ::-1].copy())
    np.testing.assert_allclose(got, flipped, rtol=1e-5, atol=1e-6)
    xa, ya = (x[::-1], y[:, ::-1]) if x[0] > x[-1] else (x, y)  # reference: ascending
    if x.size < grid.size:
        ref = np.stack([resample(xa, row, grid) for row in ya])
    elif modality in RENDERED:
        width, shape = line_width(modality, grid)
        ref = np.stack([render_lines(xa, row, grid, width, shape) for row in ya])
    else:
        ref = np.stack([cell_means(xa, row, grid) for row in ya])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
