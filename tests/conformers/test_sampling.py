"""Sampling: finite coordinates and sane bond lengths from a model overfitted on one molecule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mspectmol.conformers.baselines import embed_etkdg
from mspectmol.conformers.data import mol_with_hs
from mspectmol.conformers.diffusion import Schedule, diffusion_loss
from mspectmol.conformers.graph import collate_graphs, graph_from_mol
from mspectmol.conformers.model import ConformerDenoiser
from mspectmol.conformers.sample import generate_conformers
from mspectmol.errors import MspectmolError


def _overfit(make_config, smiles="CCO", steps=500):
    torch.manual_seed(0)
    mol = mol_with_hs(smiles)
    x = torch.from_numpy(embed_etkdg(mol, 1, 0, mmff=True)[0].astype(np.float32))
    x -= x.mean(0)
    model = ConformerDenoiser(make_config(spectrum_encoder="none", n_steps=20))
    graph = collate_graphs([graph_from_mol(mol)] * 8)
    x0 = x.repeat(8, 1)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    schedule, gen = Schedule(20), torch.Generator().manual_seed(0)
    for _ in range(steps):
        loss = diffusion_loss(model, x0, graph, schedule, generator=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), mol, x.numpy()


def test_overfitted_model_samples_sane_bond_lengths(make_config):
    model, mol, ref = _overfit(make_config)
    gen = generate_conformers(model, "CCO", 6, mode="noise", seed=1, mol=mol)
    assert gen.coords.shape == (6, mol.GetNumAtoms(), 3)
    assert np.isfinite(gen.coords).all() and np.isfinite(gen.scores).all()
    cc = np.linalg.norm(gen.coords[:, 0] - gen.coords[:, 1], axis=1)
    co = np.linalg.norm(gen.coords[:, 1] - gen.coords[:, 2], axis=1)
    assert ((cc > 1.3) & (cc < 1.7)).all(), cc
    assert ((co > 1.2) & (co < 1.6)).all(), co
    # the reference conformer scores better than a badly distorted one
    bad = ref * np.array([1.6, 1.0, 0.6])
    from mspectmol.conformers.sample import score_conformers

    good_score, bad_score = score_conformers(model, mol, np.stack([ref, bad]))
    assert good_score < bad_score
    # refinement from a given start keeps the molecule intact too
    ref_gen = generate_conformers(model, "CCO", 2, mode="refine", t_start=3, seed=2,
                                  init_coords=np.stack([ref, ref]), mol=mol)
    cc = np.linalg.norm(ref_gen.coords[:, 0] - ref_gen.coords[:, 1], axis=1)
    assert ((cc > 1.3) & (cc < 1.7)).all(), cc


def test_mirror_images_are_corrected(tiny_model, tiny_spectra):
    gen = generate_conformers(tiny_model, "C[C@H](N)O", 2, spectra=tiny_spectra,
                              mode="refine", t_start=0, seed=0)
    # t_start 0 returns the ETKDG starting conformers, which have the right stereo
    assert gen.stereo_ok.all() and not gen.mirrored.any()
    flipped = gen.coords * np.array([-1.0, 1.0, 1.0])
    again = generate_conformers(tiny_model, "C[C@H](N)O", 2, spectra=tiny_spectra,
                                mode="refine", t_start=0, init_coords=flipped, seed=0)
    assert again.mirrored.all() and again.stereo_ok.all()


def test_bad_sampling_requests(tiny_model, tiny_spectra):
    with pytest.raises(MspectmolError, match="mode"):
        generate_conformers(tiny_model, "CCO", 1, spectra=tiny_spectra, mode="teleport")
    with pytest.raises(MspectmolError, match="at least 1"):
        generate_conformers(tiny_model, "CCO", 0, spectra=tiny_spectra)
    with pytest.raises(MspectmolError, match="ir spectrum"):
        generate_conformers(tiny_model, "CCO", 1, spectra={})
    with pytest.raises(MspectmolError, match="finite"):
        generate_conformers(tiny_model, "CCO", 1,
                            spectra={"ir": np.full(64, np.nan, dtype=np.float32)})
    with pytest.raises(MspectmolError, match="xyz"):
        generate_conformers(tiny_model, "xyz(", 1, spectra=tiny_spectra)
