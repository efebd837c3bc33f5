"""The structure model that ships with mspectmol (``default/``: model.safetensors,
model.json, MODEL_CARD.md), rebuilt by ``scripts/train_structure_model.py``."""

from __future__ import annotations

from pathlib import Path

from mspectmol.errors import ModelFileError

PRETRAINED_DIR = Path(__file__).resolve().parent
DEFAULT_STRUCTURE_MODEL = PRETRAINED_DIR / "default"


def structure_model_path(path: str | Path | None = None) -> Path:
    """A structure model folder: ``path`` as given, or the packaged default.

    Raises
    ------
    ModelFileError
        When the packaged default is missing.
    """
    if path is not None:
        return Path(path)
    if not (DEFAULT_STRUCTURE_MODEL / "model.json").is_file():
        raise ModelFileError(f"{DEFAULT_STRUCTURE_MODEL}: no packaged structure model; build "
                             "it with scripts/train_structure_model.py")
    return DEFAULT_STRUCTURE_MODEL
