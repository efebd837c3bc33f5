"""The multiply-accumulate count of PA-IB against torch's FLOP counter and a hand count."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mspectmol.models.flops import pa_ib_macs
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel


def test_packaged_architecture_by_hand():
    macs = pa_ib_macs({"channels": [16, 32], "kernel_size": 11})
    assert macs["conv stage 1"] == 3 * 600 * 1 * 16 * 11
    assert macs["conv stage 2"] == 3 * 300 * 16 * 32 * 11
    assert macs["readouts"] == 3 * 150 * 32 * 128
    assert macs["total"] == sum(v for key, v in macs.items() if key != "total")


@pytest.mark.parametrize("config", [
    {},
    {"channels": (16, 24), "kernel_size": 7},
    {"channels": (8, 16, 16), "kernel_size": 5, "auxiliary": ("h_nmr",), "n_points": 200},
])
def test_count_equals_torch_flop_counter(config):
    model = PAIBModel(PAIBConfig(**config)).eval()
    cfg = model.config
    batch = {m: torch.rand(3, cfg.n_points) for m in cfg.modalities}
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(batch)
    assert counter.get_total_flops() == 2 * 3 * pa_ib_macs(cfg.to_dict())["total"]
