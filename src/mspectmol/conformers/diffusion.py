"""Diffusion in coordinate space with noise predicted in distance space (appendix S.3-S.4).

Forward process (eq. 29): ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps`` with ``a_t`` the
cumulative product of ``1 - beta_t`` (:mod:`mspectmol.conformers.schedule`), coordinates in
Angstrom, centred, and ``eps`` centred per molecule.

Distance-space noise (GeoDiff style, Xu et al., 2022): the coordinate noise projected on each
edge direction of the noisy geometry, ``e_ij = (eps_i - eps_j) . (x_i - x_j) / d_ij``, the
first-order change of ``d_ij`` that the noise causes (per unit of ``sqrt(1 - a_t)``). The
network predicts ``e_ij`` for the global (radius) and local (bond, 2/3-hop) edges, trained with
eq. 32, ``lambda_g ||e_g - e_g_hat||^2 + lambda_l ||e_l - e_l_hat||^2`` (means over edges).

Back to coordinates (chain rule): ``e = J eps`` where ``J`` is the Jacobian of the edge
distances with respect to the coordinates, so the coordinate noise is the minimum-norm
least-squares solution ``eps_hat = J^+ e_hat`` (GeoDiff's ``eq_transform`` is ``J^T e_hat``;
the pseudo-inverse also gets the scale right and removes rigid motions).

Reverse process: eq. 30, ``x_{t-1} = (x_t - beta_t / sqrt(1 - a_t) eps_hat) / sqrt(1 - beta_t)
+ sigma_t eta`` with the posterior variance ``sigma_t^2 = beta_t (1 - a_{t-1}) / (1 - a_t)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mspectmol.conformers.graph import GraphBatch, centre, pair_geometry
from mspectmol.conformers.model import ConformerDenoiser
from mspectmol.conformers.schedule import Schedule, cosine_alpha_bar

__all__ = ["Schedule", "cosine_alpha_bar", "diffusion_loss", "reverse_diffusion",
           "denoising_error", "coordinate_noise", "distance_noise", "perturb"]


def noise_like(pos: Tensor, graph: GraphBatch, generator: torch.Generator | None = None) -> Tensor:
    """Gaussian noise shaped like ``pos``, centred per molecule."""
    eps = torch.randn(pos.shape, generator=generator, dtype=pos.dtype)
    return centre(eps, graph.batch, graph.n_graphs)


def distance_noise(eps: Tensor, pos_t: Tensor, pairs: Tensor) -> Tensor:
    """Projection of coordinate noise ``eps`` on the pair directions of ``pos_t``: ``J eps``."""
    _, unit = pair_geometry(pos_t, pairs)
    return ((eps[pairs[0]] - eps[pairs[1]]) * unit).sum(-1)


def perturb(x0: Tensor, graph: GraphBatch, t: Tensor, schedule: Schedule,
            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``(x_t, eps)`` for per-molecule steps ``t``."""
    eps = noise_like(x0, graph, generator)
    a = schedule.alpha_bar[t].to(x0.dtype)[graph.batch].unsqueeze(-1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps, eps


def diffusion_loss(model: ConformerDenoiser, x0: Tensor, graph: GraphBatch, schedule: Schedule,
                   spectra: dict[str, Tensor] | None = None,
                   available: dict[str, Tensor] | None = None, *,
                   t: Tensor | None = None, generator: torch.Generator | None = None
                   ) -> dict[str, Tensor]:
    """Eq. 32 (plus the PA-IB KL term) on a batch of reference conformers ``x0`` (centred)."""
    cfg = model.config
    if t is None:
        t = torch.randint(1, schedule.n_steps + 1, (graph.n_graphs,), generator=generator)
    x_t, eps = perturb(x0, graph, t, schedule, generator)
    out = model(x_t, graph, t, spectra, available)
    target = distance_noise(eps, x_t, graph.pairs)
    err = (out["pred"] - target) ** 2
    zero = err.sum() * 0
    loss_g = err[out["global"]].mean() if out["global"].any() else zero
    loss_l = err[out["local"]].mean() if out["local"].any() else zero
    kl = out["kl"].mean()
    total = cfg.lambda_global * loss_g + cfg.lambda_local * loss_l + cfg.ib_weight * kl
    return {"loss": total, "global": loss_g.detach(), "local": loss_l.detach(), "kl": kl.detach()}


def coordinate_noise(pred: Tensor, mask: Tensor, pos: Tensor, pairs: Tensor,
                     n_atoms: int, n_copies: int) -> Tensor:
    """Minimum-norm least-squares coordinate noise ``J^+ e_hat`` for copies of one molecule.

    ``pos`` holds ``n_copies`` consecutive copies of an ``n_atoms`` molecule, ``pairs`` their
    concatenated pair lists and ``mask`` the edges whose prediction is used.
    """
    _, unit_all = pair_geometry(pos.double(), pairs)
    per_copy = pairs.shape[1] // n_copies
    counts = mask.view(n_copies, per_copy).sum(1)
    if bool((counts == counts[0]).all()):  # same edge count in every copy: one batched solve
        groups = [list(range(n_copies))]
    else:
        groups = [[k] for k in range(n_copies)]
    out = torch.zeros(n_copies * n_atoms, 3, dtype=pos.dtype)
    for group in groups:
        jacs, rhs = [], []
        for k in group:
            sl = slice(k * per_copy, (k + 1) * per_copy)
            m = mask[sl]
            i, j = pairs[0, sl][m] - k * n_atoms, pairs[1, sl][m] - k * n_atoms
            u = unit_all[sl][m]
            rows = torch.arange(u.shape[0])
            jac = torch.zeros(u.shape[0], n_atoms, 3, dtype=torch.float64)
            jac[rows, i] += u
            jac[rows, j] -= u
            jacs.append(jac.view(u.shape[0], 3 * n_atoms))
            rhs.append(pred[sl][m].double())
        sol = torch.linalg.pinv(torch.stack(jacs), rtol=1e-6) @ torch.stack(rhs).unsqueeze(-1)
        for row, k in enumerate(group):
            out[k * n_atoms:(k + 1) * n_atoms] = sol[row].view(n_atoms, 3).to(pos.dtype)
    return out


@torch.no_grad()
def reverse_diffusion(model: ConformerDenoiser, graph: GraphBatch, n_atoms: int,
                      spectra: dict[str, Tensor] | None, available: dict[str, Tensor] | None,
                      *, start: Tensor | None = None, t_start: int | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
    """Sample conformers with eq. 30 for ``graph.n_graphs`` copies of one molecule.

    Parameters
    ----------
    start
        Initial coordinates ``(N, 3)`` for refinement: noised to step ``t_start`` with eq. 29
        and denoised from there. None: start from Gaussian noise at ``T``.
    t_start
        First step of the reverse process (default ``T``).
    """
    schedule = Schedule(model.config.n_steps)
    t0 = schedule.n_steps if t_start is None else int(t_start)
    n_copies = graph.n_graphs
    if start is None:
        x = noise_like(torch.zeros(graph.batch.shape[0], 3), graph, generator)
    else:
        x0 = centre(start.float(), graph.batch, n_copies)
        t_vec = torch.full((n_copies,), t0, dtype=torch.long)
        x = perturb(x0, graph, t_vec, schedule, generator)[0] if t0 > 0 else x0
    encoded = model.encode_spectra(spectra, available)
    for t in range(t0, 0, -1):
        t_vec = torch.full((n_copies,), t, dtype=torch.long)
        out = model(x, graph, t_vec, spectra, available, encoded)
        mask = out["local"] | out["global"]
        eps = coordinate_noise(out["pred"], mask, x, graph.pairs, n_atoms, n_copies)
        eps = centre(eps, graph.batch, n_copies)
        beta, abar = float(schedule.beta[t]), float(schedule.alpha_bar[t])
        x = (x - beta / math.sqrt(1 - abar) * eps) / math.sqrt(1 - beta)
        if t > 1:
            x = x + float(schedule.sigma[t]) * noise_like(x, graph, generator)
    return x


@torch.no_grad()
def denoising_error(model: ConformerDenoiser, pos: Tensor, graph: GraphBatch,
                    spectra: dict[str, Tensor] | None, available: dict[str, Tensor] | None,
                    steps: tuple[int, ...], n_draws: int = 4, seed: int = 0) -> Tensor:
    """Per-molecule mean squared distance-noise error at the given steps (the SDF score).

    Lower means the model finds the conformer more plausible given the graph and spectra.
    Seeded, so the same conformer always gets the same score.
    """
    schedule = Schedule(model.config.n_steps)
    gen = torch.Generator().manual_seed(seed)
    x0 = centre(pos.float(), graph.batch, graph.n_graphs)
    total = torch.zeros(graph.n_graphs)
    pair_batch = graph.batch[graph.pairs[0]]
    encoded = model.encode_spectra(spectra, available)
    for t in steps:
        for _ in range(n_draws):
            t_vec = torch.full((graph.n_graphs,), int(t), dtype=torch.long)
            x_t, eps = perturb(x0, graph, t_vec, schedule, gen)
            out = model(x_t, graph, t_vec, spectra, available, encoded)
            mask = (out["local"] | out["global"]).float()
            err = (out["pred"] - distance_noise(eps, x_t, graph.pairs)) ** 2 * mask
            num = torch.zeros(graph.n_graphs).index_add_(0, pair_batch, err)
            den = torch.zeros(graph.n_graphs).index_add_(0, pair_batch, mask).clamp_min(1)
            total += num / den
    return total / (len(steps) * n_draws)
