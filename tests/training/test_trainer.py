"""Training data, the training loop (seeds, early stopping, best state, CSV log), evaluation."""

import csv

import numpy as np
import pytest
import torch

from mspectmol.data.batches import (
    augment_rng,
    dataset_hash,
    epoch_order,
    iterate_batches,
    make_split,
    subset_rows,
)
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.inference import predict_logits, predict_proba
from mspectmol.models.registry import get_model_spec
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.training import trainer
from mspectmol.training.config import TrainConfig
from mspectmol.training.evaluate import evaluate_model
from mspectmol.training.trainer import fit_model, seed_everything, torch_threads

N_POINTS, N_LABELS = 64, 4
MODS = ("ir", "h_nmr", "c_nmr")
NAMES = tuple(f"g{i}" for i in range(N_LABELS))


def _synthetic(n, seed):
    """Each label adds a peak at its own position in each spectrum."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, N_LABELS)) < 0.4).astype(np.uint8)
    grid = np.arange(N_POINTS)
    spectra = {}
    for shift, m in enumerate(MODS):
        centres = np.roll(np.linspace(6, N_POINTS - 6, N_LABELS), shift)
        peaks = np.exp(-0.5 * ((grid[None, :] - centres[:, None]) / 2.0) ** 2)
        spectra[m] = y @ peaks + 0.05 * rng.random((n, N_POINTS))
    return make_split([f"m{seed}-{i}" for i in range(n)], y, spectra)


@pytest.fixture(scope="module")
def splits():
    return _synthetic(96, 1), _synthetic(32, 2)


def _config(**kw):
    base = {"model": "pa_ib", "epochs": 3, "patience": 5, "batch_size": 32, "lr": 3e-3,
            "seed": 0, "progress": False, "threads": 1}
    return TrainConfig(**{**base, **kw})


def _model(cfg, **overrides):
    spec = get_model_spec(cfg.model)
    seed_everything(cfg.seed)
    small = {"channels": [4, 8], "gate_hidden": 4, "head_hidden": 16, "dropout": 0.0} \
        if cfg.model == "pa_ib" else {"width_scale": 0.005, "dropout": 0.0}
    config = spec.make_config({**small, **overrides}, primary=cfg.primary,
                              auxiliary=cfg.auxiliary, n_points=N_POINTS, n_labels=N_LABELS)
    return spec.build(config)


def test_make_split_masks_missing_and_non_finite_rows():
    x = np.ones((3, 8))
    x[1, 2] = np.nan
    data = make_split(["a", "b", "c"], np.eye(3, 2), {"ir": x, "ms": None})
    assert data.available["ir"].tolist() == [True, False, True]
    assert not data.available["ms"].any() and data.spectra["ms"].shape == (3, 8)
    assert data.spectra["ir"][1].tolist() == [0.0] * 8 and data.spectra["ir"].dtype == np.float32
    assert data.labels.dtype == np.float32
    with pytest.raises(MspectmolError, match="shape"):
        make_split(["a"], np.zeros((1, 2)), {"ir": np.ones((2, 8))})
    with pytest.raises(MspectmolError, match="0/1"):
        make_split(["a"], np.full((1, 2), 2), {"ir": np.ones((1, 8))})


def test_shuffling_subsets_and_augmentation_are_seeded(splits):
    train, _ = splits
    assert np.array_equal(epoch_order(50, 3, 1), epoch_order(50, 3, 1))
    assert not np.array_equal(epoch_order(50, 3, 1), epoch_order(50, 3, 2))
    assert sorted(epoch_order(50, 3, 1)) == list(range(50))
    rows = np.arange(10, 40)
    sub = subset_rows(rows, 8, seed=5)
    assert sub.size == 8 and np.all(np.diff(sub) > 0) and np.isin(sub, rows).all()
    assert np.array_equal(sub, subset_rows(rows, 8, seed=5))
    aug = Augmenter("shift+noise")
    a = [b.spectra["ir"] for b in iterate_batches(train, 40, augmenter=aug, rng=augment_rng(0, 1))]
    b = [b.spectra["ir"] for b in iterate_batches(train, 40, augmenter=aug, rng=augment_rng(0, 1))]
    plain = [b.spectra["ir"] for b in iterate_batches(train, 40)]
    assert [t.shape[0] for t in plain] == [40, 40, 16]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], plain[0])
    with pytest.raises(MspectmolError, match="Generator"):
        next(iterate_batches(train, 8, augmenter=aug))


def test_dataset_hash_depends_on_ids_and_labels():
    y = np.eye(3, dtype=np.uint8)
    h = dataset_hash(["a", "b", "c"], y)
    assert h == dataset_hash(np.array(["a", "b", "c"]), y.astype(np.float32))
    assert h != dataset_hash(["a", "c", "b"], y)
    y2 = y.copy()
    y2[0, 1] = 1
    assert h != dataset_hash(["a", "b", "c"], y2)


def test_fit_logs_restores_best_state_and_is_reproducible(splits, tmp_path):
    train, val = splits
    cfg = _config(epochs=4)
    result = fit_model(_model(cfg), train, val, cfg, log_path=tmp_path / "log.csv")
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert {"lr", "train_loss", "train_sup", "train_pred", "train_mi2", "val_micro_f1",
            "val_macro_f1", "seconds"} <= set(rows[0])
    assert float(rows[0]["lr"]) == pytest.approx(3e-3) and float(rows[1]["lr"]) < 3e-3
    best = max(range(4), key=lambda i: (float(rows[i]["val_micro_f1"]), -i))
    assert result.best_epoch == best + 1
    pred = (predict_proba(result.model, val) >= 0.5).astype(int)
    tp = (pred & val.labels.astype(int)).sum()
    f1 = 2 * tp / (pred.sum() + val.labels.sum())
    assert f1 == pytest.approx(result.best_val_micro_f1)
    assert not result.model.training
    again = fit_model(_model(cfg), train, val, cfg)
    assert [r["train_loss"] for r in again.history] == [r["train_loss"] for r in result.history]
    for p, q in zip(result.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_early_stopping_restores_the_best_epoch(splits, monkeypatch):
    train, val = splits
    scripted = iter([0.5, 0.6, 0.6, 0.55, 0.9, 0.95])
    states = []

    def fake_validation(model, data, batch_size):
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scripted), 0.0

    monkeypatch.setattr(trainer, "validation_f1", fake_validation)
    cfg = _config(epochs=6, patience=2)
    result = fit_model(_model(cfg), train, val, cfg)
    assert result.stopped_early and len(result.history) == 4
    assert result.best_epoch == 2 and result.best_val_micro_f1 == 0.6
    assert [r["improved"] for r in result.history] == [1, 1, 0, 0]
    final = result.model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in states[1].items())
    assert not all(torch.equal(final[k], v) for k, v in states[3].items())


def test_cnn_trains_with_bce_and_threads_are_restored(splits):
    train, val = splits
    torch.set_num_threads(1)
    cfg = _config(model="cnn_late", epochs=1, threads=2, augment="smooth")
    result = fit_model(_model(cfg), train, val, cfg)
    assert torch.get_num_threads() == 1
    assert set(result.history[0]) >= {"train_loss", "val_micro_f1"}
    assert "train_mi2" not in result.history[0]
    with torch_threads(None):
        assert torch.get_num_threads() == 1


def test_empty_validation_is_refused(splits):
    train, val = splits
    cfg = _config()
    with pytest.raises(ConfigError, match="non-empty"):
        fit_model(_model(cfg), train, val.subset(np.array([], dtype=int)), cfg)


class PriorModel:
    """Predicts each label's training frequency (a classical model for the harness)."""

    def fit(self, X, y, X_val=None, y_val=None):
        assert set(X) == set(MODS) and X_val is not None and y_val is not None
        self.prior = y.mean(axis=0)
        return self

    def predict_proba(self, X):
        n = next(iter(X.values())).shape[0]
        return np.tile(self.prior, (n, 1))


def test_classical_fit_and_evaluation(splits, tmp_path):
    train, val = splits
    result = fit_model(PriorModel(), train, val, _config(), log_path=tmp_path / "log.csv")
    assert result.best_epoch == 1 and len(result.history) == 1
    assert (tmp_path / "log.csv").read_text().startswith("epoch,val_micro_f1")
    logits = predict_logits(result.model, val)
    assert np.allclose(1 / (1 + np.exp(-logits[0])), train.labels.mean(axis=0))


def test_evaluate_model_reports_at_half_and_tuned(splits):
    train, val = splits
    cfg = _config(epochs=2)
    model = fit_model(_model(cfg), train, val, cfg).model
    out = evaluate_model(model, val, val=val, names=NAMES, temperature=2.0)
    assert out["n_samples"] == 32 and out["temperature"] == 2.0
    assert set(out["at_0.5"]) >= {"micro_f1", "macro_f1", "per_label", "thresholds"}
    assert out["at_0.5"]["thresholds"] == [0.5] * N_LABELS
    for tuned, half in zip(out["tuned"]["per_label"], out["at_0.5"]["per_label"], strict=True):
        assert tuned["f1"] >= half["f1"]  # 0.5 is among the tuning candidates
    assert [r["name"] for r in out["tuned"]["per_label"]] == list(NAMES)
    fixed = evaluate_model(model, val, thresholds=[0.3] * N_LABELS, names=NAMES)
    assert fixed["tuned"]["thresholds"] == [0.3] * N_LABELS
    assert "tuned" not in evaluate_model(model, val, names=NAMES)
    assert model.training is False


def test_device_setting_is_checked_and_batches_move():
    from mspectmol.models.inference import model_device, resolve_device

    with pytest.raises(ConfigError, match="device must be"):
        _config(device="gpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    data = _synthetic(8, 3)
    batch = next(iterate_batches(data, 4))
    assert batch.to("cpu") is batch
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_returns_a_cpu_model(splits):
    train, val = splits
    cfg = _config(device="cuda", epochs=2)
    result = fit_model(_model(cfg), train, val, cfg)
    assert all(p.device.type == "cpu" for p in result.model.parameters())
    assert predict_proba(result.model, val).shape == val.labels.shape


def test_modality_dropout_hides_auxiliary_rows_deterministically():
    from mspectmol.data.batches import to_batch

    data = _synthetic(64, 5)
    rows = np.arange(64)
    plain = to_batch(data, rows, rng=np.random.default_rng(0))
    assert all(bool(a.all()) for a in plain.available.values())
    first = to_batch(data, rows, rng=np.random.default_rng(0), dropout={"h_nmr": 0.5})
    again = to_batch(data, rows, rng=np.random.default_rng(0), dropout={"h_nmr": 0.5})
    hidden = ~first.available["h_nmr"]
    assert 10 < int(hidden.sum()) < 54
    assert torch.equal(hidden, ~again.available["h_nmr"])
    assert float(first.spectra["h_nmr"][hidden].abs().sum()) == 0.0
    assert torch.equal(first.spectra["ir"], plain.spectra["ir"])
    assert first.available["ir"].all() and first.available["c_nmr"].all()
    with pytest.raises(MspectmolError, match="Generator"):
        to_batch(data, rows, dropout={"h_nmr": 0.5})
    with pytest.raises(ConfigError, match="modality_dropout"):
        _config(modality_dropout=1.0)
    cfg = _config(modality_dropout=0.3, epochs=1)
    result = fit_model(_model(cfg), *_two_splits(), cfg)
    assert result.history[0]["train_loss"] > 0


def _two_splits():
    return _synthetic(48, 6), _synthetic(16, 7)


def test_evaluation_reports_ece_before_and_after_the_temperature(splits):
    train, val = splits
    cfg = _config(epochs=1)
    model = fit_model(_model(cfg), train, val, cfg).model
    plain = evaluate_model(model, val, names=NAMES)
    assert plain["ece"] == pytest.approx(plain["ece_uncalibrated"])
    warm = evaluate_model(model, val, temperature=3.0, names=NAMES)
    assert warm["ece_uncalibrated"] == pytest.approx(plain["ece"])
    assert warm["ece"] != pytest.approx(warm["ece_uncalibrated"])
