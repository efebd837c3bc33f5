"""Model files: round trips, refusal of tampered/truncated/old/incomplete files, no pickle."""

import json
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.models.io import (
    FORMAT_VERSION,
    ModelMeta,
    grid_info,
    load_model,
    read_meta,
    save_model,
)
from mspectmol.models.modelfile import model_paths
from mspectmol.models.registry import get_model_spec, register_model, unregister_model
from mspectmol.spectra.preprocessing import canonical_grid

N_POINTS, N_LABELS = 64, 5
NAMES = tuple(f"group {i}" for i in range(N_LABELS))
MODS = ("ir", "h_nmr", "c_nmr")


def _build(name, **overrides):
    spec = get_model_spec(name)
    config = spec.make_config(overrides, primary="ir", auxiliary=("h_nmr", "c_nmr"),
                              n_points=N_POINTS, n_labels=N_LABELS)
    return spec.build(config), config


def _meta(name, config, **extra):
    return ModelMeta(model_name=name, config=config, label_names=NAMES,
                     modalities={m: grid_info(m, canonical_grid(m, N_POINTS)) for m in MODS},
                     primary="ir", auxiliary=("h_nmr", "c_nmr"),
                     thresholds=[0.4] * N_LABELS, temperature=1.5, data_hash="ab" * 32,
                     **extra)


def _inputs(n=7):
    return {m: torch.rand(n, N_POINTS) for m in MODS}


def _logits(model, batch):
    out = model(batch)
    return out if isinstance(out, torch.Tensor) else out.logits


@pytest.fixture
def saved_pa_ib(tmp_path):
    model, config = _build("pa_ib", channels=[4, 8], gate_hidden=4, head_hidden=8)
    model.train()
    model(_inputs(4))  # move the BatchNorm running statistics away from their defaults
    model.eval()
    save_model(tmp_path / "m", model, _meta("pa_ib", config))
    return tmp_path / "m", model


@pytest.mark.parametrize("name, overrides", [
    ("pa_ib", {"channels": [4, 8], "gate_hidden": 4, "head_hidden": 8}),
    ("cnn_late", {"width_scale": 0.005}),
    ("cnn_early", {"width_scale": 0.005}),
])
def test_round_trip_gives_identical_predictions(tmp_path, name, overrides):
    model, config = _build(name, **overrides)
    model.eval()
    batch = _inputs()
    expected = _logits(model, batch)
    written = save_model(tmp_path / "model", model, _meta(name, config))
    assert written == tmp_path / "model" / "model.json"
    loaded, meta = load_model(tmp_path / "model")
    assert not loaded.training
    assert torch.equal(_logits(loaded, batch), expected)
    assert meta.model_name == name and meta.family == "neural"
    assert meta.label_names == NAMES and meta.thresholds == [0.4] * N_LABELS
    assert meta.temperature == 1.5 and meta.n_points == N_POINTS
    assert meta.modalities["c_nmr"] == {"x_min": -20.0, "x_max": 230.0, "n_points": N_POINTS,
                                        "x_unit": "ppm"}
    assert {"torch", "numpy", "mspectmol", "safetensors", "python"} <= set(meta.versions)
    assert len(meta.content_hash) == 64 and meta.created


def test_file_pair_path(tmp_path):
    model, config = _build("cnn_concat", width_scale=0.005)
    save_model(tmp_path / "clf.json", model, _meta("cnn_concat", config))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf.json", "clf.safetensors"]
    loaded, _ = load_model(tmp_path / "clf.safetensors")
    batch = _inputs()
    assert torch.equal(loaded.eval()(batch), model.eval()(batch))


def test_tampered_weights_are_refused(saved_pa_ib):
    folder, _ = saved_pa_ib
    weights, _ = model_paths(folder)
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="hash mismatch") as info:
        load_model(folder)
    assert str(weights) in str(info.value)


def test_truncated_weights_are_refused(saved_pa_ib):
    folder, _ = saved_pa_ib
    weights, _ = model_paths(folder)
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated") as info:
        load_model(folder)
    assert str(weights) in str(info.value)


def _edit_json(folder, edit):
    _, meta_path = model_paths(folder)
    doc = json.loads(meta_path.read_text())
    edit(doc)
    meta_path.write_text(json.dumps(doc))
    return meta_path


def test_wrong_format_version_is_refused(saved_pa_ib):
    folder, _ = saved_pa_ib
    path = _edit_json(folder, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="unsupported format version") as info:
        load_model(folder)
    assert str(path) in str(info.value) and "upgrade" in str(info.value)


@pytest.mark.parametrize("field", ["label_names", "content_hash", "config", "modalities"])
def test_json_without_a_field_is_refused(saved_pa_ib, field):
    folder, _ = saved_pa_ib
    path = _edit_json(folder, lambda d: d.pop(field))
    with pytest.raises(ModelFileError, match=f"missing field.*{field}") as info:
        load_model(folder)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="something-else"), "not an mspectmol model file"),
    (lambda d: d.update(thresholds=[0.5, 2.0]), "thresholds"),
    (lambda d: d.update(temperature=-1), "temperature"),
    (lambda d: d.update(logit_offsets=[0.0, -1.0]), "logit_offsets"),
    (lambda d: d.update(logit_offsets=["a"] * N_LABELS), "logit_offsets"),
    (lambda d: d.update(model_name="no_such_model"), "unknown model 'no_such_model'"),
    (lambda d: d.update(label_names="abc"), "label_names must be a list"),
])
def test_bad_field_values_are_refused(saved_pa_ib, edit, message):
    folder, _ = saved_pa_ib
    path = _edit_json(folder, edit)
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(folder)
    assert str(path) in str(info.value)


def test_not_json_and_missing_files(saved_pa_ib, tmp_path):
    folder, _ = saved_pa_ib
    weights, meta_path = model_paths(folder)
    text = meta_path.read_text()
    meta_path.write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON") as info:
        read_meta(folder)
    assert str(meta_path) in str(info.value)
    meta_path.write_text(text)
    weights.unlink()
    with pytest.raises(ModelFileError, match="weights not found"):
        load_model(folder)
    with pytest.raises(ModelFileError, match="not found") as info:
        load_model(tmp_path / "nowhere")
    assert "nowhere" in str(info.value)


def test_loading_never_unpickles(saved_pa_ib, monkeypatch):
    folder, model = saved_pa_ib

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a model")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded, _ = load_model(folder)
    batch = _inputs()
    assert torch.equal(loaded(batch).logits, model(batch).logits)


# ------------------------------------------------------------------------ classical models


@dataclass
class LinearConfig:
    modalities: tuple = ("ir",)
    n_points: int = 600
    n_labels: int = 37
    ridge: float = 1.0


class LinearModel:
    """A least-squares classical model for the classical save/load path."""

    def __init__(self, config: LinearConfig):
        self.config, self.weights = config, None

    def _design(self, X):
        parts = [np.asarray(X[m], dtype=np.float64) for m in self.config.modalities]
        return np.hstack(parts + [np.ones((parts[0].shape[0], 1))])

    def fit(self, X, y, X_val=None, y_val=None):
        A = self._design(X)
        gram = A.T @ A + self.config.ridge * np.eye(A.shape[1])
        self.weights = np.linalg.solve(gram, A.T @ np.asarray(y, dtype=np.float64))
        return self

    def predict_proba(self, X):
        return np.clip(self._design(X) @ self.weights, 0.0, 1.0)

    def to_state(self):
        return {"modalities": list(self.config.modalities), "ridge": self.config.ridge,
                "n_points": self.config.n_points, "n_labels": self.config.n_labels}, \
            {"weights": self.weights}

    @classmethod
    def from_state(cls, meta, arrays):
        model = cls(LinearConfig(tuple(meta["modalities"]), meta["n_points"], meta["n_labels"],
                                 meta["ridge"]))
        model.weights = arrays["weights"]
        return model


@pytest.fixture
def linear_registered():
    register_model("test_linear", "classical", LinearModel, LinearConfig, replace=True)
    yield
    unregister_model("test_linear")


def test_classical_round_trip(tmp_path, linear_registered, monkeypatch):
    spec = get_model_spec("test_linear")
    config = spec.make_config({"ridge": 0.5}, primary="ir", auxiliary=("h_nmr",),
                              n_points=N_POINTS, n_labels=N_LABELS)
    assert config.modalities == ("ir", "h_nmr")
    rng = np.random.default_rng(0)
    X = {m: rng.random((30, N_POINTS)) for m in ("ir", "h_nmr")}
    y = (rng.random((30, N_LABELS)) < 0.3).astype(int)
    model = spec.build(config).fit(X, y)
    meta = ModelMeta(model_name="test_linear", config=config, label_names=NAMES,
                     modalities={m: grid_info(m, canonical_grid(m, N_POINTS)) for m in X},
                     primary="ir", auxiliary=("h_nmr",))
    save_model(tmp_path / "lin", model, meta)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle used"))
    loaded, meta2 = load_model(tmp_path / "lin")
    assert meta2.family == "classical" and meta2.state["ridge"] == 0.5
    assert meta2.config == {"modalities": ["ir", "h_nmr"], "n_points": N_POINTS,
                            "n_labels": N_LABELS, "ridge": 0.5}
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_saving_the_wrong_kind_is_an_error(tmp_path, linear_registered):
    model, config = _build("cnn_late", width_scale=0.005)
    meta = _meta("test_linear", config)
    with pytest.raises(ConfigError, match="to_state"):
        save_model(tmp_path / "x", model, meta)
