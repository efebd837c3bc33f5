"""A multilayer perceptron on the concatenated spectra: the simplest neural baseline.

Each spectrum (600 points by default) is concatenated in the configured order, a missing one
as zeros with its availability flag appended, and passed through ``layers`` fully connected
layers of ``hidden`` units (ReLU, dropout) to the logits of the functional groups. Without
convolutions it has no notion of neighbouring points: it shows what the encoders of the
other models add. It registers itself as ``mlp`` (table title "MLP").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError
from mspectmol.models.encoders import prepare_batch
from mspectmol.models.fusion import ConfigDictMixin, canonical_modalities
from mspectmol.models.registry import register_model


@dataclass
class MLPConfig(ConfigDictMixin):
    """Hyper-parameters of :class:`SpectrumMLP`.

    Attributes
    ----------
    modalities
        Spectra concatenated, in input order.
    n_points
        Points per spectrum.
    hidden, layers
        Units per hidden layer and number of hidden layers.
    dropout
        Dropout after each hidden layer.
    n_labels
        Functional-group labels (37).
    """

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    n_points: int = 600
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2
    n_labels: int = 37

    def __post_init__(self) -> None:
        self.modalities = canonical_modalities(self.modalities, "MLPConfig")
        if self.hidden < 1 or self.layers < 1 or self.n_points < 1 or self.n_labels < 1:
            raise MspectmolError("MLPConfig: hidden, layers, n_points and n_labels must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise MspectmolError(f"MLPConfig.dropout must be in [0, 1), got {self.dropout}")


class SpectrumMLP(nn.Module):
    """See the module docstring."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        width = len(config.modalities) * (config.n_points + 1)
        blocks: list[nn.Module] = []
        for _ in range(config.layers):
            blocks += [nn.Linear(width, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = config.hidden
        blocks.append(nn.Linear(width, config.n_labels))
        self.net = nn.Sequential(*blocks)

    def forward(self, spectra: Mapping[str, Tensor],
                available: Mapping[str, Tensor] | None = None) -> Tensor:
        """Logits ``(batch, n_labels)`` from ``{modality: (batch, n_points)}``."""
        cfg = self.config
        dtype = next(self.parameters()).dtype
        batch = prepare_batch(spectra, available, cfg.modalities, cfg.n_points, dtype=dtype)
        parts = []
        for m in cfg.modalities:
            parts += [batch.spectra[m], batch.available[m].to(dtype).unsqueeze(1)]
        return self.net(torch.cat(parts, dim=1))


register_model("mlp", "neural", SpectrumMLP, MLPConfig, title="MLP",
               description="multilayer perceptron on the concatenated spectra")
