"""Training checkpoints of any trainer: atomic writes, checks on reading, exact resumption.

A checkpoint is one file, ``<run>/checkpoint/last.safetensors``, written by the training loop
(:func:`mspectmol.models.loop.run_loop`) through a :class:`Checkpointer`. Its tensors are the
model
state (``model/<name>``), the best state so far (``best/<name>``), the optimiser's and the
scheduler's tensors (``optim/<i>``, ``sched/<i>``) and torch's generator states
(``rng/torch``, ``rng/cuda/<i>``). Its header metadata holds one JSON document (key
``mspectmol.checkpoint``) with everything else: format and version, the run's fingerprint
(its settings and hashes of its data, given by the trainer), the :class:`LoopState` (the
epoch in progress and the batches of it already done, their loss sums, the trainer's state
inside the epoch and across epochs, the best validation score, its epoch and the patience
counter, the history rows, elapsed time), the structure of the optimiser and scheduler
states (tensors referenced by name) and the Python and NumPy generator states.
Nothing is pickled: values other than tensors, JSON scalars, lists, tuples and dicts are
refused.

The header metadata also holds ``mspectmol.sha256``: the SHA-256 of the file's tensor data
(the bytes after the header) followed by the JSON document. :func:`load_checkpoint` checks
the file's size (with :func:`os.stat`, against a maximum and the header's data offsets)
before reading it, then this hash, so a truncated file or a flipped byte is refused with a
message naming the file instead of resuming from damaged weights. The hash detects damage,
not tampering: anyone who can write the file can write a matching hash.

Writes are atomic (:func:`mspectmol.fileio.atomic_write`): the file is written to a
temporary name in the same folder, flushed to disk (``fsync``) and moved onto
``last.safetensors`` with :func:`os.replace`, so a process killed mid-write or a full disk
leaves the previous checkpoint intact (a killed process leaves a stray temporary file, which
the next :class:`Checkpointer` removes once its process is gone).

Resuming restores all of the above; a trainer whose data order is fixed by (seed, epoch)
skips the batches already done and continues its generators from their saved states. On the
CPU with the same
number of torch threads, a resumed run reproduces the weights, logs and metrics of an
uninterrupted run bitwise (tolerance 0; the tests compare tensors exactly). On CUDA,
non-deterministic kernels can make the two differ as much as two uninterrupted runs do.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.fileio import atomic_write, remove_stale_temps
from mspectmol.models.checkpoint_file import META_KEY as _META_KEY
from mspectmol.models.checkpoint_file import check_hash, encode_checkpoint, split_file
from mspectmol.models.integrity import MAX_CHECKPOINT_BYTES, check_weights_file

FORMAT_NAME = "mspectmol-checkpoint"
FORMAT_VERSION = 1
LAST_NAME = "last.safetensors"
_SPECIAL = ("__tensor__", "__tuple__", "__items__", "__float__")


@dataclass
class LoopState:
    """Progress of a training loop besides the model, optimiser and scheduler states.

    Attributes
    ----------
    best_state
        Model state with the best validation score so far (the initial state before one).
    epoch, step
        The epoch in progress (1-based) and how many of its batches are done.
    sums
        The trainer's loss sums over those batches.
    step_state
        The trainer's JSON state inside the epoch in progress (e.g. its augmentation
        generator's ``bit_generator.state``), or None.
    carry
        The trainer's JSON state carried from epoch to epoch (e.g. a generator used by every
        epoch), set by the trainer at the end of each epoch.
    best_score, best_epoch, waited
        Best validation score (None before one), its epoch and the epochs since it (the
        patience counter).
    history
        The log rows of the finished epochs.
    seconds, epoch_seconds, cpu_seconds
        Training time so far, within the epoch in progress, and process CPU time so far.
    finished, stopped_early, stop_reason
        The loop has ended, whether patience ran out before the last epoch, and why it
        ended before the last epoch (``"early stop"``, ``"time budget of N min"``) or None.
    """

    best_state: dict[str, Tensor]
    epoch: int = 1
    step: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    step_state: Any = None
    carry: dict[str, Any] = field(default_factory=dict)
    best_score: float | None = None
    best_epoch: int = 0
    waited: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    epoch_seconds: float = 0.0
    cpu_seconds: float = 0.0
    finished: bool = False
    stopped_early: bool = False
    stop_reason: str | None = None

    def progress(self) -> dict[str, Any]:
        """Every field but ``best_state``, JSON-ready."""
        return {k: v for k, v in vars(self).items() if k != "best_state"}


class _Encoder:
    """Nested states -> JSON structure, with tensors set aside under generated names."""

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}

    def encode(self, value: Any, prefix: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, Tensor):
            name = f"{prefix}{len(self.tensors)}"
            self.tensors[name] = value
            return {"__tensor__": name}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, prefix) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, prefix) for v in value]
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and k not in _SPECIAL for k in value):
                return {k: self.encode(v, prefix) for k, v in value.items()}
            return {"__items__": [[self.encode(k, prefix), self.encode(v, prefix)]
                                  for k, v in value.items()]}
        raise MspectmolError(f"cannot store a {type(value).__name__} in a checkpoint "
                             "(only tensors, numbers, strings, lists and dicts)")


def _decode(value: Any, tensors: Mapping[str, Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)) in _SPECIAL:
        (kind, inner), = value.items()
        if kind == "__tensor__":
            return tensors[inner]
        if kind == "__float__":
            return float(inner)
        if kind == "__tuple__":
            return tuple(_decode(v, tensors) for v in inner)
        return {_decode(k, tensors): _decode(v, tensors) for k, v in inner}
    return {k: _decode(v, tensors) for k, v in value.items()}


def _rng_states(tensors: dict[str, Tensor]) -> dict[str, Any]:
    """Python's and NumPy's global generator states; torch's go into ``tensors``."""
    tensors["rng/torch"] = torch.get_rng_state()
    n_cuda = 0
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
            n_cuda += 1
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002 - the legacy global
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    version, internal, gauss = random.getstate()
    return {"python": [version, list(internal), gauss], "numpy": np_state, "cuda": n_cuda}


def _set_rng_states(states: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = dict(states["numpy"])
    np_state["state"] = {**np_state["state"],
                         "key": np.asarray(np_state["state"]["key"], dtype=np.uint32)}
    np.random.set_state(np_state)  # noqa: NPY002 - the legacy global
    torch.set_rng_state(tensors["rng/torch"])
    n_cuda = int(states.get("cuda", 0))
    if n_cuda and torch.cuda.is_available() and torch.cuda.device_count() == n_cuda:
        torch.cuda.set_rng_state_all([tensors[f"rng/cuda/{i}"] for i in range(n_cuda)])


def write_atomic(path: Path, tensors: Mapping[str, Tensor], metadata: dict[str, str]) -> Path:
    """Write a hashed safetensors file (:func:`encode_checkpoint`) atomically.

    Raises
    ------
    mspectmol.fileio.OutputError
        Naming the file when it cannot be written (disk full, ...); the previous file is kept.
    """
    return atomic_write(path, encode_checkpoint(tensors, metadata),
                        what="cannot write the checkpoint")


def save_checkpoint(path: str | os.PathLike[str], *, model: nn.Module,
                    optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None, state: LoopState,
                    fingerprint: Mapping[str, Any]) -> Path:
    """Write a checkpoint file atomically (see the module docstring) and return its path."""
    encoder = _Encoder()
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best/{k}": v for k, v in state.best_state.items()})
    doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
           "fingerprint": dict(fingerprint), "state": encoder.encode(state.progress(), "s/"),
           "optimizer": encoder.encode(optimizer.state_dict(), "optim/"),
           "scheduler": encoder.encode(scheduler.state_dict() if scheduler is not None
                                       else None, "sched/"),
           "rng": _rng_states(tensors)}
    if any(name.startswith("s/") for name in encoder.tensors):
        raise MspectmolError("the training state must not hold tensors besides best_state")
    tensors.update(encoder.tensors)
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    return write_atomic(Path(path), tensors, {_META_KEY: text})


@dataclass
class Checkpoint:
    """A checkpoint as read from ``path``: its JSON document and its tensors (on the CPU)."""

    path: Path
    doc: dict[str, Any]
    tensors: dict[str, Tensor]

    def _fail(self, problem: str) -> MspectmolError:
        return MspectmolError(f"{self.path}: {problem}")

    def _group(self, prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    @property
    def position(self) -> tuple[int, int]:
        """(epoch in progress, batches of it done)."""
        return int(self.doc["state"]["epoch"]), int(self.doc["state"]["step"])

    def check(self, fingerprint: Mapping[str, Any], model: nn.Module) -> None:
        """Refuse a checkpoint of other settings, data or model architecture.

        ``fingerprint["config"]`` holds the settings (a dict); its other entries describe
        the data (e.g. hashes of the training and validation molecules).
        """
        saved = self.doc.get("fingerprint", {})
        if saved.get("config") != fingerprint["config"]:
            old, new = saved.get("config", {}), fingerprint["config"]
            diff = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted({*old, *new})
                    if old.get(k) != new.get(k)]
            raise self._fail(f"checkpoint of different settings ({'; '.join(diff)})")
        for part in fingerprint:
            if part != "config" and saved.get(part) != fingerprint[part]:
                raise self._fail(f"checkpoint of different {part} data (molecules or labels)")
        want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        have = {k: tuple(v.shape) for k, v in self._group("model/").items()}
        best = {k: tuple(v.shape) for k, v in self._group("best/").items()}
        if have != want or best != want:
            wrong = sorted(k for k in {*want, *have} if want.get(k) != have.get(k))
            raise self._fail(f"checkpoint of a different model (mismatched weights: "
                             f"{', '.join(wrong[:5]) or 'best state'}"
                             f"{' ...' if len(wrong) > 5 else ''})")

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                fingerprint: Mapping[str, Any]) -> LoopState:
        """Load model, optimiser, scheduler and generator states; return the progress.

        Raises
        ------
        MspectmolError
            Naming the file, for a checkpoint of other settings, data or model, or one whose
            optimiser or scheduler state does not fit.
        """
        self.check(fingerprint, model)
        try:
            model.load_state_dict(self._group("model/"))
            optimizer.load_state_dict(_decode(self.doc["optimizer"], self.tensors))
            if scheduler is not None:
                scheduler.load_state_dict(_decode(self.doc["scheduler"], self.tensors))
            _set_rng_states(self.doc["rng"], self.tensors)
            progress = _decode(self.doc["state"], self.tensors)
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            best = {k: v.to(device) for k, v in self._group("best/").items()}
            return LoopState(best_state=best, **progress)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise self._fail(f"checkpoint does not fit this run ({exc})") from None


def checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """The checkpoint file of ``path`` (a file, or a folder holding ``last.safetensors``)."""
    p = Path(path)
    return p / LAST_NAME if p.is_dir() else p


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint file (or the ``last.safetensors`` of a folder).

    Raises
    ------
    MspectmolError
        Naming the file when it is missing, too large, truncated, corrupt (its content hash
        differs), not a checkpoint or of another version.
    """
    from safetensors.torch import load

    p = checkpoint_file(path)
    if not p.is_file():
        raise MspectmolError(f"{p}: checkpoint not found")
    try:
        check_weights_file(p, max_bytes=MAX_CHECKPOINT_BYTES)  # before reading it whole
        raw = p.read_bytes()
    except ModelFileError as exc:
        problem = str(exc).removeprefix(f"{p}: ")
        raise MspectmolError(f"{p}: corrupt or unreadable checkpoint ({problem})") from None
    except OSError as exc:
        raise MspectmolError(f"{p}: corrupt or unreadable checkpoint ({exc})") from None
    try:
        header, data = split_file(raw)
        metadata = header.get("__metadata__") or {}
        tensors = load(raw)
    except Exception as exc:  # safetensors raises its own, undocumented error types
        raise MspectmolError(f"{p}: corrupt or unreadable checkpoint ({exc})") from None
    check_hash(p, metadata, data)
    try:
        doc = json.loads(metadata[_META_KEY])
    except (KeyError, json.JSONDecodeError):
        raise MspectmolError(f"{p}: not an mspectmol checkpoint (no readable "
                             f"{_META_KEY!r} metadata)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise MspectmolError(f"{p}: not an mspectmol checkpoint")
    if doc.get("format_version") != FORMAT_VERSION:
        raise MspectmolError(f"{p}: unsupported checkpoint version {doc.get('format_version')!r}"
                             f" (this mspectmol reads version {FORMAT_VERSION})")
    missing = [k for k in ("fingerprint", "state", "optimizer", "scheduler", "rng")
               if k not in doc]
    if missing:
        raise MspectmolError(f"{p}: checkpoint lacks {', '.join(missing)}")
    return Checkpoint(p, doc, tensors)


class Checkpointer:
    """Writes ``<directory>/last.safetensors`` at epoch ends and every ``every`` steps.

    Steps count optimiser steps over the whole run; a step that ends an epoch is saved by the
    epoch-end checkpoint (after validation) instead.
    """

    def __init__(self, directory: str | os.PathLike[str], every: int | None,
                 steps_per_epoch: int, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                 fingerprint: Mapping[str, Any]) -> None:
        self.path = Path(directory) / LAST_NAME
        self.every, self.steps_per_epoch = every, steps_per_epoch
        self.parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler,
                      "fingerprint": fingerprint}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MspectmolError(f"{self.path.parent}: cannot make the checkpoint folder "
                                 f"({exc})") from None
        remove_stale_temps(self.path.parent)  # left by a killed run

    def due(self, epoch: int, step: int) -> bool:
        """Whether step ``step`` of ``epoch`` (1-based, within the epoch) gets a checkpoint."""
        if not self.every or step >= self.steps_per_epoch:
            return False
        return ((epoch - 1) * self.steps_per_epoch + step) % self.every == 0

    def save(self, state: LoopState) -> Path:
        """Write ``state`` with the current model, optimiser, scheduler and RNG states."""
        return save_checkpoint(self.path, state=state, **self.parts)
