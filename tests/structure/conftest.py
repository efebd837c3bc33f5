"""Shared fixtures of the structure tests."""

from pathlib import Path

import pytest
import torch


def build_tiny_models(root: Path, smiles: list[str], max_len: int) -> Path:
    """Save a tiny PA-IB encoder (``root/encoder``) and a tiny structure decoder reading its
    features (``root/structure``) whose vocabulary covers ``smiles``; returns ``root``."""
    from mspectmol.chem.functional_groups import GROUP_NAMES
    from mspectmol.models.io import ModelMeta, grid_info, save_model
    from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
    from mspectmol.spectra.preprocessing import canonical_grid
    from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
    from mspectmol.structure.model.io import save_structure_model
    from mspectmol.structure.model.tokens import Vocabulary

    torch.manual_seed(0)
    cfg = PAIBConfig(channels=(4, 8), gate_hidden=8, head_hidden=16)
    meta = ModelMeta(model_name="pa_ib", config=cfg.to_dict(), label_names=GROUP_NAMES,
                     modalities={m: grid_info(m, canonical_grid(m, 600))
                                 for m in cfg.modalities},
                     primary="ir", auxiliary=("h_nmr", "c_nmr"))
    save_model(root / "encoder", PAIBModel(cfg), meta)
    vocab = Vocabulary.build(smiles)
    scfg = StructureConfig(vocab_size=len(vocab), n_features=8, n_tokens=15, pool=10,
                           n_encoder_layers=0, d_model=16, n_heads=2, n_decoder_layers=1,
                           ff_dim=32, max_len=max_len)
    ref = {"model": str(root / "encoder"), "content_hash": meta.content_hash,
           "modalities": ["ir", "h_nmr", "c_nmr"]}
    save_structure_model(root / "structure", StructureDecoder(scfg), vocab,
                         ["ir", "h_nmr", "c_nmr"], encoder=ref)
    return root


def toy_simulator_for(table: dict, calls: list, stage: str = "conformers"):
    """A simulator returning ``table[smiles]`` (recording each call in ``calls``) and failing
    at ``stage`` for a structure not in ``table``."""
    def simulate(smiles):
        calls.append(smiles)
        if smiles not in table:
            from mspectmol.data.simulator.errors import SimulationError

            raise SimulationError(stage, "toy failure", smiles)
        return table[smiles]
    return simulate


@pytest.fixture(scope="session")
def toy_simulator():
    """:func:`toy_simulator_for`, for the structure tests."""
    return toy_simulator_for


@pytest.fixture(scope="session")
def tiny_model_builder():
    """:func:`build_tiny_models`, for module-scoped fixtures of the structure tests."""
    return build_tiny_models
