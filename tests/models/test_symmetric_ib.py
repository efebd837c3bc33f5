"""The symmetric uniform-IB baseline (Table 4) and the PA-IB-sized fusions (appendix N)."""

import json

import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.models.fusion import FusionConfig, FusionModel
from mspectmol.models.gates import gate_kl, noise_statistics
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel, count_parameters
from mspectmol.models.registry import get_model_spec
from mspectmol.models.symmetric_ib import (
    SymmetricIBConfig,
    SymmetricIBModel,
    SymmetricIBOutput,
    symmetric_ib_loss,
)

MODS = ("ir", "h_nmr", "c_nmr")
N_POINTS = 32
SMALL = {"modalities": MODS, "n_points": N_POINTS, "n_labels": 5, "channels": (4, 8),
         "head_hidden": 16}


def _batch(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.rand(n, N_POINTS, generator=g) for m in MODS}


def _mask() -> dict[str, torch.Tensor]:
    return {"ir": torch.ones(4, dtype=torch.bool),
            "h_nmr": torch.tensor([False, True, False, True]),
            "c_nmr": torch.tensor([True, True, False, True])}


def _sib(**extra) -> SymmetricIBModel:
    return SymmetricIBModel(SymmetricIBConfig(**SMALL, gate_hidden=8, **extra))


# --- symmetric IB -------------------------------------------------------------------------


def test_shapes_kl_and_gradients():
    model = _sib().train()
    out = model(_batch(), _mask())
    assert isinstance(out, SymmetricIBOutput)
    assert out.logits.shape == (4, 5) and out.kl_size == 8 * 8  # 32 -> 8 bands, 8 channels
    assert set(out.kl) == set(MODS) and all(v.shape == (4,) for v in out.kl.values())
    assert all(out.gate_probs[m].shape == (4, 8) for m in MODS)
    y = torch.randint(0, 2, (4, 5))
    loss = symmetric_ib_loss(out, y, model.config)
    assert torch.isfinite(loss.total)
    assert model.compute_loss(out, y).as_floats() == loss.as_floats()
    loss.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_each_gate_sees_only_its_own_modality():
    model = _sib().eval()
    x = _batch()
    other = dict(x, c_nmr=torch.rand(4, N_POINTS) * 3)
    with torch.no_grad():
        a, b = model(x), model(other)
    torch.testing.assert_close(a.gate_probs["ir"], b.gate_probs["ir"])
    torch.testing.assert_close(a.gate_probs["h_nmr"], b.gate_probs["h_nmr"])
    assert not torch.allclose(a.gate_probs["c_nmr"], b.gate_probs["c_nmr"])
    # in PA-IB an auxiliary gate reads the primary's features: the asymmetry removed here
    pa = PAIBModel(PAIBConfig(primary="ir", auxiliary=("c_nmr",), n_points=N_POINTS,
                              channels=(4, 8), gate_hidden=8, head_hidden=16)).eval()
    with torch.no_grad():
        p1 = pa({"ir": x["ir"], "c_nmr": x["c_nmr"]}).gate_probs["c_nmr"]
        p2 = pa({"ir": x["ir"] * 2 + 1, "c_nmr": x["c_nmr"]}).gate_probs["c_nmr"]
    assert not torch.allclose(p1, p2)


def test_masked_modality_does_not_contribute():
    model = _sib().eval()
    x, mask = _batch(), _mask()
    other = dict(x, h_nmr=torch.full((4, N_POINTS), float("nan")))
    other["h_nmr"][1::2] = x["h_nmr"][1::2]  # available rows keep their spectra
    with torch.no_grad():
        out, out_other, full = model(x, mask), model(other, mask), model(x)
    torch.testing.assert_close(out.logits, out_other.logits)
    rows = ~mask["h_nmr"]
    assert (out.gate_probs["h_nmr"][rows] == 0).all()
    assert not torch.allclose(out.logits[rows], full.logits[rows])
    # the readout of a missing modality is zeroed before the head: its encoder is irrelevant
    with torch.no_grad():
        model.readouts["h_nmr"][1].bias += 1.0
        shifted = model(x, mask)
    torch.testing.assert_close(shifted.logits[rows], out.logits[rows])
    assert not torch.allclose(shifted.logits[~rows], out.logits[~rows])


def test_loss_weights_every_modality_alike():
    model = _sib(beta=0.01).train()
    mask = _mask()
    out = model(_batch(), mask)
    y = torch.randint(0, 2, (4, 5)).float()
    loss = symmetric_ib_loss(out, y, model.config)
    pairs = [(m, i) for m in MODS for i in range(4) if mask[m][i]]
    expected_kl = sum(out.kl[m][i] for m, i in pairs) / len(pairs)
    torch.testing.assert_close(loss.kl, expected_kl)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, y)
    torch.testing.assert_close(loss.sup, bce)
    torch.testing.assert_close(loss.total, bce + 0.01 * expected_kl)
    assert set(loss.as_floats()) == {"total", "sup", "kl"}


def test_kl_matches_the_gate_machinery():
    model = _sib().eval()
    x = _batch()
    with torch.no_grad():
        out = model(x, return_kl=True)
        h = model.encoders["ir"](x["ir"]).transpose(1, 2).contiguous()
        p = torch.sigmoid(model.gates["ir"](h)).unsqueeze(-1)
        mu, sigma = noise_statistics(h)
        torch.testing.assert_close(out.kl["ir"], gate_kl(h, p, mu, sigma).sum(dim=(1, 2)))


def test_eval_is_deterministic_and_skips_kl():
    model = _sib().eval()
    x = _batch()
    with torch.no_grad():
        a, b = model(x), model(x)
    torch.testing.assert_close(a.logits, b.logits)
    assert a.kl is None
    with pytest.raises(MspectmolError, match="no KL terms"):
        symmetric_ib_loss(a, torch.zeros(4, 5), model.config)
    with pytest.raises(MspectmolError, match=r"shape \(4, 5\)"):
        symmetric_ib_loss(model(x, return_kl=True), torch.zeros(4, 4), model.config)


def test_config_round_trip_and_errors():
    cfg = SymmetricIBConfig(**SMALL, prior="Laplace")
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["channels"] == [4, 8] and data["prior"] == "laplace"
    assert SymmetricIBConfig.from_dict(data) == cfg
    with pytest.raises(MspectmolError, match="gamma"):
        SymmetricIBConfig(prior="gamma")
    with pytest.raises(MspectmolError, match="beta"):
        SymmetricIBConfig(beta=-1.0)
    with pytest.raises(MspectmolError, match="odd"):
        SymmetricIBConfig(kernel_size=4)


def test_default_sizes_match_pa_ib():
    with torch.device("meta"):
        sym = SymmetricIBModel()
        pa = PAIBModel()
    # same encoders and readouts; PA-IB adds the primary head and wider auxiliary gates
    assert count_parameters(sym.encoders) == count_parameters(pa.encoders)
    assert count_parameters(sym.readouts) == count_parameters(pa.readouts)
    assert count_parameters(sym.head) == count_parameters(pa.head_fused)


# --- fusion (appendix N) ------------------------------------------------------------------


@pytest.mark.parametrize("fusion", ["early", "mid", "late"])
def test_fusion_shapes_gradients_and_masking(fusion):
    model = FusionModel(FusionConfig(**SMALL, fusion=fusion)).train()
    logits = model(_batch(), _mask())
    assert logits.shape == (4, 5)
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    model.eval()
    x, mask = _batch(), _mask()
    other = dict(x, h_nmr=torch.rand(4, N_POINTS) * 9)
    with torch.no_grad():
        a, b, full = model(x, mask), model(other, mask), model(x)
    rows = ~mask["h_nmr"]
    torch.testing.assert_close(a[rows], b[rows])
    torch.testing.assert_close(a[~rows], full[~rows])
    assert not torch.allclose(a[rows], full[rows])


def test_fusion_structure():
    early = FusionModel(FusionConfig(**SMALL, fusion="early"))
    assert early.encoders["all"].stages[0][0].weight.shape == (4, 3, 1, 11)  # stacked channels
    mid = FusionModel(FusionConfig(**SMALL, fusion="mid"))
    assert set(mid.encoders) == set(MODS) and mid.heads["all"][0].in_features == 3 * 16
    late = FusionModel(FusionConfig(**SMALL, fusion="late")).eval()
    assert set(late.heads) == set(MODS)
    x = _batch()
    only_ir = {"ir": torch.ones(4, dtype=torch.bool), "h_nmr": torch.zeros(4, dtype=torch.bool),
               "c_nmr": torch.zeros(4, dtype=torch.bool)}
    with torch.no_grad():
        fused = late(x, only_ir)
        alone = late.heads["ir"](late._features("ir", x["ir"]))
        probs = torch.stack([torch.sigmoid(late.heads[m](late._features(m, x[m])))
                             for m in MODS]).mean(0)
        everything = late(x)
    torch.testing.assert_close(fused, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.sigmoid(everything), probs)
    with pytest.raises(MspectmolError, match="unknown fusion"):
        FusionConfig(fusion="concat")


def test_fusion_mid_matches_pa_ib_size_without_gates():
    with torch.device("meta"):
        mid = FusionModel(FusionConfig(fusion="mid"))
        pa = PAIBModel()
    gates = count_parameters(pa.gates) + count_parameters(pa.head_primary)
    assert count_parameters(mid) == count_parameters(pa) - gates


@pytest.mark.parametrize("name", ["symmetric_ib", "fusion", "fusion_early", "fusion_mid",
                                  "fusion_late"])
def test_registered(name):
    spec = get_model_spec(name)
    cfg = spec.make_config({"channels": [4, 8], "head_hidden": 8}, primary="ir",
                           auxiliary=("c_nmr",), n_points=N_POINTS, n_labels=3)
    model = spec.build(spec.config_from_dict(cfg.to_dict())).eval()
    with torch.no_grad():
        out = model({"ir": torch.rand(2, N_POINTS), "c_nmr": torch.rand(2, N_POINTS)})
    logits = out if isinstance(out, torch.Tensor) else out.logits
    assert logits.shape == (2, 3)
