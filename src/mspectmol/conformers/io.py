"""Conformer model files: the one model-file format (:mod:`mspectmol.models.modelfile`),
kind ``"conformers"``.

The JSON body holds the :class:`ConformerConfig`, the spectrum grids, the intensity
normalisation, the training summary and the training domain
(:mod:`mspectmol.conformers.domain`; optional); the file format adds the package versions and
the SHA-256 and size of the weights file, which :func:`load_conformer_model` checks before
parsing it. Nothing is ever unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
from safetensors import SafetensorError

from mspectmol.conformers.domain import TrainingDomain, domain_from_dict
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.models.io import grid_info
from mspectmol.models.modelfile import ModelDocument, read_document, read_weights, write_model
from mspectmol.models.packaged import PACKAGED_DIRS, resolve_model
from mspectmol.spectra.preprocessing import canonical_grid

KIND = "conformers"
#: The folder of the model shipped with the package (``mspectmol train --task conformers``).
PRETRAINED_DIR = PACKAGED_DIRS[KIND]


def unique_state(model: ConformerDenoiser) -> dict:
    """State dict without aliases (SchNet's interaction block shares its filter MLP)."""
    seen, out = set(), {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        out[name] = tensor.detach().cpu().contiguous()
    return out


def save_conformer_model(folder: str | os.PathLike[str], model: ConformerDenoiser,
                         training: dict[str, Any] | None = None,
                         domain: TrainingDomain | None = None) -> Path:
    """Write ``model`` to ``folder`` (created if needed); returns the JSON path.

    ``domain``, the heavy-atom count and elements of the training molecules, is stored as
    ``"domain"`` for the out-of-domain warning of ``mspectmol conformers``.
    """
    cfg = model.config
    body = {"config": cfg.to_dict(),
            "modalities": {m: grid_info(m, np.asarray(canonical_grid(m, cfg.n_points)))
                           for m in cfg.modalities},
            "normalisation": "max", "training": training or {},
            **({"domain": domain.to_dict()} if domain is not None else {})}
    return write_model(folder, KIND, safetensors.torch.save(unique_state(model)), body)


def _meta(doc: ModelDocument) -> dict[str, Any]:
    """The description as a dict: kind, format version, body, versions, hash and size."""
    meta = {"kind": doc.kind, "format_version": doc.format_version, **doc.body,
            "versions": doc.versions, "content_hash": doc.content_hash,
            "content_size": doc.content_size, "created": doc.created}
    if "config" not in meta:
        raise ModelFileError(f"{doc.meta_path}: missing field 'config'")
    if meta.get("domain") is not None:
        if not isinstance(meta["domain"], dict):
            raise ModelFileError(f"{doc.meta_path}: the training domain must be an object")
        domain_from_dict(meta["domain"], str(doc.meta_path))
    return meta


def read_conformer_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and checked ``model.json`` of a conformer model folder."""
    return _meta(read_document(folder, KIND))


def load_conformer_model(folder: str | os.PathLike[str] | None = None
                         ) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Load a conformer model in eval mode, with its JSON description.

    ``folder`` is a model folder, a run folder holding ``model/`` or a packaged conformer
    model's name; None is the packaged model.
    """
    path = resolve_model(folder, KIND)
    doc = read_document(path, KIND)
    meta = _meta(doc)
    data = read_weights(doc)
    try:
        config = ConformerConfig.from_dict(meta["config"])
    except (ConfigError, TypeError) as exc:
        raise ModelFileError(f"{doc.meta_path}: invalid config ({exc})") from None
    model = ConformerDenoiser(config)
    weights = doc.weights_path
    try:
        tensors = safetensors.torch.load(data)
        expected = set(unique_state(model))
        if set(tensors) != expected:
            raise ValueError(f"tensor names differ: missing {sorted(expected - set(tensors))[:3]}, "
                             f"unexpected {sorted(set(tensors) - expected)[:3]}")
        model.load_state_dict(tensors, strict=False)
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{weights}: the weights do not fit the model ({exc})") from None
    model.eval()
    return model, meta
