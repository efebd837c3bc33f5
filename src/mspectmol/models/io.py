"""Model files: weights in safetensors, everything else in JSON; never pickle.

A saved model is a pair of files, ``model.safetensors`` (tensors, or a classical model's
arrays) and ``model.json`` (:class:`ModelMeta`): format name and version, the registered
model name and kind, its config, label names in output order, the input modalities and their
grids, the intensity normalisation, optional per-label thresholds and calibration
temperature, package versions, a hash of the training data and the SHA-256 and size of the
safetensors file, which :func:`load_model` checks before parsing it (the size with
:func:`os.stat` and against the safetensors header before the file is read).

The hash proves the weights are the ones the description was saved with (integrity), not
who made them (authenticity): whoever can replace the weights can replace ``model.json``
too. :func:`model_file_hashes` (``mspectmol predict MODEL --hash``) gives the SHA-256 of
both files, to compare with hashes published by the model's author over a trusted channel.

``path`` may be a folder (holding ``model.safetensors`` + ``model.json``) or a file name
ending in ``.safetensors`` or ``.json`` (the pair ``stem.safetensors`` + ``stem.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.fileio import atomic_write
from mspectmol.models.integrity import check_weights_file, file_digest
from mspectmol.models.registry import ModelSpec, config_to_dict, get_model_spec
from mspectmol.spectra.modalities import get_modality

FORMAT_NAME = "mspectmol-model"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
#: Fields every model.json must carry.
REQUIRED_FIELDS = ("format", "format_version", "model_name", "kind", "config", "label_names",
                   "modalities", "primary", "auxiliary", "normalisation", "versions",
                   "content_hash", "content_size")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def grid_info(modality: str, grid: np.ndarray) -> dict[str, Any]:
    """JSON description of a modality's input grid: range, points and unit."""
    g = np.asarray(grid, dtype=np.float64)
    return {"x_min": float(g[0]), "x_max": float(g[-1]), "n_points": int(g.size),
            "x_unit": get_modality(modality).x_unit}


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a model file depends on."""
    import safetensors
    import torch

    from mspectmol import __version__

    return {"mspectmol": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__}


@dataclass
class ModelMeta:
    """The JSON half of a model file (see the module docstring).

    ``kind``, ``versions``, ``content_hash``, ``content_size``, ``created`` and ``state`` are
    filled in by :func:`save_model`.
    """

    model_name: str
    config: dict[str, Any]
    label_names: tuple[str, ...]
    modalities: dict[str, dict[str, Any]]
    primary: str
    auxiliary: tuple[str, ...] = ()
    normalisation: str = "max"
    thresholds: list[float] | None = None
    temperature: float | None = None
    data_hash: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    kind: str = "neural"
    versions: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    content_size: int = 0
    created: str = ""
    state: dict[str, Any] | None = None
    ood: dict[str, Any] | None = None

    @property
    def n_points(self) -> int:
        """Points per input spectrum (from the primary modality's grid)."""
        return int(self.modalities[self.primary]["n_points"])

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON document written to ``model.json``."""
        out: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json_dict(cls, data: Any, source: Path) -> ModelMeta:
        """Validate a ``model.json`` document.

        Raises
        ------
        ModelFileError
            Naming ``source`` and the problem: not an object, wrong format or version, a
            missing field or a field of the wrong type.
        """
        if not isinstance(data, dict):
            raise ModelFileError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source}: not an mspectmol model file (format "
                                 f"{data.get('format')!r}, expected {FORMAT_NAME!r})")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise ModelFileError(f"{source}: unsupported format version {version!r} (this "
                                 f"mspectmol reads version {FORMAT_VERSION}"
                                 f"{'; upgrade mspectmol' if newer else ''})")
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise ModelFileError(f"{source}: missing field(s) {', '.join(missing)}")
        for key in ("label_names", "auxiliary"):
            if not isinstance(data[key], list):
                raise ModelFileError(f"{source}: {key} must be a list")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["label_names"] = tuple(data["label_names"])
        kwargs["auxiliary"] = tuple(data["auxiliary"])
        meta = cls(**kwargs)
        problem = meta.problem()
        if problem:
            raise ModelFileError(f"{source}: {problem}")
        return meta

    def problem(self) -> str | None:
        """What is wrong with the field values, or None."""
        checks = (
            (isinstance(self.model_name, str) and self.model_name, "model_name must be a name"),
            (isinstance(self.config, dict), "config must be an object"),
            (all(isinstance(n, str) for n in self.label_names) and self.label_names,
             "label_names must be a non-empty list of strings"),
            (isinstance(self.modalities, dict) and self.primary in self.modalities
             and all(a in self.modalities for a in self.auxiliary),
             "modalities must describe the primary and auxiliary modalities"),
            (all(isinstance(g, dict) and {"x_min", "x_max", "n_points"} <= set(g)
                 for g in (self.modalities.values() if isinstance(self.modalities, dict)
                           else ())), "each modality grid needs x_min, x_max and n_points"),
            (isinstance(self.content_hash, str) and _HEX64.match(self.content_hash),
             "content_hash must be a SHA-256 hex digest"),
            (isinstance(self.content_size, int) and self.content_size >= 0,
             "content_size must be a byte count"),
            (self.thresholds is None or (isinstance(self.thresholds, list)
                                         and len(self.thresholds) == len(self.label_names)
                                         and all(isinstance(t, (int, float)) and 0 <= t <= 1
                                                 for t in self.thresholds)),
             "thresholds must be one number in [0, 1] per label"),
            (self.temperature is None or (isinstance(self.temperature, (int, float))
                                          and 0 < self.temperature < float("inf")),
             "temperature must be a positive number"),
            (self.kind in ("neural", "classical"), "kind must be 'neural' or 'classical'"),
            (self.state is None or isinstance(self.state, dict), "state must be an object"),
            (self.ood is None or (isinstance(self.ood, dict) and {"mean", "components",
                                                                   "variances", "residual",
                                                                   "threshold"} <= set(self.ood)),
             "ood must be an object with mean, components, variances, residual, threshold"),
        )
        for ok, message in checks:
            if not ok:
                return message
        return None


def model_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(weights, meta)`` file paths of a model folder or file pair."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        return p.with_suffix(".safetensors"), p.with_suffix(".json")
    return p / WEIGHTS_NAME, p / META_NAME


def file_sha256(data: bytes) -> str:
    """SHA-256 hex digest of bytes."""
    return hashlib.sha256(data).hexdigest()


def _spec_for(meta: ModelMeta, source: Path) -> ModelSpec:
    try:
        return get_model_spec(meta.model_name)
    except ConfigError as exc:
        raise ModelFileError(f"{source}: {exc}") from None


def _payload(model: Any, spec: ModelSpec) -> tuple[bytes, dict[str, Any] | None]:
    """Serialised safetensors bytes and (classical) the JSON state."""
    if spec.kind == "neural":
        import safetensors.torch
        from torch import nn

        if not isinstance(model, nn.Module):
            raise ConfigError(f"model {spec.name!r} is neural but got a "
                              f"{type(model).__name__}")
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        return safetensors.torch.save(tensors), None
    import safetensors.numpy

    if not hasattr(model, "to_state"):
        raise ConfigError(f"classical model {spec.name!r} has no to_state()")
    state, arrays = model.to_state()
    try:
        json.dumps(state)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {spec.name!r}: to_state() metadata is not JSON: {exc}") from None
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return safetensors.numpy.save(arrays), dict(state)


def save_model(path: str | os.PathLike[str], model: Any, meta: ModelMeta) -> Path:
    """Write ``model`` and ``meta`` as a safetensors + JSON pair (atomically, file by file).

    Parameters
    ----------
    path
        A folder (created if needed) or a ``.safetensors``/``.json`` file name.
    model
        A registered neural (``nn.Module``) or classical model.
    meta
        Its description; ``kind``, ``versions``, ``content_hash``, ``content_size``,
        ``created`` and ``state`` are filled in here.

    Returns
    -------
    pathlib.Path
        The JSON file written.
    """
    weights_path, meta_path = model_paths(path)
    spec = get_model_spec(meta.model_name)
    data, state = _payload(model, spec)
    meta.kind, meta.state = spec.kind, state
    meta.versions = package_versions()
    meta.content_hash, meta.content_size = file_sha256(data), len(data)
    meta.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta.config = config_to_dict(meta.config) if not isinstance(meta.config, dict) else meta.config
    problem = meta.problem()
    if problem:
        raise ConfigError(f"cannot save model: {problem}")
    document = json.dumps(meta.to_json_dict(), indent=2, allow_nan=False) + "\n"
    atomic_write(weights_path, data)
    atomic_write(meta_path, document.encode("utf-8"))
    return meta_path


def read_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """Read and validate the JSON half of a model file.

    Raises
    ------
    ModelFileError
        When the file is missing, not JSON, or not a valid model description.
    """
    _, meta_path = model_paths(path)
    if not meta_path.is_file():
        raise ModelFileError(f"{meta_path}: model description not found")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not valid JSON ({exc})") from None
    return ModelMeta.from_json_dict(data, meta_path)


def model_file_hashes(path: str | os.PathLike[str]) -> dict[Path, str]:
    """SHA-256 of a model's weights and description files (any mspectmol model kind).

    Raises
    ------
    ModelFileError
        When a file is missing or unreadable, or the weights' hash differs from the
        ``content_hash`` of the description.
    """
    weights_path, meta_path = model_paths(path)
    out = {}
    for p in (weights_path, meta_path):
        try:
            out[p] = file_digest(p)
        except FileNotFoundError:
            raise ModelFileError(f"{p}: not found") from None
        except OSError as exc:
            raise ModelFileError(f"{p}: cannot read ({exc})") from None
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("content_hash")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        recorded = None
    if recorded is not None and recorded != out[weights_path]:
        raise ModelFileError(f"{weights_path}: content hash mismatch: SHA-256 {out[weights_path]}"
                             f", {meta_path.name} records {recorded}")
    return out


def read_weights_bytes(weights_path: Path, meta: ModelMeta) -> bytes:
    """The safetensors file's bytes after checking its size and SHA-256 against ``meta``.

    The size and header are checked (:func:`check_weights_file`) before the file is read.
    """
    check_weights_file(weights_path, meta.content_size)
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{weights_path}: cannot read the weights ({exc})") from None
    if len(data) != meta.content_size:
        raise ModelFileError(f"{weights_path}: truncated or altered file: {len(data)} bytes, "
                             f"the model description expects {meta.content_size}")
    if file_sha256(data) != meta.content_hash:
        raise ModelFileError(f"{weights_path}: content hash mismatch: the file was modified or "
                             "corrupted after saving")
    return data


def _load_neural(spec: ModelSpec, meta: ModelMeta, data: bytes, source: Path) -> Any:
    import safetensors.torch

    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelFileError(f"{source}: unreadable safetensors data ({exc})") from None
    model = spec.build(spec.config_from_dict(meta.config))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{source}: weights do not match the model config ({first})") \
            from None
    return model.eval()


def _load_classical(spec: ModelSpec, meta: ModelMeta, data: bytes, source: Path) -> Any:
    import safetensors.numpy

    try:
        arrays = safetensors.numpy.load(data)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"{source}: unreadable safetensors data ({exc})") from None
    try:
        return spec.load_state(meta.state or {}, arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{source}: cannot rebuild the {spec.name!r} model "
                             f"({type(exc).__name__}: {exc})") from None


def load_model(path: str | os.PathLike[str]) -> tuple[Any, ModelMeta]:
    """Load a model saved by :func:`save_model`, in eval mode, without unpickling anything.

    Raises
    ------
    ModelFileError
        Naming the file: missing, not JSON, wrong format or version, missing fields, size or
        hash mismatch (tampered or truncated), unknown model name, bad config or weights.
    """
    weights_path, meta_path = model_paths(path)
    meta = read_meta(path)
    spec = _spec_for(meta, meta_path)
    if spec.kind != meta.kind:
        raise ModelFileError(f"{meta_path}: model {meta.model_name!r} is {spec.kind}, the file "
                             f"says {meta.kind}")
    data = read_weights_bytes(weights_path, meta)
    try:
        if spec.kind == "neural":
            return _load_neural(spec, meta, data, weights_path), meta
        return _load_classical(spec, meta, data, weights_path), meta
    except ConfigError as exc:
        raise ModelFileError(f"{meta_path}: {exc}") from None
