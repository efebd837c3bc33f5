"""Noise schedule of the conformer diffusion: cosine ``alpha_bar`` with capped ``beta``.

The cosine schedule of Nichol & Dhariwal (2021) ends with ``beta_T`` near 1, where eq. 30
divides by ``sqrt(1 - beta_T)`` and so multiplies any error of the predicted noise by ~30; here
``beta`` is capped at :data:`MAX_BETA` (0.5), which leaves ``sqrt(alpha_bar_T)`` below 0.02.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MAX_BETA = 0.5


def cosine_alpha_bar(n_steps: int, s: float = 0.008) -> Tensor:
    """``a_t`` for ``t = 0..T`` (``a_0 = 1``), float64."""
    steps = torch.arange(n_steps + 1, dtype=torch.float64)
    f = torch.cos((steps / n_steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    betas = (1 - abar[1:] / abar[:-1]).clamp(max=MAX_BETA)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


class Schedule:
    """Noise schedule: ``alpha_bar[t]``, ``beta[t]`` and posterior ``sigma[t]`` for t = 1..T."""

    def __init__(self, n_steps: int) -> None:
        self.n_steps = int(n_steps)
        self.alpha_bar = cosine_alpha_bar(self.n_steps)
        beta = torch.zeros(self.n_steps + 1, dtype=torch.float64)
        beta[1:] = 1 - self.alpha_bar[1:] / self.alpha_bar[:-1]
        self.beta = beta
        var = torch.zeros_like(beta)
        var[1:] = beta[1:] * (1 - self.alpha_bar[:-1]) / (1 - self.alpha_bar[1:])
        self.sigma = var.sqrt()
