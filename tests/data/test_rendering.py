"""Randomised rendering of peak lists, the out-of-distribution score, and training with both."""

import json

import numpy as np
import pytest

from mspectmol.cli.main import main
from mspectmol.data.batches import split_data
from mspectmol.data.dataset import load_dataset
from mspectmol.data.rendering import PeakRenderer, RenderSettings, cell_areas, window_areas
from mspectmol.errors import ConfigError
from mspectmol.models.io import load_model
from mspectmol.models.ood import fit_ood, ood_report, ood_scores
from mspectmol.training.config import TrainConfig, run_config
from mspectmol.training.pipeline import randomised_rendering

MODS = ("ir", "h_nmr", "c_nmr")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, random_dataset):
    return random_dataset(tmp_path_factory.mktemp("render"), n=60, seed=1, prefix="r")


@pytest.fixture(scope="module")
def renderer(dataset_dir):
    ds = load_dataset(MODS, path=dataset_dir)
    return ds, PeakRenderer(ds.ids, MODS, ds.grids, path=dataset_dir)


def test_cell_areas_integrate_lines_exactly():
    edges = np.linspace(-50.0, 50.0, 2001)
    for eta in (0.0, 0.5, 1.0):
        areas = cell_areas(np.array([0.3]), np.array([2.0]), np.array([1.5]),
                           np.array([eta]), edges)
        lorentz, gauss = 2.0 * np.pi * 0.75, 2.0 * 1.5 * np.sqrt(np.pi / (4 * np.log(2)))
        expected = (1 - eta) * lorentz + eta * gauss
        assert areas.sum() == pytest.approx(expected, rel=0.02)  # tails beyond +-50
    cells, win = window_areas(np.array([0.3]), np.array([2.0]), np.array([1.5]),
                              np.array([0.0]), edges, half_window=200)
    full = cell_areas(np.array([0.3]), np.array([2.0]), np.array([1.5]), np.array([0.0]),
                      edges)
    np.testing.assert_allclose(win.ravel(), full[0, cells.ravel()], rtol=1e-9)


def test_clean_rendering_matches_the_dataset(renderer):
    ds, r = renderer
    rng = np.random.default_rng(0)
    for m in MODS:
        clean = r.render(m, rng, clean=True)
        assert np.abs(clean - ds.spectra[m]).mean() < 0.01
        assert np.allclose(clean.max(axis=1)[ds.spectra[m].max(axis=1) > 0], 1.0)


def test_randomised_rendering_is_seeded_and_different(renderer):
    ds, r = renderer
    a = r.render("ir", np.random.default_rng([0, 23, 1]))
    b = r.render("ir", np.random.default_rng([0, 23, 1]))
    c = r.render("ir", np.random.default_rng([0, 23, 2]))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01 and np.abs(a - ds.spectra["ir"]).mean() > 0.01
    assert a.dtype == np.float32 and a.shape == ds.spectra["ir"].shape
    assert RenderSettings().to_dict()["ir_width"] == [4.0, 40.0]


def test_ood_score_flags_what_is_unlike_the_fit():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 40))
    train, val = base[:300], base[300:]
    model = fit_ood(train, val, k=6)
    assert json.loads(json.dumps(model)) == model  # stored in model.json
    inside = ood_scores(val, model)
    far = ood_scores(val + 5.0 * rng.normal(size=val.shape), model)
    assert (inside > model["threshold"]).mean() <= 0.06
    assert (far > model["threshold"]).mean() > 0.9
    report = ood_report(far[:2], model)
    assert report[0]["flagged"] and report[0]["threshold"] == model["threshold"]


def test_render_settings_from_dict_round_trip_and_errors():
    default = RenderSettings()
    assert RenderSettings.from_dict({}) == default
    assert RenderSettings.from_dict(default.to_dict()) == default
    changed = RenderSettings.from_dict({"ir_hbond": 0.5, "h_mhz": [400, 400]})
    assert (changed.ir_hbond, changed.h_mhz) == (0.5, (400.0, 400.0))
    assert RenderSettings.from_dict(json.loads(json.dumps(changed.to_dict()))) == changed
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) nope; known: probability"):
        RenderSettings.from_dict({"nope": 1})
    with pytest.raises(ConfigError, match=r"render_settings.c_width: expected a \(low, high\)"):
        RenderSettings.from_dict({"c_width": [0.3, 0.01]})
    with pytest.raises(ConfigError, match=r"render_settings.h_j: expected a \(low, high\)"):
        RenderSettings.from_dict({"h_j": ["1", 2]})
    with pytest.raises(ConfigError, match=r"render_settings.probability: expected a "
                                          r"probability in \[0, 1\], got -0.1"):
        RenderSettings.from_dict({"probability": -0.1})
    with pytest.raises(ConfigError, match="render_settings.ir_jitter: expected a number >= 0"):
        RenderSettings.from_dict({"ir_jitter": float("nan")})


def test_randomised_rendering_uses_the_configs_settings(dataset_dir, renderer):
    ds, r = renderer
    train, val = (split_data(ds, MODS, "random", part) for part in ("train", "val"))
    clean = {"probability": 0.0}  # every spectrum rendered without randomisation
    config = TrainConfig(data=str(dataset_dir), split="random", render="randomised",
                         render_settings=clean)
    render_epoch, val_fold = randomised_rendering(train, val, ds, config)
    for m in MODS:
        assert np.abs(val_fold.spectra[m] - val.spectra[m]).mean() < 0.01
        assert np.abs(render_epoch(1).spectra[m] - train.spectra[m]).mean() < 0.01


def test_render_setting_is_checked():
    with pytest.raises(ConfigError, match="render must be one of none, randomised"):
        TrainConfig(render="photographic")


def test_training_with_randomised_rendering_and_ood(dataset_dir, tmp_path, capsys,
                                                     train_argv):
    out = tmp_path / "runs"
    argv = train_argv(dataset_dir, out, "render=randomised", "render_settings.ir_hbond=0.5")
    assert main(argv) == 0
    (run_dir,) = out.iterdir()
    _, meta = load_model(run_dir / "model")
    assert meta.training["render"] == "randomised"
    assert meta.training["render_settings"] == {**RenderSettings().to_dict(), "ir_hbond": 0.5}
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["render_settings"] == {"ir_hbond": 0.5}
    assert run_config(run_dir).render_settings == {"ir_hbond": 0.5}  # what --resume uses
    assert meta.ood is not None and meta.ood["threshold"] > 0
    assert len(meta.ood["mean"]) == 16 * 3  # the fused head's input


def _alberts_like(path, n=6, seed=0):
    """A tiny Alberts-style parquet: Lorentzian lines on the dataset's native axes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    axes = {"ir_spectra": np.linspace(400, 4000, 1800), "h_nmr_spectra":
            np.linspace(10, -2, 10000), "c_nmr_spectra": np.linspace(230, -20, 10000)}
    widths = {"ir_spectra": 15.0, "h_nmr_spectra": 0.003, "c_nmr_spectra": 0.03}
    cols = {"smiles": ["CCO", "CC(=O)O", "c1ccccc1", "CCN", "CC=O", "CCOC(C)=O"][:n]}
    for col, x in axes.items():
        rows = []
        for _ in range(n):
            centres = rng.uniform(x.min() + 1, x.max() - 1, 5)
            rows.append(sum(1 / (1 + ((x - c) / (widths[col] / 2)) ** 2) for c in centres)
                        .astype(np.float32).tolist())
        cols[col] = rows
    pq.write_table(pa.table(cols), path)
    return path


def test_training_reports_transfer_beside_the_test(dataset_dir, tmp_path):
    from mspectmol.data.transfer import transfer_arrays
    from mspectmol.spectra.preprocessing import canonical_grid

    transfer = _alberts_like(tmp_path / "alberts.parquet")
    ids, labels, spectra, avail = transfer_arrays(
        transfer, MODS, {m: canonical_grid(m, 600) for m in MODS})
    assert labels.shape == (6, 37) and spectra["c_nmr"].shape == (6, 600) and avail["ir"].all()
    out = tmp_path / "runs"
    assert main(["-q", "train", "--data", str(dataset_dir), "--split", "random", "--epochs", "1",
                 "--out", str(out), "--no-progress", "--threads", "1",
                 "--set", f"transfer={transfer}", "--set", "model_config.channels=[4,8]",
                 "--set", "model_config.head_hidden=16",
                 "--set", "model_config.gate_hidden=4"]) == 0
    (run_dir,) = out.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["transfer"]) == {"all spectra", "ir alone"}
    assert metrics["transfer"]["all spectra"]["n_samples"] == 6


def test_hydrogen_bonding_lowers_and_broadens_only_x_h_stretches():
    x, y = np.array([1700.0, 3000.0, 3500.0]), np.ones(3)
    r = object.__new__(PeakRenderer)
    r.settings = RenderSettings(ir_dropout=0.0)
    assert r.settings.ir_hbond == 0.0                     # off by default
    free = r._random_ir(x, y, np.random.default_rng(0))
    r.settings = RenderSettings(ir_dropout=0.0, ir_hbond=1.0)
    bonded = r._random_ir(x, y, np.random.default_rng(0))
    (pos0, amp0, fwhm0), (pos, amp, fwhm) = free[:3], bonded[:3]
    np.testing.assert_array_equal(pos[:2], pos0[:2])      # C=O and C-H untouched
    np.testing.assert_array_equal(fwhm[:2], fwhm0[:2])
    assert 0.80 <= pos[2] / pos0[2] <= 0.97
    assert 3.0 <= fwhm[2] / fwhm0[2] <= 10.0 and 1.0 <= amp[2] / amp0[2] <= 5.0
