"""The MLP baseline: registered by its own module, sized by its config, trained by the harness."""

from __future__ import annotations

import json

import torch

from mspectmol.cli.main import main
from mspectmol.models.baselines_mlp import MLPConfig, SpectrumMLP
from mspectmol.models.registry import available_models, get_model_spec


def test_mlp_is_registered_with_its_title():
    assert "mlp" in available_models()
    spec = get_model_spec("mlp")
    assert spec.title == "MLP" and spec.config_cls is MLPConfig


def test_forward_handles_missing_spectra():
    model = SpectrumMLP(MLPConfig(modalities=("ir", "c_nmr"), n_points=50, hidden=8, layers=1))
    x = {"ir": torch.rand(4, 50), "c_nmr": torch.rand(4, 50)}
    out = model(x, {"c_nmr": torch.tensor([True, False, True, False])})
    assert out.shape == (4, 37)
    # a missing spectrum's values do not matter
    x2 = dict(x, c_nmr=torch.where(torch.tensor([[False], [True], [False], [True]]),
                                   torch.full((4, 50), 7.0), x["c_nmr"]))
    model.eval()
    avail = {"c_nmr": torch.tensor([True, False, True, False])}
    assert torch.allclose(model(x, avail), model(x2, avail))
    assert sum(p.numel() for p in model.parameters()) == 2 * 51 * 8 + 8 + 8 * 37 + 37


def test_train_cli_trains_the_mlp(tmp_path):
    assert main(["train", "--model", "mlp", "--config", "quick", "--epochs", "1",
                 "--max-train", "64", "--threads", "1", "--no-progress",
                 "-o", str(tmp_path)]) == 0
    run = next(tmp_path.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "config.json").read_text())["model"] == "mlp"
    assert 0.0 <= metrics["test"]["at_0.5"]["micro_f1"] <= 1.0
