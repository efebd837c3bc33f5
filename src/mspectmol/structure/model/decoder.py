"""The SMILES decoder: spectrum memory (+ formula tokens) -> Transformer -> SMILES tokens.

Memory: each feature token of :mod:`~mspectmol.structure.model.memory` is projected to
``d_model`` and given a modality and a position embedding; with a formula, one token per
element of :data:`~mspectmol.structure.model.tokens.ELEMENTS` (element embedding + count
embedding) is appended (the formula tokens are masked when no formula is given, so one model
serves both settings when trained with formula dropout). ``n_encoder_layers`` self-attention
layers mix the memory; the decoder is a pre-LayerNorm Transformer decoder (causal
self-attention, cross-attention to the memory, feed-forward) with learned positions and a
key/value cache for beam search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mspectmol.errors import ConfigError
from mspectmol.structure.model.memory import SOURCES
from mspectmol.structure.model.tokens import ELEMENTS, MAX_COUNT


@dataclass
class StructureConfig:
    """Hyper-parameters of :class:`StructureDecoder` (JSON-serialisable)."""

    vocab_size: int
    n_features: int
    n_modalities: int = 3
    n_tokens: int = 30
    memory: str = "pa_ib"
    pool: int = 5
    patch: int = 20
    readout: bool = False
    d_model: int = 128
    n_heads: int = 4
    n_encoder_layers: int = 1
    n_decoder_layers: int = 3
    ff_dim: int = 512
    dropout: float = 0.1
    max_len: int = 96

    def __post_init__(self) -> None:
        if self.memory not in SOURCES:
            raise ConfigError(f"StructureConfig.memory must be one of {SOURCES}, "
                              f"got {self.memory!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if (isinstance(value, int) and not isinstance(value, bool)
                    and f.name != "n_encoder_layers" and value < 1):
                raise ConfigError(f"StructureConfig.{f.name} must be >= 1, got {value}")
        if self.n_encoder_layers < 0:
            raise ConfigError("StructureConfig.n_encoder_layers must be >= 0")
        if self.d_model % self.n_heads:
            raise ConfigError("StructureConfig.d_model must be a multiple of n_heads")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"StructureConfig.dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StructureConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown StructureConfig keys: {', '.join(unknown)}")
        return cls(**data)


class _Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def split(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None,
               causal: bool) -> Tensor:
        q = self.split(self.q(x))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                           is_causal=causal)
        b, _, n, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


class _DecoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))
        self.self_attn = _Attention(d, heads, dropout)
        self.cross_attn = _Attention(d, heads, dropout)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cross: tuple[Tensor, Tensor], mask: Tensor,
                past: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h = self.norms[0](x)
        k, v = self.self_attn.keys_values(h)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        x = x + self.drop(self.self_attn.attend(h, k, v, None, causal=past is None))
        x = x + self.drop(self.cross_attn.attend(self.norms[1](x), *cross, mask, causal=False))
        x = x + self.drop(self.ff(self.norms[2](x)))
        return x, (k, v)


class StructureDecoder(nn.Module):
    """Spectrum-conditioned SMILES language model; see the module docstring."""

    def __init__(self, config: StructureConfig) -> None:
        super().__init__()
        cfg = self.config = config
        d = cfg.d_model
        # Per-feature standardisation of the memory features, set from the training data.
        self.register_buffer("feature_mean", torch.zeros(cfg.n_features))
        self.register_buffer("feature_std", torch.ones(cfg.n_features))
        self.memory_proj = nn.Linear(cfg.n_features, d)
        self.modality_emb = nn.Embedding(cfg.n_modalities, d)
        self.position_emb = nn.Embedding(cfg.n_tokens, d)
        self.element_emb = nn.Embedding(len(ELEMENTS), d)
        self.count_emb = nn.Embedding(MAX_COUNT + 1, d)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.ff_dim, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = (nn.TransformerEncoder(layer, cfg.n_encoder_layers,
                                              enable_nested_tensor=False)
                        if cfg.n_encoder_layers else None)
        self.memory_norm = nn.LayerNorm(d)
        self.token_emb = nn.Embedding(cfg.vocab_size, d)
        self.token_pos = nn.Embedding(cfg.max_len, d)
        self.layers = nn.ModuleList(_DecoderLayer(d, cfg.n_heads, cfg.ff_dim, cfg.dropout)
                                    for _ in range(cfg.n_decoder_layers))
        self.final_norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, cfg.vocab_size)

    def set_standardisation(self, features: Tensor) -> None:
        """Set the per-feature mean and standard deviation from training features."""
        flat = features.reshape(-1, features.shape[-1]).double()
        self.feature_mean.copy_(flat.mean(dim=0).float())
        self.feature_std.copy_(flat.std(dim=0).clamp_min(1e-3).float())

    def encode_memory(self, features: Tensor, available: Tensor, formula: Tensor
                      ) -> tuple[Tensor, Tensor]:
        """Memory tokens and their key padding mask (True = ignore).

        Parameters
        ----------
        features
            ``(B, n_modalities, n_tokens, n_features)``.
        available
            ``(B, n_modalities)`` bool.
        formula
            ``(B, len(ELEMENTS))`` int64 counts, rows of -1 meaning "no formula".
        """
        cfg = self.config
        b, m, t, _ = features.shape
        if (m, t, features.shape[-1]) != (cfg.n_modalities, cfg.n_tokens, cfg.n_features):
            raise ConfigError(f"memory features of shape {tuple(features.shape[1:])} do not "
                              f"match the decoder's ({cfg.n_modalities}, {cfg.n_tokens}, "
                              f"{cfg.n_features})")
        dev = features.device
        x = self.memory_proj((features - self.feature_mean) / self.feature_std)
        x = x + self.modality_emb.weight[:, None, :] + self.position_emb.weight[None, :, :]
        x = x.reshape(b, m * t, -1)
        pad = (~available.bool()).repeat_interleave(t, dim=1)
        no_formula = formula[:, 0] < 0
        counts = formula.clamp(0, MAX_COUNT)
        f = self.element_emb.weight.unsqueeze(0) + self.count_emb(counts)
        x = torch.cat((x, f), dim=1)
        pad = torch.cat((pad, no_formula[:, None].expand(b, len(ELEMENTS)).to(dev)), dim=1)
        if self.encoder is not None:
            x = self.encoder(x, src_key_padding_mask=pad)
        return self.memory_norm(x), pad

    def cross_cache(self, memory: Tensor, pad: Tensor) -> tuple[list[tuple[Tensor, Tensor]],
                                                               Tensor]:
        """Per-layer cross-attention keys/values and the boolean attention mask."""
        kv = [layer.cross_attn.keys_values(memory) for layer in self.layers]
        return kv, (~pad)[:, None, None, :]

    def forward(self, tokens: Tensor, features: Tensor, available: Tensor,
                formula: Tensor) -> Tensor:
        """Next-token logits ``(B, L, vocab)`` for input tokens ``(B, L)`` (teacher forcing)."""
        memory, pad = self.encode_memory(features, available, formula)
        cross, mask = self.cross_cache(memory, pad)
        n = tokens.shape[1]
        if n > self.config.max_len:
            raise ConfigError(f"sequence of {n} tokens exceeds max_len {self.config.max_len}")
        x = self.token_emb(tokens) + self.token_pos.weight[:n]
        for layer, kv in zip(self.layers, cross, strict=True):
            x, _ = layer(x, kv, mask)
        return self.lm_head(self.final_norm(x))

    def step(self, last: Tensor, position: int, cross: list[tuple[Tensor, Tensor]],
             mask: Tensor, past: list[tuple[Tensor, Tensor]] | None
             ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """One incremental decoding step: log-probabilities ``(B, vocab)`` and the new cache."""
        x = self.token_emb(last[:, None]) + self.token_pos.weight[position]
        new_past = []
        for i, (layer, kv) in enumerate(zip(self.layers, cross, strict=True)):
            x, cache = layer(x, kv, mask, None if past is None else past[i])
            new_past.append(cache)
        logits = self.lm_head(self.final_norm(x[:, -1]))
        return torch.log_softmax(logits.float(), dim=-1), new_past


def pad_batch(seqs: Sequence[list[int]]) -> Tensor:
    """Right-pad token lists with ``<pad>`` (0) into a ``(B, L)`` tensor."""
    width = max(len(s) for s in seqs)
    out = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(s)
    return out


def sequence_log_likelihood(model: StructureDecoder, tokens: Tensor, features: Tensor,
                            available: Tensor, formula: Tensor) -> Tensor:
    """Summed log-probability of each padded token sequence ``(B, L)`` (``<bos>`` first)."""
    logits = model(tokens[:, :-1], features, available, formula)
    logp = torch.log_softmax(logits.float(), dim=-1)
    target = tokens[:, 1:]
    picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return (picked * (target != 0)).sum(dim=1)
