"""Transformer baselines over spectrum tokens (paper section 3: Klein et al., Wu et al.,
Alberts et al.).

All three turn every spectrum into a sequence of tokens of width ``d_model``, add a learned
position embedding (position of the token within its spectrum) and a learned modality
embedding, run the tokens of all modalities through one Transformer encoder (pre-norm layers,
GELU) with the tokens of missing modalities masked out as keys, mean-pool the available tokens
and predict the labels with a two-layer MLP head. They differ in how tokens are made:

``"transformer"`` (:class:`SpectrumTransformer`)
    Non-overlapping segments of ``segment`` points (10: 60 tokens per 600-point spectrum), each
    embedded by one linear layer; the spectra are used as preprocessed (eq. 3).
``"patch_transformer"`` (:class:`PatchTransformer`, after Wu et al. 2025)
    Each spectrum is divided by its maximum and every point discretised into one of ``n_bins``
    intensity tokens (100), embedded by a lookup table plus a within-patch position embedding;
    patches of ``patch`` points (8) attend within themselves (``local_layers`` encoder layers),
    each patch is summarised by the mean of its tokens, and the patch summaries attend to each
    other across patches and modalities. Wu et al. use d_model 512, 8 heads and 3200-point IR
    spectra (400 patches) with an encoder-decoder generating SMILES; here d_model 64, 4 heads,
    600 points (75 patches per spectrum) and a pooled classification head. Negative
    intensities fall in the lowest bin; an all-zero spectrum is all lowest-bin tokens.
``"linear_patch_transformer"`` (:class:`LinearPatchTransformer`, after Alberts et al. 2025)
    Each spectrum is z-scored over its non-zero values (mean and standard deviation of the
    non-zero points; zeros, i.e. empty regions, stay zero), cut into non-overlapping patches of
    ``patch`` points (25: 24 tokens per spectrum; Alberts et al. tried 25-150, default 125) and
    each patch embedded by one linear layer. Alberts et al. use a 6+6-layer encoder-decoder
    with d_model 512 to generate SMILES; here a 3-layer encoder with d_model 128 and a pooled
    classification head.

Sizes are chosen for a 2-core CPU; the configs expose every width. The defaults on three
600-point spectra have 84.9 k, 125.7 k and 425.8 k parameters and trained at about 240, 46 and
230 samples/s (forward + backward, batch 64, default dropouts) on one thread of a busy 2-core
machine. The patch Transformer is the slowest: its local attention runs over every one of the
1,800 points of three spectra.
Missing modalities: their spectra are zeroed by :func:`prepare_batch`, their tokens are masked
as attention keys and left out of the pooled mean, so the prediction does not depend on them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError
from mspectmol.models.encoders import prepare_batch
from mspectmol.models.fusion import (
    ConfigDictMixin,
    canonical_modalities,
    check_dropout,
    check_positive,
    head_block,
    param_dtype,
)
from mspectmol.models.registry import register_model


@dataclass
class TokenTransformerConfig(ConfigDictMixin):
    """Settings shared by the token Transformers.

    Attributes
    ----------
    modalities
        Modalities used, in token order.
    n_points
        Points per spectrum.
    d_model, n_heads, n_layers, ff_dim
        Width, attention heads, encoder layers (across all tokens) and feed-forward width.
    dropout
        Dropout in the encoder layers (after attention and feed-forward) and the head.
    attention_dropout
        Dropout on the attention weights (0 by default: on CPU any non-zero value forces
        PyTorch's unfused attention and made training 1.4-2.5x slower in our measurements).
    head_hidden
        Hidden units of the MLP head.
    n_labels
        Functional-group labels (37).
    """

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    n_points: int = 600
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    ff_dim: int = 128
    dropout: float = 0.1
    attention_dropout: float = 0.0
    head_hidden: int = 128
    n_labels: int = 37

    #: Name of the field holding the points per token (set by each model's config).
    token_field: ClassVar[str] = ""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not self.token_field:
            raise MspectmolError(f"{owner} is a base class: use TransformerConfig, "
                                 "PatchTransformerConfig or LinearPatchTransformerConfig")
        self.modalities = canonical_modalities(self.modalities, owner)
        check_positive(owner, n_points=self.n_points, d_model=self.d_model,
                       n_heads=self.n_heads, n_layers=self.n_layers, ff_dim=self.ff_dim,
                       head_hidden=self.head_hidden, n_labels=self.n_labels)
        check_dropout(owner, self.dropout)
        check_dropout(owner, self.attention_dropout)
        if self.d_model % self.n_heads:
            raise MspectmolError(f"{owner}.d_model ({self.d_model}) must be a multiple of "
                                 f"n_heads ({self.n_heads})")
        size = self.token_size
        check_positive(owner, **{self.token_field: size})
        if self.n_points % size:
            raise MspectmolError(f"{owner}: n_points ({self.n_points}) must be a multiple of "
                                 f"{self.token_field} ({size})")

    @property
    def token_size(self) -> int:
        """Points per token (segment or patch length)."""
        return int(getattr(self, self.token_field))

    @property
    def n_tokens(self) -> int:
        """Tokens (or patches) per spectrum."""
        return self.n_points // self.token_size


@dataclass
class TransformerConfig(TokenTransformerConfig):
    """:class:`SpectrumTransformer` settings: ``segment`` points per linear token."""

    segment: int = 10
    token_field: ClassVar[str] = "segment"


@dataclass
class PatchTransformerConfig(TokenTransformerConfig):
    """:class:`PatchTransformer` settings (Wu et al. 2025, sized for CPU).

    ``n_bins`` intensity tokens, ``patch`` points per patch, ``local_layers`` encoder layers
    within each patch; ``n_layers`` then counts the layers across patches.
    """

    n_bins: int = 100
    patch: int = 8
    local_layers: int = 1
    token_field: ClassVar[str] = "patch"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(type(self).__name__, local_layers=self.local_layers)
        if self.n_bins < 2:
            raise MspectmolError(f"PatchTransformerConfig.n_bins must be >= 2, got {self.n_bins}")


@dataclass
class LinearPatchTransformerConfig(TokenTransformerConfig):
    """:class:`LinearPatchTransformer` settings (Alberts et al. 2025, sized for CPU)."""

    d_model: int = 128
    n_layers: int = 3
    ff_dim: int = 256
    patch: int = 25
    token_field: ClassVar[str] = "patch"


def encoder_stack(cfg: TokenTransformerConfig, n_layers: int) -> nn.TransformerEncoder:
    """Pre-norm GELU Transformer encoder (batch first) with the config's widths and dropouts."""
    layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.ff_dim, cfg.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
    layer.self_attn.dropout = float(cfg.attention_dropout)
    return nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(cfg.d_model),
                                 enable_nested_tensor=False)


def masked_token_mean(tokens: Tensor, keep: Tensor) -> Tensor:
    """Mean of ``tokens (batch, n, d)`` over the positions where ``keep (batch, n)`` is True."""
    weights = keep.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def zscore_nonzero(x: Tensor) -> Tensor:
    """Z-score each row of ``x (batch, n)`` with the mean and std of its non-zero values.

    Zeros stay zero; a row with fewer than two distinct non-zero values is only centred.
    """
    nonzero = x != 0
    count = nonzero.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)
    mean = x.sum(dim=1, keepdim=True) / count
    var = torch.where(nonzero, x - mean, x.new_zeros(())).square().sum(dim=1, keepdim=True)
    std = (var / count).sqrt()
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return torch.where(nonzero, (x - mean) / std, x.new_zeros(()))


def intensity_tokens(x: Tensor, n_bins: int) -> Tensor:
    """Max-normalise each row and discretise it into ``n_bins`` integer intensity levels.

    ``round(clip(x / max(x), 0, 1) * (n_bins - 1))``; rows whose maximum is <= 0 give zeros.
    """
    peak = x.amax(dim=1, keepdim=True)
    scaled = torch.where(peak > 0, x / torch.where(peak > 0, peak, torch.ones_like(peak)),
                         x.new_zeros(()))
    return torch.round(scaled.clamp(0.0, 1.0) * (n_bins - 1)).long()


class _TokenTransformer(nn.Module, ABC):
    """Shared body: per-modality tokens -> embeddings -> encoder -> masked pool -> head."""

    def __init__(self, config: TokenTransformerConfig) -> None:
        super().__init__()
        cfg = config
        self.config = cfg
        d = cfg.d_model
        self.position = nn.Parameter(torch.zeros(cfg.n_tokens, d))
        self.modality = nn.Parameter(torch.zeros(len(cfg.modalities), d))
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.modality, std=0.02)
        self.encoder = encoder_stack(cfg, cfg.n_layers)
        self.head = head_block(d, cfg.head_hidden, cfg.n_labels, cfg.dropout)

    @abstractmethod
    def embed(self, x: Tensor) -> Tensor:
        """``(batch, n_points)`` -> token embeddings ``(batch, n_tokens, d_model)``."""

    def forward(self, spectra: Mapping[str, Tensor],
                available: Mapping[str, Tensor] | None = None) -> Tensor:
        """Logits ``(batch, n_labels)`` from ``{modality: (batch, n_points)}``.

        Absent modalities count as missing; every sample needs at least one available one.
        """
        cfg = self.config
        batch = prepare_batch(spectra, available, cfg.modalities, cfg.n_points,
                              dtype=param_dtype(self))
        parts, keep = [], []
        for i, name in enumerate(cfg.modalities):
            parts.append(self.embed(batch.spectra[name]) + self.position + self.modality[i])
            keep.append(batch.available[name].unsqueeze(1).expand(-1, cfg.n_tokens))
        tokens, mask = torch.cat(parts, dim=1), torch.cat(keep, dim=1)
        encoded = self.encoder(tokens, src_key_padding_mask=~mask)
        return self.head(masked_token_mean(encoded, mask))


class SpectrumTransformer(_TokenTransformer):
    """Transformer over linearly embedded spectrum segments (``"transformer"``)."""

    def __init__(self, config: TransformerConfig | None = None) -> None:
        cfg = config or TransformerConfig()
        super().__init__(cfg)
        self.patch_embed = nn.Linear(cfg.segment, cfg.d_model)

    def embed(self, x: Tensor) -> Tensor:
        cfg = self.config
        return self.patch_embed(x.reshape(x.shape[0], cfg.n_tokens, cfg.token_size))


class LinearPatchTransformer(_TokenTransformer):
    """Alberts et al.-style linear patch embedding of z-scored spectra."""

    def __init__(self, config: LinearPatchTransformerConfig | None = None) -> None:
        cfg = config or LinearPatchTransformerConfig()
        super().__init__(cfg)
        self.patch_embed = nn.Linear(cfg.patch, cfg.d_model)

    def embed(self, x: Tensor) -> Tensor:
        cfg = self.config
        z = zscore_nonzero(x)
        return self.patch_embed(z.reshape(x.shape[0], cfg.n_tokens, cfg.token_size))


class PatchTransformer(_TokenTransformer):
    """Wu et al.-style discretised intensities with attention within, then across patches."""

    def __init__(self, config: PatchTransformerConfig | None = None) -> None:
        cfg = config or PatchTransformerConfig()
        super().__init__(cfg)
        self.intensity = nn.Embedding(cfg.n_bins, cfg.d_model)
        self.in_patch = nn.Parameter(torch.zeros(cfg.patch, cfg.d_model))
        nn.init.normal_(self.in_patch, std=0.02)
        self.local = encoder_stack(cfg, cfg.local_layers)

    def embed(self, x: Tensor) -> Tensor:
        cfg: PatchTransformerConfig = self.config  # type: ignore[assignment]
        ids = intensity_tokens(x, cfg.n_bins).reshape(-1, cfg.patch)
        local = self.local(self.intensity(ids) + self.in_patch)
        return local.mean(dim=1).reshape(x.shape[0], cfg.n_tokens, cfg.d_model)


def _register() -> None:
    register_model("transformer", "neural", SpectrumTransformer, TransformerConfig,
                   title="Transformer",
                   description="Transformer over linearly embedded 10-point segments")
    register_model("patch_transformer", "neural", PatchTransformer, PatchTransformerConfig,
                   title="Wu et al.",
                   description="Wu et al. (2025): intensity tokens, attention within and "
                               "across 8-point patches")
    register_model("linear_patch_transformer", "neural", LinearPatchTransformer,
                   LinearPatchTransformerConfig, title="Alberts et al.",
                   description="Alberts et al. (2025): z-scored spectra, linear 25-point "
                               "patch embedding")


_register()
