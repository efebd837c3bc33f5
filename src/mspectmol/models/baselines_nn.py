"""Neural baselines: the 1D-CNN of Jung et al. (2023) and its multi-modal fusions.

:class:`JungCNN` follows the published network: ``Conv1D(31, k=11) -> BN -> ReLU -> MaxPool(2)
-> Conv1D(62, k=11) -> BN -> ReLU -> MaxPool(2) -> dense 4927 -> 2785 -> 1574 -> n_labels``
with ReLU and dropout (0.486) after each hidden dense layer and "same" padding. On three
600-point spectra concatenated end to end (1800 points, 450 x 62 = 27,900 flattened features)
it has 155.7 M parameters, the published count; on one 600-point spectrum 64.0 M.

``width_scale`` multiplies the three dense widths (rounded, at least 1). ``1.0`` is the
published network; on a 2-core CPU it trains at ~90 samples/s, so benchmark runs may use e.g.
``0.1`` (493 -> 278 -> 157 units, ~5 M parameters for one spectrum); report the scale used.

:class:`MultiModalCNN` applies it to several modalities (paper appendix N):

* ``"early"``: spectra stacked as input channels of one network (``(batch, K, n_points)``).
* ``"concat"``: spectra concatenated end to end into one ``K * n_points`` input, the paper's
  "concatenated at the input level" and the layout behind the published 27,900-input layer.
* ``"late"``: one network per modality; the prediction is the average of the per-modality
  *probabilities* (appendix N), returned as its logit, computed stably from log-sigmoids, so
  every model here returns logits for :func:`torch.nn.functional.binary_cross_entropy_with_logits`.
  Missing modalities are left out of the average.

For the early fusions a missing modality is a zero spectrum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.encoders import SpectrumEncoder, encoded_length, prepare_batch
from mspectmol.models.registry import config_field_names, register_model
from mspectmol.spectra.modalities import get_modality

#: Convolution filters of the two stages (Jung et al. 2023).
JUNG_CHANNELS = (31, 62)
#: Convolution kernel length.
JUNG_KERNEL = 11
#: Dense layer widths.
JUNG_DENSE = (4927, 2785, 1574)
#: Dropout rate after the dense layers.
JUNG_DROPOUT = 0.486
#: Fusion modes of :class:`MultiModalCNN`.
FUSIONS = ("early", "concat", "late")


def scaled_widths(width_scale: float, widths: Sequence[int] = JUNG_DENSE) -> tuple[int, ...]:
    """Dense widths multiplied by ``width_scale`` (rounded, at least 1)."""
    if not width_scale > 0:
        raise MspectmolError(f"width_scale must be > 0, got {width_scale!r}")
    return tuple(max(1, round(w * width_scale)) for w in widths)


class JungCNN(nn.Module):
    """The 1D-CNN of Jung et al. (2023); see the module docstring.

    Parameters
    ----------
    n_points
        Input length.
    in_channels
        Input channels (spectra stacked as channels).
    n_labels
        Outputs (37 functional groups).
    width_scale
        Multiplier of the dense widths (1.0 = published).
    dropout
        Dropout after each hidden dense layer.
    """

    def __init__(self, n_points: int = 600, in_channels: int = 1, n_labels: int = 37,
                 width_scale: float = 1.0, dropout: float = JUNG_DROPOUT) -> None:
        super().__init__()
        self.encoder = SpectrumEncoder(in_channels, JUNG_CHANNELS, JUNG_KERNEL)
        n_flat = encoded_length(n_points, len(JUNG_CHANNELS)) * JUNG_CHANNELS[-1]
        if n_flat < 1:
            raise MspectmolError(f"n_points={n_points} is too short for the Jung et al. CNN")
        layers: list[nn.Module] = [nn.Flatten(1)]
        previous = n_flat
        for width in scaled_widths(width_scale):
            layers += [nn.Linear(previous, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            previous = width
        layers.append(nn.Linear(previous, n_labels))
        self.dense = nn.Sequential(*layers)
        self.n_points = int(n_points)
        self.in_channels = int(in_channels)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_points)`` or ``(batch, in_channels, n_points)`` -> logits."""
        return self.dense(self.encoder(x))


def mean_probability_logit(logits: Tensor, mask: Tensor) -> Tensor:
    """Logit of the mean of ``sigmoid(logits)`` over dim 0 where ``mask`` is True.

    Parameters
    ----------
    logits
        ``(n_models, batch, n_labels)``.
    mask
        ``(n_models, batch)`` bool; each sample needs at least one True.
    """
    neg_inf = logits.new_full((), -math.inf)
    keep = mask.unsqueeze(-1)
    count = mask.sum(dim=0).clamp_min(1).to(logits.dtype).log().unsqueeze(-1)
    log_p = torch.logsumexp(torch.where(keep, F.logsigmoid(logits), neg_inf), dim=0) - count
    log_q = torch.logsumexp(torch.where(keep, F.logsigmoid(-logits), neg_inf), dim=0) - count
    return log_p - log_q


class MultiModalCNN(nn.Module):
    """The Jung et al. CNN on several modalities with early, concatenated or late fusion.

    Parameters
    ----------
    modalities
        Modalities used, in input order.
    fusion
        ``"early"``, ``"concat"`` or ``"late"`` (see the module docstring).
    n_points, n_labels, width_scale, dropout
        As for :class:`JungCNN` (``n_points`` per spectrum).
    """

    def __init__(self, modalities: Sequence[str] = ("ir", "h_nmr", "c_nmr"),
                 fusion: str = "early", n_points: int = 600, n_labels: int = 37,
                 width_scale: float = 1.0, dropout: float = JUNG_DROPOUT) -> None:
        super().__init__()
        names = tuple(get_modality(m).name for m in modalities)
        if not names or len(set(names)) != len(names):
            raise MspectmolError(f"modalities must be distinct and non-empty, got {modalities}")
        if fusion not in FUSIONS:
            raise MspectmolError(f"unknown fusion {fusion!r}; choose from {', '.join(FUSIONS)}")
        self.modalities, self.fusion, self.n_points = names, fusion, int(n_points)
        k = len(names)
        opts = {"n_labels": n_labels, "width_scale": width_scale, "dropout": dropout}
        if fusion == "early":
            self.nets = nn.ModuleDict({"all": JungCNN(n_points, in_channels=k, **opts)})
        elif fusion == "concat":
            self.nets = nn.ModuleDict({"all": JungCNN(n_points * k, **opts)})
        else:
            self.nets = nn.ModuleDict({m: JungCNN(n_points, **opts) for m in names})

    def forward(self, spectra: Mapping[str, Tensor],
                available: Mapping[str, Tensor] | None = None) -> Tensor:
        """Logits ``(batch, n_labels)`` from ``{modality: (batch, n_points)}``.

        Absent modalities count as missing; every sample needs at least one available one.
        """
        dtype = next(self.parameters()).dtype
        batch = prepare_batch(spectra, available, self.modalities, self.n_points, dtype=dtype)
        mask = torch.stack([batch.available[m] for m in self.modalities])
        xs = [batch.spectra[m] for m in self.modalities]
        if self.fusion == "early":
            return self.nets["all"](torch.stack(xs, dim=1))
        if self.fusion == "concat":
            return self.nets["all"](torch.cat(xs, dim=1))
        logits = torch.stack([self.nets[m](x) for m, x in zip(self.modalities, xs, strict=True)])
        return mean_probability_logit(logits, mask)


@dataclass
class CNNConfig:
    """Settings of :class:`~mspectmol.models.baselines_nn.MultiModalCNN`.

    ``width_scale`` 1.0 is the published network (155.7 M parameters on three spectra);
    benchmark runs on CPU may use e.g. 0.1 (report it).
    """

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    fusion: str = "early"
    n_points: int = 600
    n_labels: int = 37
    width_scale: float = 1.0
    dropout: float = JUNG_DROPOUT

    def __post_init__(self) -> None:
        self.modalities = tuple(get_modality(m).name for m in self.modalities)
        if self.fusion not in FUSIONS:
            raise ConfigError(f"CNNConfig.fusion must be one of {', '.join(FUSIONS)}, "
                              f"got {self.fusion!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"CNNConfig.dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict."""
        return {**asdict(self), "modalities": list(self.modalities)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CNNConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = sorted(set(data) - set(config_field_names(cls)))
        if unknown:
            raise ConfigError(f"unknown CNNConfig keys: {', '.join(unknown)}")
        kwargs = dict(data)
        if "modalities" in kwargs:
            kwargs["modalities"] = tuple(kwargs["modalities"])
        return cls(**kwargs)


def build_cnn(config: CNNConfig) -> MultiModalCNN:
    """The CNN baseline for a :class:`CNNConfig`."""
    return MultiModalCNN(config.modalities, config.fusion, config.n_points, config.n_labels,
                         config.width_scale, config.dropout)


register_model("cnn", "neural", build_cnn, CNNConfig, title="1D-CNN",
               description="Jung et al. (2023) CNN, fusion set by the config")
for _fusion in FUSIONS:
    # concatenation is the published network's fusion: its column is plain "1D-CNN"
    register_model(f"cnn_{_fusion}", "neural", build_cnn, CNNConfig,
                   defaults={"fusion": _fusion}, fixed=("fusion",),
                   title="1D-CNN" if _fusion == "concat" else f"1D-CNN ({_fusion})",
                   description=f"Jung et al. (2023) CNN, {_fusion} fusion")
