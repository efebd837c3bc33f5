"""The models that ship inside the package, found by kind and name.

Each kind of model (:data:`~mspectmol.models.modelfile.KINDS`) keeps its packaged models in
one folder (:data:`PACKAGED_DIRS`), one sub-folder per model named after it, holding
``model.safetensors``, ``model.json`` and ``MODEL_CARD.md``; a kind's folder that holds a
``model.json`` itself is that kind's only model, named :data:`DEFAULT_NAME` (the conformer
model). :func:`find_packaged` gives a packaged model's folder; :func:`resolve_model` turns
what a user gave (a path, a run folder holding ``model/``, a packaged name or nothing) into a
model path. Which kind the file really is, the kind's loader checks.
"""

from __future__ import annotations

import os
from pathlib import Path

from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.models.modelfile import KINDS, META_NAME, model_paths

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: Folder of each kind's packaged models.
PACKAGED_DIRS = {"classifier": PACKAGE_ROOT / "models" / "pretrained",
                 "structure": PACKAGE_ROOT / "structure" / "pretrained",
                 "conformers": PACKAGE_ROOT / "conformers" / "pretrained"}
#: Name of the model a command uses when it is given none.
DEFAULT_NAME = "default"


def _folder(kind: str) -> Path:
    if kind not in PACKAGED_DIRS:
        raise ConfigError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    return PACKAGED_DIRS[kind]


def packaged_models(kind: str) -> dict[str, Path]:
    """Names and folders of the packaged models of ``kind``, sorted by name."""
    folder = _folder(kind)
    if (folder / META_NAME).is_file():
        return {DEFAULT_NAME: folder}
    return {p.parent.name: p.parent for p in sorted(folder.glob(f"*/{META_NAME}"))}


def find_packaged(kind: str, name: str = DEFAULT_NAME) -> Path:
    """Folder of the packaged model ``name`` of ``kind``.

    Raises
    ------
    ModelFileError
        When no packaged model of that kind has that name (listing those that do exist).
    """
    have = packaged_models(kind)
    if name not in have:
        listed = ", ".join(have) or "none"
        raise ModelFileError(f"no packaged {KINDS[kind]} model named {name!r}; packaged: "
                             f"{listed}")
    return have[name]


def resolve_model(path_or_name: str | os.PathLike[str] | None, kind: str) -> Path:
    """The model path meant by a command's model argument.

    ``None`` is the kind's default packaged model. An existing path wins over a packaged
    name; a folder without ``model.json`` that holds ``model/model.json`` (a run folder)
    gives that ``model/``. Anything else that is a packaged model's name gives its folder,
    and the rest is returned as given (its loader reports what is missing).
    """
    _folder(kind)
    if path_or_name is None:
        return find_packaged(kind)
    p = Path(path_or_name)
    if p.exists():
        inner = p / "model"
        if p.is_dir() and not model_paths(p)[1].is_file() and model_paths(inner)[1].is_file():
            return inner
        return p
    if str(path_or_name) in packaged_models(kind):
        return find_packaged(kind, str(path_or_name))
    return p
