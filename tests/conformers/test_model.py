"""Invariance of the denoiser, the loss and the distance-to-coordinate map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mspectmol.conformers.baselines import embed_etkdg
from mspectmol.conformers.data import mol_with_hs, spectra_batch
from mspectmol.conformers.diffusion import (
    Schedule,
    coordinate_noise,
    diffusion_loss,
    distance_noise,
)
from mspectmol.conformers.graph import TWO_HOP, collate_graphs, graph_from_mol
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
from mspectmol.errors import ConfigError


def _inputs(smiles="CC(O)C=O", seed=0):
    mol = mol_with_hs(smiles)
    pos = torch.from_numpy(embed_etkdg(mol, 1, seed)[0].astype(np.float32))
    return mol, pos, collate_graphs([graph_from_mol(mol)])


@pytest.mark.parametrize("encoder", ["pa_ib", "attention", "none"])
def test_predicted_distances_invariant_to_rotation_and_translation(encoder, tiny_spectra,
                                                                   make_config):
    torch.manual_seed(0)
    model = ConformerDenoiser(make_config(spectrum_encoder=encoder)).eval()
    _, pos, graph = _inputs()
    spec, avail = spectra_batch([tiny_spectra], model.config.modalities)
    if not model.config.modalities:
        spec = avail = None
    t = torch.tensor([7])
    rot = torch.from_numpy(Rotation.random(random_state=3).as_matrix().astype(np.float32))
    moved = pos @ rot.T + torch.tensor([5.0, -3.0, 11.0])
    with torch.no_grad():
        a = model(pos, graph, t, spec, avail)
        b = model(moved, graph, t, spec, avail)
    assert torch.equal(a["local"], b["local"]) and torch.equal(a["global"], b["global"])
    assert a["local"].any() and a["global"].any()
    assert torch.allclose(a["pred"], b["pred"], atol=1e-4)
    # and the prediction does depend on the geometry (the check above can fail)
    with torch.no_grad():
        c = model(pos * 1.3, graph, t, spec, avail)
    assert not torch.allclose(a["pred"], c["pred"], atol=1e-3)


def test_coordinate_noise_inverts_the_distance_projection():
    _, pos, _ = _inputs("CC(C)CO")
    n = pos.shape[0]
    graph = collate_graphs([graph_from_mol(mol_with_hs("CC(C)CO"))] * 2)
    jitter = torch.randn(pos.shape, generator=torch.Generator().manual_seed(1))
    x = torch.cat([pos, pos + 0.1 * jitter])
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    eps[:n] -= eps[:n].mean(0)
    eps[n:] -= eps[n:].mean(0)
    e = distance_noise(eps, x, graph.pairs)
    mask = torch.ones_like(e, dtype=torch.bool)
    back = coordinate_noise(e, mask, x, graph.pairs, n, 2)
    # eps is recovered up to a rigid rotation, which leaves all distances unchanged
    assert torch.allclose(distance_noise(back, x, graph.pairs), e, atol=1e-3)
    assert back.norm() <= eps.norm() + 1e-4


def test_graph_types_and_loss_is_finite(tiny_model, tiny_spectra):
    mol, pos, graph = _inputs("CCCC")
    g = graph_from_mol(mol)
    # C0 and C2 are two bonds apart
    k = np.flatnonzero((g.pairs[0] == 0) & (g.pairs[1] == 2))[0]
    assert g.pair_type[k] == TWO_HOP
    spec, avail = spectra_batch([tiny_spectra], tiny_model.config.modalities)
    tiny_model.train()
    out = diffusion_loss(tiny_model, pos - pos.mean(0), graph, Schedule(20), spec, avail)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    out["loss"].backward()


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="spectrum_encoder"):
        ConformerConfig(spectrum_encoder="lstm")
    with pytest.raises(ConfigError, match="primary"):
        ConformerConfig(primary="ir", auxiliary=("ir",))
    assert ConformerConfig.from_dict(ConformerConfig().to_dict()) == ConformerConfig()
