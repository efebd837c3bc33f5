"""The symmetric "uniform IB" baseline of the paper's Table 4 (``"symmetric_ib"``).

Table 4 compares PA-IB with "a symmetric Uniform IB baseline, which applies uniform information
bottleneck constraints across all modalities independently without the primary-auxiliary
distinction". :class:`SymmetricIBModel` is PA-IB with the asymmetry removed:

* every modality has its own :class:`SpectrumEncoder` (PA-IB's sizes) and its own
  :class:`BandGate`, which sees only that modality's features ``H^m_i`` (in PA-IB an auxiliary
  gate also reads the primary's ``H^m_i`` and ``T^m_i``);
* each bottleneck ``T^m`` follows eq. 7 with the same noise model, temperature and prior
  (:func:`mspectmol.models.gates.apply_gate`);
* the flattened bottlenecks are projected to ``head_hidden`` units each, zeroed for missing
  modalities, concatenated and classified by one MLP head (PA-IB's fused head); there is no
  primary-only head and no ``L_MI1`` coupling term;
* the loss (:func:`symmetric_ib_loss`) is ``BCE + beta * mean KL``, the KL of every available
  (sample, modality) pair summed over its ``n_bands x C`` elements and weighted alike: one
  ``beta`` (1e-6, PA-IB's ``alpha = beta``) for all modalities.

Like :class:`~mspectmol.models.pa_ib.PAIBModel`, ``forward`` returns an output object
(:class:`SymmetricIBOutput`, whose ``logits`` are the prediction) so that the training loop
can add the KL terms (:meth:`SymmetricIBModel.compute_loss`); gates are stochastic in training
mode and deterministic (``lambda = p``, no noise) in eval mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError
from mspectmol.models.encoders import SpectrumEncoder, encoded_length, prepare_batch
from mspectmol.models.fusion import (
    ConfigDictMixin,
    canonical_modalities,
    check_conv,
    check_dropout,
    check_positive,
    head_block,
    param_dtype,
    readout_block,
)
from mspectmol.models.gates import BandGate, apply_gate, check_prior
from mspectmol.models.losses import bce_per_sample, masked_mean
from mspectmol.models.registry import register_model


@dataclass
class SymmetricIBConfig(ConfigDictMixin):
    """Hyper-parameters of :class:`SymmetricIBModel` (defaults: PA-IB's).

    Attributes
    ----------
    modalities
        Modalities, all treated alike.
    n_points
        Points per spectrum.
    channels, kernel_size
        Convolution stages of each encoder.
    gate_hidden
        Hidden units of each gate MLP.
    head_hidden
        Units of each readout projection and of the head.
    dropout
        Dropout in the readouts and the head.
    n_labels
        Functional-group labels (37).
    temperature
        Relaxed-Bernoulli temperature (1.0).
    beta
        Weight of the KL term, the same for every modality (1e-6).
    prior
        ``"gaussian"`` or ``"laplace"`` (see :mod:`mspectmol.models.gates`).
    """

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    n_points: int = 600
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 11
    gate_hidden: int = 32
    head_hidden: int = 128
    dropout: float = 0.2
    n_labels: int = 37
    temperature: float = 1.0
    beta: float = 1e-6
    prior: str = "gaussian"

    def __post_init__(self) -> None:
        owner = "SymmetricIBConfig"
        self.modalities = canonical_modalities(self.modalities, owner)
        self.channels = tuple(int(c) for c in self.channels)
        self.prior = check_prior(self.prior)
        check_positive(owner, n_points=self.n_points, gate_hidden=self.gate_hidden,
                       head_hidden=self.head_hidden, n_labels=self.n_labels,
                       temperature=self.temperature)
        check_conv(owner, self.n_points, self.channels, self.kernel_size)
        check_dropout(owner, self.dropout)
        if not self.beta >= 0:
            raise MspectmolError(f"{owner}.beta must be >= 0, got {self.beta!r}")

    @property
    def n_bands(self) -> int:
        """Bands per spectrum after the convolution stages (150 for 600 points)."""
        return encoded_length(self.n_points, len(self.channels))


@dataclass
class SymmetricIBOutput:
    """What :meth:`SymmetricIBModel.forward` returns.

    Attributes
    ----------
    logits
        Prediction ``(batch, n_labels)``.
    gate_probs
        ``{modality: (batch, n_bands)}`` keep probabilities (zero where unavailable).
    kl
        ``{modality: (batch,)}`` KL of each gate summed over bands and channels, or None.
    kl_size
        Elements per sample behind each KL sum (``n_bands * C``).
    available
        ``{modality: (batch,) bool}`` availability used.
    """

    logits: Tensor
    gate_probs: dict[str, Tensor]
    kl: dict[str, Tensor] | None
    kl_size: int
    available: dict[str, Tensor]


@dataclass
class SymmetricIBLoss:
    """Loss terms (scalars): ``total = sup + beta * kl``."""

    total: Tensor
    sup: Tensor
    kl: Tensor

    def as_floats(self) -> dict[str, float]:
        """The terms as Python floats, for logging."""
        return {k: float(getattr(self, k).detach()) for k in ("total", "sup", "kl")}


class SymmetricIBModel(nn.Module):
    """Uniform per-modality information bottlenecks; see the module docstring.

    Parameters
    ----------
    config
        Hyper-parameters; defaults to ``SymmetricIBConfig()``.
    """

    def __init__(self, config: SymmetricIBConfig | None = None) -> None:
        super().__init__()
        cfg = config or SymmetricIBConfig()
        self.config = cfg
        width = cfg.channels[-1]
        mods = cfg.modalities
        self.encoders = nn.ModuleDict({m: SpectrumEncoder(1, cfg.channels, cfg.kernel_size)
                                       for m in mods})
        self.gates = nn.ModuleDict({m: BandGate(width, cfg.gate_hidden) for m in mods})
        self.readouts = nn.ModuleDict({
            m: readout_block(cfg.n_bands * width, cfg.head_hidden, cfg.dropout) for m in mods})
        self.head = head_block(cfg.head_hidden * len(mods), cfg.head_hidden, cfg.n_labels,
                               cfg.dropout)

    def forward(self, spectra: Mapping[str, Tensor],
                available: Mapping[str, Tensor] | None = None, *,
                return_kl: bool | None = None) -> SymmetricIBOutput:
        """Predict functional-group logits.

        Parameters
        ----------
        spectra
            ``{modality: (batch, n_points)}``; absent modalities count as missing.
        available
            Optional ``{modality: (batch,) bool}`` availability masks.
        return_kl
            Compute the KL terms; defaults to ``self.training``.
        """
        cfg = self.config
        batch = prepare_batch(spectra, available, cfg.modalities, cfg.n_points,
                              dtype=param_dtype(self))
        want_kl = self.training if return_kl is None else bool(return_kl)
        z, probs, kl = [], {}, {}
        for name in cfg.modalities:
            h = self.encoders[name](batch.spectra[name]).transpose(1, 2).contiguous()
            gate = apply_gate(h, self.gates[name](h), stochastic=self.training,
                              temperature=cfg.temperature, compute_kl=want_kl, prior=cfg.prior)
            ok = batch.available[name].unsqueeze(1)
            z.append(self.readouts[name](gate.features) * ok.to(h.dtype))
            probs[name] = gate.prob * ok.to(gate.prob.dtype)
            kl[name] = gate.kl
        logits = self.head(torch.cat(z, dim=1))
        return SymmetricIBOutput(logits=logits, gate_probs=probs, kl=kl if want_kl else None,
                                 kl_size=cfg.n_bands * cfg.channels[-1],
                                 available=batch.available)

    def compute_loss(self, output: SymmetricIBOutput, targets: Tensor, *,
                     pos_weight: Tensor | None = None) -> SymmetricIBLoss:
        """:func:`symmetric_ib_loss` with this model's config (a hook for training loops)."""
        return symmetric_ib_loss(output, targets, self.config, pos_weight=pos_weight)


def symmetric_ib_loss(output: SymmetricIBOutput, targets: Tensor, config: SymmetricIBConfig,
                      *, pos_weight: Tensor | None = None) -> SymmetricIBLoss:
    """``BCE(logits, targets) + beta * KL`` with the KL averaged over available pairs.

    Parameters
    ----------
    output
        Model output with KL terms (train mode, or ``return_kl=True``).
    targets
        Multi-hot labels ``(batch, n_labels)`` in [0, 1].
    config
        The model's config (``beta`` and the modalities).
    pos_weight
        Optional per-label positive weights of the cross-entropy.

    Raises
    ------
    MspectmolError
        When the output has no KL terms or the targets do not match the logits.
    """
    if output.kl is None:
        raise MspectmolError("the model output has no KL terms: call the model in train mode "
                             "or with return_kl=True")
    y = torch.as_tensor(targets)
    if y.shape != output.logits.shape:
        raise MspectmolError(f"targets must have shape {tuple(output.logits.shape)} "
                             f"(batch, n_labels), got {tuple(y.shape)}")
    y = y.to(device=output.logits.device, dtype=output.logits.dtype)
    if not bool(((y >= 0) & (y <= 1)).all()):
        raise MspectmolError("targets must be finite and in [0, 1] (multi-hot labels)")
    sup = bce_per_sample(output.logits, y, pos_weight).mean()
    kl = masked_mean(torch.stack([output.kl[m] for m in config.modalities]),
                     torch.stack([output.available[m] for m in config.modalities]))
    return SymmetricIBLoss(total=sup + config.beta * kl, sup=sup, kl=kl)


def _register() -> None:
    register_model("symmetric_ib", "neural", SymmetricIBModel, SymmetricIBConfig,
                   title="Symmetric (uniform IB)",
                   description="uniform per-modality information bottlenecks (Table 4)")


_register()
