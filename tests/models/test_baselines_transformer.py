"""Transformer baselines: token Transformer, Wu et al. patch Transformer, Alberts et al.
linear-patch Transformer."""

import json

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from mspectmol.errors import MspectmolError, SpectrumError
from mspectmol.models.baselines_transformer import (
    LinearPatchTransformer,
    LinearPatchTransformerConfig,
    PatchTransformer,
    PatchTransformerConfig,
    SpectrumTransformer,
    TokenTransformerConfig,
    TransformerConfig,
    intensity_tokens,
    masked_token_mean,
    zscore_nonzero,
)
from mspectmol.models.registry import get_model_spec

MODS = ("ir", "h_nmr", "c_nmr")
N_POINTS = 40
SMALL = {"n_points": N_POINTS, "n_labels": 5, "d_model": 16, "n_heads": 4, "n_layers": 1,
         "ff_dim": 32, "head_hidden": 16}
CASES = [
    (SpectrumTransformer, TransformerConfig, {"segment": 10}),
    (PatchTransformer, PatchTransformerConfig, {"patch": 8, "n_bins": 20}),
    (LinearPatchTransformer, LinearPatchTransformerConfig, {"patch": 10}),
]
IDS = ["transformer", "patch_transformer", "linear_patch_transformer"]


def _batch(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.rand(n, N_POINTS, generator=g) for m in MODS}


def _model(case, **extra):
    model_cls, config_cls, token = case
    return model_cls(config_cls(modalities=MODS, **SMALL, **token, **extra))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shapes_and_gradients(case):
    model = _model(case).train()
    logits = model(_batch())
    assert logits.shape == (4, 5)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(4, 5)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_masked_modality_does_not_contribute(case):
    model = _model(case).eval()
    x = _batch()
    mask = {"ir": torch.tensor([True, True, True, True]),
            "h_nmr": torch.tensor([False, True, False, True]),
            "c_nmr": torch.ones(4, dtype=torch.bool)}
    other = dict(x, h_nmr=torch.rand(4, N_POINTS) * 5.0)
    other["h_nmr"][0, 3] = float("nan")  # values of unavailable rows are never read
    with torch.no_grad():
        out = model(x, mask)
        out_other = model(other, mask)
        absent = model({"ir": x["ir"], "c_nmr": x["c_nmr"]})
        full = model(x)
    masked = ~mask["h_nmr"]
    torch.testing.assert_close(out[masked], out_other[masked])
    torch.testing.assert_close(out[masked], absent[masked])
    torch.testing.assert_close(out[~masked], full[~masked])  # available rows unchanged
    assert not torch.allclose(out[masked], full[masked])  # the modality does matter
    # the masked tokens are neither attended to nor pooled: even their embedding is irrelevant
    with torch.no_grad():
        model.modality[1] += 3.0 * torch.randn(model.modality.shape[1])
        shifted = model(x, mask)
    torch.testing.assert_close(shifted[masked], out[masked])
    assert not torch.allclose(shifted[~masked], out[~masked])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_prediction_independent_of_batch_mates(case):
    model = _model(case).eval()
    x = _batch(6)
    with torch.no_grad():
        together = model(x)
        alone = model({m: v[2:3] for m, v in x.items()})
    torch.testing.assert_close(together[2:3], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    _, config_cls, token = case
    cfg = config_cls(modalities=("IR", "13c_nmr"), **SMALL, **token)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["modalities"] == ["ir", "c_nmr"]
    assert config_cls.from_dict(data) == cfg
    with pytest.raises(MspectmolError, match="unknown .* keys: bogus"):
        config_cls.from_dict({**data, "bogus": 1})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weights_round_trip_through_safetensors(case):
    model = _model(case).eval()
    state = st_load(st_save({k: v.contiguous() for k, v in model.state_dict().items()}))
    again = _model(case).eval()
    again.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(again(_batch()), model(_batch()), rtol=0, atol=0)


def test_config_errors():
    with pytest.raises(MspectmolError, match="multiple of segment"):
        TransformerConfig(n_points=45, segment=10)
    with pytest.raises(MspectmolError, match="multiple of n_heads"):
        TransformerConfig(d_model=30, n_heads=4)
    with pytest.raises(MspectmolError, match="dropout"):
        LinearPatchTransformerConfig(attention_dropout=1.0)
    with pytest.raises(MspectmolError, match="n_bins"):
        PatchTransformerConfig(n_bins=1)
    with pytest.raises(MspectmolError, match="distinct"):
        TransformerConfig(modalities=("ir", "IR"))
    with pytest.raises(MspectmolError, match="base class"):
        TokenTransformerConfig()


def test_defaults_follow_the_documented_sizes():
    assert TransformerConfig().n_tokens == 60  # 10-point segments of 600 points
    assert PatchTransformerConfig().n_tokens == 75  # 8-point patches
    assert LinearPatchTransformerConfig().n_tokens == 24  # 25-point patches
    model = LinearPatchTransformer()
    assert model.encoder.layers[0].self_attn.dropout == 0.0
    assert model.encoder.layers[0].dropout1.p == pytest.approx(0.1)


def test_wrong_input_shape_is_reported():
    model = _model(CASES[0]).eval()
    x = _batch()
    x["ir"] = torch.rand(4, N_POINTS + 1)
    with pytest.raises(SpectrumError, match=r"ir spectra must have shape \(batch, 40\)"):
        model(x)


def test_zscore_nonzero():
    x = torch.tensor([[0.0, 1.0, 0.0, 3.0, 5.0], [0.0, 0.0, 2.0, 0.0, 0.0]])
    z = zscore_nonzero(x)
    nz = z[0][x[0] != 0]
    torch.testing.assert_close(nz.mean(), torch.tensor(0.0))
    torch.testing.assert_close(nz.square().mean(), torch.tensor(1.0))
    assert (z[x == 0] == 0).all()
    assert z[1, 2] == 0.0  # one non-zero value: centred, not divided by a zero std


def test_intensity_tokens():
    x = torch.tensor([[0.0, 0.5, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0], [0.2, 0.1, 0.0, 0.05]])
    ids = intensity_tokens(x, 101)
    assert ids.tolist() == [[0, 25, 100, 0], [0, 0, 0, 0], [100, 50, 0, 25]]
    assert ids.dtype == torch.long


def test_masked_token_mean():
    tokens = torch.arange(12.0).reshape(1, 4, 3)
    keep = torch.tensor([[True, False, True, False]])
    torch.testing.assert_close(masked_token_mean(tokens, keep), torch.tensor([[3.0, 4.0, 5.0]]))


@pytest.mark.parametrize("name", IDS)
def test_registered_and_buildable(name):
    spec = get_model_spec(name)
    assert spec.kind == "neural"
    overrides = {"d_model": 16, "ff_dim": 32, "head_hidden": 16}
    if name == "transformer":
        overrides["segment"] = 8
    else:
        overrides["patch"] = 8
    cfg = spec.make_config(overrides, primary="ir", auxiliary=("h_nmr",), n_points=32,
                           n_labels=3)
    assert cfg.modalities == ("ir", "h_nmr") and cfg.n_points == 32
    model = spec.build(spec.config_from_dict(cfg.to_dict())).eval()
    with torch.no_grad():
        assert model({"ir": torch.rand(2, 32), "h_nmr": torch.rand(2, 32)}).shape == (2, 3)
