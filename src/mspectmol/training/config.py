"""Training configuration: defaults < config file (JSON/TOML) < command-line options < ``--set``.

A config file holds :class:`TrainConfig` fields at the top level, e.g.::

    {"model": "pa_ib", "primary": "ir", "auxiliary": ["h_nmr", "c_nmr"],
     "split": "scaffold", "epochs": 100, "model_config": {"mi1_weight": 0.3}}

``--set key=value`` overrides one field; the value is read as JSON when it parses
(``--set lr=1e-3``, ``--set auxiliary=["c_nmr"]``) and as a string otherwise
(``--set augment=shift+smooth``); ``--set model_config.dropout=0.3`` sets one model setting
and ``--set render_settings.ir_hbond=0.5`` one setting of the randomised rendering.
Packaged configs live in ``mspectmol/configs`` (:func:`packaged_config`): ``recommended``
(:data:`DEFAULT_CONFIG`, what ``mspectmol train`` starts from: the packaged default model's
recipe, PA-IB without the auxiliary KL terms), ``eq14`` (the paper's eq. 14 loss) and a few
more. A config file's ``model_config`` belongs to its ``model``: when the options or ``--set``
choose another model, that model starts from its own defaults.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mspectmol.data.render_settings import RenderSettings
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.spectra.modalities import get_modality
from mspectmol.training.coerce import coercer
from mspectmol.training.config_files import (
    apply_override,
    parse_override,
    read_config_file,
)

log = logging.getLogger("mspectmol.training")

#: The packaged config ``mspectmol train`` starts from (the recommended recipe).
DEFAULT_CONFIG = "recommended"
SPLITS = ("random", "scaffold")
#: Split schemes computed when the dataset is loaded (the size split of appendix K).
DERIVED_SPLITS = ("size",)
#: Settings that may differ when a run is resumed (speed, output and bookkeeping only).
RESUME_SETTINGS = ("threads", "device", "checkpoint_every", "progress", "data", "out",
                   "devices", "nmr_corpus_workers")


#: Renderings of the training spectra (:attr:`TrainConfig.render`).
RENDERINGS = ("none", "randomised")


@dataclass
class TrainConfig:
    """Everything a training run needs (paper appendix B defaults).

    ``mspectmol train`` starts from the packaged :data:`DEFAULT_CONFIG` instead (the
    recommended recipe); these defaults are the paper's, which benchmark suites build on.
    The first sentence of each entry below is the help of the matching ``mspectmol train``
    option.

    Attributes
    ----------
    model
        Registered model name. See :func:`mspectmol.models.registry.available_models`.
    model_config
        Overrides of the model's config fields (not its modalities or sizes).
    primary
        Primary modality (models without roles use the modalities in the given order).
    auxiliary
        Auxiliary modalities (none when given empty).
    split
        Split scheme: scaffold, random, or size (train on the smaller 90%, test on the
        largest molecules; paper appendix K, computed when the dataset is loaded).
    seed
        Seed of torch, NumPy, Python, shuffling, augmentation and subsetting.
    epochs
        Maximum number of epochs (100 in the paper).
    patience
        Epochs without a better validation micro-F1 before training stops.
    batch_size
        Mini-batch size (the global batch under data-parallel training).
    lr
        Initial learning rate of Adam (cosine-annealed over the epochs).
    augment
        Augmentation of training batches, e.g. shift+smooth or none. The spec of an
        :class:`~mspectmol.spectra.augmentation.Augmenter`.
    threads
        Torch threads during the run (unset: torch's choice).
    out
        Folder under which run folders are created.
    max_train
        Use a seeded subset of at most this many training molecules (unset: all).
    n_points
        Points per spectrum (600 in the paper).
    eval_batch_size
        Batch size of prediction.
    data
        Dataset: a folder of the embedded format, or Alberts et al. parquet data (a chunk or a
        folder of chunks; unset: the dataset shipped with mspectmol). The latter has ir,
        h_nmr, c_nmr, msms_pos and msms_neg (:mod:`mspectmol.data.alberts_data`).
    calibrate
        Fit a temperature on the validation logits and store it with the model.
    progress
        Show a progress bar.
    device
        Torch device: cpu, cuda, cuda:N or auto (CUDA when available). Used for neural
        training and prediction; saved models are always on CPU.
    checkpoint_every
        Also checkpoint every this many optimiser steps (unset: at epoch ends only; 0: no
        checkpoints). Neural training writes a checkpoint
        (:mod:`mspectmol.models.checkpoint`) at each epoch end otherwise.
    devices
        Data-parallel training in this many processes on this machine. One per GPU on
        CUDA; gloo on the CPU. ``batch_size`` stays the global batch, so this changes
        speed, not the rows of each step (:mod:`mspectmol.training.distributed`). Under
        torchrun leave it at 1.
    amp
        Mixed precision (bfloat16 autocast) on CUDA, ignored on the CPU. The forward pass
        and loss run under
        ``torch.autocast`` (no loss scaling needed); on the CPU training stays in float32
        (logged).
    modality_dropout
        Probability of hiding each auxiliary spectrum of a training row, so the model also
        predicts without it. Drawn per row, modality and epoch from the augmentation
        generator (the spectrum is zeroed and marked unavailable). The model file then lists
        the modalities as ``training["missing_modalities"]``, which ``mspectmol predict``
        reads. 0: off.
    render
        Rendering of the training spectra: none (the dataset's one rendering) or randomised
        (domain-randomised anew every epoch). With randomised, the validation fold for early
        stopping, calibration and thresholds is randomised too
        (:class:`mspectmol.data.rendering.PeakRenderer`; embedded dataset only).
    render_settings
        Overrides of the randomised rendering's ranges and probabilities (fields of
        :class:`~mspectmol.data.render_settings.RenderSettings`; empty: its defaults). The
        model's training record stores all of them; refused with render none.
    transfer
        Transfer validation file scored after training (an Alberts et al. parquet). It holds
        another group's spectra, scored with all the model's spectra and with the primary
        alone and reported as ``metrics.json["transfer"]`` beside the in-domain test; never
        trained on.
    mix
        Share of the training rows replaced every epoch by a two-molecule mixture (the
        partner's spectra added with a weight drawn from 0.3-1, labels the union of both
        molecules' groups; :func:`mspectmol.data.batches.mix_molecules`): crowded spectra
        like those of drug-size molecules. Drawn from ``default_rng([seed, 31, epoch])``;
        the validation fold is not mixed. 0: off.
    prior_correction
        Strength in [0, 1] of the prior correction of a label-weighted model: its logits get
        ``-prior_correction * log(w)`` for the positive-class weights ``w`` of its training
        labels (:func:`mspectmol.evaluation.calibration.prior_offsets`) before the temperature
        and thresholds are fitted; stored in the model file as its ``logit_offsets``. 1 undoes
        the weighting (calibrated for the training distribution); 0: off.
    nmr_corpus
        Drug-size molecules added to the training part with predicted 1H and 13C lines only
        (:mod:`mspectmol.data.nmr_corpus`: MOSES training SMILES, CSP5 on one ETKDG
        conformer, cached; no validation or test molecule of the embedded dataset nor its
        scaffold); their IR and Raman are missing. Needs NMR among the modalities; with
        render randomised their NMR is randomised like the dataset's. 0: off.
    nmr_corpus_workers
        Processes predicting the corpus' lines not yet cached.
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
    render_settings: dict[str, Any] = field(default_factory=dict)
    transfer: str | None = None
    mix: float = 0.0
    prior_correction: float = 0.0
    nmr_corpus: int = 0
    nmr_corpus_workers: int = 1

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
                         ("n_points", 16), ("eval_batch_size", 1), ("devices", 1),
                         ("nmr_corpus", 0), ("nmr_corpus_workers", 1)):
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
        for key in ("mix", "prior_correction"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {getattr(self, key)}")
        if self.render not in RENDERINGS:
            raise ConfigError(f"render must be one of {', '.join(RENDERINGS)}, got "
                              f"{self.render!r}")
        given = RenderSettings.from_dict(self.render_settings).to_dict()
        self.render_settings = {k: given[k] for k in self.render_settings}
        if self.render_settings and self.render == "none":
            raise ConfigError(f"render_settings ({', '.join(self.render_settings)}) apply to "
                              "render=randomised only, not render=none; set render or drop "
                              "them")
        if self.nmr_corpus and not {"h_nmr", "c_nmr"} & set(self.modalities):
            raise ConfigError(f"nmr_corpus adds 1H and 13C spectra only; the modalities "
                              f"{', '.join(self.modalities)} have neither")
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
                kwargs[key] = _coercers()[key](value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}{key}: {exc}") from None
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None


def field_types() -> dict[str, Any]:
    """The type hint of each :class:`TrainConfig` field, in field order."""
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


@functools.cache
def _coercers() -> dict[str, Callable[[Any], Any]]:
    return {name: coercer(hint) for name, hint in field_types().items()}


def resolve_config(path: str | os.PathLike[str] | None = None,
                   options: Mapping[str, Any] | None = None,
                   overrides: Sequence[str] = ()) -> TrainConfig:
    """Merge defaults, a config file, explicit options (None = not given) and ``--set`` items.

    The file's ``model_config`` is dropped (with a log line) when the options or overrides
    choose a model other than the file's: those settings belong to the file's model.

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
    given = {k: v for k, v in (options or {}).items() if v is not None}
    items = [parse_override(item) for item in overrides]
    file_model = data.get("model", TrainConfig.model)
    model = next((v for k, v in reversed(items) if k == "model"), given.get("model", file_model))
    if data.get("model_config") and _model_key(model) != _model_key(file_model):
        log.info("%s: its model_config is for %s; %s starts from its own defaults", path,
                 file_model, model)
        del data["model_config"]
    data.update(given)
    for key, value in items:
        apply_override(data, key, value)
    return TrainConfig.from_dict(data, source=path)


def _model_key(name: Any) -> str:
    return str(name).strip().lower()


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
