"""Models: the PA-IB classifier (paper section 2), its loss (eq. 14) and neural baselines."""

from mspectmol.models.baselines_nn import JungCNN, MultiModalCNN
from mspectmol.models.encoders import SpectrumEncoder, prepare_batch
from mspectmol.models.gates import BandGate, apply_gate, gate_kl
from mspectmol.models.losses import PAIBLoss, pa_ib_loss
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel, PAIBOutput, count_parameters

__all__ = [
    "BandGate",
    "JungCNN",
    "MultiModalCNN",
    "PAIBConfig",
    "PAIBLoss",
    "PAIBModel",
    "PAIBOutput",
    "SpectrumEncoder",
    "apply_gate",
    "count_parameters",
    "gate_kl",
    "pa_ib_loss",
    "prepare_batch",
]
