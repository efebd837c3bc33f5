"""Multiply-accumulates of a PA-IB forward pass, per sample and per part of the network.

Counted as :class:`torch.utils.flop_counter.FlopCounterMode` counts them (one
multiply-accumulate = 2 FLOPs): the convolutions and matrix products of the inference forward
pass (batch norm folded into the convolutions), not the element-wise work (pooling, ReLU,
gate noise statistics, sigmoids), which costs memory traffic rather than arithmetic. The count
needs only the model's config, so it works without torch
(``python benchmarks/bench_architecture.py`` prints it beside accuracy and time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mspectmol.models.numpy_pa_ib import architecture


def pa_ib_macs(config: Mapping[str, Any]) -> dict[str, int]:
    """Multiply-accumulates per sample of a PA-IB model with every modality present.

    Parameters
    ----------
    config
        A PA-IB config dict (``model.json``'s ``config``, ``PAIBConfig.to_dict()``); missing
        fields take their defaults.

    Returns
    -------
    dict
        ``{part: count}`` with parts ``"conv stage 1"`` .. ``"conv stage S"`` (all encoders),
        ``"gates"``, ``"readouts"``, ``"heads"`` and ``"total"``.
    """
    arch = architecture(config)
    n_mod = 1 + len(arch["auxiliary"])
    k, length = int(arch["kernel_size"]), int(arch["n_points"])
    out: dict[str, int] = {}
    previous = 1
    for stage, width in enumerate(arch["channels"], start=1):
        out[f"conv stage {stage}"] = n_mod * length * previous * width * k
        previous, length = width, length // 2
    bands, width, gate_hidden = length, previous, int(arch["gate_hidden"])
    hidden, labels = int(arch["head_hidden"]), int(arch["n_labels"])
    gate_inputs = width + 3 * width * len(arch["auxiliary"])
    out["gates"] = bands * (gate_inputs * gate_hidden + n_mod * gate_hidden)
    out["readouts"] = n_mod * bands * width * hidden
    out["heads"] = (hidden * hidden + hidden * labels) + (n_mod * hidden * hidden
                                                          + hidden * labels)
    out["total"] = sum(out.values())
    return out
