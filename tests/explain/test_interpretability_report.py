"""The interpretability report: window checks, map comparisons and the script on a tiny subset."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.dataset import EmbeddedDataset
from mspectmol.errors import MspectmolError
from mspectmol.explain.importance import CARBONYL_GROUPS
from mspectmol.explain.report import (
    in_windows,
    informative_mask,
    map_correlations,
    mean_offdiagonal,
    run_report,
    window_check,
    window_enrichment,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "interpretability_report.py"
GRID = np.linspace(400.0, 4000.0, 600)


def test_window_enrichment():
    flat = np.ones(600)
    assert window_enrichment(flat, GRID, [(1650, 1850)]) == pytest.approx(1.0)
    inside = in_windows(GRID, [(1650, 1850)])
    focused = inside.astype(float)
    assert window_enrichment(focused, GRID, [(1650, 1850)]) == pytest.approx(1 / inside.mean())
    assert window_enrichment(1 - focused, GRID, [(1650, 1850)]) == 0.0
    assert np.isnan(window_enrichment(np.zeros(600), GRID, [(1650, 1850)]))
    assert np.isnan(window_enrichment(flat, GRID, [(5000, 6000)]))
    with pytest.raises(MspectmolError):
        window_enrichment(np.ones(10), GRID, [(1650, 1850)])


def test_informative_mask_and_window_check():
    n = 20
    spectra = np.zeros((n, 600))
    spectra[:, 300:400] = 1.0                           # signal only on points 300-399
    c1700 = int(np.argmin(abs(GRID - 1700)))
    maps = np.full((n, 600), 1.0)
    maps[:10, c1700] = 5.0                               # half the maps peak at 1700 cm-1
    spectra[:5, c1700] = 2.0                             # a quarter of the spectra too
    labels = np.zeros((n, len(GROUP_NAMES)), dtype=np.uint8)
    labels[:, GROUP_NAMES.index("Ketone")] = 1
    mask = informative_mask(spectra)
    assert mask[300:400].all() and mask.sum() == 100 + (c1700 not in range(300, 400))
    out = window_check(maps, spectra, GRID, labels, (1650, 1850))
    assert out["n"] == n and out["gate"] == pytest.approx(0.5)
    assert out["raw_peak"] == pytest.approx(0.25)
    inside = in_windows(GRID, [(1650, 1850)])
    assert out["chance"] == pytest.approx((inside & mask).sum() / mask.sum())
    assert out["chance_grid"] == pytest.approx(inside.mean())
    with pytest.raises(MspectmolError):
        informative_mask(np.zeros((0, 600)))


def test_map_correlations():
    a = {"ir": np.r_[np.ones(5), np.zeros(5)], "c_nmr": np.arange(10.0)}
    b = {"ir": np.r_[np.zeros(5), np.ones(5)], "c_nmr": np.arange(10.0)}
    r = map_correlations({"A": a, "A2": dict(a), "B": b}, ["A", "A2", "B", "C"], ("ir", "c_nmr"))
    assert r[0, 1] == pytest.approx(1.0) and r[0, 2] < 0.5
    assert np.isnan(r[3]).all()
    assert mean_offdiagonal(np.array([[1.0, 0.2], [0.4, 1.0]])) == pytest.approx(0.3)


def _script():
    spec = importlib.util.spec_from_file_location("interpretability_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_dataset(n: int = 60, seed: int = 0) -> EmbeddedDataset:
    """Random peaks on the default model's grids; Ketone/Ester molecules get a 1700 cm-1 and a
    ~200 ppm peak, so both groups have positives in every part."""
    rng = np.random.default_rng(seed)
    grids = {"ir": np.linspace(400.0, 4000.0, 600), "h_nmr": np.linspace(-2.0, 10.0, 600),
             "c_nmr": np.linspace(-20.0, 230.0, 600)}
    labels = np.zeros((n, len(GROUP_NAMES)), dtype=np.uint8)
    labels[:, GROUP_NAMES.index("Alkane")] = 1
    labels[::3, GROUP_NAMES.index("Ketone")] = 1
    labels[1::4, GROUP_NAMES.index("Ester")] = 1
    spectra = {}
    for m, x in grids.items():
        s = rng.random((n, 600)) * 0.05
        for i in range(n):
            for c in rng.choice(600, 3, replace=False):
                s[i] += np.exp(-0.5 * ((np.arange(600) - c) / 3.0) ** 2)
        carbonyl = labels[:, [GROUP_NAMES.index("Ketone"), GROUP_NAMES.index("Ester")]].any(1)
        centre = {"ir": 1700.0, "c_nmr": 200.0, "h_nmr": 2.1}[m]
        s[carbonyl] += 2 * np.exp(-0.5 * ((x - centre) / (3 * (x[1] - x[0]))) ** 2)
        spectra[m] = (s / s.max(axis=1, keepdims=True)).astype(np.float32)
    split = np.array((["train"] * 3 + ["val", "test"]) * (n // 5))
    return EmbeddedDataset(ids=np.array([f"t{i}" for i in range(n)]),
                           smiles=np.array(["CC(C)=O"] * n), source=np.array(["toy"] * n),
                           heavy_atoms=np.full(n, 4), labels=labels, spectra=spectra,
                           grids=grids, splits={"scaffold": split})


def test_report_runs_on_a_tiny_subset_and_the_script_writes_it(tmp_path):
    from mspectmol.explain.onevsall import OneVsAllConfig

    torch.set_num_threads(1)
    img = tmp_path / "img"
    res = run_report(groups=["Ketone", "Ester"], dataset=tiny_dataset(),
                     ova_configs={"kl1.0": OneVsAllConfig(kl_weight=1.0, epochs=1)})
    assert res.inputs.labels.shape[0] == 12                      # the test part
    assert set(res.shared.gate_stats) == {"ir", "h_nmr", "c_nmr"}
    assert res.carbonyl["ir"]["n"] == int(res.inputs.labels[:, [
        GROUP_NAMES.index(g) for g in CARBONYL_GROUPS]].any(1).sum())
    assert res.correlations["shared gate"].shape == (2, 2)
    assert set(res.ova_carbonyl["kl1.0"]) == {"Ketone", "Ester"}
    out = tmp_path / "doc" / "interpretability.md"
    script = _script()
    figures = script.draw_figures(res, img)
    text = script.write_markdown(res, out, figures, command="test")
    for heading in ("## 1.", "## 2.", "### Carbonyl check", "## 3.", "## 4.",
                    "### Separation"):
        assert heading in text
    assert "12 molecules" in text and "| Ketone | ir | 1650-1850 |" in text
    for name in ("group_importance_ir", "group_importance_h_nmr", "group_importance_c_nmr",
                 "coerror", "onevsall_kl1.0"):
        assert (img / f"{name}.png").stat().st_size > 1000
        assert f"](../img/{name}.png)" in text
