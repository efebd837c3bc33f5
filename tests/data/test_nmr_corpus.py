"""The NMR corpus: drug-size molecules with predicted 1H/13C lines as extra training rows."""

import json

import numpy as np
import pytest

from mspectmol.cli.main import main
from mspectmol.data import nmr_corpus as nc
from mspectmol.data.batches import split_data
from mspectmol.data.dataset import load_dataset
from mspectmol.data.rendering import PeakRenderer, RenderSettings
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.io import load_model
from mspectmol.training.config import TrainConfig
from mspectmol.training.epochs import randomised_rendering
from mspectmol.training.recalibrate import recalibrate_run

SOURCE = ["CCOC(=O)c1ccccc1", "OCCc1ccccc1", "CCN(CC)CC", "CC(=O)Nc1ccc(O)cc1",
          "c1ccc2ccccc2c1", "CCOC(=O)c1ccccc1", "CC(C)Cl", "O=C(O)CCc1ccncc1", "not a smiles",
          "CCCCO"]


def fake_lines(smiles):
    """Deterministic stand-in for CSP5: one 13C line per carbon, 1H lines for hydrogens."""
    out = []
    for s in smiles:
        n_c = s.count("C") + s.count("c")
        if n_c == 0:
            out.append(None)
            continue
        c = np.array([[20.0 + 7.0 * k, 1.0] for k in range(n_c)], dtype=np.float32)
        h = np.array([[1.0 + 0.5 * k, 2.0] for k in range(max(1, n_c // 2))], dtype=np.float32)
        out.append({"c_nmr": c, "h_nmr": h})
    return out


@pytest.fixture()
def fake_csp5(monkeypatch):
    calls = []

    def predict(smiles, seed=0):
        calls.append(list(smiles))
        return fake_lines(smiles)

    monkeypatch.setattr(nc, "predict_lines", predict)
    return calls


def test_candidates_leave_out_held_out_structures_their_scaffolds_and_repeats():
    excluded = ["CCOC(=O)c1ccccc1"]  # its scaffold is benzene: every phenyl compound goes
    picked = nc.corpus_candidates(SOURCE, 20, excluded)
    smiles = [s for _, s in picked]
    assert "CCOC(=O)c1ccccc1" not in smiles and "OCCc1ccccc1" not in smiles
    assert "CC(=O)Nc1ccc(O)cc1" not in smiles
    assert sorted(smiles) == sorted({"CCN(CC)CC", "c1ccc2ccccc2c1", "CC(C)Cl",
                                     "O=C(O)CCc1ccncc1", "CCCCO"})
    assert all(nc._canonical(SOURCE[row]) == s for row, s in picked)
    assert nc.corpus_candidates(SOURCE, 20, excluded) == picked  # seeded order
    assert len(nc.corpus_candidates(SOURCE, 2, excluded)) == 2


def test_chunks_are_cached_and_resumed(tmp_path, monkeypatch):
    monkeypatch.setattr(nc, "CHUNK", 3)
    computed = []

    def compute(path, smiles):
        computed.append(path.name)
        nc._save(path, fake_lines(smiles))
        return path

    smiles = ["CCO", "N", "CCCC", "c1ccccc1", "CC(=O)O", "CCN"]
    first = nc.cached_lines(smiles, tmp_path, compute=compute)
    assert len(computed) == 2 and first[1] is None
    np.testing.assert_array_equal(first[2]["c_nmr"], fake_lines(["CCCC"])[0]["c_nmr"])
    assert nc.cached_lines(smiles, tmp_path, compute=compute) is not None
    assert len(computed) == 2  # nothing recomputed
    (tmp_path / computed[0]).unlink()
    again = nc.cached_lines(smiles, tmp_path, compute=compute)
    assert len(computed) == 3
    for a, b in zip(first, again, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a["h_nmr"], b["h_nmr"])


def test_nmr_corpus_labels_ids_and_lines(tmp_path, fake_csp5):
    corpus = nc.nmr_corpus(20, source=SOURCE, excluded=[], folder=tmp_path)
    assert len(corpus) == len(corpus.smiles) == corpus.labels.shape[0]
    assert corpus.labels.shape[1] == 37 and corpus.labels.dtype == np.uint8
    assert all(i.startswith(nc.ID_PREFIX) for i in corpus.ids)
    assert len(set(corpus.smiles)) == len(corpus)  # the repeated ester once
    rows = [int(i.removeprefix(nc.ID_PREFIX)) for i in corpus.ids]
    assert "not a smiles" not in corpus.smiles and 8 not in rows
    pos, heights = corpus.peaks("c_nmr")[0]
    assert pos.size == heights.size > 0
    assert fake_csp5  # predicted once ...
    nc.nmr_corpus(20, source=SOURCE, excluded=[], folder=tmp_path)
    assert len(fake_csp5) == 1  # ... then read from the cache
    with pytest.raises(MspectmolError, match="positive number"):
        nc.nmr_corpus(0, source=SOURCE, folder=tmp_path)


def test_corpus_split_has_nmr_only(tmp_path, fake_csp5):
    corpus = nc.nmr_corpus(20, source=SOURCE, excluded=[], folder=tmp_path)
    mods = ("ir", "h_nmr", "c_nmr")
    ds = load_dataset(mods)
    part = nc.corpus_split(corpus, mods, ds.grids)
    assert not part.available["ir"].any() and not part.spectra["ir"].any()
    for m in ("h_nmr", "c_nmr"):
        assert part.available[m].all()
        np.testing.assert_allclose(part.spectra[m].max(axis=1), 1.0, rtol=1e-6)


def test_renderer_from_peaks_matches_the_datasets(random_dataset, tmp_path):
    root = random_dataset(tmp_path, n=12, seed=3, prefix="p")
    mods = ("ir", "h_nmr", "c_nmr")
    ds = load_dataset(mods, path=root)
    settings = RenderSettings(probability=0.7)
    base = PeakRenderer(ds.ids, mods, ds.grids, settings, path=root)
    copy = PeakRenderer.from_peaks(base.peaks, ds.grids, settings)
    for m in mods:
        a = base.render(m, np.random.default_rng(5))
        b = copy.render(m, np.random.default_rng(5))
        np.testing.assert_array_equal(a, b)


def test_randomised_epochs_render_the_corpus_after_the_dataset(random_dataset, tmp_path,
                                                               fake_csp5):
    root = random_dataset(tmp_path, n=40, seed=4, prefix="q")
    mods = ("ir", "h_nmr", "c_nmr")
    ds = load_dataset(mods, path=root)
    corpus = nc.nmr_corpus(20, source=SOURCE, excluded=[], folder=tmp_path / "c")
    train, val = (split_data(ds, mods, "random", p) for p in ("train", "val"))
    joined = train.concat(nc.corpus_split(corpus, mods, ds.grids))
    config = TrainConfig(data=str(root), split="random", render="randomised")
    render_epoch, _ = randomised_rendering(joined, val, ds, config, corpus)
    plain_epoch, _ = randomised_rendering(train, val, ds, config)
    epoch = render_epoch(2)
    assert epoch.ids.tolist() == joined.ids.tolist()
    n = len(train)
    for m in mods:  # the dataset's rows drawn exactly as without the corpus
        np.testing.assert_array_equal(epoch.spectra[m][:n], plain_epoch(2).spectra[m])
    assert not epoch.spectra["ir"][n:].any() and not epoch.available["ir"][n:].any()
    assert epoch.spectra["c_nmr"][n:].max() == pytest.approx(1.0)
    assert not np.array_equal(epoch.spectra["c_nmr"][n:], render_epoch(3).spectra["c_nmr"][n:])


def test_config_needs_nmr_among_the_modalities():
    with pytest.raises(ConfigError, match="nmr_corpus adds 1H and 13C spectra only"):
        TrainConfig(primary="ir", auxiliary=("raman",), nmr_corpus=10)
    with pytest.raises(ConfigError, match="nmr_corpus must be >= 0"):
        TrainConfig(nmr_corpus=-1)


def test_training_with_the_nmr_corpus(random_dataset, tmp_path, monkeypatch, fake_csp5,
                                      train_argv):
    root = random_dataset(tmp_path, n=60, seed=5, prefix="t")
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path / "cache"))
    real = nc.nmr_corpus
    monkeypatch.setattr("mspectmol.training.epochs.nmr_corpus",
                        lambda n, workers=1: real(n, source=SOURCE, excluded=[]))
    out = tmp_path / "runs"
    assert main(train_argv(root, out, "render=randomised", "nmr_corpus=20",
                           "model_config.label_weighting=sqrt", "prior_correction=0.5")) == 0
    (run_dir,) = out.iterdir()
    _, meta = load_model(run_dir / "model")
    splits = json.loads((run_dir / "splits.json").read_text())
    n_corpus = sum(i.startswith(nc.ID_PREFIX) for i in splits["train"])
    assert meta.training["nmr_corpus"] == n_corpus > 0
    assert meta.training["n_train"] == len(splits["train"])
    assert not any(i.startswith(nc.ID_PREFIX) for i in splits["val"] + splits["test"])
    assert meta.ood is not None
    recalibrate_run(run_dir, 0.5, write=True)  # the same offsets: the corpus' labels count
    _, again = load_model(run_dir / "model")
    np.testing.assert_allclose(again.logit_offsets, meta.logit_offsets, rtol=1e-6)


def test_modality_dropout_never_leaves_a_row_without_spectra(tmp_path, fake_csp5):
    from mspectmol.data.batches import to_batch

    corpus = nc.nmr_corpus(20, source=SOURCE, excluded=[], folder=tmp_path)
    mods = ("ir", "h_nmr", "c_nmr")
    part = nc.corpus_split(corpus, mods, load_dataset(mods).grids)
    rows = np.arange(len(part))
    batch = to_batch(part, rows, rng=np.random.default_rng(0),
                     dropout={"h_nmr": 1.0, "c_nmr": 1.0})
    assert batch.available["c_nmr"].all() and batch.available["h_nmr"].all()
    assert float(batch.spectra["c_nmr"].sum()) > 0
    batch = to_batch(part, rows, rng=np.random.default_rng(0), dropout={"h_nmr": 1.0})
    assert not batch.available["h_nmr"].any() and batch.available["c_nmr"].all()
    assert float(batch.spectra["h_nmr"].abs().sum()) == 0.0


def test_predict_lines_of_one_nucleus_and_bad_nuclei():
    with pytest.raises(MspectmolError, match="nuclei"):
        nc.predict_lines(["CCO"], nuclei=("15N",))
    pytest.importorskip("csp5")
    ethanol, neon = nc.predict_lines(["CCO", "[Ne]"], nuclei=("13C",))
    assert set(ethanol) == {"c_nmr"} and ethanol["c_nmr"].shape == (2, 2)
    assert ethanol["c_nmr"][:, 1].tolist() == [1, 1]  # one carbon per line
    assert set(neon) == {"c_nmr"} and neon["c_nmr"].shape == (0, 2)  # no carbon, no conformer


def test_predict_lines_keep_each_structure_its_own_shifts():
    """CSP5 numbers only the structures it predicts: a structure it skips (no proton) must
    not hand its successor's 1H shifts to anyone."""
    pytest.importorskip("csp5")
    alone = nc.predict_lines(["CCO", "ClC(Cl)(Cl)Cl"])
    together = nc.predict_lines(["ClC(Cl)(Cl)Cl", "CCO"])
    assert together[0]["h_nmr"].shape == (0, 2)  # no proton: no 1H line
    np.testing.assert_allclose(together[0]["c_nmr"], alone[1]["c_nmr"])
    for modality in ("c_nmr", "h_nmr"):
        np.testing.assert_allclose(together[1][modality], alone[0][modality])
    assert together[1]["h_nmr"][:, 1].sum() == 6  # ethanol's six protons
