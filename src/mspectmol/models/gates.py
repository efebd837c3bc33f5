"""Per-band information-bottleneck gates and their KL terms (paper eq. 6-8, 12-13, 22-28).

A gate turns a feature matrix ``H`` of shape ``(batch, n_bands, channels)`` into the
bottleneck ``T`` (eq. 7)::

    T_i = lambda_i * H_i + (1 - lambda_i) * eps,    eps ~ N(mu, sigma^2)

where ``lambda_i`` is a relaxed Bernoulli sample of the band's keep probability
``p_i = sigmoid(MLP(...))`` (eq. 6, 8).

Choices, and why
----------------
* **Noise statistics.** ``mu`` and ``sigma`` are the mean and population standard deviation of
  ``H`` over the bands, per sample and per channel, and are *detached* (no gradient flows into
  them). Eq. 7 calls them "mean and variance of H^m", and ``H^m`` is one spectrum's
  (bands x channels) matrix; CGIB (Lee et al. 2023) computes them the same way, per graph over
  its nodes and per feature (one spectrum = one graph, bands = nodes, channels = features).
  Per-sample statistics also make a prediction independent of which other spectra share its batch.
* **Gaussian noise.** ``eps`` is drawn with ``randn`` as eq. 7 says (VGIB and CGIB draw it
  with ``rand_like``, a uniform, which an open VGIB issue reports as a bug).
* **Relaxed Bernoulli.** ``lambda = sigmoid((logit + log u - log(1 - u)) / t)``,
  ``u ~ U(1e-4, 1 - 1e-4)``: the binary Concrete of Maddison et al. (2016), as in VGIB/CGIB.
  The paper's eq. 8 divides only the logit by ``t``; both agree at the paper's ``t = 1.0``.
* **Inference.** In eval mode the gate is deterministic and noise-free: ``lambda = p`` and the
  noise is replaced by its mean, ``T = mu + p * (H - mu)`` (the mean-field value of ``T``, like
  dropout's rescaling at test time; a hard threshold would change the scale the head was
  trained on).
* **KL.** The posterior of one element is ``N(m, s^2)`` with ``m = lambda*h + (1-lambda)*mu`` and
  ``s = (1-lambda)*sigma``; against the prior ``N(mu, sigma^2)`` the closed form, log term
  included, is ``log(sigma/s) + (s^2 + (m - mu)^2) / (2 sigma^2) - 1/2``. ``1 - lambda`` is
  floored at :data:`MIN_NOISE_FRACTION` inside the KL only, so the term stays finite when a
  gate opens fully (VGIB/CGIB drop the log term and the 1/2; we do not).
* **Priors** (appendix L). ``"gaussian"`` (the paper's choice) and ``"laplace"``, a Laplace
  prior with the same location and variance (scale ``sigma / sqrt(2)``), whose KL from a
  Gaussian posterior is also closed-form. A Gamma prior is refused: its support is ``x > 0``,
  so the KL from any Gaussian posterior is infinite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError

#: Priors :func:`gate_kl` supports.
PRIORS = ("gaussian", "laplace")
#: Uniform draws for the relaxed Bernoulli stay in ``[U_EPS, 1 - U_EPS]`` (as VGIB/CGIB).
U_EPS = 1e-4
#: Floor of ``1 - lambda`` inside the KL (keeps the posterior std away from 0).
MIN_NOISE_FRACTION = 1e-4
#: Floor of the feature standard deviation (a channel that is constant over all bands).
MIN_SIGMA = 1e-6


def check_prior(prior: str) -> str:
    """Return ``prior`` lower-cased, or raise when it is not supported.

    Raises
    ------
    MspectmolError
        For an unknown prior, or ``"gamma"`` (infinite KL from a Gaussian posterior).
    """
    name = str(prior).strip().lower()
    if name == "gamma":
        raise MspectmolError(
            "prior 'gamma' is not supported: a Gamma prior has support x > 0, so its KL from "
            "the Gaussian posterior of the gate noise model is infinite; use 'gaussian' "
            "(the paper's choice) or 'laplace'"
        )
    if name not in PRIORS:
        raise MspectmolError(f"unknown prior {prior!r}; supported priors: {', '.join(PRIORS)}")
    return name


def noise_statistics(h: Tensor) -> tuple[Tensor, Tensor]:
    """Detached per-sample, per-channel mean and std of ``h`` over the bands.

    Parameters
    ----------
    h
        Features, shape ``(batch, n_bands, channels)``.

    Returns
    -------
    tuple of Tensor
        ``(mu, sigma)``, each ``(batch, 1, channels)``; ``sigma`` is the population standard
        deviation floored at :data:`MIN_SIGMA`. Neither carries gradient.
    """
    mu = noise_mean(h)
    with torch.no_grad():  # two passes: ~8x faster than torch.std_mean over a strided dim
        sigma = (h - mu).square_().mean(dim=1, keepdim=True).sqrt_()
    return mu, sigma.clamp_min_(MIN_SIGMA)


def noise_mean(h: Tensor) -> Tensor:
    """Detached per-sample, per-channel mean of ``h`` ``(batch, n_bands, channels)`` over the
    bands, ``(batch, 1, channels)``: the noise mean, and all the deterministic path needs."""
    return h.detach().mean(dim=1, keepdim=True)


def relaxed_bernoulli(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Differentiable keep-gate sample ``lambda`` in (0, 1) for each logit (binary Concrete).

    Parameters
    ----------
    logits
        ``log(p / (1 - p))`` of the keep probability, any shape.
    temperature
        ``t > 0``; the paper uses 1.0.
    """
    if not temperature > 0:
        raise MspectmolError(f"gate temperature must be > 0, got {temperature!r}")
    u = torch.rand_like(logits).mul_(1.0 - 2.0 * U_EPS).add_(U_EPS)
    logistic = torch.log(u) - torch.log1p(-u)
    return torch.sigmoid((logits + logistic) / temperature)


def inject_noise(h: Tensor, lam: Tensor, mu: Tensor, sigma: Tensor | None, *,
                 noise: bool = True) -> Tensor:
    """Eq. 7: ``lam * h + (1 - lam) * eps`` with ``eps ~ N(mu, sigma^2)``.

    Parameters
    ----------
    h
        Features ``(batch, n_bands, channels)``.
    lam
        Gate values broadcastable to ``h``, e.g. ``(batch, n_bands, 1)``.
    mu, sigma
        Noise statistics broadcastable to ``h`` (see :func:`noise_statistics`); ``sigma`` may
        be None without ``noise``.
    noise
        If False, ``eps`` is replaced by its mean ``mu`` (the deterministic inference path).
    """
    mean = torch.addcmul(mu, lam, h - mu)
    if not noise:
        return mean
    if sigma is None:
        raise MspectmolError("noise needs its standard deviation sigma")
    return torch.addcmul(mean, (1.0 - lam) * sigma, torch.randn_like(h))


def gaussian_kl(mean_q: Tensor, std_q: Tensor, mean_p: Tensor, std_p: Tensor) -> Tensor:
    """Elementwise ``KL(N(mean_q, std_q^2) || N(mean_p, std_p^2))`` in closed form."""
    ratio = std_q / std_p
    return (-torch.log(ratio) + 0.5 * ratio.square()
            + 0.5 * ((mean_q - mean_p) / std_p).square() - 0.5)


def laplace_kl(mean_q: Tensor, std_q: Tensor, loc_p: Tensor, scale_p: Tensor) -> Tensor:
    """Elementwise ``KL(N(mean_q, std_q^2) || Laplace(loc_p, scale_p))`` in closed form.

    Uses ``E|X - loc| = s sqrt(2/pi) exp(-d^2 / 2 s^2) + d erf(d / (s sqrt 2))`` for
    ``X ~ N(loc + d, s^2)``.
    """
    d = mean_q - loc_p
    abs_mean = (std_q * math.sqrt(2.0 / math.pi) * torch.exp(-0.5 * (d / std_q).square())
                + d * torch.erf(d / (std_q * math.sqrt(2.0))))
    neg_entropy = -0.5 * math.log(2.0 * math.pi * math.e) - torch.log(std_q)
    return neg_entropy + torch.log(2.0 * scale_p) + abs_mean / scale_p


def gate_kl(h: Tensor, lam: Tensor, mu: Tensor, sigma: Tensor, prior: str = "gaussian"
            ) -> Tensor:
    """Elementwise KL of the gate's noise model ``N(m, s^2)`` against the prior.

    ``m = lam * h + (1 - lam) * mu`` and ``s = max(1 - lam, MIN_NOISE_FRACTION) * sigma``; the
    prior is ``N(mu, sigma^2)`` or, for ``"laplace"``, ``Laplace(mu, sigma / sqrt 2)``.

    Returns
    -------
    Tensor
        Same shape as ``h`` (broadcast); sum or average it as the loss needs.
    """
    prior = check_prior(prior)
    mean_q = torch.addcmul(mu, lam, h - mu)
    std_q = (1.0 - lam).clamp_min(MIN_NOISE_FRACTION) * sigma
    if prior == "laplace":
        return laplace_kl(mean_q, std_q, mu, sigma / math.sqrt(2.0))
    return gaussian_kl(mean_q, std_q, mu, sigma)


class BandGate(nn.Module):
    """Gate MLP (eq. 6): features of each band -> keep logit ``log(p / (1 - p))``.

    Parameters
    ----------
    in_features
        Features per band (``C`` for a primary gate, ``3C`` for ``H^m || H^a || T^m``).
    hidden
        Hidden units of the two-layer MLP.
    """

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_bands, in_features)`` -> logits ``(batch, n_bands)``."""
        return self.mlp(x).squeeze(-1)

    def forward_parts(self, parts: Sequence[Tensor]) -> Tensor:
        """Logits of the concatenation of ``parts`` along their last axis.

        Without gradients the first layer is applied part by part (a sum of matrix products
        over column blocks of its weight), so the concatenated input (``3C`` features per
        band for an auxiliary gate) is never built: same values to float rounding, about
        3x faster on CPU. With gradients it is ``forward(torch.cat(parts, -1))``.
        """
        if torch.is_grad_enabled():
            return self(torch.cat(tuple(parts), dim=-1))
        first, *rest = self.mlp
        shape = parts[0].shape[:-1]
        hidden = first.bias.expand(math.prod(shape), -1)
        start = 0
        for part in parts:
            width = part.shape[-1]
            block = first.weight[:, start:start + width]
            hidden = torch.addmm(hidden, part.reshape(-1, width), block.t())
            start += width
        if start != first.in_features:
            raise MspectmolError(f"gate parts have {start} features in all, the gate "
                                 f"{first.in_features}")
        for layer in rest:
            hidden = layer(hidden)
        return hidden.view(*shape)


@dataclass
class GateResult:
    """What one gate produces.

    Attributes
    ----------
    features
        The bottleneck ``T``, ``(batch, n_bands, channels)``.
    prob
        Keep probabilities ``p``, ``(batch, n_bands)`` (the interpretability map).
    lam
        Gate values used, ``(batch, n_bands)`` (sampled in training, ``p`` at inference).
    kl
        Per-sample KL summed over bands and channels, ``(batch,)``; None unless requested.
    """

    features: Tensor
    prob: Tensor
    lam: Tensor
    kl: Tensor | None


def apply_gate(h: Tensor, logits: Tensor, *, stochastic: bool, temperature: float = 1.0,
               compute_kl: bool = False, prior: str = "gaussian") -> GateResult:
    """Compress ``h`` into ``T`` with per-band gates (eq. 7-8).

    Parameters
    ----------
    h
        Contiguous features ``(batch, n_bands, channels)``.
    logits
        Gate logits ``(batch, n_bands)``.
    stochastic
        True in training: sample ``lambda`` and Gaussian noise. False: ``lambda = p``, no noise.
    temperature
        Relaxed-Bernoulli temperature.
    compute_kl
        Also return the per-sample KL (:func:`gate_kl` summed over bands and channels).
    prior
        Prior of the KL, see :data:`PRIORS`.
    """
    prob = torch.sigmoid(logits)
    lam = relaxed_bernoulli(logits, temperature) if stochastic else prob
    lam3 = lam.unsqueeze(-1)
    if stochastic or compute_kl:
        mu, sigma = noise_statistics(h)
    else:  # the deterministic path needs no standard deviation
        mu, sigma = noise_mean(h), None
    features = inject_noise(h, lam3, mu, sigma, noise=stochastic)
    kl = gate_kl(h, lam3, mu, sigma, prior).sum(dim=(1, 2)) if compute_kl else None
    return GateResult(features=features, prob=prob, lam=lam, kl=kl)
