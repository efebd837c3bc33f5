"""Tiny conformer models and molecules for the conformer tests (no embedded dataset)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mspectmol.conformers.io import save_conformer_model
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_jcamp

N_POINTS = 64


def tiny_config(**kw) -> ConformerConfig:
    base = dict(spectrum_encoder="pa_ib", primary="ir", auxiliary=("raman",), n_points=N_POINTS,
                channels=(4, 8), gate_hidden=8, spec_hidden=16, hidden=32, n_global_layers=2,
                n_local_layers=2, n_gaussians=16, n_steps=20, refine_t_start=3)
    base.update(kw)
    return ConformerConfig(**base)


@pytest.fixture()
def tiny_model() -> ConformerDenoiser:
    torch.manual_seed(0)
    return ConformerDenoiser(tiny_config()).eval()


@pytest.fixture()
def tiny_spectra() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {m: rng.random(N_POINTS).astype(np.float32) for m in ("ir", "raman")}


@pytest.fixture()
def make_config():
    """The :func:`tiny_config` factory."""
    return tiny_config


@pytest.fixture()
def model_dir(tmp_path, make_config):
    """A saved tiny untrained model (IR + (Raman), no training domain)."""
    torch.manual_seed(0)
    folder = tmp_path / "model"
    save_conformer_model(folder, ConformerDenoiser(make_config()).eval(), {"note": "test"})
    return folder


@pytest.fixture()
def ir_file(tmp_path):
    """A JCAMP-DX IR spectrum in %T with one carbonyl band."""
    wn = np.arange(3990.0, 410.0, -4.0)
    absorb = 0.05 + 0.9 / (1 + ((wn - 1715.0) / 12.0) ** 2)
    return write_jcamp(tmp_path / "ir.jdx", Spectrum(wn, 100 * 10.0 ** -absorb, "ir", "1/cm",
                                                     "%T", {"title": "sample"}))
