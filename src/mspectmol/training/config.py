"""Training configuration: defaults < config file (JSON/TOML) < command-line options < ``--set``.

A config file holds :class:`TrainConfig` fields at the top level, e.g.::

    {"model": "pa_ib", "primary": "ir", "auxiliary": ["h_nmr", "c_nmr"],
     "split": "scaffold", "epochs": 100, "model_config": {"mi1_weight": 0.3}}

``--set key=value`` overrides one field; the value is read as JSON when it parses
(``--set lr=1e-3``, ``--set auxiliary=["c_nmr"]``) and as a string otherwise
(``--set augment=shift+smooth``); ``--set model_config.dropout=0.3`` sets one model setting.
Packaged configs live in ``mspectmol/configs`` (:func:`packaged_config`).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.spectra.modalities import get_modality

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
SPLITS = ("random", "scaffold")
#: Split schemes computed when the dataset is loaded (the size split of appendix K).
DERIVED_SPLITS = ("size",)
#: Settings that may differ when a run is resumed (speed, output and bookkeeping only).
RESUME_SETTINGS = ("threads", "device", "checkpoint_every", "progress", "data", "out",
                   "devices")


#: Renderings of the training spectra (:attr:`TrainConfig.render`).
RENDERINGS = ("none", "randomised")


@dataclass
class TrainConfig:
    """Everything a training run needs (paper appendix B defaults).

    Attributes
    ----------
    model
        Registered model name (:func:`mspectmol.models.registry.available_models`).
    model_config
        Overrides of the model's config fields (not its modalities or sizes).
    primary, auxiliary
        Input modalities (models without roles use them in this order).
    split
        Split scheme of the embedded dataset: ``"scaffold"`` or ``"random"``.
    seed
        Seed of torch, NumPy, Python, shuffling, augmentation and subsetting.
    epochs, patience
        Maximum epochs (100) and epochs without a better validation micro-F1 before stopping.
    batch_size, lr
        Mini-batch size (128) and Adam's initial learning rate (4e-4, cosine-annealed).
    augment
        :class:`~mspectmol.spectra.augmentation.Augmenter` spec for training batches.
    threads
        ``torch.set_num_threads`` during the run (None: leave as is).
    out
        Folder under which run folders are created.
    max_train
        Use at most this many training molecules (a seeded subset; None: all).
    n_points
        Points per spectrum (600 in the paper).
    eval_batch_size
        Batch size of prediction.
    data
        Dataset folder (None: the one shipped in the package).
    calibrate
        Fit a temperature on the validation logits and store it with the model.
    progress
        Show a tqdm progress bar.
    device
        Torch device of neural training and prediction: ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"auto"`` (CUDA when available). Saved models are always on CPU.
    checkpoint_every
        Neural training writes a checkpoint (:mod:`mspectmol.training.checkpoint`) at each
        epoch end and also every this many optimiser steps (None: only at epoch ends; 0: no
        checkpoints at all).
    devices
        Processes of distributed data-parallel training that ``mspectmol train`` starts on
        this machine (one per GPU on CUDA; gloo on the CPU). ``batch_size`` stays the global
        batch, so this changes speed, not the rows of each step
        (:mod:`mspectmol.training.distributed`). Under torchrun leave it at 1.
    amp
        Mixed precision on CUDA: forward pass and loss under ``torch.autocast`` with
        bfloat16 (no loss scaling needed). Ignored on the CPU (logged), where training
        stays in float32.
    modality_dropout
        Probability that a training row's spectrum of each auxiliary modality is hidden
        (zeroed and marked unavailable), drawn per row, modality and epoch from the
        augmentation generator. A model trained with it predicts without those spectra;
        its model file then lists them as ``training["missing_modalities"]``, which
        ``mspectmol predict`` reads. 0 (default): off.
    render
        ``"none"``: the dataset's one rendering of its peak lists; ``"randomised"``: a new
        domain-randomised rendering of the training spectra every epoch and a randomised
        validation fold for early stopping, calibration and thresholds
        (:class:`mspectmol.data.rendering.PeakRenderer`; embedded dataset only).
    transfer
        A transfer validation file (Alberts et al. parquet: another group's spectra) scored
        after training with all the model's spectra and with the primary alone, reported as
        ``metrics.json["transfer"]`` beside the in-domain test; never trained on.
    """

    model: str = "pa_ib"
    model_config: dict[str, Any] = field(default_factory=dict)
    primary: str = "ir"
    auxiliary: tuple[str, ...] = ("h_nmr", "c_nmr")
    split: str = "scaffold"
    seed: int = 0
    epochs: int = 100
    patience: int = 15
    batch_size: int = 128
    lr: float = 4e-4
    augment: str = "none"
    threads: int | None = None
    out: str = "runs"
    max_train: int | None = None
    n_points: int = 600
    eval_batch_size: int = 256
    data: str | None = None
    calibrate: bool = True
    progress: bool = True
    device: str = "cpu"
    checkpoint_every: int | None = None
    devices: int = 1
    amp: bool = False
    modality_dropout: float = 0.0
    render: str = "none"
    transfer: str | None = None

    def __post_init__(self) -> None:
        from mspectmol.models.registry import get_model_spec

        self.model = get_model_spec(self.model).name
        try:
            self.primary = get_modality(self.primary).name
            self.auxiliary = tuple(get_modality(a).name for a in self.auxiliary)
        except MspectmolError as exc:
            raise ConfigError(f"bad modality: {exc}") from None
        if len(set(self.modalities)) != len(self.modalities):
            raise ConfigError(f"modalities must be distinct, got {list(self.modalities)}")
        if self.split not in (*SPLITS, *DERIVED_SPLITS):
            raise ConfigError(f"split must be one of {', '.join((*SPLITS, *DERIVED_SPLITS))}, "
                              f"got {self.split!r}")
        for key, low in (("seed", 0), ("epochs", 1), ("patience", 1), ("batch_size", 1),
                         ("n_points", 16), ("eval_batch_size", 1), ("devices", 1)):
            if getattr(self, key) < low:
                raise ConfigError(f"{key} must be >= {low}, got {getattr(self, key)}")
        for key in ("threads", "max_train"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1 or null, got {getattr(self, key)}")
        if self.checkpoint_every is not None and self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0 or null, got "
                              f"{self.checkpoint_every}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")
        if self.render not in RENDERINGS:
            raise ConfigError(f"render must be one of {', '.join(RENDERINGS)}, got "
                              f"{self.render!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", self.device):
            raise ConfigError(f"device must be cpu, cuda, cuda:N or auto, got {self.device!r}")
        if self.devices > 1 and ":" in self.device:
            raise ConfigError(f"devices={self.devices} uses one GPU per process; use device "
                              f"cuda instead of {self.device!r}")
        try:
            Augmenter(self.augment)
        except MspectmolError as exc:
            raise ConfigError(f"augment: {exc}") from None

    @property
    def modalities(self) -> tuple[str, ...]:
        """Primary first, then the auxiliary modalities."""
        return (self.primary, *self.auxiliary)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | os.PathLike[str] | None = None
                  ) -> TrainConfig:
        """Build a config from a dict, checking keys and value types.

        Raises
        ------
        ConfigError
            For unknown keys and values of the wrong type, naming ``source`` when given.
        """
        where = f"{source}: " if source is not None else ""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}a config must be a table/object of settings")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{where}unknown setting(s) {', '.join(unknown)}; known: "
                              f"{', '.join(known)}")
        kwargs = {}
        for key, value in data.items():
            try:
                kwargs[key] = _COERCE[key](value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}{key}: {exc}") from None
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def _optional_integer(value: Any) -> int | None:
    return None if value is None else _integer(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _optional_string(value: Any) -> str | None:
    return None if value is None else _string(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of names, got {value!r}")
    return tuple(value)


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table of settings, got {value!r}")
    return dict(value)


_COERCE: dict[str, Callable[[Any], Any]] = {
    "model": _string, "model_config": _table, "primary": _string, "auxiliary": _names,
    "split": _string, "seed": _integer, "epochs": _integer, "patience": _integer,
    "batch_size": _integer, "lr": _number, "augment": _string, "threads": _optional_integer,
    "out": _string, "max_train": _optional_integer, "n_points": _integer,
    "eval_batch_size": _integer, "data": _optional_string, "calibrate": _boolean,
    "progress": _boolean, "device": _string, "checkpoint_every": _optional_integer,
    "devices": _integer, "amp": _boolean, "modality_dropout": _number, "render": _string,
    "transfer": _optional_string,
}


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Settings from a ``.json`` or ``.toml`` file.

    Raises
    ------
    ConfigError
        When the file is missing, unreadable or not valid JSON/TOML, naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc})") from None
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise ConfigError(f"{p}: TOML configs need Python 3.11 or later; use JSON") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML ({exc})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must hold an object of settings")
    return data


def packaged_config(name: str) -> Path:
    """Path of a packaged config (``mspectmol/configs/<name>.json``)."""
    path = CONFIG_DIR / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise ConfigError(f"no packaged config {name!r}; known: {', '.join(known)}")
    return path


def parse_override(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)``; the value as JSON when it parses, else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.strip()
    return key, value


def apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (or ``model_config.<name>``) in a settings dict, in place."""
    head, dot, rest = key.partition(".")
    if dot:
        if head != "model_config" or not rest:
            raise ConfigError(f"--set {key}: only model_config.<name> may be dotted")
        data["model_config"] = {**_table(data.get("model_config", {})), rest: value}
    else:
        data[key] = value


def resolve_config(path: str | os.PathLike[str] | None = None,
                   options: Mapping[str, Any] | None = None,
                   overrides: Sequence[str] = ()) -> TrainConfig:
    """Merge defaults, a config file, explicit options (None = not given) and ``--set`` items.

    Parameters
    ----------
    path
        JSON or TOML file, or None.
    options
        Settings from dedicated command-line options; None values are ignored.
    overrides
        ``"key=value"`` strings, applied last, left to right.
    """
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    for key, value in (options or {}).items():
        if value is not None:
            data[key] = value
    for item in overrides:
        apply_override(data, *parse_override(item))
    return TrainConfig.from_dict(data, source=path)


def run_config(run_dir: str | os.PathLike[str], options: Mapping[str, Any] | None = None
               ) -> TrainConfig:
    """The config saved in ``<run_dir>/config.json``, for resuming that run.

    Parameters
    ----------
    run_dir
        A run folder written by :func:`~mspectmol.training.pipeline.run_training`.
    options
        New values of :data:`RESUME_SETTINGS` (None values are ignored).

    Raises
    ------
    ConfigError
        When the folder or its config is missing or invalid (naming the file), or an option
        outside :data:`RESUME_SETTINGS` is given.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: run folder not found")
    path = folder / "config.json"
    data = read_config_file(path)
    data.pop("resolved_model_config", None)
    for key, value in (options or {}).items():
        if key not in RESUME_SETTINGS:
            raise ConfigError(f"{key} cannot change when resuming a run (only "
                              f"{', '.join(RESUME_SETTINGS)})")
        if value is not None:
            data[key] = value
    return TrainConfig.from_dict(data, source=path)


def make_run_dir(out: str | os.PathLike[str], model: str, primary: str,
                 now: datetime | None = None) -> Path:
    """Create ``<out>/<YYYYmmdd-HHMMSS>-<model>-<primary>/`` (a ``-2``... suffix if taken)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{stamp}-{model}-{primary}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON (NaN refused) and return the path."""
    p = Path(path)
    p.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return p
