"""Conformer model files: ``model.safetensors`` (weights) + ``model.json`` (everything else).

The JSON holds the format name and version, the :class:`ConformerConfig`, the spectrum grids,
the training summary, the training domain (:mod:`mspectmol.conformers.domain`; optional),
package versions and the SHA-256 and size of the weights file, which
:func:`load_conformer_model` checks before parsing it. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mspectmol.conformers.domain import TrainingDomain, domain_from_dict
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.fileio import atomic_write
from mspectmol.models.integrity import check_weights_file
from mspectmol.models.io import (
    META_NAME,
    WEIGHTS_NAME,
    file_sha256,
    grid_info,
    package_versions,
)

FORMAT_NAME = "mspectmol-conformer-model"
FORMAT_VERSION = 1
#: The model shipped with the package (trained by scripts/train_conformer_model.py).
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


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
    import numpy as np
    import safetensors.torch

    from mspectmol.spectra.preprocessing import canonical_grid

    folder = Path(folder)
    cfg = model.config
    data = safetensors.torch.save(unique_state(model))
    meta = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "modalities": {m: grid_info(m, np.asarray(canonical_grid(m, cfg.n_points)))
                       for m in cfg.modalities},
        "normalisation": "max",
        "training": training or {},
        **({"domain": domain.to_dict()} if domain is not None else {}),
        "versions": package_versions(),
        "content_hash": file_sha256(data), "content_size": len(data),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write(folder / WEIGHTS_NAME, data)
    atomic_write(folder / META_NAME,
                  (json.dumps(meta, indent=2, allow_nan=False) + "\n").encode("utf-8"))
    return folder / META_NAME


def read_conformer_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and checked ``model.json`` of a conformer model folder."""
    path = Path(folder) / META_NAME
    if not path.is_file():
        raise ModelFileError(f"{path}: no conformer model file (expected {META_NAME} and "
                             f"{WEIGHTS_NAME} in {Path(folder)})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable model description ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a {FORMAT_NAME} file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {meta.get('format_version')!r} is not "
                             f"supported (this mspectmol reads version {FORMAT_VERSION})")
    for key in ("config", "content_hash", "content_size"):
        if key not in meta:
            raise ModelFileError(f"{path}: missing field {key!r}")
    if meta.get("domain") is not None:
        if not isinstance(meta["domain"], dict):
            raise ModelFileError(f"{path}: the training domain must be an object")
        domain_from_dict(meta["domain"], str(path))
    return meta


def load_conformer_model(folder: str | os.PathLike[str] | None = None
                         ) -> tuple[ConformerDenoiser, dict[str, Any]]:
    """Load a conformer model (default: the shipped one) in eval mode, with its JSON meta."""
    import safetensors.torch
    from safetensors import SafetensorError

    folder = Path(folder) if folder is not None else PRETRAINED_DIR
    meta = read_conformer_meta(folder)
    weights = folder / WEIGHTS_NAME
    if not isinstance(meta["content_size"], int):
        raise ModelFileError(f"{folder / META_NAME}: content_size must be a byte count")
    check_weights_file(weights, meta["content_size"])  # stat and header, before reading
    try:
        data = weights.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{weights}: cannot read the weights ({exc})") from None
    if len(data) != meta["content_size"] or file_sha256(data) != meta["content_hash"]:
        raise ModelFileError(f"{weights}: the weights do not match the hash in {META_NAME} "
                             "(corrupt or replaced file)")
    try:
        config = ConformerConfig.from_dict(meta["config"])
    except (ConfigError, TypeError) as exc:
        raise ModelFileError(f"{folder / META_NAME}: invalid config ({exc})") from None
    model = ConformerDenoiser(config)
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
