"""Checks of weights files before they are read: size, safetensors header, SHA-256.

Standard library only. :func:`check_weights_file` refuses a file that is too large, of
another size than its description says, or whose safetensors header does not describe the
file's size, using :func:`os.stat` and the header alone (a 3 GB sparse file is never read).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from mspectmol.errors import ModelFileError

#: Largest model weights file read (bytes); a larger one is refused before it is read.
MAX_WEIGHTS_BYTES = 2 * 1024**3
#: Largest training checkpoint read (bytes): model, best state and optimiser state.
MAX_CHECKPOINT_BYTES = 8 * 1024**3
_MAX_HEADER_BYTES = 100 * 1024**2


def check_weights_file(path: Path, expected_size: int | None = None, *,
                       max_bytes: int = MAX_WEIGHTS_BYTES) -> int:
    """Check a safetensors file before reading it; returns its size in bytes.

    The size (from :func:`os.stat`, nothing is read) must be at most ``max_bytes`` and equal
    ``expected_size`` when given; then only the header is read, and the data it declares
    (the largest end offset of its tensors) must fill the file exactly. A truncated, padded,
    sparse or foreign file is refused before its bulk is read into memory.

    Raises
    ------
    ModelFileError
        Naming the file: missing, too large, of another size than expected, or a header that
        is not a safetensors header or does not match the file's size.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model weights not found") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the weights ({exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: model weights not found (not a file)")
    size = info.st_size
    if expected_size is not None and size != expected_size:
        raise ModelFileError(f"{path}: truncated or altered file: {size} bytes, the model "
                             f"description expects {expected_size}")
    if size > max_bytes:
        raise ModelFileError(f"{path}: {size:,} bytes, more than the {max_bytes:,} a weights "
                             "file may have; refused without reading it")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n < 2 or n > min(_MAX_HEADER_BYTES, size - 8):
                raise ModelFileError(f"{path}: not a safetensors file (header length {n} in "
                                     f"a file of {size} bytes)")
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the weights ({exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: not a safetensors file (unreadable header)") from None
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise ModelFileError(f"{path}: malformed safetensors header") from None
    declared = 8 + n + max(ends, default=0)
    if declared != size:
        raise ModelFileError(f"{path}: truncated or altered file: its header declares "
                             f"{declared} bytes, the file has {size}")
    return size


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, read in blocks (equals ``sha256sum``'s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
