"""Runs of a benchmark suite: planned, configured and keyed (nothing is trained here).

A :class:`~mspectmol.suites.definitions.Suite` lists spectrum configurations (primary
modality first) and models. :func:`plan_runs` makes the runs: role-aware models (PA-IB: a
config with a ``primary`` field) get one per configuration, every other model one per
modality *set*, as they treat their inputs alike (the three 3-modality lines of Table 1
share one baseline run). Each (model, configuration or set, split, seed) is one
:func:`mspectmol.training.pipeline.run_training` call (:mod:`mspectmol.suites.runner`):
validation picks the epoch and tunes the thresholds; the test split is only evaluated.

A finished run writes ``runs/<key>.json``; the key (:func:`run_key`) holds suite, model,
modalities, primary, split, seed and a hash of the settings that change the result
(:func:`settings_hash`; not thread counts). A rerun skips finished runs, so a suite can span
sessions. The defaults fit a 2-core CPU budget; the suite files give the measurements behind
them in ``notes`` (copied into ``table.md``). A suite with ``conditions`` (``noise``,
``missing``, ``augment``) also evaluates each trained model on perturbed test spectra
(:mod:`mspectmol.suites.robustness`); they enter the hash. The study suites (``augment``,
``stress``, ``ablation``, ``modalities``) add model *variants* as columns
(:mod:`mspectmol.suites.variants`), the derived ``size`` split and cost measurements
(:mod:`mspectmol.suites.cost`); each enters the hash only where a suite uses it, so the keys
of the other suites stay as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mspectmol.data.alberts_data import alberts_info, is_alberts_data
from mspectmol.data.dataset import EMBEDDED_DIR
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.registry import config_field_names, get_model_spec
from mspectmol.suites.configurations import Configuration, set_label
from mspectmol.suites.definitions import (
    LATE_DEFAULTS,
    N_LABELS,
    OWNED_FIELDS,
    SPEED_FIELDS,
    SPEED_MODEL_FIELDS,
    Suite,
    is_role_aware,
)
from mspectmol.suites.variants import Variant
from mspectmol.training.config import SPLITS, TrainConfig, parse_override


@dataclass(frozen=True)
class BenchmarkRun:
    """One planned training run (``model`` is the column: a variant's name or a model's)."""

    suite: str
    model: str
    configuration: Configuration
    role_aware: bool
    split: str
    seed: int
    variant: Variant | None = None

    @property
    def registered(self) -> str:
        """The registered model that is trained."""
        return self.variant.model if self.variant is not None else self.model

    def identity(self) -> dict[str, Any]:
        """The identifying fields of its result row (a variant adds its model and group)."""
        c = self.configuration
        out = {"suite": self.suite, "model": self.model,
               "config": c.label() if self.role_aware else set_label(c.modalities),
               "primary": c.primary if self.role_aware else "",
               "modalities": c.modality_set, "role_aware": self.role_aware,
               "split": self.split, "seed": self.seed}
        if self.variant is not None:
            out.update(base_model=self.variant.model, group=self.variant.group,
                       title=self.variant.title or self.model)
        return out


def plan_runs(suite: Suite, models: Sequence[str] | None = None) -> list[BenchmarkRun]:
    """The runs of ``suite`` in order seed, split, configuration, model.

    Role-free models run once per modality set, on the first configuration with that set.
    """
    names = tuple(dict.fromkeys(suite.column(m) for m in (models or suite.models)))
    roles = {m: is_role_aware(suite.base_model(m)) for m in names}
    runs = []
    for seed in suite.seeds:
        for split in suite.splits:
            seen: set[tuple[str, str]] = set()
            for config in suite.configurations:
                for m in names:
                    if not roles[m] and (m, config.modality_set) in seen:
                        continue
                    seen.add((m, config.modality_set))
                    runs.append(BenchmarkRun(suite.name, m, config, roles[m], split, seed,
                                             suite.variants.get(m)))
    return runs


@dataclass
class BenchmarkSettings:
    """Settings shared by the runs of one command.

    ``threads`` also sets models' ``n_jobs`` (unless given); ``train`` holds further
    TrainConfig fields; ``model_config`` maps model (or variant) names to config overrides;
    ``variants`` are the suite's (:class:`~mspectmol.suites.variants.Variant`);
    ``model_train`` maps registered models to training overrides of that model alone.
    """

    epochs: int
    patience: int
    max_train: int | None
    threads: int | None = None
    data: str | None = None
    train: dict[str, Any] = field(default_factory=dict)
    model_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    model_train: dict[str, dict[str, Any]] = field(default_factory=dict)


def make_settings(suite: Suite, *, epochs: int | None = None, patience: int | None = None,
                  max_train: int | None = None, threads: int | None = None,
                  data: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
                  models: Sequence[str] | None = None) -> BenchmarkSettings:
    """Suite defaults, then explicit options (None: not given), then ``--set`` items.

    ``--set`` takes ``key=value`` for TrainConfig fields, ``render_settings.key=value`` for
    one setting of the randomised rendering, ``model_config.key=value`` for every model
    whose config has ``key``, and ``<model>.key=value`` for one model (or one variant; a
    model's settings also reach its variants, beneath the variant's own).
    """
    s = BenchmarkSettings(
        epochs=suite.epochs if epochs is None else epochs,
        patience=suite.patience if patience is None else patience,
        max_train=suite.max_train if max_train is None else max_train,
        threads=threads, data=None if data is None else str(data), train=dict(suite.train),
        model_config={m: dict(v) for m, v in suite.model_config.items()},
        variants=dict(suite.variants))
    # Options given on the command line apply to every model, over the suite's per-model ones.
    given = {k for k, v in (("epochs", epochs), ("patience", patience),
                            ("max_train", max_train)) if v is not None}
    s.model_train = {m: {k: v for k, v in t.items() if k not in given}
                     for m, t in suite.model_train.items()}
    names = [suite.column(m) for m in (models or suite.models)]
    for item in overrides:
        key, value = parse_override(item)
        head, dot, rest = key.partition(".")
        for name in suite.variants:  # variant names may hold dots (pa_ib-t_0.5)
            if key.startswith(name + ".") and len(name) > len(head):
                head, dot, rest = name, ".", key[len(name) + 1:]
        if head == "render_settings" and rest:
            s.train[head] = {**s.train.get(head, {}), rest: value}
            for own in s.model_train.values():
                if head in own:
                    own[head] = {**own[head], rest: value}
            continue
        if not dot:
            if key in OWNED_FIELDS or key not in TrainConfig.__dataclass_fields__:
                raise ConfigError(f"--set {key}: not a setting a benchmark can change; use a "
                                  "TrainConfig field (batch_size, lr...), model_config.<key> "
                                  "or <model>.<key>")
            if key in ("epochs", "patience", "max_train", "threads"):
                setattr(s, key, value)
            else:
                s.train[key] = value
            for own in s.model_train.values():
                own.pop(key, None)
            continue
        targets = ([m for m in names if rest in config_field_names(
                        get_model_spec(suite.base_model(m)).config_cls)]
                   if head == "model_config" else [suite.column(head)])
        if not targets or not rest:
            raise ConfigError(f"--set {key}: none of the models {', '.join(names)} has a "
                              f"setting {rest!r}")
        for m in targets:
            s.model_config.setdefault(m, {})[rest] = value
    return s


def model_overrides(model: str, settings: BenchmarkSettings) -> dict[str, Any]:
    """The config overrides of ``model`` (``n_jobs`` from ``threads`` when unset).

    For a variant: its model's overrides, then the variant's config, then its own ``--set``.
    """
    out = dict(settings.model_config.get(model, {}))
    if (variant := settings.variants.get(model)) is not None:
        out = {**settings.model_config.get(variant.model, {}), **variant.config, **out}
        model = variant.model
    names = config_field_names(get_model_spec(model).config_cls)
    if settings.threads is not None and "n_jobs" in names and "n_jobs" not in out:
        out["n_jobs"] = settings.threads
    return out


def train_config(run: BenchmarkRun, settings: BenchmarkSettings,
                 out: str | os.PathLike[str]) -> TrainConfig:
    """The checked TrainConfig of ``run`` (its model config is built once as a check).

    ``render_settings`` reach the runs that render randomised; runs with render none (e.g.
    a suite's fixed-rendering variants) leave them out.
    """
    own = settings.model_train.get(run.registered, {})
    budget = {k: own.get(k, getattr(settings, k)) for k in ("epochs", "patience", "max_train")}
    data = {**settings.train, **{k: v for k, v in own.items() if k not in budget},
            **(run.variant.train if run.variant else {}), "model": run.registered,
            "primary": run.configuration.primary,
            "auxiliary": list(run.configuration.auxiliary), "split": run.split,
            "seed": run.seed, **budget, "threads": settings.threads, "out": str(out),
            "data": settings.data, "progress": False, "checkpoint_every": 0,
            "model_config": model_overrides(run.model, settings)}
    if data.get("render", TrainConfig.render) == "none":
        data.pop("render_settings", None)
    config = TrainConfig.from_dict(data, source=f"benchmark run {run.model} "
                                                f"({run.identity()['config']})")
    get_model_spec(run.registered).make_config(config.model_config, primary=config.primary,
                                          auxiliary=config.auxiliary, n_points=config.n_points,
                                          n_labels=N_LABELS)
    return config


def settings_hash(config: TrainConfig, dataset_fingerprint: str,
                  extra: Mapping[str, Any] | None = None) -> str:
    """Hash of the dataset and of the settings of ``config`` that change a run's result.

    Modalities, split and seed are left out (the key names them), so runs of one model
    under one set of settings share the hash. ``extra`` (e.g. a suite's test conditions)
    enters the hash when not empty.
    """
    data = {k: v for k, v in config.to_dict().items() if k not in SPEED_FIELDS
            and not (k in LATE_DEFAULTS and v == LATE_DEFAULTS[k])}
    data["model_config"] = {k: v for k, v in config.model_config.items()
                            if k not in SPEED_MODEL_FIELDS}
    text = json.dumps({"config": data, "dataset": dataset_fingerprint,
                       **({"extra": dict(extra)} if extra else {})}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def run_key(run: BenchmarkRun, hash_: str) -> str:
    """File-name-safe key: suite, model, modalities, primary, split, seed, settings hash."""
    primary = run.configuration.primary if run.role_aware else "any"
    return (f"{run.suite}__{run.model}__{run.configuration.modality_set}__{primary}__"
            f"{run.split}__seed{run.seed}__{hash_}")


def dataset_info(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Fingerprint (of the index file), molecule count and split sizes of a dataset folder.

    For Alberts et al. parquet data: :func:`~mspectmol.data.alberts_data.alberts_info` (the
    fingerprint of the files' digests; the index is built on first use).

    Raises
    ------
    MspectmolError
        When the index is missing or unreadable, naming the file.
    """
    if is_alberts_data(path):
        return alberts_info(path)
    index = (Path(path) if path is not None else EMBEDDED_DIR) / "index.parquet"
    if not index.is_file():
        raise MspectmolError(f"{index}: missing dataset index")
    try:
        raw = index.read_bytes()
        table = pq.read_table(index, columns=["id", "split_random", "split_scaffold"])
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise MspectmolError(f"{index}: unreadable dataset index ({exc})") from None
    splits = {}
    for scheme in SPLITS:
        parts = table.column(f"split_{scheme}").to_pylist()
        splits[scheme] = {p: parts.count(p) for p in ("train", "val", "test")}
    return {"fingerprint": hashlib.sha256(raw).hexdigest()[:12], "molecules": table.num_rows,
            "splits": splits}


@dataclass
class Job:
    """A planned run with its resolved config, settings hash and key (:func:`run_key`)."""

    run: BenchmarkRun
    config: TrainConfig
    hash: str
    key: str


def suite_extra(suite: Suite) -> dict[str, Any] | None:
    """What a suite adds to the settings hash: test conditions and measurements, if any."""
    extra: dict[str, Any] = {}
    if suite.conditions:
        extra["conditions"] = {c.name: c.to_dict() for c in suite.conditions}
    if suite.measure:
        extra["measure"] = {"what": list(suite.measure),
                            "heavy_atom_bins": [list(b) for b in suite.heavy_atom_bins]}
    return extra or None


def plan_jobs(suite: Suite, settings: BenchmarkSettings, out: str | os.PathLike[str],
              fingerprint: str, models: Sequence[str] | None = None) -> list[Job]:
    """Every run of the suite with its checked config and key (nothing is trained)."""
    jobs = []
    extra = suite_extra(suite)
    for run in plan_runs(suite, models):
        config = train_config(run, settings, Path(out) / "models")
        hash_ = settings_hash(config, fingerprint, extra)
        jobs.append(Job(run, config, hash_, run_key(run, hash_)))
    return jobs
