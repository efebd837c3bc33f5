"""One-vs-all gated group models on concatenated spectra (appendix O)."""

import numpy as np
import pytest
import torch

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.dataset import EmbeddedDataset
from mspectmol.errors import MspectmolError
from mspectmol.explain.onevsall import (
    GroupGateModel,
    OneVsAllConfig,
    average_precision,
    best_f1_threshold,
    concatenated_maps,
    train_one_vs_all,
)

MODS = ("ir", "h_nmr", "c_nmr")
N_POINTS = 64
PEAK = 40          # IR point index that carries the Ketone label
GROUP = "Ketone"


def _peak(centre: float, width: float = 1.5) -> np.ndarray:
    x = np.arange(N_POINTS)
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def synthetic_dataset(n: int = 240, seed: int = 0) -> EmbeddedDataset:
    """Every spectrum has two random distractor peaks; Ketone molecules also have an IR peak
    at index ``PEAK`` (and negatives never do), so only that position predicts the label."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, len(GROUP_NAMES)), dtype=np.uint8)
    col = GROUP_NAMES.index(GROUP)
    labels[:, col] = rng.random(n) < 0.4
    labels[:, GROUP_NAMES.index("Alkane")] = 1
    spectra = {}
    for m in MODS:
        x = np.zeros((n, N_POINTS))
        for i in range(n):
            for c in rng.choice(np.r_[2:30, 50:62], 2, replace=False):
                x[i] += rng.uniform(0.3, 1.0) * _peak(c)
            if m == "ir" and labels[i, col]:
                x[i] += _peak(PEAK)
        spectra[m] = (x / x.max(axis=1, keepdims=True)).astype(np.float32)
    split = np.array(["train"] * (n - 80) + ["val"] * 40 + ["test"] * 40)
    return EmbeddedDataset(ids=np.array([f"s{i}" for i in range(n)]),
                           smiles=np.array(["C"] * n), source=np.array(["toy"] * n),
                           heavy_atoms=np.ones(n, dtype=int), labels=labels, spectra=spectra,
                           grids={m: np.linspace(0.0, 1.0, N_POINTS) for m in MODS},
                           splits={"scaffold": split})


CFG = OneVsAllConfig(n_points=N_POINTS, channels=(4, 8), kernel_size=5, gate_hidden=8,
                     head_hidden=8, kl_weight=0.3, epochs=12, batch_size=16, lr=3e-3)


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    return train_one_vs_all(synthetic_dataset(), [GROUP], config=CFG)


def test_importance_map_peaks_at_the_informative_peak(result):
    gm = result.models[GROUP]
    assert gm.scores["test_ap"] > 0.9
    ir = result.gate_maps[GROUP]["ir"]
    assert abs(int(np.argmax(ir)) - PEAK) <= 4
    # the IR gate map holds more than its third of the importance (the other spectra are noise)
    assert result.modality_share[GROUP]["ir"] > 1 / 3
    assert abs(int(np.argmax(result.attribution_maps[GROUP]["ir"])) - PEAK) <= 4


def test_shapes_sums_and_scores(result):
    gm = result.models[GROUP]
    maps = result.gate_maps[GROUP]
    assert set(maps) == set(MODS)
    assert all(v.shape == (N_POINTS,) and (v >= 0).all() for v in maps.values())
    assert sum(v.sum() for v in maps.values()) == pytest.approx(1.0)
    assert sum(result.modality_share[GROUP].values()) == pytest.approx(1.0)
    for v in result.attribution_maps[GROUP].values():
        assert v.sum() == pytest.approx(1.0)
    assert 1 <= gm.best_epoch <= CFG.epochs and len(gm.history) == CFG.epochs
    assert gm.scores["val_ap"] == max(h["val_ap"] for h in gm.history)
    assert 0.0 <= gm.threshold <= 1.0
    assert result.n_positive[GROUP] == gm.scores["n_test_positive"] > 0


def test_model_forward_shapes_and_unavailable_spectra():
    torch.manual_seed(0)
    model = GroupGateModel(CFG).eval()
    x = {m: torch.rand(5, N_POINTS) for m in MODS}
    avail = {"h_nmr": torch.tensor([True, False, True, True, True])}
    with torch.no_grad():
        out = model(x, avail)
    assert out.logits.shape == (5, 1)
    assert all(p.shape == (5, N_POINTS // 4) for p in out.gate_probs.values())
    assert float(out.gate_probs["h_nmr"][1].abs().sum()) == 0.0
    maps = concatenated_maps(model, {m: v.numpy() for m, v in x.items()})
    total = sum(v.sum(axis=1) for v in maps.values())
    np.testing.assert_allclose(total, 1.0, rtol=1e-9)


def test_average_precision_and_threshold():
    y = np.array([1, 0, 1, 0], dtype=bool)
    assert average_precision(y, np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(y, np.array([0.9, 0.1, 0.8, 0.2])) == pytest.approx(1.0)
    assert np.isnan(average_precision(np.zeros(3, bool), np.ones(3)))
    t, f1 = best_f1_threshold(y, np.array([0.9, 0.2, 0.6, 0.1]))
    assert f1 == pytest.approx(1.0) and 0.2 < t <= 0.6


def test_bad_inputs_raise():
    ds = synthetic_dataset(n=100)
    with pytest.raises(MspectmolError, match="unknown"):
        train_one_vs_all(ds, ["Ketones"], config=CFG)
    with pytest.raises(MspectmolError, match="positives and negatives"):
        train_one_vs_all(ds, ["Nitrile"], config=CFG)
    del ds.spectra["c_nmr"]
    with pytest.raises(MspectmolError, match="c_nmr"):
        train_one_vs_all(ds, [GROUP], config=CFG)
    with pytest.raises(MspectmolError, match="divisible"):
        OneVsAllConfig(n_points=30)
