"""The primary-auxiliary information-bottleneck (PA-IB) classifier (paper section 2).

Architecture, for one primary modality ``m`` and auxiliary modalities ``a_1 .. a_K``:

1. Every spectrum (interpolated to ``n_points`` and normalised beforehand, eq. 3, by
   :mod:`mspectmol.spectra.preprocessing`) goes through its own :class:`SpectrumEncoder`
   (eq. 4-5), giving ``H`` of shape ``(batch, n_bands, C)`` after transposing (contiguous:
   strided gate and noise ops cost about twice as much on CPU).
2. Primary gate (eq. 6-8): ``p^m_i = MLP(H^m_i)`` and ``T^m = lambda H^m + (1 - lambda) eps``.
3. Auxiliary gates: the paper concatenates two auxiliary spectra into one 1200-point input,
   which leaves ``H^a`` twice as long as ``H^m`` and makes ``H^m_i || H^a_i`` ill-defined. We
   give each auxiliary spectrum its own encoder, so its ``H^{a_k}`` has as many bands as
   ``H^m``, and its own gate ``p^{a_k}_i = MLP(H^m_i || H^{a_k}_i || T^m_i)``, aligned band by
   band (band ``i`` is the same fraction of each modality's canonical range). ``T^{a_k}`` then
   follows eq. 7. This is the paper's design with the concatenation split per spectrum; it
   also lets one auxiliary spectrum be missing without shifting the other.
4. Readout: each bottleneck is flattened (band order matters in spectra; a mean pool would
   discard where peaks are) and projected to ``head_hidden`` units.
   ``logits_primary = head_m(z_m)`` models ``p(Y | T_m)`` (``L_pred``, eq. 10) and
   ``logits = head_fused(z_m || z_a1 || ... || z_aK)`` models ``p(Y | T_m, T_a)`` (``L_sup``,
   eq. 11). ``logits`` is the model's prediction.

Missing modalities: a False entry in the availability mask zeroes that spectrum, its
projected readout ``z`` in the fused head, its gate probabilities in the output, and (in
:mod:`mspectmol.models.losses`) its KL and prediction-loss contributions.

Training (``model.train()``): relaxed-Bernoulli gates at ``temperature`` and Gaussian noise;
inference (``model.eval()``): deterministic ``lambda = p``, no noise and no KL unless asked for.
See :mod:`mspectmol.models.gates` for the noise model and :mod:`mspectmol.models.losses` for
eq. 14.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError
from mspectmol.models.encoders import Batch, SpectrumEncoder, encoded_length, prepare_batch
from mspectmol.models.gates import BandGate, apply_gate, check_prior
from mspectmol.spectra.modalities import get_modality

#: Rows per block of the CPU inference forward pass (eval mode, no gradients): larger batches are
#: run block by block, so each block's feature maps (about 80 KB per row) stay in the CPU's
#: caches (0.75x the time of whole batches of 256 on a 2-core AMD EPYC, float32). Results are
#: the same to float rounding. Not used under autocast, where every block would cast the
#: weights again.
EVAL_BLOCK = 64

#: Positive-class weighting schemes of the loss (:func:`label_pos_weight`).
LABEL_WEIGHTINGS = ("none", "sqrt")
#: Largest positive-class weight of the ``"sqrt"`` scheme.
MAX_POS_WEIGHT = 10.0


def label_pos_weight(labels: np.ndarray | Tensor, scheme: str = "none") -> Tensor | None:
    """Per-label positive-class weights from training labels ``(n, L)``, or None.

    ``"none"``: no weights. ``"sqrt"``: ``sqrt(negatives / positives)`` clipped to
    ``[1, MAX_POS_WEIGHT]``; a label without positives (or without negatives) gets 1.
    """
    if scheme not in LABEL_WEIGHTINGS:
        raise MspectmolError(f"unknown label weighting {scheme!r}; known: "
                             f"{', '.join(LABEL_WEIGHTINGS)}")
    if scheme == "none":
        return None
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or not np.isfinite(y).all():
        raise MspectmolError(f"labels must be a finite (n, n_labels) array, got shape {y.shape}")
    pos = y.sum(axis=0)
    neg = y.shape[0] - pos
    ratio = np.where((pos > 0) & (neg > 0), neg / np.maximum(pos, 1.0), 1.0)
    return torch.as_tensor(np.clip(np.sqrt(ratio), 1.0, MAX_POS_WEIGHT), dtype=torch.float32)


def compress(x: Tensor, c: float) -> Tensor:
    """``log(1 + c max(x, 0)) / log(1 + c)`` (``x`` itself when ``c`` is 0): 0 and 1 stay
    put, weak intensities rise (``c = 10``: 0.01 -> 0.040, 0.1 -> 0.289)."""
    if not c:
        return x
    return torch.log1p(x.clamp_min(0.0) * c) / math.log1p(c)


@dataclass
class PAIBConfig:
    """Hyper-parameters of :class:`PAIBModel` (JSON-serialisable with :meth:`to_dict`).

    Attributes
    ----------
    primary
        Primary modality (the paper's best: ``"ir"``; appendix H).
    auxiliary
        Auxiliary modalities, each with its own encoder and gate.
    n_points
        Points per input spectrum (600 in the paper).
    channels
        Output channels of the convolution stages (two stages, eq. 4-5). The paper does not
        give them; ``(16, 32)`` meets the CPU inference target (10,000 molecules with three
        spectra in under 3 s on 2 cores, ``benchmarks/bench_inference.py``), which
        ``(32, 64)`` misses by a factor of two.
    kernel_size
        Odd convolution kernel length.
    gate_hidden
        Hidden units of each gate MLP.
    head_hidden
        Units of each readout projection and of the predictor heads.
    dropout
        Dropout rate in the readout and heads.
    n_labels
        Number of functional-group labels (37, the paper's Table 5).
    temperature
        Relaxed-Bernoulli temperature ``t`` (1.0, section 2.2.2 and appendix J).
    alpha, beta
        Weights of ``L_MI2`` and ``L_MI3`` (1e-6, appendix B and T).
    aux_weight
        Weight of ``L_pred``, the auxiliary head that predicts from ``T_m`` alone (0.7,
        appendix B); see :mod:`mspectmol.models.losses`.
    mi1_weight
        Weight of ``L_MI1`` (1 in eq. 14; exposed for the ablations of Fig. 11b and for tuning:
        see :mod:`mspectmol.models.losses` on how strongly 1 compresses the auxiliary gates).
    prior
        Prior of the KL terms: ``"gaussian"`` (the paper's) or ``"laplace"`` (appendix L).
    label_weighting
        Positive-class weights of the cross-entropies, fitted on the training labels before
        training (:func:`label_pos_weight`): ``"none"`` (the
        paper's) or ``"sqrt"`` (``sqrt(negatives / positives)`` per group, clipped to
        [1, 10]), which raises the weight of rare groups (macro-F1).
    primary_head_alone
        In eval mode, predict rows without any auxiliary spectrum with the primary head
        ``p(Y | T_m)`` (trained by ``L_pred`` on the primary alone) instead of the fused head
        with zeroed auxiliary readouts. Training is unchanged. Off by default (the paper's).
    input_compression
        ``c > 0`` maps each max-normalised input intensity ``x`` to
        ``log(1 + c max(x, 0)) / log(1 + c)`` before the encoders (:func:`compress`): weak
        bands are raised and strong ones compressed, so a prediction leans less on relative
        intensities, the least reliable part of a simulated spectrum. 0 (the paper's) feeds
        the spectra as they are.
    """

    primary: str = "ir"
    auxiliary: tuple[str, ...] = ("h_nmr", "c_nmr")
    n_points: int = 600
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 11
    gate_hidden: int = 32
    head_hidden: int = 128
    dropout: float = 0.2
    n_labels: int = 37
    temperature: float = 1.0
    alpha: float = 1e-6
    beta: float = 1e-6
    aux_weight: float = 0.7
    mi1_weight: float = 1.0
    prior: str = "gaussian"
    label_weighting: str = "none"
    primary_head_alone: bool = False
    input_compression: float = 0.0

    def __post_init__(self) -> None:
        self.primary = get_modality(self.primary).name
        self.auxiliary = tuple(get_modality(m).name for m in self.auxiliary)
        self.channels = tuple(int(c) for c in self.channels)
        names = (self.primary, *self.auxiliary)
        if len(set(names)) != len(names):
            raise MspectmolError(f"primary and auxiliary modalities must differ, got {names}")
        self.prior = check_prior(self.prior)
        if self.label_weighting not in LABEL_WEIGHTINGS:
            raise MspectmolError(f"PAIBConfig.label_weighting must be one of "
                                 f"{', '.join(LABEL_WEIGHTINGS)}, got {self.label_weighting!r}")
        positive = {"n_points": self.n_points, "kernel_size": self.kernel_size,
                    "gate_hidden": self.gate_hidden, "head_hidden": self.head_hidden,
                    "n_labels": self.n_labels, "temperature": self.temperature}
        for key, value in positive.items():
            if not value > 0:
                raise MspectmolError(f"PAIBConfig.{key} must be > 0, got {value!r}")
        if not self.channels or min(self.channels) < 1:
            raise MspectmolError(f"PAIBConfig.channels must be positive, got {self.channels}")
        if self.kernel_size % 2 == 0:
            raise MspectmolError(f"PAIBConfig.kernel_size must be odd, got {self.kernel_size}")
        if self.n_bands < 1:
            raise MspectmolError(f"n_points={self.n_points} is too short for "
                                 f"{len(self.channels)} pool-2 stages")
        if not 0.0 <= self.dropout < 1.0:
            raise MspectmolError(f"PAIBConfig.dropout must be in [0, 1), got {self.dropout}")
        for key in ("alpha", "beta", "aux_weight", "mi1_weight", "input_compression"):
            if not getattr(self, key) >= 0:
                raise MspectmolError(f"PAIBConfig.{key} must be >= 0, got {getattr(self, key)}")

    @property
    def modalities(self) -> tuple[str, ...]:
        """Primary first, then the auxiliary modalities."""
        return (self.primary, *self.auxiliary)

    @property
    def n_bands(self) -> int:
        """Bands per spectrum after the convolution stages (150 for 600 points, 2 stages)."""
        return encoded_length(self.n_points, len(self.channels))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        out = asdict(self)
        out["auxiliary"] = list(self.auxiliary)
        out["channels"] = list(self.channels)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PAIBConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MspectmolError(f"unknown PAIBConfig keys: {', '.join(unknown)}")
        kwargs = dict(data)
        for key in ("auxiliary", "channels"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


@dataclass
class PAIBOutput:
    """What :meth:`PAIBModel.forward` returns.

    Attributes
    ----------
    logits
        Fused prediction ``p(Y | T_m, T_a)``, ``(batch, n_labels)``.
    logits_primary
        Prediction from ``T_m`` alone, ``(batch, n_labels)``.
    gate_probs
        ``{modality: (batch, n_bands)}`` keep probabilities (zero where unavailable).
    kl
        ``{modality: (batch,)}`` KL of each gate summed over bands and channels, or None when
        not computed (eval mode by default).
    kl_size
        Elements per sample behind each KL sum (``n_bands * C``).
    available
        ``{modality: (batch,) bool}`` availability used.
    """

    logits: Tensor
    logits_primary: Tensor
    gate_probs: dict[str, Tensor]
    kl: dict[str, Tensor] | None
    kl_size: int
    available: dict[str, Tensor]


def _readout(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(1), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout))


def _head(in_features: int, hidden: int, n_labels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, n_labels))


class PAIBModel(nn.Module):
    """PA-IB multi-label classifier; see the module docstring.

    Parameters
    ----------
    config
        Hyper-parameters; defaults to :class:`PAIBConfig()`.
    """

    def __init__(self, config: PAIBConfig | None = None) -> None:
        super().__init__()
        cfg = config or PAIBConfig()
        self.config = cfg
        width = cfg.channels[-1]
        flat = cfg.n_bands * width
        self.encoders = nn.ModuleDict({m: SpectrumEncoder(1, cfg.channels, cfg.kernel_size)
                                       for m in cfg.modalities})
        self.gates = nn.ModuleDict({cfg.primary: BandGate(width, cfg.gate_hidden)})
        for m in cfg.auxiliary:
            self.gates[m] = BandGate(3 * width, cfg.gate_hidden)
        self.readouts = nn.ModuleDict({m: _readout(flat, cfg.head_hidden, cfg.dropout)
                                       for m in cfg.modalities})
        self.head_primary = _head(cfg.head_hidden, cfg.head_hidden, cfg.n_labels, cfg.dropout)
        self.head_fused = _head(cfg.head_hidden * len(cfg.modalities), cfg.head_hidden,
                                cfg.n_labels, cfg.dropout)
        # training-only state, not saved with the model
        self.register_buffer("label_pos_weight", None, persistent=False)

    def fit_label_weights(self, labels: Any) -> None:
        """Set the positive-class weights of the loss from the training labels ``(n, L)``."""
        weights = label_pos_weight(labels, self.config.label_weighting)
        self.label_pos_weight = (None if weights is None else
                                 weights.to(self.head_fused[0].weight.device))

    def encode(self, name: str, x: Tensor) -> Tensor:
        """Features ``H`` of one modality, ``(batch, n_bands, C)``, contiguous (inputs
        compressed first when ``config.input_compression`` is set)."""
        x = compress(x, self.config.input_compression)
        return self.encoders[name](x).transpose(1, 2).contiguous()

    def forward(self, spectra: Mapping[str, Tensor],
                available: Mapping[str, Tensor] | None = None, *,
                return_kl: bool | None = None) -> PAIBOutput:
        """Predict functional-group logits from a batch of spectra.

        Parameters
        ----------
        spectra
            ``{modality: (batch, n_points) float tensor}``; the primary is required, an absent
            auxiliary modality counts as missing for the whole batch, other keys are ignored.
        available
            Optional ``{modality: (batch,) bool}`` availability masks.
        return_kl
            Compute the KL terms; defaults to ``self.training``.
        """
        cfg = self.config
        batch = prepare_batch(spectra, available, cfg.modalities, cfg.n_points,
                              required=(cfg.primary,), dtype=self.head_fused[0].weight.dtype)
        want_kl = self.training if return_kl is None else bool(return_kl)
        device = batch.spectra[cfg.primary].device.type
        if (self.training or torch.is_grad_enabled() or batch.size <= EVAL_BLOCK
                or device != "cpu" or torch.is_autocast_enabled(device)):
            return self._forward(batch, want_kl)
        parts = [self._forward(Batch({m: x[i:i + EVAL_BLOCK] for m, x in batch.spectra.items()},
                                     {m: v[i:i + EVAL_BLOCK] for m, v in batch.available.items()},
                                     min(EVAL_BLOCK, batch.size - i)), want_kl)
                 for i in range(0, batch.size, EVAL_BLOCK)]
        return PAIBOutput(
            logits=torch.cat([p.logits for p in parts]),
            logits_primary=torch.cat([p.logits_primary for p in parts]),
            gate_probs={m: torch.cat([p.gate_probs[m] for p in parts]) for m in cfg.modalities},
            kl=({m: torch.cat([p.kl[m] for p in parts]) for m in cfg.modalities}  # type: ignore[index]
                if want_kl else None),
            kl_size=parts[0].kl_size, available=batch.available)

    def _forward(self, batch: Batch, want_kl: bool) -> PAIBOutput:
        """The forward pass of a validated batch (see :meth:`forward`)."""
        cfg = self.config
        opts = {"stochastic": self.training, "temperature": cfg.temperature,
                "compute_kl": want_kl, "prior": cfg.prior}
        h_m = self.encode(cfg.primary, batch.spectra[cfg.primary])
        results = {cfg.primary: apply_gate(h_m, self.gates[cfg.primary](h_m), **opts)}
        t_m = results[cfg.primary].features
        for name in cfg.auxiliary:
            h_a = self.encode(name, batch.spectra[name])
            gate_logits = self.gates[name].forward_parts((h_m, h_a, t_m))
            results[name] = apply_gate(h_a, gate_logits, **opts)
        z = {m: self.readouts[m](r.features) for m, r in results.items()}
        logits_primary = self.head_primary(z[cfg.primary])
        fused = [z[m] * batch.available[m].unsqueeze(1).to(z[m].dtype) for m in cfg.modalities]
        logits = self.head_fused(torch.cat(fused, dim=1))
        if cfg.primary_head_alone and cfg.auxiliary and not self.training:
            alone = ~torch.stack([batch.available[m] for m in cfg.auxiliary]).any(dim=0)
            logits = torch.where(alone.unsqueeze(1), logits_primary, logits)
        probs = {m: r.prob * batch.available[m].unsqueeze(1).to(r.prob.dtype)
                 for m, r in results.items()}
        kl = {m: r.kl for m, r in results.items()} if want_kl else None
        return PAIBOutput(logits=logits, logits_primary=logits_primary, gate_probs=probs,
                          kl=kl, kl_size=cfg.n_bands * cfg.channels[-1],
                          available=batch.available)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
