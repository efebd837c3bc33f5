"""Structure-model files: the one model-file format (:mod:`mspectmol.models.modelfile`),
kind ``"structure"``.

The JSON body holds the :class:`StructureConfig`, the SMILES vocabulary in index order, the
spectrum modalities (primary first) and, for ``pa_ib``/``ungated`` memories, which PA-IB
encoder produced the features (a packaged model name or a path, with the SHA-256 of its
weights, checked on load), and the training record; the file format adds the package
versions and the SHA-256 and size of the weights file. Nothing is unpickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.models.modelfile import (
    ModelDocument,
    model_paths,
    read_document,
    read_weights,
    write_model,
)
from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
from mspectmol.structure.model.tokens import Vocabulary

KIND = "structure"
#: Fields of the JSON body every structure model has.
REQUIRED_FIELDS = ("config", "vocabulary", "modalities")


@dataclass
class StructureMeta:
    """A structure model's description: its JSON body and the file's hash."""

    config: dict[str, Any]
    vocabulary: list[str]
    modalities: list[str]
    encoder: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    content_size: int = 0
    created: str = ""

    def body(self) -> dict[str, Any]:
        """The structure model's fields of ``model.json`` (the file format adds the rest)."""
        return {"config": self.config, "vocabulary": self.vocabulary,
                "modalities": self.modalities, "encoder": self.encoder,
                "training": self.training}

    @classmethod
    def from_document(cls, doc: ModelDocument) -> StructureMeta:
        """Check a structure model's ``model.json``.

        Raises
        ------
        ModelFileError
            Naming the file: missing or malformed fields.
        """
        data = doc.body
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise ModelFileError(f"{doc.meta_path}: missing field(s) {', '.join(missing)}")
        if not (isinstance(data["vocabulary"], list) and isinstance(data["modalities"], list)
                and isinstance(data["config"], dict)):
            raise ModelFileError(f"{doc.meta_path}: config must be an object, vocabulary and "
                                 "modalities lists")
        training = data.get("training") or {}
        if not isinstance(training, dict):
            raise ModelFileError(f"{doc.meta_path}: training must be an object")
        return cls(config=data["config"], vocabulary=data["vocabulary"],
                   modalities=data["modalities"], encoder=data.get("encoder"),
                   training=training, versions=doc.versions, content_hash=doc.content_hash,
                   content_size=doc.content_size, created=doc.created)


def save_structure_model(path: str | os.PathLike[str], model: StructureDecoder,
                         vocab: Vocabulary, modalities: list[str], *,
                         encoder: dict[str, Any] | None = None,
                         training: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Write the model folder/file pair atomically; returns the JSON path.

    ``half`` stores floating-point weights as float16 (half the file; they are read back
    into the float32 model).
    """
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    meta = StructureMeta(config=model.config.to_dict(), vocabulary=list(vocab.tokens),
                         modalities=list(modalities), encoder=encoder,
                         training=dict(training or {}))
    return write_model(path, KIND, safetensors.torch.save(tensors), meta.body())


def read_structure_meta(path: str | os.PathLike[str]) -> StructureMeta:
    """Read and check the JSON half of a structure model.

    Raises
    ------
    ModelFileError
        Missing file, bad JSON, not a model file or of an unsupported version, a model of
        another kind, missing or malformed fields.
    """
    return StructureMeta.from_document(read_document(path, KIND))


def load_structure_model(path: str | os.PathLike[str]
                         ) -> tuple[StructureDecoder, Vocabulary, StructureMeta]:
    """Load a structure model in eval mode (weights checked against size and SHA-256).

    Raises
    ------
    ModelFileError
        Naming the file, for every problem of :func:`read_structure_meta`, missing, truncated
        or altered weights, or weights that do not fit the config.
    """
    doc = read_document(path, KIND)
    meta = StructureMeta.from_document(doc)
    weights_path, meta_path = model_paths(path)
    data = read_weights(doc)
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
