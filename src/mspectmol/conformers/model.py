"""Spectrum-conditioned denoiser of the conformer diffusion model (appendix S.4).

Components
----------
* Spectrum encoder, one of three (:attr:`ConformerConfig.spectrum_encoder`):
  ``"pa_ib"`` (the paper's: one convolutional encoder per modality, the primary gated on its
  own features and each auxiliary gated on ``[H_m, H_a, T_m]``, eq. 7-8, with the IB KL terms),
  ``"attention"`` (the paper's "Attention" column: the same convolutional encoders, their band
  features pooled by multi-head attention with a learned query, no gates) and ``"none"`` (the
  spectrum-free variant).
* ``h_s = MLP(h_spec || t_emb)`` (eq. 31), added to every atom's embedding.
* Dual geometric encoders, both starting from those node features: a SchNet-style global
  encoder (continuous-filter convolutions of :mod:`torch_geometric`'s SchNet over the radius
  graph and the local edges) and a GIN-style local encoder (``GINEConv`` over bonds and
  2/3-hop edges, with bond-type and distance edge features).
* Pair heads that predict the distance-space noise of each global and each local edge from the
  symmetric pair features ``[h_i + h_j, h_i * h_j, rbf(d_ij)]``, added to a skip term
  ``sqrt(1 - a_t) d_ij`` (at high noise the noise along an edge is nearly ``d_ij`` itself,
  which the network then need not reproduce through its saturating radial basis).

Every geometric input is an interatomic distance, so the outputs are invariant to rotations,
translations and reflections of the input coordinates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINEConv
from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock

from mspectmol.conformers.graph import (
    ATOM_TYPES,
    N_PAIR_TYPES,
    GraphBatch,
    edge_mask,
    pair_geometry,
)
from mspectmol.conformers.schedule import cosine_alpha_bar
from mspectmol.errors import ConfigError
from mspectmol.models.encoders import SpectrumEncoder, encoded_length
from mspectmol.models.gates import BandGate, apply_gate
from mspectmol.spectra.modalities import get_modality

SPECTRUM_ENCODERS = ("pa_ib", "attention", "none")


@dataclass
class ConformerConfig:
    """Hyper-parameters of :class:`ConformerDenoiser` and its diffusion (JSON-serialisable).

    Attributes
    ----------
    spectrum_encoder
        ``"pa_ib"``, ``"attention"`` or ``"none"`` (see the module docstring).
    primary, auxiliary
        Conditioning modalities: the primary spectrum and the auxiliary ones (e.g. IR + (Raman)
        or Raman + (IR)). Ignored by ``"none"``.
    n_points, channels, kernel_size, gate_hidden
        Spectrum encoder settings (as in :class:`mspectmol.models.pa_ib.PAIBConfig`).
    spec_hidden
        Width of ``h_spec`` and of the timestep embedding.
    hidden, n_global_layers, n_local_layers, n_gaussians, cutoff
        Graph encoders: node width, layers, radial basis size and the radius-graph cutoff (A).
    n_steps
        Diffusion steps ``T`` (cosine schedule), used for training and for sampling from noise.
    lambda_global, lambda_local
        Loss weights of eq. 32.
    ib_weight
        Weight of the PA-IB KL terms (per band and channel).
    refine_t_start
        Step from which refinement mode starts the reverse process at an ETKDG + MMFF geometry
        (chosen on the validation molecules by the training script; 0 = not chosen).
    """

    spectrum_encoder: str = "pa_ib"
    primary: str = "ir"
    auxiliary: tuple[str, ...] = ("raman",)
    n_points: int = 600
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 11
    gate_hidden: int = 32
    spec_hidden: int = 64
    hidden: int = 96
    n_global_layers: int = 3
    n_local_layers: int = 3
    n_gaussians: int = 32
    cutoff: float = 6.0
    n_steps: int = 50
    lambda_global: float = 1.0
    lambda_local: float = 1.0
    ib_weight: float = 1e-3
    refine_t_start: int = 0

    def __post_init__(self) -> None:
        if self.spectrum_encoder not in SPECTRUM_ENCODERS:
            raise ConfigError(f"spectrum_encoder must be one of {SPECTRUM_ENCODERS}, got "
                              f"{self.spectrum_encoder!r}")
        self.primary = get_modality(self.primary).name
        self.auxiliary = tuple(get_modality(m).name for m in self.auxiliary)
        self.channels = tuple(int(c) for c in self.channels)
        if self.primary in self.auxiliary:
            raise ConfigError(f"the primary {self.primary!r} is also an auxiliary modality")
        for name in ("hidden", "spec_hidden", "n_gaussians", "n_steps", "n_points"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"ConformerConfig.{name} must be positive")
        if self.cutoff <= 0:
            raise ConfigError("ConformerConfig.cutoff must be positive")

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities the model reads (none for the spectrum-free variant)."""
        return () if self.spectrum_encoder == "none" else (self.primary, *self.auxiliary)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["auxiliary"], out["channels"] = list(self.auxiliary), list(self.channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown conformer model settings: {sorted(unknown)}")
        kw = dict(data)
        for key in ("auxiliary", "channels"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


def timestep_embedding(t: Tensor, dim: int, n_steps: int) -> Tensor:
    """Sinusoidal embedding of integer steps ``t`` ``(B,)`` -> ``(B, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    arg = (t.float() / n_steps * 1000.0).unsqueeze(-1) * freqs
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)
    return nn.functional.pad(emb, (0, dim - 2 * half))


class PAIBSpectrumEncoder(nn.Module):
    """PA-IB encoder of :class:`mspectmol.models.pa_ib.PAIBModel` without its classifier heads."""

    def __init__(self, cfg: ConformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = cfg.channels[-1]
        flat = encoded_length(cfg.n_points, len(cfg.channels)) * width
        self.encoders = nn.ModuleDict({m: SpectrumEncoder(1, cfg.channels, cfg.kernel_size)
                                       for m in cfg.modalities})
        self.gates = nn.ModuleDict({cfg.primary: BandGate(width, cfg.gate_hidden)})
        for m in cfg.auxiliary:
            self.gates[m] = BandGate(3 * width, cfg.gate_hidden)
        self.readouts = nn.ModuleDict({
            m: nn.Sequential(nn.Flatten(1), nn.Linear(flat, cfg.spec_hidden), nn.SiLU())
            for m in cfg.modalities})
        self.out = nn.Linear(cfg.spec_hidden * len(cfg.modalities), cfg.spec_hidden)
        self.kl_size = flat

    def forward(self, spectra: dict[str, Tensor], available: dict[str, Tensor]
                ) -> tuple[Tensor, Tensor]:
        """``(h_spec (B, spec_hidden), kl (B,))``; KL summed over modalities, per element."""
        cfg = self.cfg
        opts = {"stochastic": self.training, "compute_kl": self.training}
        h_m = self.encoders[cfg.primary](spectra[cfg.primary].unsqueeze(1)).transpose(1, 2)
        h_m = h_m.contiguous()
        res = {cfg.primary: apply_gate(h_m, self.gates[cfg.primary](h_m), **opts)}
        t_m = res[cfg.primary].features
        for m in cfg.auxiliary:
            h_a = self.encoders[m](spectra[m].unsqueeze(1)).transpose(1, 2).contiguous()
            res[m] = apply_gate(h_a, self.gates[m](torch.cat((h_m, h_a, t_m), dim=-1)), **opts)
        z = [self.readouts[m](res[m].features) * available[m].unsqueeze(1).float()
             for m in cfg.modalities]
        kl = torch.zeros(h_m.shape[0])
        if self.training:
            kl = sum(res[m].kl * available[m].float() for m in cfg.modalities) / self.kl_size
        return self.out(torch.cat(z, dim=1)), kl


class AttentionSpectrumEncoder(nn.Module):
    """Band features of every modality pooled by multi-head attention with a learned query."""

    def __init__(self, cfg: ConformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = cfg.channels[-1]
        n_bands = encoded_length(cfg.n_points, len(cfg.channels))
        self.encoders = nn.ModuleDict({m: SpectrumEncoder(1, cfg.channels, cfg.kernel_size)
                                       for m in cfg.modalities})
        self.position = nn.Parameter(torch.zeros(len(cfg.modalities), n_bands, width))
        nn.init.normal_(self.position, std=0.02)
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.1)
        self.attention = nn.MultiheadAttention(width, num_heads=4, batch_first=True)
        self.out = nn.Sequential(nn.Linear(width, cfg.spec_hidden), nn.SiLU())

    def forward(self, spectra: dict[str, Tensor], available: dict[str, Tensor]
                ) -> tuple[Tensor, Tensor]:
        tokens, pad = [], []
        for k, m in enumerate(self.cfg.modalities):
            h = self.encoders[m](spectra[m].unsqueeze(1)).transpose(1, 2) + self.position[k]
            tokens.append(h)
            pad.append((~available[m]).unsqueeze(1).expand(-1, h.shape[1]))
        keys = torch.cat(tokens, dim=1)
        query = self.query.expand(keys.shape[0], -1, -1)
        pooled, _ = self.attention(query, keys, keys, key_padding_mask=torch.cat(pad, dim=1))
        return self.out(pooled.squeeze(1)), torch.zeros(keys.shape[0])


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))


class ConformerDenoiser(nn.Module):
    """Predicts the distance-space noise of the local and global edges of noisy conformers."""

    def __init__(self, config: ConformerConfig | None = None) -> None:
        super().__init__()
        cfg = config or ConformerConfig()
        self.config = cfg
        h = cfg.hidden
        self.spectrum = None
        if cfg.spectrum_encoder == "pa_ib":
            self.spectrum = PAIBSpectrumEncoder(cfg)
        elif cfg.spectrum_encoder == "attention":
            self.spectrum = AttentionSpectrumEncoder(cfg)
        spec_in = cfg.spec_hidden * (2 if self.spectrum is not None else 1)
        self.condition = _mlp(spec_in, cfg.spec_hidden, h)  # eq. 31
        self.atom_embedding = nn.Embedding(len(ATOM_TYPES) + 1, h)
        self.rbf = GaussianSmearing(0.0, cfg.cutoff, cfg.n_gaussians)
        self.pair_type_embedding = nn.Embedding(N_PAIR_TYPES, h)
        self.global_blocks = nn.ModuleList(
            InteractionBlock(h, cfg.n_gaussians, h, cfg.cutoff) for _ in range(cfg.n_global_layers))
        self.global_edge = nn.Linear(cfg.n_gaussians, cfg.n_gaussians)
        self.local_edge = nn.Linear(cfg.n_gaussians, h)
        self.local_blocks = nn.ModuleList(
            GINEConv(_mlp(h, h, h), edge_dim=h) for _ in range(cfg.n_local_layers))
        self.head_global = _mlp(2 * h + cfg.n_gaussians, h, 1)
        self.head_local = _mlp(3 * h + cfg.n_gaussians, h, 1)
        # skip connection: e_ij ~ d_ij(x_t) / sqrt(1 - a_t) when the noise dominates
        self._skip = (1 - cosine_alpha_bar(cfg.n_steps)).sqrt().float()

    def encode_spectra(self, spectra: dict[str, Tensor] | None,
                       available: dict[str, Tensor] | None) -> tuple[Tensor, Tensor] | None:
        """``(h_spec (B, spec_hidden), kl (B,))``, or None for the spectrum-free variant.

        The embedding does not depend on the diffusion step, so samplers compute it once.
        """
        if self.spectrum is None:
            return None
        if spectra is None or available is None:
            raise ConfigError(f"this model needs {', '.join(self.config.modalities)} spectra")
        return self.spectrum(spectra, available)

    def condition_embedding(self, t: Tensor, spectra: dict[str, Tensor] | None,
                            available: dict[str, Tensor] | None,
                            encoded: tuple[Tensor, Tensor] | None = None
                            ) -> tuple[Tensor, Tensor]:
        """``h_s`` per molecule ``(B, hidden)`` (eq. 31) and the IB KL ``(B,)``."""
        cfg = self.config
        t_emb = timestep_embedding(t, cfg.spec_hidden, cfg.n_steps)
        if self.spectrum is None:
            return self.condition(t_emb), torch.zeros(t.shape[0])
        h_spec, kl = encoded if encoded is not None else self.encode_spectra(spectra, available)
        return self.condition(torch.cat((h_spec, t_emb), dim=1)), kl

    def forward(self, pos: Tensor, graph: GraphBatch, t: Tensor,
                spectra: dict[str, Tensor] | None = None,
                available: dict[str, Tensor] | None = None,
                encoded: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
        """Predict the distance noise of each edge.

        Parameters
        ----------
        pos
            Noisy coordinates ``(N, 3)``.
        graph
            The molecules.
        t
            Diffusion step per molecule ``(B,)`` (1..T).
        spectra, available
            ``{modality: (B, n_points)}`` and ``{modality: (B,) bool}``.
        encoded
            Precomputed :meth:`encode_spectra` output (then ``spectra`` is not read).

        Returns
        -------
        dict
            ``dist`` ``(P,)`` pair distances, ``local``/``global`` masks over the pairs, ``pred``
            ``(P,)`` predicted noise (zero outside both masks) and ``kl`` ``(B,)``.
        """
        h_s, kl = self.condition_embedding(t, spectra, available, encoded)
        dist, _ = pair_geometry(pos, graph.pairs)
        local, glob = edge_mask(graph, dist, self.config.cutoff)
        rbf = self.rbf(dist)
        x0 = self.atom_embedding(graph.atom_type) + h_s[graph.batch]
        both = local | glob
        src, dst = graph.pairs[0][both], graph.pairs[1][both]
        g_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
        g_dist = dist[both].repeat(2)
        g_attr = self.global_edge(rbf[both]).repeat(2, 1)
        hg = x0
        for block in self.global_blocks:
            hg = hg + block(hg, g_index, g_dist, g_attr)
        l_attr_pair = self.pair_type_embedding(graph.pair_type[local]) + self.local_edge(rbf[local])
        ls, ld = graph.pairs[0][local], graph.pairs[1][local]
        l_index = torch.stack([torch.cat([ls, ld]), torch.cat([ld, ls])])
        l_attr = l_attr_pair.repeat(2, 1)
        hl = x0
        for conv in self.local_blocks:
            hl = hl + conv(nn.functional.silu(hl), l_index, l_attr)
        pred = torch.zeros_like(dist)
        gi, gj = graph.pairs[0][glob], graph.pairs[1][glob]
        pred_g = self.head_global(torch.cat([hg[gi] + hg[gj], hg[gi] * hg[gj], rbf[glob]], 1))
        pred_l = self.head_local(torch.cat([hl[ls] + hl[ld], hl[ls] * hl[ld], l_attr_pair,
                                            rbf[local]], 1))
        pred = pred.masked_scatter(glob, pred_g.squeeze(-1))
        pred = pred.masked_scatter(local, pred_l.squeeze(-1))
        pred = pred + (self._skip[t][graph.batch[graph.pairs[0]]] * dist) * (local | glob)
        return {"dist": dist, "local": local, "global": glob, "pred": pred, "kl": kl}
