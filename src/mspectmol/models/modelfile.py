"""The model-file format of every kind of model: weights in safetensors, the rest in JSON.

A saved model is a pair of files, ``model.safetensors`` (tensors, or a classical model's
arrays) and ``model.json``, a JSON object with

- ``format`` (``"mspectmol-model"``), ``format_version`` (2) and ``kind``: ``"classifier"``
  (:mod:`mspectmol.models.io`), ``"structure"`` (:mod:`mspectmol.structure.model.io`) or
  ``"conformers"`` (:mod:`mspectmol.conformers.io`);
- the kind's own fields (its *body*: config, label names or vocabulary, grids, training
  record, ...), which the kind's module writes and checks;
- ``versions`` (Python and the packages the file depends on), ``content_hash`` and
  ``content_size`` (SHA-256 and size of the safetensors file) and ``created``.

:func:`write_model` writes the pair atomically, file by file; :func:`read_document` reads and
checks the JSON half, refusing a model of another kind than the one asked for with one line
naming the file and both kinds; :func:`read_weights` checks the weights' size (with
:func:`os.stat` and against the safetensors header, before reading them) and SHA-256.

Files of format version 1 are read as well: one format per kind, told apart by ``format``
(``"mspectmol-model"``: a classifier, whose ``kind`` field held its family, ``"neural"`` or
``"classical"``; ``"mspectmol-structure-model"``; ``"mspectmol-conformer-model"``). The
packaged models are such files, read as they were written.

``path`` may be a folder (holding ``model.safetensors`` + ``model.json``) or a file name
ending in ``.safetensors`` or ``.json`` (the pair ``stem.safetensors`` + ``stem.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.fileio import atomic_write
from mspectmol.models.integrity import check_weights_file

FORMAT_NAME = "mspectmol-model"
FORMAT_VERSION = 2
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
#: The kinds of model, and how a message names one of each.
KINDS = {"classifier": "classifier", "structure": "structure", "conformers": "conformer"}
#: Format version 1: one format name per kind.
VERSION_1 = {"mspectmol-model": "classifier", "mspectmol-structure-model": "structure",
             "mspectmol-conformer-model": "conformers"}
#: Fields every kind's document has, written and checked here.
ENVELOPE = ("format", "format_version", "kind", "versions", "content_hash", "content_size",
            "created")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelDocument:
    """The JSON half of a model file, checked.

    Attributes
    ----------
    kind
        ``"classifier"``, ``"structure"`` or ``"conformers"``.
    format_version
        The version the file was written in (1 or 2).
    body
        The kind's fields (the document without :data:`ENVELOPE`). In a version-1
        classifier file the family (neural or classical) is under ``"family"``, as in
        version 2.
    versions, content_hash, content_size, created
        Package versions, SHA-256 and size of the weights file, time of writing.
    meta_path, weights_path
        The two files.
    """

    kind: str
    format_version: int
    body: dict[str, Any]
    versions: dict[str, str]
    content_hash: str
    content_size: int
    created: str
    meta_path: Path
    weights_path: Path


def kind_label(kind: str) -> str:
    """``"a conformer model"``: how messages name a model of ``kind``."""
    return f"a {KINDS.get(kind, kind)} model"


def model_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(weights, meta)`` file paths of a model folder or file pair."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        return p.with_suffix(".safetensors"), p.with_suffix(".json")
    return p / WEIGHTS_NAME, p / META_NAME


def file_sha256(data: bytes) -> str:
    """SHA-256 hex digest of bytes."""
    return hashlib.sha256(data).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a model file depends on."""
    import safetensors
    import torch

    from mspectmol import __version__

    return {"mspectmol": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__}


def write_model(path: str | os.PathLike[str], kind: str, weights: bytes,
                body: Mapping[str, Any]) -> Path:
    """Write a model file pair (weights first, then the JSON; each atomically).

    Parameters
    ----------
    path
        A folder (created if needed) or a ``.safetensors``/``.json`` file name.
    kind
        One of :data:`KINDS`.
    weights
        The safetensors file's bytes.
    body
        The kind's JSON fields (none of :data:`ENVELOPE`).

    Returns
    -------
    pathlib.Path
        The JSON file written.

    Raises
    ------
    ConfigError
        For an unknown kind, a body using an envelope field, or values JSON cannot hold.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    clash = sorted(set(body) & set(ENVELOPE))
    if clash:
        raise ConfigError(f"model fields {', '.join(clash)} are written by the file format")
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind,
                **body, "versions": package_versions(), "content_hash": file_sha256(weights),
                "content_size": len(weights),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot save the model: {exc}") from None
    weights_path, meta_path = model_paths(path)
    atomic_write(weights_path, weights)
    atomic_write(meta_path, text.encode("utf-8"))
    return meta_path


def _kind_and_version(data: dict[str, Any], source: Path) -> tuple[str, int]:
    name, version = data.get("format"), data.get("format_version")
    if name not in VERSION_1:
        raise ModelFileError(f"{source}: not an mspectmol model file (format {name!r}, "
                             f"expected {FORMAT_NAME!r})")
    if version == 1:
        return VERSION_1[name], 1
    if name != FORMAT_NAME or version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ModelFileError(f"{source}: unsupported format version {version!r} (this "
                             f"mspectmol reads versions 1 and {FORMAT_VERSION}"
                             f"{'; upgrade mspectmol' if newer else ''})")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ModelFileError(f"{source}: unknown model kind {kind!r} (known: "
                             f"{', '.join(KINDS)})")
    return kind, version


def read_document(path: str | os.PathLike[str], kind: str | None = None) -> ModelDocument:
    """Read and check the JSON half of a model file.

    Parameters
    ----------
    path
        Model folder or file.
    kind
        The kind the caller needs (None: any).

    Raises
    ------
    ModelFileError
        Naming the JSON file: missing, not JSON, not a model file, an unsupported version,
        a model of another kind than ``kind``, or a missing or malformed hash or size.
    """
    weights_path, meta_path = model_paths(path)
    if not meta_path.is_file():
        what = f"{KINDS.get(kind, kind)} model" if kind else "model"
        raise ModelFileError(f"{meta_path}: model description not found (no {what} in "
                             f"{meta_path.parent})")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelFileError(f"{meta_path}: cannot read the model description ({exc})") \
            from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{meta_path}: expected a JSON object, got {type(data).__name__}")
    found, version = _kind_and_version(data, meta_path)
    if kind is not None and found != kind:
        raise ModelFileError(f"{meta_path}: {kind_label(found)} (kind {found!r}), not "
                             f"{kind_label(kind)}")
    missing = [k for k in ("content_hash", "content_size") if k not in data]
    if missing:
        raise ModelFileError(f"{meta_path}: missing field(s) {', '.join(missing)}")
    digest, size = data["content_hash"], data["content_size"]
    if not (isinstance(digest, str) and _HEX64.match(digest)):
        raise ModelFileError(f"{meta_path}: content_hash must be a SHA-256 hex digest")
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        raise ModelFileError(f"{meta_path}: content_size must be a byte count")
    body = {k: v for k, v in data.items() if k not in ENVELOPE}
    if found == "classifier" and version == 1 and "kind" in data:
        body["family"] = data["kind"]
    versions = data.get("versions")
    return ModelDocument(kind=found, format_version=version, body=body,
                         versions=dict(versions) if isinstance(versions, dict) else {},
                         content_hash=digest, content_size=size,
                         created=str(data.get("created", "")), meta_path=meta_path,
                         weights_path=weights_path)


def read_weights(doc: ModelDocument) -> bytes:
    """The weights file's bytes after checking its size and SHA-256 against ``doc``.

    The size and the safetensors header are checked (:func:`check_weights_file`) before the
    file is read.

    Raises
    ------
    ModelFileError
        Naming the weights file: missing, too large, truncated or altered.
    """
    path = doc.weights_path
    check_weights_file(path, doc.content_size)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the weights ({exc})") from None
    if len(data) != doc.content_size:
        raise ModelFileError(f"{path}: truncated or altered file: {len(data)} bytes, the "
                             f"model description expects {doc.content_size}")
    if file_sha256(data) != doc.content_hash:
        raise ModelFileError(f"{path}: content hash mismatch: the file was modified or "
                             "corrupted after saving")
    return data


def model_kind(path: str | os.PathLike[str]) -> str:
    """The kind of the model file at ``path`` (its JSON half checked, not its weights)."""
    return read_document(path).kind
