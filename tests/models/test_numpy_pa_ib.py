"""PA-IB in NumPy against the torch module: logits, gate maps, fused representation and input
gradients agree to float rounding, on tiny random models (batch norm statistics moved away
from their defaults) and on the packaged default model, with spectra missing or not."""

import copy
from dataclasses import fields

import numpy as np
import pytest
import torch

from mspectmol.errors import MspectmolError, SpectrumError
from mspectmol.explain.importance import group_attribution, run_with_gates, top_regions
from mspectmol.models import ood
from mspectmol.models.encoders import prepare_batch
from mspectmol.models.inference import find_model, is_neural, predict_logits
from mspectmol.models.io import load_model
from mspectmol.models.numpy_inference import load_numpy_pa_ib
from mspectmol.models.numpy_layers import prepare_arrays
from mspectmol.models.numpy_pa_ib import (
    ARCHITECTURE_DEFAULTS,
    CONFIG_FIELDS,
    NumpyPAIB,
    weight_shapes,
)
from mspectmol.models.ood import representations
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel

#: Tiny models: two auxiliary spectra and an odd length after the first pool; three stages
#: and another primary; no auxiliary spectrum and an odd input length.
CONFIGS = [
    {"primary": "ir", "auxiliary": ["h_nmr", "c_nmr"], "n_points": 66, "channels": [4, 6],
     "kernel_size": 5, "gate_hidden": 8, "head_hidden": 16, "n_labels": 5},
    {"primary": "c_nmr", "auxiliary": ["ir"], "n_points": 40, "channels": [3, 4, 5],
     "kernel_size": 3, "gate_hidden": 4, "head_hidden": 8, "n_labels": 3},
    {"primary": "h_nmr", "auxiliary": [], "n_points": 33, "channels": [4],
     "kernel_size": 7, "gate_hidden": 4, "head_hidden": 8, "n_labels": 4},
]


def random_model(config, seed=0):
    """A PA-IB model with random weights and random batch norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = PAIBModel(PAIBConfig.from_dict(config))
    with torch.no_grad():
        for name, value in (*model.named_parameters(), *model.named_buffers()):
            kind = name.rsplit(".", 2)
            if ".stages." not in name or kind[1] != "1":
                continue  # only the batch norms
            if kind[2] == "running_var":
                value.uniform_(0.3, 2.0)
            elif kind[2] in ("running_mean", "bias"):
                value.normal_(0.0, 0.3)
            elif kind[2] == "weight":
                value.normal_(1.0, 0.3)
    return model.eval()


def numpy_twin(model):
    """The NumPy model of a torch PA-IB model's config and state dict."""
    return NumpyPAIB(model.config.to_dict(),
                     {k: v.detach().numpy() for k, v in model.state_dict().items()})


def spectra_and_masks(modalities, n_points, n=9, seed=0):
    """Peaky random spectra; row 1 lacks each auxiliary spectrum, row 2 all of them, row 3
    the primary (when there is an auxiliary spectrum to keep it company)."""
    rng = np.random.default_rng(seed)
    spectra = {m: (rng.random((n, n_points)) ** 8).astype(np.float32) for m in modalities}
    avail = {m: np.ones(n, dtype=bool) for m in modalities}
    for m in modalities[1:]:
        avail[m][1:3] = False
    if len(modalities) > 1:
        avail[modalities[0]][3] = False
    for m in modalities:
        spectra[m][~avail[m]] = np.nan  # unavailable rows may hold anything
    return spectra, avail


def torch_gradient(model, spectra, groups, avail):
    dtype = next(model.parameters()).dtype
    inputs = {m: torch.tensor(np.nan_to_num(x), dtype=dtype, requires_grad=True)
              for m, x in spectra.items()}
    out = model(inputs, {m: torch.from_numpy(a) for m, a in avail.items()})
    out.logits[torch.arange(len(groups)), torch.from_numpy(groups)].sum().backward()
    return {m: x.grad.numpy() for m, x in inputs.items()}


def check_forward(model, twin, spectra, avail, *, rtol):
    """Both engines agree on logits, probabilities, gates and fused representations."""
    gated_t = run_with_gates(model, spectra, avail)
    gated_n = run_with_gates(twin, spectra, avail)
    np.testing.assert_allclose(gated_n.logits, gated_t.logits, rtol=rtol, atol=rtol)
    prob_t, prob_n = (1 / (1 + np.exp(-g.logits)) for g in (gated_t, gated_n))
    np.testing.assert_allclose(prob_n, prob_t, rtol=rtol, atol=1e-9)
    assert gated_n.gate_probs.keys() == gated_t.gate_probs.keys()
    for m, probs in gated_t.gate_probs.items():
        np.testing.assert_allclose(gated_n.gate_probs[m], probs, rtol=rtol, atol=rtol / 10)
        np.testing.assert_array_equal(gated_n.available[m], gated_t.available[m])
    fused = twin.forward(spectra, avail).fused
    want = representations(model, spectra, avail)  # float32 sums of thousands of products
    tol = max(rtol, 1e-6)
    np.testing.assert_allclose(fused, want, rtol=tol, atol=tol / 5 * np.abs(want).max())


def check_gradients(model, twin, spectra, avail, *, rtol, share=1.0):
    """Input gradients agree within ``rtol`` of their scale for at least ``share`` of the
    points (float32 rounding may cross a ReLU or max-pool kink, which moves a few points),
    and attributions and their regions agree (``share=1`` only)."""
    n = len(next(iter(spectra.values())))
    groups = np.arange(n) % twin.n_labels
    grad_t = torch_gradient(model, spectra, groups, avail)
    grad_n = twin.input_gradient(spectra, groups, avail)
    for m, g in grad_t.items():
        close = np.isclose(grad_n[m], g, rtol=0, atol=rtol * max(1e-3, np.abs(g).max()))
        assert close.mean() >= share, (m, close.mean())
    if share < 1:
        return
    clean = {m: np.nan_to_num(x) for m, x in spectra.items()}
    attr_t = group_attribution(model, clean, groups, avail)
    attr_n = group_attribution(twin, clean, groups, avail)
    for m, a in attr_t.items():
        np.testing.assert_allclose(attr_n[m], a, rtol=1e-5, atol=1e-9)
        grid = np.linspace(0.0, 1.0, a.shape[1])
        for row in range(n):
            got = top_regions(attr_n[m][row], grid, 3)
            want = top_regions(a[row], grid, 3)
            assert [r[:2] for r in got] == [r[:2] for r in want]
            np.testing.assert_allclose([r[2] for r in got], [r[2] for r in want], atol=1e-6)


def check_same(model, twin, spectra, avail):
    """float32 against float32 (the engines as they run), then float64 against float64,
    where the hand-written backward pass must match autograd everywhere."""
    check_forward(model, twin, spectra, avail, rtol=1e-5)
    check_gradients(model, twin, spectra, avail, rtol=1e-5, share=0.99)
    model64 = copy.deepcopy(model).double()
    twin64 = NumpyPAIB(model.config.to_dict(),
                       {k: v.detach().numpy() for k, v in model.state_dict().items()},
                       dtype=np.float64)
    spectra64 = {m: x.astype(np.float64) for m, x in spectra.items()}
    check_forward(model64, twin64, spectra64, avail, rtol=1e-9)
    check_gradients(model64, twin64, spectra64, avail, rtol=1e-6)


@pytest.mark.parametrize("config", [*CONFIGS, *({**c, "primary_head_alone": True}
                                                for c in CONFIGS[:2]),
                                    {**CONFIGS[0], "input_compression": 10.0}])
def test_tiny_random_models_agree_with_torch(config):
    model = random_model(config)
    twin = numpy_twin(model)
    spectra, avail = spectra_and_masks(twin.modalities, config["n_points"])
    check_same(model, twin, spectra, avail)


def test_an_absent_auxiliary_modality_is_missing_for_every_row():
    model = random_model(CONFIGS[0], seed=3)
    twin = numpy_twin(model)
    spectra, _ = spectra_and_masks(twin.modalities, 66, seed=3)
    spectra = {m: np.nan_to_num(x) for m, x in spectra.items() if m != "c_nmr"}
    avail = {m: np.ones(9, dtype=bool) for m in spectra}
    check_same(model, twin, spectra, avail)
    assert not twin.forward(spectra).gate_probs["c_nmr"].any()


def test_gradient_of_an_unused_key_is_zero_and_groups_are_checked():
    model = random_model(CONFIGS[2])
    twin = numpy_twin(model)
    spectra = {"h_nmr": np.random.default_rng(0).random((2, 33)).astype(np.float32),
               "ir": np.ones((2, 33), dtype=np.float32)}
    grads = twin.input_gradient(spectra, [0, 3])
    assert grads["ir"].shape == (2, 33) and not grads["ir"].any()
    assert grads["h_nmr"].any()
    with pytest.raises(MspectmolError, match="outside 0..3"):
        twin.input_gradient(spectra, 4)


def test_batches_give_the_rows_of_one_pass():
    twin = numpy_twin(random_model(CONFIGS[0]))
    spectra, avail = spectra_and_masks(twin.modalities, 66, n=11)
    whole = twin.forward(spectra, avail)
    parts = twin.forward(spectra, avail, batch_size=4)
    np.testing.assert_allclose(parts.logits, whole.logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(parts.available["h_nmr"], whole.available["h_nmr"])


# ------------------------------------------------------------------ the packaged model


@pytest.fixture(scope="module")
def packaged():
    path = find_model(None)
    model, meta = load_model(path)
    twin, twin_meta = load_numpy_pa_ib(path)
    assert twin_meta == meta
    return model, twin, meta


def test_packaged_model_agrees_with_torch(packaged):
    model, twin, meta = packaged
    spectra, avail = spectra_and_masks(twin.modalities, meta.n_points, n=12, seed=5)
    check_same(model, twin, spectra, avail)
    want = ood.ood_scores(representations(model, spectra, avail), meta.ood)
    got = ood.ood_scores(twin.forward(spectra, avail).fused, meta.ood)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_packaged_model_logits_through_predict_logits(packaged):
    from mspectmol.data.batches import SplitData

    model, twin, meta = packaged
    spectra, avail = spectra_and_masks(twin.modalities, meta.n_points, n=5, seed=7)
    spectra = {m: np.nan_to_num(x) for m, x in spectra.items()}
    split = SplitData(np.arange(5), np.zeros((5, twin.n_labels), np.float32), spectra, avail)
    assert is_neural(twin)
    np.testing.assert_allclose(predict_logits(twin, split, 2), predict_logits(model, split),
                               rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ config and inputs


def test_architecture_defaults_are_paib_configs():
    defaults = PAIBConfig()
    assert CONFIG_FIELDS == tuple(f.name for f in fields(PAIBConfig))
    assert set(ARCHITECTURE_DEFAULTS) <= set(CONFIG_FIELDS)
    for key, value in ARCHITECTURE_DEFAULTS.items():
        assert getattr(defaults, key) == value, key


@pytest.mark.parametrize("config", [*CONFIGS, {}])
def test_weight_shapes_are_the_state_dict(config):
    model = PAIBModel(PAIBConfig.from_dict(config))
    arch = {**ARCHITECTURE_DEFAULTS, **config}
    assert weight_shapes(arch) == {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_unknown_config_keys_and_mismatched_weights_are_refused():
    model = random_model(CONFIGS[2])
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    with pytest.raises(MspectmolError, match="unknown config key.s. widths; known: primary"):
        NumpyPAIB({**config, "widths": 3}, weights)
    with pytest.raises(MspectmolError, match="wrong shape: encoders.h_nmr.stages.0.0.weight"):
        NumpyPAIB({**config, "kernel_size": 5}, weights)
    short = {k: v for k, v in weights.items() if k != "head_fused.3.bias"}
    with pytest.raises(MspectmolError, match="missing: head_fused.3.bias"):
        NumpyPAIB(config, short)
    with pytest.raises(MspectmolError, match="unexpected: extra"):
        NumpyPAIB(config, {**weights, "extra": np.zeros(1)})


def _bad_batches():
    ok = np.random.default_rng(0).random((3, 8)).astype(np.float32)
    nan = ok.copy()
    nan[1, 2] = np.nan
    yes = np.ones(3, dtype=bool)
    return [
        ({"ir": nan, "h_nmr": ok}, None),
        ({"h_nmr": ok}, None),
        ({"ir": ok, "h_nmr": ok[:2]}, None),
        ({"ir": ok, "h_nmr": ok}, {"ir": yes[:2]}),
        ({"ir": ok, "h_nmr": ok}, {"ir": ~yes, "h_nmr": ~yes}),
        ({"ir": ok[:, :5], "h_nmr": ok}, None),
        ({"ir": ok[:0], "h_nmr": ok[:0]}, None),
        ({"ir": ok, "IR": ok}, None),
    ]


@pytest.mark.parametrize("case", range(len(_bad_batches())))
def test_inputs_are_refused_as_prepare_batch_refuses_them(case):
    spectra, avail = _bad_batches()[case]
    args = (("ir", "h_nmr"), 8)
    with pytest.raises((MspectmolError, SpectrumError)) as want:
        prepare_batch({m: torch.from_numpy(x) for m, x in spectra.items()},
                      None if avail is None else
                      {m: torch.from_numpy(a) for m, a in avail.items()}, *args,
                      required=("ir",))
    with pytest.raises(type(want.value)) as got:
        prepare_arrays(spectra, avail, *args, required=("ir",))
    assert str(got.value) == str(want.value)
