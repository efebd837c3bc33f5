"""The structure models that ship with mspectmol, one folder per model named after it
(model.safetensors, model.json, MODEL_CARD.md): ``default`` (the SMILES decoder on PA-IB
features) and ``prior`` (the evidence-conditioned generator). Each card gives the
``mspectmol train --task structure`` command that rebuilds it."""

from __future__ import annotations

from pathlib import Path

from mspectmol.models.packaged import DEFAULT_NAME, PACKAGED_DIRS, resolve_model

PRETRAINED_DIR = PACKAGED_DIRS["structure"]
DEFAULT_STRUCTURE_MODEL = PRETRAINED_DIR / DEFAULT_NAME


def structure_model_path(path: str | Path | None = None) -> Path:
    """A structure model: ``path`` as given, a packaged structure model's name, or (None) the
    packaged default (:func:`~mspectmol.models.packaged.resolve_model`).

    Raises
    ------
    ModelFileError
        When the packaged default is missing.
    """
    return resolve_model(path, "structure")
