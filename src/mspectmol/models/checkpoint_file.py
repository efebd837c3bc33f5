"""The bytes of a checkpoint file: safetensors whose metadata carries a content hash.

:func:`encode_checkpoint` adds ``mspectmol.sha256`` to the header metadata: the SHA-256 of
the tensor data (the bytes after the header) followed by the JSON document stored under
``mspectmol.checkpoint``. :func:`check_hash` recomputes it when a checkpoint is read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from mspectmol.errors import MspectmolError

META_KEY = "mspectmol.checkpoint"
HASH_KEY = "mspectmol.sha256"

log = logging.getLogger("mspectmol.train")


def _storable(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """CPU, contiguous tensors that share no memory (as safetensors requires)."""
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() == 0 or ptr in seen:
            t = t.clone()
        seen.add(ptr)
        out[name] = t
    return out


def split_file(raw: bytes) -> tuple[dict[str, Any], memoryview]:
    """A safetensors file's header (parsed) and its tensor data."""
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), memoryview(raw)[8 + n:]


def _digest(data: memoryview, document: str) -> str:
    """SHA-256 of the tensor data followed by the JSON document (``mspectmol.sha256``)."""
    digest = hashlib.sha256(data)
    digest.update(document.encode("utf-8"))
    return digest.hexdigest()


def encode_checkpoint(tensors: Mapping[str, Tensor], metadata: dict[str, str]) -> bytes:
    """Safetensors bytes of ``tensors`` whose metadata also holds ``mspectmol.sha256``."""
    from safetensors.torch import save

    header, data = split_file(save(_storable(tensors), metadata=metadata))
    header.setdefault("__metadata__", {})[HASH_KEY] = _digest(data, metadata.get(META_KEY, ""))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data stays 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + data


def check_hash(path: Path, metadata: Mapping[str, str], data: memoryview) -> None:
    """Compare the file's tensor data and document with its ``mspectmol.sha256``."""
    recorded = metadata.get(HASH_KEY)
    if recorded is None:
        if META_KEY in metadata:
            log.warning("%s: checkpoint without a content hash (an older mspectmol wrote it); "
                        "its weights cannot be checked for damage", path)
        return
    if _digest(data, metadata.get(META_KEY, "")) != recorded:
        raise MspectmolError(f"{path}: corrupt checkpoint: its content hash differs from the "
                             "one saved with it (the file was damaged or modified after "
                             "writing); resume from another checkpoint or start again")
