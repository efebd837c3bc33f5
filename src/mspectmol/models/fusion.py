"""Early, mid-level and late fusion with a PA-IB-sized encoder (paper appendix N, Table 12).

Appendix N compares PA-IB with three standard ways of combining spectra:

* ``"early"``: the spectra are stacked as input channels of one convolutional encoder, whose
  features go through one readout and one MLP head ("concatenated at the input level").
* ``"mid"``: every modality has its own encoder and readout; the readouts are concatenated and
  passed to a shared MLP ("independent CNN encoders ... concatenated and passed to a shared MLP").
* ``"late"``: every modality has its own encoder, readout and MLP head; the prediction is the
  average of the per-modality *probabilities*, returned as its logit.

:class:`mspectmol.models.baselines_nn.MultiModalCNN` offers early and late fusion (and
end-to-end concatenation) around the Jung et al. CNN, whose dense stack has 64-156 M
parameters; it has no mid-level fusion and cannot be sized like PA-IB. :class:`FusionModel`
gives all three with exactly PA-IB's building blocks (:class:`SpectrumEncoder` with channels
``(16, 32)`` and kernel 11, a flattening readout to ``head_hidden`` units and a two-layer head,
as in :mod:`mspectmol.models.pa_ib`), so the only difference from PA-IB is the absence of the
gates: the comparison of Table 12 is then about the fusion, not the network size.

Missing modalities: early fusion sees a zero channel (the only possibility when spectra share
one encoder); mid-level fusion zeroes the modality's readout before the shared head, as PA-IB
does; late fusion leaves the modality out of the average.

The module also holds :class:`ConfigDictMixin`, the ``to_dict``/``from_dict`` machinery of the
baseline configs, and the small blocks they share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError
from mspectmol.models.baselines_nn import mean_probability_logit
from mspectmol.models.encoders import SpectrumEncoder, encoded_length, prepare_batch
from mspectmol.models.registry import register_model
from mspectmol.spectra.modalities import get_modality

#: Fusion strategies of :class:`FusionModel`.
FUSION_STRATEGIES = ("early", "mid", "late")
#: Table titles of the models with a fixed strategy (``fusion_<strategy>``; Table 12).
FUSION_TITLES = {"early": "Early fusion", "mid": "Mid-level fusion", "late": "Late fusion"}

_C = TypeVar("_C", bound="ConfigDictMixin")


class ConfigDictMixin:
    """``to_dict``/``from_dict`` for config dataclasses whose tuple fields hold plain values."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        out = asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any]) -> _C:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise MspectmolError(f"a {cls.__name__} must be built from a mapping, "
                                 f"got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise MspectmolError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
        kwargs = {k: tuple(v) if "tuple" in str(known[k].type) and isinstance(v, list) else v
                  for k, v in data.items()}
        return cls(**kwargs)


def canonical_modalities(modalities: Sequence[str], owner: str) -> tuple[str, ...]:
    """Canonical, distinct, non-empty modality names.

    Raises
    ------
    MspectmolError
        When the sequence is empty or names a modality twice (aliases included).
    UnknownModalityError
        For an unknown name.
    """
    if isinstance(modalities, str):
        modalities = (modalities,)
    names = tuple(get_modality(m).name for m in modalities)
    if not names or len(set(names)) != len(names):
        raise MspectmolError(f"{owner}.modalities must be distinct and non-empty, "
                             f"got {tuple(modalities)}")
    return names


def check_positive(owner: str, **values: float) -> None:
    """Raise :class:`MspectmolError` naming the first value that is not > 0."""
    for key, value in values.items():
        if not value > 0:
            raise MspectmolError(f"{owner}.{key} must be > 0, got {value!r}")


def check_dropout(owner: str, dropout: float) -> None:
    """Raise unless ``0 <= dropout < 1``."""
    if not 0.0 <= dropout < 1.0:
        raise MspectmolError(f"{owner}.dropout must be in [0, 1), got {dropout!r}")


def check_conv(owner: str, n_points: int, channels: tuple[int, ...], kernel_size: int) -> None:
    """Validate a convolutional encoder's settings (odd kernel, bands left after pooling)."""
    if not channels or min(channels) < 1:
        raise MspectmolError(f"{owner}.channels must be positive, got {channels}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise MspectmolError(f"{owner}.kernel_size must be a positive odd integer, "
                             f"got {kernel_size}")
    if encoded_length(n_points, len(channels)) < 1:
        raise MspectmolError(f"n_points={n_points} is too short for {len(channels)} pool-2 "
                             "stages")


def readout_block(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    """Flatten -> Linear -> ReLU -> Dropout (PA-IB's per-modality readout)."""
    return nn.Sequential(nn.Flatten(1), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout))


def head_block(in_features: int, hidden: int, n_labels: int, dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout -> Linear to the labels (PA-IB's predictor heads)."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, n_labels))


def param_dtype(module: nn.Module) -> torch.dtype:
    """Floating dtype of a module's first parameter."""
    return next(module.parameters()).dtype


@dataclass
class FusionConfig(ConfigDictMixin):
    """Hyper-parameters of :class:`FusionModel` (defaults: PA-IB's sizes).

    Attributes
    ----------
    modalities
        Modalities fused, in input order.
    fusion
        ``"early"``, ``"mid"`` or ``"late"``.
    n_points
        Points per spectrum.
    channels, kernel_size
        Convolution stages of each encoder (PA-IB: ``(16, 32)``, 11).
    head_hidden
        Units of the readouts and heads (PA-IB: 128).
    dropout
        Dropout in the readouts and heads.
    n_labels
        Functional-group labels (37).
    """

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    fusion: str = "mid"
    n_points: int = 600
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 11
    head_hidden: int = 128
    dropout: float = 0.2
    n_labels: int = 37

    def __post_init__(self) -> None:
        self.modalities = canonical_modalities(self.modalities, "FusionConfig")
        self.channels = tuple(int(c) for c in self.channels)
        self.fusion = str(self.fusion).strip().lower()
        if self.fusion not in FUSION_STRATEGIES:
            raise MspectmolError(f"unknown fusion {self.fusion!r}; choose from "
                                 f"{', '.join(FUSION_STRATEGIES)}")
        check_positive("FusionConfig", n_points=self.n_points, head_hidden=self.head_hidden,
                       n_labels=self.n_labels)
        check_conv("FusionConfig", self.n_points, self.channels, self.kernel_size)
        check_dropout("FusionConfig", self.dropout)

    @property
    def n_bands(self) -> int:
        """Bands per spectrum after the convolution stages."""
        return encoded_length(self.n_points, len(self.channels))


class FusionModel(nn.Module):
    """Early, mid-level or late fusion of PA-IB-sized encoders; see the module docstring.

    Parameters
    ----------
    config
        Hyper-parameters; defaults to ``FusionConfig()`` (mid-level fusion).
    """

    def __init__(self, config: FusionConfig | None = None) -> None:
        super().__init__()
        cfg = config or FusionConfig()
        self.config = cfg
        flat = cfg.n_bands * cfg.channels[-1]
        hidden, drop = cfg.head_hidden, cfg.dropout
        groups = ("all",) if cfg.fusion == "early" else cfg.modalities
        in_channels = len(cfg.modalities) if cfg.fusion == "early" else 1
        self.encoders = nn.ModuleDict({g: SpectrumEncoder(in_channels, cfg.channels,
                                                          cfg.kernel_size) for g in groups})
        self.readouts = nn.ModuleDict({g: readout_block(flat, hidden, drop) for g in groups})
        if cfg.fusion == "late":
            self.heads = nn.ModuleDict({g: head_block(hidden, hidden, cfg.n_labels, drop)
                                        for g in groups})
        else:
            self.heads = nn.ModuleDict({"all": head_block(hidden * len(groups), hidden,
                                                          cfg.n_labels, drop)})

    def _features(self, group: str, x: Tensor) -> Tensor:
        """Readout ``(batch, head_hidden)`` of one encoder's input."""
        return self.readouts[group](self.encoders[group](x).transpose(1, 2))

    def forward(self, spectra: Mapping[str, Tensor],
                available: Mapping[str, Tensor] | None = None) -> Tensor:
        """Logits ``(batch, n_labels)`` from ``{modality: (batch, n_points)}``.

        Absent modalities count as missing; every sample needs at least one available one.
        """
        cfg = self.config
        batch = prepare_batch(spectra, available, cfg.modalities, cfg.n_points,
                              dtype=param_dtype(self))
        xs = [batch.spectra[m] for m in cfg.modalities]
        if cfg.fusion == "early":
            return self.heads["all"](self._features("all", torch.stack(xs, dim=1)))
        z = {m: self._features(m, x) for m, x in zip(cfg.modalities, xs, strict=True)}
        if cfg.fusion == "mid":
            keep = [z[m] * batch.available[m].unsqueeze(1).to(z[m].dtype)
                    for m in cfg.modalities]
            return self.heads["all"](torch.cat(keep, dim=1))
        logits = torch.stack([self.heads[m](z[m]) for m in cfg.modalities])
        mask = torch.stack([batch.available[m] for m in cfg.modalities])
        return mean_probability_logit(logits, mask)


def _register() -> None:
    register_model("fusion", "neural", FusionModel, FusionConfig, title="Fusion",
                   description="PA-IB-sized encoders without gates, fusion set by the config")
    for fusion in FUSION_STRATEGIES:
        register_model(f"fusion_{fusion}", "neural", FusionModel, FusionConfig,
                       defaults={"fusion": fusion}, fixed=("fusion",),
                       title=FUSION_TITLES[fusion],
                       description=f"PA-IB-sized encoders without gates, {fusion} fusion "
                                   "(appendix N)")


_register()
