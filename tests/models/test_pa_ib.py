"""PA-IB model and loss: shapes, gradients, determinism, overfitting, missing modalities."""

import dataclasses
import json
import time

import pytest
import torch

from mspectmol.errors import MspectmolError, SpectrumError, UnknownModalityError
from mspectmol.models.losses import pa_ib_loss
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel, compress

SMALL = {"n_points": 120, "channels": (8, 16), "gate_hidden": 8, "head_hidden": 32,
         "n_labels": 6, "dropout": 0.0}


def _batch(n: int = 6, n_points: int = 120) -> dict[str, torch.Tensor]:
    return {m: torch.rand(n, n_points) for m in ("ir", "h_nmr", "c_nmr")}


def _learnable(n: int, n_labels: int, n_points: int) -> tuple[dict, torch.Tensor]:
    """Each label adds a Gaussian peak at its own position (different in each modality)."""
    y = (torch.rand(n, n_labels) < 0.4).float()
    grid = torch.arange(n_points, dtype=torch.float32)
    spectra = {}
    for shift, name in enumerate(("ir", "h_nmr", "c_nmr")):
        centres = torch.linspace(8, n_points - 8, n_labels).roll(shift)
        peaks = torch.exp(-0.5 * ((grid - centres[:, None]) / 2.0) ** 2)
        spectra[name] = y @ peaks + 0.05 * torch.rand(n, n_points)
    return spectra, y


def _micro_f1(logits: torch.Tensor, y: torch.Tensor) -> float:
    pred = logits > 0
    tp = (pred & (y > 0.5)).sum().item()
    fp = (pred & (y < 0.5)).sum().item()
    fn = (~pred & (y > 0.5)).sum().item()
    return 2 * tp / max(2 * tp + fp + fn, 1)


def test_default_config_matches_the_paper():
    cfg = PAIBConfig()
    assert (cfg.n_points, cfg.channels, cfg.kernel_size, cfg.n_labels) == (600, (16, 32), 11, 37)
    assert (cfg.temperature, cfg.alpha, cfg.beta, cfg.aux_weight) == (1.0, 1e-6, 1e-6, 0.7)
    assert cfg.n_bands == 150 and cfg.modalities == ("ir", "h_nmr", "c_nmr")


def test_config_round_trips_through_json_and_normalises_names():
    cfg = PAIBConfig(primary="IR", auxiliary=("1h", "13C"), channels=[4, 8], prior="Laplace")
    assert cfg.auxiliary == ("h_nmr", "c_nmr") and cfg.prior == "laplace"
    back = PAIBConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg


@pytest.mark.parametrize("kwargs, match", [
    ({"primary": "ir", "auxiliary": ("ir",)}, "must differ"),
    ({"kernel_size": 10}, "odd"),
    ({"prior": "gamma"}, "gamma"),
    ({"dropout": 1.0}, "dropout"),
    ({"n_points": 3}, "too short"),
    ({"alpha": -1.0}, "alpha"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(MspectmolError, match=match):
        PAIBConfig(**kwargs)


def test_config_rejects_unknown_keys_and_modalities():
    with pytest.raises(MspectmolError, match="unknown PAIBConfig keys: colour"):
        PAIBConfig.from_dict({"colour": 1})
    with pytest.raises(UnknownModalityError):
        PAIBConfig(primary="xray")


def test_forward_shapes_and_all_parameters_get_gradients():
    cfg = PAIBConfig(**SMALL)
    model = PAIBModel(cfg).train()
    out = model(_batch())
    assert out.logits.shape == out.logits_primary.shape == (6, 6)
    assert set(out.gate_probs) == set(out.kl) == {"ir", "h_nmr", "c_nmr"}
    assert all(p.shape == (6, 30) for p in out.gate_probs.values())
    assert all(k.shape == (6,) for k in out.kl.values())
    assert out.kl_size == 30 * 16
    loss = pa_ib_loss(out, (torch.rand(6, 6) > 0.5).float(), cfg)
    loss.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_loss_is_eq14():
    cfg = PAIBConfig(**SMALL, alpha=1e-3, beta=2e-3, aux_weight=0.7)
    out = PAIBModel(cfg).train()(_batch())
    loss = pa_ib_loss(out, torch.ones(6, 6), cfg)
    expected = (loss.sup + 0.7 * loss.pred + loss.mi1 + 1e-3 * loss.mi2 + 2e-3 * loss.mi3)
    torch.testing.assert_close(loss.total, expected)
    torch.testing.assert_close(loss.mi2, out.kl["ir"].mean())
    aux = torch.cat([out.kl["h_nmr"], out.kl["c_nmr"]]).mean()
    torch.testing.assert_close(loss.mi3, aux)
    torch.testing.assert_close(loss.mi1, aux / out.kl_size)
    sup = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, torch.ones(6, 6))
    torch.testing.assert_close(loss.sup, sup)
    assert set(loss.as_floats()) == {"total", "sup", "pred", "mi1", "mi2", "mi3"}


def test_loss_errors_are_clear():
    cfg = PAIBConfig(**SMALL)
    model = PAIBModel(cfg).eval()
    out = model(_batch())
    assert out.kl is None
    with pytest.raises(MspectmolError, match="no KL terms"):
        pa_ib_loss(out, torch.ones(6, 6), cfg)
    out = model(_batch(), return_kl=True)
    with pytest.raises(MspectmolError, match=r"shape \(6, 6\)"):
        pa_ib_loss(out, torch.ones(6, 5), cfg)
    with pytest.raises(MspectmolError, match=r"\[0, 1\]"):
        pa_ib_loss(out, torch.full((6, 6), 2.0), cfg)


def test_eval_is_deterministic_and_training_is_not():
    model = PAIBModel(PAIBConfig(**SMALL))
    x = _batch()
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a.logits, b.logits)
    model.eval()
    with torch.inference_mode():
        c, d = model(x), model(x)
    torch.testing.assert_close(c.logits, d.logits, rtol=0, atol=0)
    torch.testing.assert_close(c.gate_probs["ir"], d.gate_probs["ir"], rtol=0, atol=0)


def test_overfits_a_small_learnable_set():
    cfg = PAIBConfig(**SMALL)
    model = PAIBModel(cfg)
    x, y = _learnable(48, cfg.n_labels, cfg.n_points)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    f1, start = 0.0, time.perf_counter()
    for step in range(400):
        model.train()
        opt.zero_grad()
        pa_ib_loss(model(x), y, cfg).total.backward()
        opt.step()
        if step % 25 == 24:
            model.eval()
            with torch.no_grad():
                f1 = _micro_f1(model(x).logits, y)
            if f1 >= 0.95:
                break
    assert f1 >= 0.95, f"micro-F1 {f1:.3f} after {step + 1} steps"
    assert time.perf_counter() - start < 20


def test_missing_auxiliary_is_masked():
    model = PAIBModel(PAIBConfig(**SMALL)).eval()
    x = _batch()
    mask = torch.tensor([True, False, True, False, True, True])
    with torch.no_grad():
        ref = model(x, {"h_nmr": mask})
        x2 = dict(x)
        x2["h_nmr"] = x["h_nmr"].clone()
        x2["h_nmr"][~mask] = float("nan")  # values of missing rows are never used
        alt = model(x2, {"h_nmr": mask})
        torch.testing.assert_close(ref.logits, alt.logits)
        assert torch.equal(ref.gate_probs["h_nmr"][~mask], torch.zeros(2, 30))
        assert (ref.gate_probs["h_nmr"][mask] > 0).all()
        # an absent key is missing for the whole batch, like an all-False mask
        absent = model({"ir": x["ir"], "c_nmr": x["c_nmr"]})
        none = model(x, {"h_nmr": torch.zeros(6, dtype=torch.bool)})
        torch.testing.assert_close(absent.logits, none.logits)
        assert not absent.available["h_nmr"].any()
        # the auxiliary spectrum does change the prediction where it is available
        assert not torch.allclose(ref.logits[mask], none.logits[mask])


def test_missing_auxiliary_is_left_out_of_the_kl_terms():
    cfg = PAIBConfig(**SMALL)
    model = PAIBModel(cfg).train()
    out = model(_batch(), {"h_nmr": torch.zeros(6, dtype=torch.bool)})
    loss = pa_ib_loss(out, torch.ones(6, 6), cfg)
    torch.testing.assert_close(loss.mi3, out.kl["c_nmr"].mean())


def test_bad_inputs_raise_clear_errors():
    model = PAIBModel(PAIBConfig(**SMALL)).eval()
    x = _batch()
    with pytest.raises(MspectmolError, match="requires"):
        model({"h_nmr": x["h_nmr"]})
    with pytest.raises(SpectrumError, match=r"ir spectra must have shape \(batch, 120\)"):
        model({**x, "ir": torch.rand(6, 100)})
    bad = x["c_nmr"].clone()
    bad[2, 5] = float("inf")
    with pytest.raises(SpectrumError, match="c_nmr spectra contain NaN or infinite"):
        model({**x, "c_nmr": bad})
    with pytest.raises(MspectmolError, match="different batch sizes"):
        model({**x, "h_nmr": torch.rand(5, 120)})
    with pytest.raises(MspectmolError, match="availability mask of h_nmr"):
        model(x, {"h_nmr": torch.ones(4, dtype=torch.bool)})
    with pytest.raises(SpectrumError, match="floating point"):
        model({**x, "ir": torch.ones(6, 120, dtype=torch.long)})
    with pytest.raises(UnknownModalityError):
        model({**x, "nmr": x["ir"]})


def test_laplace_prior_and_no_auxiliary():
    cfg = PAIBConfig(**{**SMALL, "prior": "laplace"}, auxiliary=())
    model = PAIBModel(cfg).train()
    out = model({"ir": torch.rand(4, 120)})
    loss = pa_ib_loss(out, torch.zeros(4, 6), cfg)
    assert torch.isfinite(loss.total) and loss.mi1 == 0 and loss.mi3 == 0
    assert set(out.gate_probs) == {"ir"}


def test_encoder_matches_a_plain_conv1d_stack():
    from mspectmol.models.encoders import SpectrumEncoder

    enc = SpectrumEncoder(2, (4, 6), 5).eval()
    ref = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 5, padding=2), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
        torch.nn.MaxPool1d(2), torch.nn.Conv1d(4, 6, 5, padding=2), torch.nn.BatchNorm1d(6),
        torch.nn.ReLU(), torch.nn.MaxPool1d(2)).eval()
    with torch.no_grad():
        for p, q in zip(enc.parameters(), ref.parameters(), strict=True):
            q.copy_(p.reshape(q.shape))
        for name in ("running_mean", "running_var"):
            for i in (1, 5):
                getattr(enc.stages[i // 4][1], name).uniform_(0.5, 1.5)
                getattr(ref[i], name).copy_(getattr(enc.stages[i // 4][1], name))
        x = torch.randn(3, 2, 41)
        out = enc(x)
        torch.testing.assert_close(out, ref(x))
    assert out.shape == (3, 6, 10) and out.transpose(1, 2).is_contiguous()


def test_bf16_autocast_inference_runs_close_to_fp32():
    model = PAIBModel(PAIBConfig(**SMALL)).eval()
    x = _batch()
    with torch.inference_mode():
        ref = torch.sigmoid(model(x).logits)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = torch.sigmoid(model(x).logits.float())
    torch.testing.assert_close(low, ref, atol=0.03, rtol=0)


def test_float64_input_is_cast_and_empty_samples_are_refused():
    model = PAIBModel(PAIBConfig(**SMALL)).eval()
    x = _batch()
    with torch.no_grad():
        ref = model(x).logits
        torch.testing.assert_close(model({m: v.double() for m, v in x.items()}).logits, ref)
    nothing = {m: torch.tensor([True, False, True, True, True, True]) for m in x}
    with pytest.raises(MspectmolError, match="at least one available spectrum"):
        model(x, nothing)


def test_eval_encoder_folds_batchnorm_without_changing_the_output():
    from mspectmol.models.encoders import SpectrumEncoder

    torch.manual_seed(3)
    enc = SpectrumEncoder(1, (4, 8), 5)
    enc.train()
    with torch.no_grad():
        for _ in range(3):  # non-trivial running statistics
            enc(torch.rand(16, 40) * 3)
    enc.eval()
    x = torch.rand(8, 40)
    with torch.no_grad():
        reference = enc(x)  # grad mode off but not inference mode: same fast path
        layered = enc.stages(x.reshape(8, 1, 1, 40)).squeeze(2)
    with torch.inference_mode():
        folded = enc(x)
    torch.testing.assert_close(folded, layered, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reference, layered, rtol=1e-5, atol=1e-6)
    assert folded.shape == (8, 8, 10)


@pytest.mark.parametrize("length", [10, 11])
def test_pairwise_pooling_equals_max_pool_and_relu(length):
    from mspectmol.models.encoders import pool_pairs_relu

    torch.manual_seed(5)
    y = torch.randn(3, 6, 1, length).contiguous(memory_format=torch.channels_last)
    want = torch.relu(torch.nn.functional.max_pool2d(y, (1, 2)))
    got = pool_pairs_relu(y)
    assert torch.equal(got, want)
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_rows_without_auxiliary_spectra_use_the_primary_head_when_asked():
    torch.manual_seed(4)
    config = PAIBConfig(n_points=40, channels=(4, 6), kernel_size=3, gate_hidden=4,
                        head_hidden=8, n_labels=5, primary_head_alone=True)
    model = PAIBModel(config)
    batch = {m: torch.rand(4, 40) for m in config.modalities}
    avail = {"ir": torch.ones(4, dtype=torch.bool),
             "h_nmr": torch.tensor([True, False, False, True]),
             "c_nmr": torch.tensor([True, False, True, False])}
    with torch.no_grad():
        out = model.eval()(batch, avail)
        plain = PAIBModel(dataclasses.replace(config, primary_head_alone=False))
        plain.load_state_dict(model.state_dict())
        want = plain.eval()(batch, avail)
        torch.testing.assert_close(out.logits[1], out.logits_primary[1])
        torch.testing.assert_close(out.logits[[0, 2, 3]], want.logits[[0, 2, 3]])
        assert not torch.allclose(out.logits[1], want.logits[1])
        torch.manual_seed(0)
        trained = model.train()(batch, avail).logits
        torch.manual_seed(0)
        torch.testing.assert_close(trained, plain.train()(batch, avail).logits)


def test_label_pos_weight_sqrt_scheme_by_hand():
    import numpy as np

    from mspectmol.models.pa_ib import MAX_POS_WEIGHT, label_pos_weight

    labels = np.zeros((200, 4))
    labels[:50, 0] = 1          # 50 of 200: sqrt(150 / 50) = sqrt(3)
    labels[:1, 1] = 1           # 1 of 200: sqrt(199) > cap
    labels[:, 3] = 1            # never negative: 1
    w = label_pos_weight(labels, "sqrt")
    assert torch.allclose(w, torch.tensor([3 ** 0.5, MAX_POS_WEIGHT, 1.0, 1.0]))
    assert label_pos_weight(labels, "none") is None
    with pytest.raises(MspectmolError, match="label weighting"):
        label_pos_weight(labels, "inverse")
    with pytest.raises(MspectmolError, match="label_weighting"):
        PAIBConfig(label_weighting="inverse")


def test_label_weighting_enters_the_loss_and_is_not_saved():
    torch.manual_seed(0)
    model = PAIBModel(PAIBConfig(label_weighting="sqrt", n_labels=3, channels=(4, 8),
                                 head_hidden=8, gate_hidden=4))
    labels = torch.tensor([[1.0, 0.0, 0.0]] * 2 + [[0.0, 0.0, 0.0]] * 6)
    model.fit_label_weights(labels.numpy())
    assert torch.allclose(model.label_pos_weight, torch.tensor([3 ** 0.5, 1.0, 1.0]))
    assert "label_pos_weight" not in model.state_dict()
    spectra = {m: torch.rand(8, 600) for m in ("ir", "h_nmr", "c_nmr")}
    model.train()
    torch.manual_seed(1)
    out = model(spectra)
    weighted = pa_ib_loss(out, labels, model.config, pos_weight=model.label_pos_weight)
    plain = pa_ib_loss(out, labels, model.config)
    assert weighted.sup.item() > plain.sup.item()


def test_inference_in_blocks_equals_the_whole_batch(monkeypatch):
    import mspectmol.models.pa_ib as pa_ib

    torch.manual_seed(6)
    config = PAIBConfig(n_points=40, channels=(4, 6), kernel_size=3, gate_hidden=4,
                        head_hidden=8, n_labels=5)
    model = PAIBModel(config).eval()
    batch = {m: torch.rand(11, 40) for m in config.modalities}
    avail = {"h_nmr": torch.tensor([True, False] * 5 + [True])}
    with torch.inference_mode():
        monkeypatch.setattr(pa_ib, "EVAL_BLOCK", 4)  # blocks of 4, 4 and 3 rows
        blocked = model(batch, avail, return_kl=True)
        monkeypatch.setattr(pa_ib, "EVAL_BLOCK", 100)
        whole = model(batch, avail, return_kl=True)
    for name in ("logits", "logits_primary"):
        torch.testing.assert_close(getattr(blocked, name), getattr(whole, name))
    for m in config.modalities:
        torch.testing.assert_close(blocked.gate_probs[m], whole.gate_probs[m])
        torch.testing.assert_close(blocked.kl[m], whole.kl[m])
        assert torch.equal(blocked.available[m], whole.available[m])
    assert blocked.logits.shape == (11, 5) and blocked.kl_size == whole.kl_size


def test_input_compression_keeps_0_and_1_and_raises_weak_bands():
    x = torch.tensor([-0.2, 0.0, 0.01, 0.1, 1.0])
    got = compress(x, 10.0)
    assert torch.allclose(got, torch.tensor([0.0, 0.0, 0.039747, 0.289065, 1.0]), atol=1e-6)
    assert compress(x, 0.0) is x
    with pytest.raises(MspectmolError, match="input_compression must be >= 0"):
        PAIBConfig(input_compression=-1.0)
    model = PAIBModel(PAIBConfig(n_points=64, channels=(4, 8), input_compression=10.0)).eval()
    plain = PAIBModel(PAIBConfig(n_points=64, channels=(4, 8))).eval()
    plain.load_state_dict(model.state_dict())
    spectra = {m: torch.rand(3, 64) for m in ("ir", "h_nmr", "c_nmr")}
    with torch.no_grad():
        squeezed = {m: compress(x, 10.0) for m, x in spectra.items()}
        assert torch.allclose(model(spectra).logits, plain(squeezed).logits, atol=1e-6)
