"""Classifier model files: weights in safetensors, everything else in JSON; never pickle.

A classifier is saved in the one model-file format (:mod:`mspectmol.models.modelfile`), kind
``"classifier"``: ``model.safetensors`` (tensors, or a classical model's arrays) and
``model.json``, whose body is a :class:`ModelMeta`: the registered model name and its family
(``"neural"`` or ``"classical"``), its config, label names in output order, the input
modalities and their grids, the intensity normalisation, optional per-label thresholds,
per-label logit offsets (the prior correction) and calibration temperature, a hash of the training
data, the training record, a classical model's JSON state and the out-of-distribution score.
:func:`load_model` checks the weights' size (with :func:`os.stat` and against the safetensors
header, before the file is read) and SHA-256, and refuses a model of another kind with a
message naming the file and its kind.

The hash proves the weights are the ones the description was saved with (integrity), not
who made them (authenticity): whoever can replace the weights can replace ``model.json``
too. :func:`model_file_hashes` (``mspectmol predict MODEL --hash``) gives the SHA-256 of
both files, to compare with hashes published by the model's author over a trusted channel.

``path`` may be a folder (holding ``model.safetensors`` + ``model.json``) or a file name
ending in ``.safetensors`` or ``.json`` (the pair ``stem.safetensors`` + ``stem.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.models.integrity import file_digest
from mspectmol.models.modelfile import (
    FORMAT_VERSION,
    ModelDocument,
    model_paths,
    read_document,
    read_weights,
    write_model,
)
from mspectmol.spectra.modalities import get_modality

if TYPE_CHECKING:  # the registry imports torch (PA-IB): loaded when a model is built or saved
    from mspectmol.models.registry import ModelSpec

__all__ = ["FORMAT_VERSION", "ModelMeta", "grid_info", "load_model", "model_file_hashes",
           "read_meta", "save_model"]

KIND = "classifier"
#: Fields the body of every classifier's model.json must carry.
REQUIRED_FIELDS = ("model_name", "family", "config", "label_names", "modalities", "primary",
                   "auxiliary", "normalisation")
#: Fields of :class:`ModelMeta` that the file format writes (not part of the body).
_ENVELOPE_FIELDS = ("versions", "content_hash", "content_size", "created")


def grid_info(modality: str, grid: np.ndarray) -> dict[str, Any]:
    """JSON description of a modality's input grid: range, points and unit."""
    g = np.asarray(grid, dtype=np.float64)
    return {"x_min": float(g[0]), "x_max": float(g[-1]), "n_points": int(g.size),
            "x_unit": get_modality(modality).x_unit}


@dataclass
class ModelMeta:
    """A classifier's description: the body of its ``model.json`` and the file's hash.

    ``family``, ``versions``, ``content_hash``, ``content_size``, ``created`` and ``state``
    are filled in by :func:`save_model`.
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
    logit_offsets: list[float] | None = None
    data_hash: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    family: str = "neural"
    versions: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    content_size: int = 0
    created: str = ""
    state: dict[str, Any] | None = None
    ood: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The model family, ``"neural"`` or ``"classical"`` (as ``predict`` reports it)."""
        return self.family

    @property
    def n_points(self) -> int:
        """Points per input spectrum (from the primary modality's grid)."""
        return int(self.modalities[self.primary]["n_points"])

    def body(self) -> dict[str, Any]:
        """The classifier's fields of ``model.json`` (the file format adds the rest)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in _ENVELOPE_FIELDS:
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_document(cls, doc: ModelDocument) -> ModelMeta:
        """Check a classifier's ``model.json`` (read by
        :func:`~mspectmol.models.modelfile.read_document`).

        Raises
        ------
        ModelFileError
            Naming the file and the problem: a missing field or one of the wrong type.
        """
        data, source = doc.body, doc.meta_path
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise ModelFileError(f"{source}: missing field(s) {', '.join(missing)}")
        for key in ("label_names", "auxiliary"):
            if not isinstance(data[key], list):
                raise ModelFileError(f"{source}: {key} must be a list")
        known = {f.name for f in fields(cls)} - set(_ENVELOPE_FIELDS)
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["label_names"] = tuple(data["label_names"])
        kwargs["auxiliary"] = tuple(data["auxiliary"])
        meta = cls(**kwargs, versions=doc.versions, content_hash=doc.content_hash,
                   content_size=doc.content_size, created=doc.created)
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
            (self.thresholds is None or (isinstance(self.thresholds, list)
                                         and len(self.thresholds) == len(self.label_names)
                                         and all(isinstance(t, (int, float)) and 0 <= t <= 1
                                                 for t in self.thresholds)),
             "thresholds must be one number in [0, 1] per label"),
            (self.temperature is None or (isinstance(self.temperature, (int, float))
                                          and 0 < self.temperature < float("inf")),
             "temperature must be a positive number"),
            (self.logit_offsets is None or (
                isinstance(self.logit_offsets, list)
                and len(self.logit_offsets) == len(self.label_names)
                and all(isinstance(v, (int, float)) and np.isfinite(v)
                        for v in self.logit_offsets)),
             "logit_offsets must be one finite number per label"),
            (self.family in ("neural", "classical"), "family must be 'neural' or 'classical'"),
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


def _spec_for(meta: ModelMeta, source: Path) -> ModelSpec:
    from mspectmol.models.registry import get_model_spec

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
    """Write ``model`` and ``meta`` as a classifier model file (atomically, file by file).

    Parameters
    ----------
    path
        A folder (created if needed) or a ``.safetensors``/``.json`` file name.
    model
        A registered neural (``nn.Module``) or classical model.
    meta
        Its description; ``family``, ``versions``, ``content_hash``, ``content_size``,
        ``created`` and ``state`` are filled in here.

    Returns
    -------
    pathlib.Path
        The JSON file written.
    """
    from mspectmol.models.registry import config_to_dict, get_model_spec

    spec = get_model_spec(meta.model_name)
    data, state = _payload(model, spec)
    meta.family, meta.state = spec.kind, state
    meta.config = config_to_dict(meta.config) if not isinstance(meta.config, dict) else meta.config
    problem = meta.problem()
    if problem:
        raise ConfigError(f"cannot save model: {problem}")
    meta_path = write_model(path, KIND, data, meta.body())
    doc = read_document(meta_path, KIND)
    meta.versions, meta.created = doc.versions, doc.created
    meta.content_hash, meta.content_size = doc.content_hash, doc.content_size
    return meta_path


def read_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """Read and check the JSON half of a classifier model file.

    Raises
    ------
    ModelFileError
        When the file is missing, not JSON, not a valid model description, or a model of
        another kind.
    """
    return ModelMeta.from_document(read_document(path, KIND))


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
    """Load a classifier saved by :func:`save_model`, in eval mode, without unpickling.

    Raises
    ------
    ModelFileError
        Naming the file: missing, not JSON, wrong format or version, a model of another
        kind, missing fields, size or hash mismatch (tampered or truncated), unknown model
        name, bad config or weights.
    """
    doc = read_document(path, KIND)
    meta = ModelMeta.from_document(doc)
    spec = _spec_for(meta, doc.meta_path)
    if spec.kind != meta.family:
        raise ModelFileError(f"{doc.meta_path}: model {meta.model_name!r} is {spec.kind}, the "
                             f"file says {meta.family}")
    data = read_weights(doc)
    try:
        if spec.kind == "neural":
            return _load_neural(spec, meta, data, doc.weights_path), meta
        return _load_classical(spec, meta, data, doc.weights_path), meta
    except ConfigError as exc:
        raise ModelFileError(f"{doc.meta_path}: {exc}") from None
