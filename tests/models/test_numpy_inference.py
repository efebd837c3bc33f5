"""Loading classifiers for the NumPy engine: the checks of load_model without torch, the engine
choice, the out-of-distribution score and the BLAS thread limit."""

import json

import numpy as np
import pytest
import safetensors.numpy
from threadpoolctl import threadpool_info

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.models.inference import find_model
from mspectmol.models.io import ModelMeta, grid_info, load_model, save_model
from mspectmol.models.modelfile import file_sha256, model_paths
from mspectmol.models.numpy_inference import (
    blas_threads,
    load_classifier,
    load_numpy_pa_ib,
)
from mspectmol.models.numpy_pa_ib import NumpyPAIB
from mspectmol.models.pa_ib import PAIBModel
from mspectmol.models.registry import get_model_spec
from mspectmol.spectra.preprocessing import canonical_grid

N_POINTS, N_LABELS = 64, 5
MODS = ("ir", "h_nmr", "c_nmr")


def _save(folder, name, **overrides):
    spec = get_model_spec(name)
    config = spec.make_config(overrides, primary="ir", auxiliary=("h_nmr", "c_nmr"),
                              n_points=N_POINTS, n_labels=N_LABELS)
    model = spec.build(config).eval()
    meta = ModelMeta(model_name=name, config=config,
                     label_names=tuple(f"g{i}" for i in range(N_LABELS)),
                     modalities={m: grid_info(m, canonical_grid(m, N_POINTS)) for m in MODS},
                     primary="ir", auxiliary=("h_nmr", "c_nmr"))
    save_model(folder, model, meta)
    return folder, model


@pytest.fixture
def saved_pa_ib(tmp_path):
    return _save(tmp_path / "m", "pa_ib", channels=[4, 8], gate_hidden=4, head_hidden=8)


def _edit_json(folder, edit):
    _, meta_path = model_paths(folder)
    doc = json.loads(meta_path.read_text())
    edit(doc)
    meta_path.write_text(json.dumps(doc))


def test_engines_load_the_packaged_model():
    path = find_model(None)
    twin, meta = load_classifier(path)
    model, torch_meta = load_classifier(path, "torch")
    assert isinstance(twin, NumpyPAIB) and isinstance(model, PAIBModel)
    assert meta == torch_meta
    assert isinstance(load_classifier(path, "numpy")[0], NumpyPAIB)
    with pytest.raises(MspectmolError, match="unknown engine 'jax'"):
        load_classifier(path, "jax")


def test_other_models_go_to_torch_and_the_numpy_engine_refuses_them(tmp_path):
    folder, _ = _save(tmp_path / "cnn", "cnn_late", width_scale=0.005)
    model, _ = load_classifier(folder)
    assert not isinstance(model, NumpyPAIB)
    with pytest.raises(ModelFileError, match="NumPy engine runs pa_ib models; this is "
                                             "'cnn_late'"):
        load_classifier(folder, "numpy")


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-100], "truncated"),
    (lambda data: data[:-10] + bytes([data[-10] ^ 1]) + data[-9:], "hash mismatch"),
])
def test_damaged_weights_are_refused_as_load_model_refuses_them(saved_pa_ib, damage, message):
    folder, _ = saved_pa_ib
    weights, _ = model_paths(folder)
    weights.write_bytes(damage(weights.read_bytes()))
    for load in (load_model, load_numpy_pa_ib):
        with pytest.raises(ModelFileError, match=message) as info:
            load(folder)
        assert str(weights) in str(info.value)


def test_weights_that_do_not_fit_the_config_are_refused(saved_pa_ib):
    folder, _ = saved_pa_ib
    _edit_json(folder, lambda d: d["config"].update(channels=[4, 16]))
    for load in (load_model, load_numpy_pa_ib):
        with pytest.raises(ModelFileError, match="do not match the model config"):
            load(folder)


def test_a_missing_tensor_is_refused(saved_pa_ib):
    folder, _ = saved_pa_ib
    weights, _ = model_paths(folder)
    arrays = safetensors.numpy.load(weights.read_bytes())
    del arrays["gates.ir.mlp.0.bias"]
    data = safetensors.numpy.save(arrays)
    weights.write_bytes(data)
    _edit_json(folder, lambda d: d.update(content_hash=file_sha256(data),
                                          content_size=len(data)))
    with pytest.raises(ModelFileError, match=r"do not match the model config \(missing: "
                                             r"gates.ir.mlp.0.bias\)"):
        load_numpy_pa_ib(folder)
    with pytest.raises(ModelFileError, match="do not match the model config"):
        load_model(folder)


def test_an_unknown_config_key_is_refused(saved_pa_ib):
    folder, _ = saved_pa_ib
    _edit_json(folder, lambda d: d["config"].update(widths=3))
    messages = []
    for load in (load_model, load_numpy_pa_ib):
        with pytest.raises(ModelFileError, match="model 'pa_ib': unknown config key.s. widths"
                           ) as info:
            load(folder)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_a_saved_model_runs_the_same_on_both_engines(saved_pa_ib):
    folder, model = saved_pa_ib
    twin, _ = load_numpy_pa_ib(folder)
    rng = np.random.default_rng(0)
    spectra = {m: rng.random((4, N_POINTS)).astype(np.float32) for m in MODS}
    from mspectmol.explain.importance import run_with_gates

    np.testing.assert_allclose(run_with_gates(twin, spectra).logits,
                               run_with_gates(model, spectra).logits, rtol=1e-5, atol=1e-6)


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_are_limited_and_restored():
    before = _blas_threads()
    with blas_threads(1):
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before
    with blas_threads(None):
        assert _blas_threads() == before
