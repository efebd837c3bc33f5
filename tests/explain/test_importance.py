"""Gate importance maps, per-group attribution, group averages, regions, carbonyl check."""

import numpy as np
import pytest
import torch
from torch import nn

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import MspectmolError
from mspectmol.explain.importance import (
    bands_to_points,
    carbonyl_window_fraction,
    gate_importance,
    group_attribution,
    group_importance,
    run_with_gates,
    top_band_centre,
    top_regions,
)
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
from mspectmol.spectra.preprocessing import canonical_grid

MODS = ("ir", "h_nmr", "c_nmr")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    return PAIBModel(PAIBConfig(channels=(4, 8), gate_hidden=4, head_hidden=8)).eval()


@pytest.fixture(scope="module")
def spectra():
    rng = np.random.default_rng(0)
    return {m: rng.random((6, 600)).astype(np.float32) for m in MODS}


def test_maps_have_grid_shape_are_non_negative_and_sum_to_one(model, spectra):
    maps = gate_importance(model, spectra, batch_size=4)        # two batches
    assert set(maps) == set(MODS)
    for m in MODS:
        assert maps[m].shape == (6, 600)
        assert (maps[m] >= 0).all()
        np.testing.assert_allclose(maps[m].sum(axis=1), 1.0, rtol=1e-12)


def test_each_band_covers_four_points_with_its_gate_probability(model, spectra):
    with torch.no_grad():
        out = model({m: torch.as_tensor(x) for m, x in spectra.items()})
    probs = out.gate_probs["ir"].double().numpy()
    assert probs.shape == (6, 150)
    maps = gate_importance(model, spectra)["ir"]
    expected = np.repeat(probs / (4 * probs.sum(axis=1, keepdims=True)), 4, axis=1)
    np.testing.assert_allclose(maps, expected, rtol=1e-6)
    raw = gate_importance(model, spectra, normalise=False)["ir"]
    np.testing.assert_allclose(raw[:, ::4], probs, rtol=1e-6)


def test_unavailable_spectra_give_nan_rows(model, spectra):
    available = {"c_nmr": np.array([True, False, True, True, True, False])}
    maps = gate_importance(model, spectra, available)
    assert np.isnan(maps["c_nmr"][[1, 5]]).all()
    np.testing.assert_allclose(maps["c_nmr"][[0, 2, 3, 4]].sum(axis=1), 1.0)
    np.testing.assert_allclose(maps["ir"].sum(axis=1), 1.0)


def test_bands_to_points_hand_case():
    np.testing.assert_array_equal(bands_to_points(np.array([[1.0, 2.0, 3.0]]), 6),
                                  [[1, 1, 2, 2, 3, 3]])
    # a floor-division pool drops trailing points: they take the last band's value
    np.testing.assert_array_equal(bands_to_points(np.array([[1.0, 2.0]]), 5), [[1, 1, 2, 2, 2]])
    with pytest.raises(MspectmolError):
        bands_to_points(np.ones((1, 5)), 3)


class _Window(nn.Module):
    """Group g's logit is (g + 1) x the sum of IR points 100..109; other inputs unused."""

    def forward(self, spectra, available=None):
        base = spectra["ir"][:, 100:110].sum(dim=1, keepdim=True)
        return base * torch.arange(1, 4, dtype=base.dtype) + 0 * spectra["h_nmr"].sum()


def test_model_without_gates_is_refused(spectra):
    plain = _Window()
    out = run_with_gates(plain, spectra)
    assert out.gate_probs is None and out.logits.shape == (6, 3)
    np.testing.assert_allclose(out.logits[:, 1], 2 * spectra["ir"][:, 100:110].sum(axis=1),
                               rtol=1e-5)
    with pytest.raises(MspectmolError, match="no information-bottleneck gates"):
        gate_importance(plain, spectra)


def test_group_attribution_follows_the_gradient(spectra):
    attr = group_attribution(_Window(), {m: spectra[m] for m in ("ir", "h_nmr")}, 2)
    ir = attr["ir"]
    np.testing.assert_allclose(ir.sum(axis=1), 1.0)
    assert (ir[:, :100] == 0).all() and (ir[:, 110:] == 0).all()
    x = spectra["ir"][:, 100:110]
    np.testing.assert_allclose(ir[:, 100:110], x / x.sum(axis=1, keepdims=True), rtol=1e-5)
    assert np.isnan(attr["h_nmr"]).all()       # zero gradient everywhere: no attribution
    gate = np.zeros((6, 600))
    gate[:, 105:] = 1.0
    gated = group_attribution(_Window(), {"ir": spectra["ir"], "h_nmr": spectra["h_nmr"]}, 0,
                              gate_maps={"ir": gate})["ir"]
    assert (gated[:, :105] == 0).all() and gated[:, 105:110].sum(axis=1) == pytest.approx(1.0)
    with pytest.raises(MspectmolError, match="outside"):
        group_attribution(_Window(), {"ir": spectra["ir"], "h_nmr": spectra["h_nmr"]}, 3)


def test_pa_ib_attribution_is_a_distribution(model, spectra):
    maps = gate_importance(model, spectra)
    attr = group_attribution(model, spectra, 5, gate_maps=maps)
    for m in MODS:
        assert attr[m].shape == (6, 600) and (attr[m] >= 0).all()
        np.testing.assert_allclose(attr[m].sum(axis=1), 1.0, rtol=1e-9)


def test_group_importance_hand_case():
    maps = {"ir": np.array([[1.0, 0.0, 0.0, 0.0],
                            [0.0, 1.0, 0.0, 0.0],
                            [np.nan] * 4,
                            [0.0, 0.0, 0.5, 0.5]])}
    labels = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    out = group_importance(maps, labels)["ir"]
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[0], [1 / 3, 1 / 3, 1 / 6, 1 / 6])
    assert np.isnan(out[1]).all()      # its only molecule has no spectrum
    assert np.isnan(out[2]).all()      # no molecule has the group
    with pytest.raises(MspectmolError):
        group_importance(maps, labels[:3])


def test_top_regions_on_a_synthetic_map():
    grid = np.arange(100.0)
    imp = np.ones(100)
    imp[10:20] = 5.0                       # wide, strong
    imp[50:53] = 8.0                       # narrow
    imp[56:58] = 6.0                       # close to the narrow one
    imp /= imp.sum()
    regions = top_regions(imp, grid, k=3)
    assert [(a, b) for a, b, _ in regions] == [(10.0, 19.0), (50.0, 52.0), (56.0, 57.0)]
    weights = [w for _, _, w in regions]
    assert weights == sorted(weights, reverse=True)
    assert weights[0] == pytest.approx(imp[10:20].sum())       # share of a map summing to 1
    assert top_regions(imp, grid, k=1) == regions[:1]
    assert [r[:2] for r in top_regions(imp, grid, min_width=5)] == [(10.0, 19.0)]
    merged = top_regions(imp, grid, max_gap=4)
    assert (50.0, 57.0) == merged[1][:2]
    assert merged[1][2] == pytest.approx(imp[50:58].sum())   # the bridged gap counts too
    assert top_regions(np.full(100, np.nan), grid) == []
    with pytest.raises(MspectmolError):
        top_regions(-imp, grid)


def test_top_regions_keep_chemists_direction_out_of_the_tuple():
    grid = canonical_grid("ir", 600)
    imp = np.ones(600)
    window = (grid > 1650) & (grid < 1850)
    imp[window] = 10.0
    imp /= imp.sum()
    (lo, hi, w), = top_regions(imp, grid, k=1)
    assert (lo, hi) == (grid[window][0], grid[window][-1])    # ascending, as the grid
    assert w == pytest.approx(imp[window].sum())


def test_carbonyl_window_fraction():
    grid = canonical_grid("ir", 600)
    n = 5
    maps = np.ones((n, 600))
    band = np.flatnonzero((grid >= 1700) & (grid < 1724))     # one 4-point band at ~1710
    other = np.flatnonzero((grid >= 2900) & (grid < 2924))
    maps[0, band] = maps[1, band] = maps[3, band] = 5.0       # 3: not a carbonyl molecule
    maps[2, other] = 5.0
    maps[4] = np.nan                                           # no IR spectrum
    labels = np.zeros((n, len(GROUP_NAMES)), dtype=int)
    labels[0, GROUP_NAMES.index("Ketone")] = 1
    labels[1, GROUP_NAMES.index("Ester")] = 1
    labels[2, GROUP_NAMES.index("Amide")] = 1
    labels[4, GROUP_NAMES.index("Aldehyde")] = 1
    res = carbonyl_window_fraction(maps, grid, labels)
    assert (res.hits, res.total) == (2, 3) and res.fraction == pytest.approx(2 / 3)
    assert 1700 <= top_band_centre(maps[0], grid) <= 1724
    none = carbonyl_window_fraction(maps, grid, np.zeros_like(labels))
    assert np.isnan(none.fraction) and none.total == 0
