"""The Jung et al. (2023) CNN and its early / concatenated / late fusions."""

import pytest
import torch

from mspectmol.errors import MspectmolError
from mspectmol.models.baselines_nn import (
    JungCNN,
    MultiModalCNN,
    mean_probability_logit,
    scaled_widths,
)
from mspectmol.models.pa_ib import count_parameters


def _batch(n: int = 4, n_points: int = 64) -> dict[str, torch.Tensor]:
    return {m: torch.rand(n, n_points) for m in ("ir", "h_nmr", "c_nmr")}


def test_published_parameter_count():
    # three 600-point spectra end to end: 450 bands x 62 = 27,900 inputs -> 4927 -> 2785 -> 1574
    with torch.device("meta"):
        model = MultiModalCNN(("ir", "h_nmr", "c_nmr"), fusion="concat")
    assert count_parameters(model) == 155_657_908
    first = model.nets["all"].dense[1]
    assert (first.in_features, first.out_features) == (27_900, 4927)


def test_width_scale_shrinks_dense_layers():
    assert scaled_widths(1.0) == (4927, 2785, 1574)
    assert scaled_widths(0.1) == (493, 278, 157)
    with torch.device("meta"):
        small = JungCNN(width_scale=0.1)
    widths = [m.out_features for m in small.dense if isinstance(m, torch.nn.Linear)]
    assert widths == [493, 278, 157, 37]
    with pytest.raises(MspectmolError, match="width_scale"):
        scaled_widths(0.0)


@pytest.mark.parametrize("fusion", ["early", "concat", "late"])
def test_fusions_shapes_and_gradients(fusion):
    model = MultiModalCNN(fusion=fusion, n_points=64, n_labels=5, width_scale=0.01).train()
    logits = model(_batch())
    assert logits.shape == (4, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_early_fusion_stacks_channels():
    model = MultiModalCNN(fusion="early", n_points=64, width_scale=0.01)
    conv = model.nets["all"].encoder.stages[0][0]
    assert conv.weight.shape == (31, 3, 1, 11)  # 31 filters of length 11 over 3 stacked spectra


def test_mean_probability_logit():
    logits = torch.randn(3, 5, 4, dtype=torch.float64) * 4
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 0, 0, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    out = mean_probability_logit(logits, mask)
    probs = torch.sigmoid(logits) * mask.unsqueeze(-1)
    mean = probs.sum(0) / mask.sum(0).unsqueeze(-1)
    torch.testing.assert_close(out, torch.logit(mean))
    big = mean_probability_logit(torch.full((2, 1, 1), 80.0), torch.ones(2, 1, dtype=torch.bool))
    torch.testing.assert_close(big, torch.full((1, 1), 80.0))  # stable far from 0


def test_late_fusion_averages_available_modalities_only():
    model = MultiModalCNN(fusion="late", n_points=64, n_labels=5, width_scale=0.01).eval()
    x = _batch()
    only_ir = {"ir": torch.ones(4, dtype=torch.bool), "h_nmr": torch.zeros(4, dtype=torch.bool),
               "c_nmr": torch.zeros(4, dtype=torch.bool)}
    with torch.no_grad():
        torch.testing.assert_close(model(x, only_ir), model.nets["ir"](x["ir"]))
    with pytest.raises(MspectmolError, match="at least one available"):
        model(x, {m: torch.zeros(4, dtype=torch.bool) for m in x})


def test_bad_fusion_and_modalities():
    with pytest.raises(MspectmolError, match="unknown fusion"):
        MultiModalCNN(fusion="mid")
    with pytest.raises(MspectmolError, match="distinct"):
        MultiModalCNN(("ir", "IR"))
