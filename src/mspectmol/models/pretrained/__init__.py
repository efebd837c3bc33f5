"""Models that ship inside the package, addressed by name (``default``).

Each is a folder ``<name>/`` holding ``model.safetensors``, ``model.json`` (see
:mod:`mspectmol.models.io`) and ``MODEL_CARD.md`` (how it was trained, with measured scores).
``scripts/train_default_model.py`` rebuilds ``default``.
"""

from __future__ import annotations

import os
from pathlib import Path

from mspectmol.errors import ModelFileError

PRETRAINED_DIR = Path(__file__).resolve().parent
#: Name of the model used when a command is given none.
DEFAULT_MODEL = "default"


def available_pretrained() -> list[str]:
    """Names of the packaged models (folders holding a ``model.json``)."""
    return sorted(p.parent.name for p in PRETRAINED_DIR.glob("*/model.json"))


def pretrained_path(name: str = DEFAULT_MODEL) -> Path:
    """Folder of the packaged model ``name``.

    Raises
    ------
    ModelFileError
        When no packaged model has that name (listing those that exist).
    """
    folder = PRETRAINED_DIR / name
    if not (folder / "model.json").is_file():
        have = ", ".join(available_pretrained()) or "none (rebuild with "
        have += "" if available_pretrained() else "scripts/train_default_model.py)"
        raise ModelFileError(f"no packaged model named {name!r}; packaged: {have}")
    return folder


def resolve_model(path: str | os.PathLike[str] | None) -> Path:
    """A model path as given, or a packaged model's folder when ``path`` is one's name.

    ``None`` means the default model. An existing path always wins over a packaged name.
    """
    if path is None:
        return pretrained_path(DEFAULT_MODEL)
    p = Path(path)
    if not p.exists() and str(path) in available_pretrained():
        return pretrained_path(str(path))
    return p
