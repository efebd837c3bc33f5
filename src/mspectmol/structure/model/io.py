"""Structure-model files: ``model.safetensors`` (weights) + ``model.json`` (everything else).

The JSON holds the format name and version, the :class:`StructureConfig`, the SMILES
vocabulary in index order, the spectrum modalities (primary first), the memory source and,
for ``pa_ib``/``ungated`` memories, which PA-IB encoder produced the features (a packaged
model name or a path, with the SHA-256 of its weights, checked on load), the training record,
package versions and the SHA-256 and size of the weights file. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import safetensors.torch

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.fileio import atomic_write
from mspectmol.models.integrity import check_weights_file
from mspectmol.models.io import file_sha256, model_paths, package_versions
from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
from mspectmol.structure.model.tokens import Vocabulary

FORMAT_NAME = "mspectmol-structure-model"
FORMAT_VERSION = 1


@dataclass
class StructureMeta:
    """The JSON half of a structure-model file."""

    config: dict[str, Any]
    vocabulary: list[str]
    modalities: list[str]
    encoder: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    content_size: int = 0
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **self.__dict__}


def save_structure_model(path: str | os.PathLike[str], model: StructureDecoder,
                         vocab: Vocabulary, modalities: list[str], *,
                         encoder: dict[str, Any] | None = None,
                         training: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Write the model folder/file pair atomically; returns the JSON path.

    ``half`` stores floating-point weights as float16 (half the file; they are read back
    into the float32 model).
    """
    weights_path, meta_path = model_paths(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    data = safetensors.torch.save(tensors)
    meta = StructureMeta(config=model.config.to_dict(), vocabulary=list(vocab.tokens),
                         modalities=list(modalities), encoder=encoder,
                         training=dict(training or {}), versions=package_versions(),
                         content_hash=file_sha256(data), content_size=len(data),
                         created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    doc = json.dumps(meta.to_json(), indent=2, allow_nan=False) + "\n"
    atomic_write(weights_path, data)
    atomic_write(meta_path, doc.encode("utf-8"))
    return meta_path


def read_structure_meta(path: str | os.PathLike[str]) -> StructureMeta:
    """Read and validate ``model.json``.

    Raises
    ------
    ModelFileError
        Missing file, bad JSON, wrong format or version, missing or malformed fields.
    """
    _, meta_path = model_paths(path)
    if not meta_path.is_file():
        raise ModelFileError(f"{meta_path}: structure model description not found")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{meta_path}: not an mspectmol structure model "
                             f"(expected format {FORMAT_NAME!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{meta_path}: unsupported format version "
                             f"{data.get('format_version')!r} (this mspectmol reads "
                             f"{FORMAT_VERSION})")
    missing = [k for k in ("config", "vocabulary", "modalities", "content_hash",
                           "content_size") if k not in data]
    if missing:
        raise ModelFileError(f"{meta_path}: missing field(s) {', '.join(missing)}")
    if not (isinstance(data["vocabulary"], list) and isinstance(data["modalities"], list)
            and isinstance(data["config"], dict)):
        raise ModelFileError(f"{meta_path}: config must be an object, vocabulary and "
                             "modalities lists")
    known = StructureMeta.__dataclass_fields__
    return StructureMeta(**{k: v for k, v in data.items() if k in known})


def load_structure_model(path: str | os.PathLike[str]
                         ) -> tuple[StructureDecoder, Vocabulary, StructureMeta]:
    """Load a structure model in eval mode (weights checked against size and SHA-256).

    Raises
    ------
    ModelFileError
        Naming the file, for every problem of :func:`read_structure_meta`, missing, truncated
        or altered weights, or weights that do not fit the config.
    """
    weights_path, meta_path = model_paths(path)
    meta = read_structure_meta(path)
    check_weights_file(weights_path, meta.content_size)  # stat and header, before reading
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{weights_path}: cannot read the weights ({exc})") from None
    if len(data) != meta.content_size or file_sha256(data) != meta.content_hash:
        raise ModelFileError(f"{weights_path}: truncated or altered file (size or SHA-256 "
                             "differs from model.json)")
    try:
        vocab = Vocabulary(tuple(meta.vocabulary))
        config = StructureConfig.from_dict(meta.config)
    except MspectmolError as exc:
        raise ModelFileError(f"{meta_path}: {exc}") from None
    if config.vocab_size != len(vocab):
        raise ModelFileError(f"{meta_path}: vocab_size {config.vocab_size} differs from the "
                             f"{len(vocab)} vocabulary tokens")
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types
        raise ModelFileError(f"{weights_path}: unreadable safetensors data ({exc})") from None
    model = StructureDecoder(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights_path}: weights do not match the config "
                             f"({str(exc).splitlines()[0]})") from None
    return model.eval(), vocab, meta
