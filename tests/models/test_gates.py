"""Gates: relaxed Bernoulli, Gaussian noise with detached statistics, closed-form KLs."""

import math

import pytest
import torch
from torch.distributions import Laplace, Normal, kl_divergence

from mspectmol.errors import MspectmolError
from mspectmol.models.gates import (
    MIN_NOISE_FRACTION,
    BandGate,
    apply_gate,
    check_prior,
    gate_kl,
    gaussian_kl,
    inject_noise,
    laplace_kl,
    noise_statistics,
    relaxed_bernoulli,
)


@pytest.fixture(autouse=True)
def _seed_one_thread():
    """Fixed seed; one thread (tiny tensors: threads only contend on a shared CPU)."""
    torch.manual_seed(1234)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_gaussian_kl_matches_torch_distributions():
    mq, mp = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    sq = torch.rand(50, dtype=torch.float64) * 2 + 0.05
    sp = torch.rand(50, dtype=torch.float64) * 2 + 0.05
    expected = kl_divergence(Normal(mq, sq), Normal(mp, sp))
    torch.testing.assert_close(gaussian_kl(mq, sq, mp, sp), expected)


def test_gate_kl_is_the_full_closed_form_with_log_term():
    h = torch.randn(4, 7, 3, dtype=torch.float64)
    lam = torch.rand(4, 7, 1, dtype=torch.float64) * 0.98
    mu, sigma = noise_statistics(h)
    kl = gate_kl(h, lam, mu, sigma)
    q = Normal(lam * h + (1 - lam) * mu, (1 - lam) * sigma)
    torch.testing.assert_close(kl, kl_divergence(q, Normal(mu, sigma)).expand_as(kl))
    # lambda = 0 is pure prior noise: KL 0; lambda -> 1 stays finite thanks to the floor
    zero = gate_kl(h, torch.zeros_like(lam), mu, sigma)
    torch.testing.assert_close(zero, torch.zeros_like(zero))
    full = gate_kl(h, torch.ones_like(lam), mu, sigma)
    assert torch.isfinite(full).all()
    assert full.min() >= -math.log(MIN_NOISE_FRACTION) - 0.5 - 1e-9


def test_gate_kl_monte_carlo():
    h = torch.tensor([[[1.5, -0.3]], [[0.2, 2.0]]], dtype=torch.float64)  # (2, 1, 2)
    mu = torch.tensor([[[0.1, 0.4]], [[-0.2, 0.5]]], dtype=torch.float64)
    sigma = torch.tensor([[[0.7, 1.3]], [[0.5, 2.0]]], dtype=torch.float64)
    lam = torch.tensor([[[0.6]], [[0.3]]], dtype=torch.float64)
    q = Normal(lam * h + (1 - lam) * mu, (1 - lam) * sigma)
    x = q.sample((400_000,))
    mc = (q.log_prob(x) - Normal(mu, sigma).log_prob(x)).mean(0)
    torch.testing.assert_close(gate_kl(h, lam, mu, sigma), mc, atol=0.01, rtol=0.01)


def test_laplace_kl_monte_carlo():
    mq = torch.tensor([0.0, 1.0, -2.0, 0.3], dtype=torch.float64)
    sq = torch.tensor([1.0, 0.2, 1.5, 0.05], dtype=torch.float64)
    loc = torch.tensor([0.0, 0.5, 0.0, 0.3], dtype=torch.float64)
    scale = torch.tensor([1.0, 0.7, 2.0, 0.4], dtype=torch.float64)
    q = Normal(mq, sq)
    x = q.sample((400_000,))
    mc = (q.log_prob(x) - Laplace(loc, scale).log_prob(x)).mean(0)
    torch.testing.assert_close(laplace_kl(mq, sq, loc, scale), mc, atol=0.01, rtol=0.01)
    assert (laplace_kl(mq, sq, loc, scale) > 0).all()


def test_priors_are_checked():
    assert check_prior(" Gaussian ") == "gaussian"
    assert check_prior("laplace") == "laplace"
    with pytest.raises(MspectmolError, match="support x > 0"):
        check_prior("gamma")
    with pytest.raises(MspectmolError, match="unknown prior"):
        check_prior("cauchy")


def test_noise_statistics_are_detached_per_sample_and_channel():
    h = torch.randn(3, 20, 5, requires_grad=True)
    mu, sigma = noise_statistics(h)
    assert mu.shape == sigma.shape == (3, 1, 5)
    assert not mu.requires_grad and not sigma.requires_grad
    torch.testing.assert_close(mu[1, 0, 2], h[1, :, 2].mean().detach())
    torch.testing.assert_close(sigma[2, 0, 4], h[2, :, 4].std(correction=0).detach())


def test_relaxed_bernoulli_keeps_with_probability_p():
    logits = torch.tensor([-2.0, 0.0, 1.0, 3.0])
    lam = relaxed_bernoulli(logits.expand(100_000, 4), temperature=1.0)
    assert ((lam > 0) & (lam < 1)).all()
    # P(lambda > 1/2) = P(logit + Logistic > 0) = sigmoid(logit)
    torch.testing.assert_close((lam > 0.5).float().mean(0), torch.sigmoid(logits), atol=0.01,
                               rtol=0)
    cold = relaxed_bernoulli(logits.expand(100_000, 4), temperature=0.1)
    near_binary = lambda v: ((v < 0.05) | (v > 0.95)).float().mean()  # noqa: E731
    assert near_binary(cold) > near_binary(lam) + 0.3
    with pytest.raises(MspectmolError, match="temperature"):
        relaxed_bernoulli(logits, temperature=0.0)


def test_closed_gate_gives_gaussian_noise_with_statistics_of_h_and_no_gradient():
    h = (torch.rand(64, 150, 8) * 3 + torch.arange(8.0)).requires_grad_(True)
    res = apply_gate(h, torch.full((64, 150), -1e4), stochastic=True)
    assert res.lam.max() < 1e-6
    mu, sigma = noise_statistics(h)
    t = res.features.detach()
    z = (t - mu) / sigma
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    # Gaussian, not uniform: kurtosis 3 (uniform: 1.8), 4.55% beyond 2 sigma (uniform: 0)
    assert abs((z**4).mean() - 3.0) < 0.15
    assert abs((z.abs() > 2).float().mean() - 0.0455) < 0.005
    # per-sample, per-channel statistics over bands follow those of h
    torch.testing.assert_close(t.mean(1, keepdim=True), mu, atol=0.35 * sigma.max(), rtol=0)
    res.features.sum().backward()
    assert torch.count_nonzero(h.grad) == 0  # mu and sigma are detached


def test_open_gate_gradient_is_lambda():
    h = torch.randn(4, 30, 6, requires_grad=True)
    res = apply_gate(h, torch.randn(4, 30), stochastic=True)
    res.features.sum().backward()
    torch.testing.assert_close(h.grad, res.lam.unsqueeze(-1).expand_as(h).detach())


def test_eval_gate_is_deterministic_mean_field():
    h = torch.randn(5, 12, 4)
    logits = torch.randn(5, 12)
    a = apply_gate(h, logits, stochastic=False, compute_kl=True)
    b = apply_gate(h, logits, stochastic=False)
    torch.testing.assert_close(a.features, b.features)
    mu, sigma = noise_statistics(h)
    p = torch.sigmoid(logits).unsqueeze(-1)
    torch.testing.assert_close(a.features, mu + p * (h - mu))
    torch.testing.assert_close(a.lam, a.prob)
    assert a.kl.shape == (5,) and b.kl is None
    torch.testing.assert_close(inject_noise(h, p, mu, sigma, noise=False), a.features)


def test_training_gate_is_stochastic_and_kl_is_per_sample_sum():
    h = torch.randn(3, 10, 4)
    logits = torch.randn(3, 10)
    a = apply_gate(h, logits, stochastic=True, compute_kl=True, prior="laplace")
    b = apply_gate(h, logits, stochastic=True)
    assert not torch.equal(a.features, b.features)
    mu, sigma = noise_statistics(h)
    expected = gate_kl(h, a.lam.unsqueeze(-1), mu, sigma, "laplace").sum(dim=(1, 2))
    torch.testing.assert_close(a.kl, expected)


def test_band_gate_shapes():
    gate = BandGate(12, 8)
    assert gate(torch.randn(2, 30, 12)).shape == (2, 30)


@pytest.mark.parametrize("grad", [False, True])
def test_band_gate_parts_equal_the_concatenation(grad):
    gate = BandGate(3 * 4, 5)
    parts = [torch.randn(2, 7, 4) for _ in range(3)]
    with torch.no_grad():
        want = gate(torch.cat(parts, dim=-1))
    with torch.set_grad_enabled(grad):
        got = gate.forward_parts(parts)
    assert got.shape == (2, 7)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert got.requires_grad == grad


def test_band_gate_parts_must_cover_the_input():
    gate = BandGate(3 * 4, 5)
    with torch.no_grad(), pytest.raises(MspectmolError, match="8 features"):
        gate.forward_parts([torch.randn(2, 7, 4)] * 2)


def test_eval_gate_statistics_carry_no_gradient():
    h = torch.randn(2, 5, 3, requires_grad=True)
    logits = torch.randn(2, 5)
    apply_gate(h, logits, stochastic=False).features.sum().backward()
    want = torch.sigmoid(logits).unsqueeze(-1).expand_as(h)
    torch.testing.assert_close(h.grad, want)
