"""Benchmark suites: spectrum configurations, models, seeds, splits and their settings.

A :class:`Suite` is read from ``mspectmol/configs/suites/<name>.json`` (or any suite file) by
:func:`load_suite`; :mod:`mspectmol.suites.plan` plans its runs and their keys and
:mod:`mspectmol.suites.runner` trains them. The constants here decide which settings enter a
run's key (:data:`SPEED_FIELDS`, :data:`LATE_DEFAULTS`) and the ``--profile paper``,
``--quick`` and Alberts et al. data (``--data`` parquet) variants.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mspectmol.data.alberts_data import ALBERTS_MODALITIES
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.registry import config_field_names, get_model_spec
from mspectmol.spectra.modalities import get_modality
from mspectmol.suites.cells import TableLine
from mspectmol.suites.conditions import Condition, parse_conditions
from mspectmol.suites.configurations import Configuration
from mspectmol.suites.variants import Variant, parse_variants
from mspectmol.training.config import DERIVED_SPLITS, SPLITS, TrainConfig, read_config_file

SUITE_DIR = Path(__file__).resolve().parents[1] / "configs" / "suites"
#: TrainConfig fields a benchmark sets itself (not changeable with ``--set``).
OWNED_FIELDS = ("model", "model_config", "primary", "auxiliary", "split", "seed", "out",
                "data", "progress")
#: Left out of the settings hash: speed-only settings and those the key names already.
SPEED_FIELDS = ("out", "threads", "progress", "data", "primary", "auxiliary", "split", "seed",
                "device", "checkpoint_every", "devices", "nmr_corpus_workers")
#: Settings added after results were stored, left out of the hash at their default value
#: (so earlier runs keep their keys; any other value changes the hash).
LATE_DEFAULTS = {"amp": False, "modality_dropout": 0.0, "render": "none", "transfer": None,
                 "mix": 0.0, "render_settings": {}, "prior_correction": 0.0, "nmr_corpus": 0}
SPEED_MODEL_FIELDS = ("n_jobs",)
#: Settings of ``--profile paper`` (appendix B; the model sizes are the registered ones).
PAPER_PROFILE = {"epochs": 100, "patience": 15, "max_train": None}
#: Settings of ``--quick`` (a smoke test of the whole chain, not a result).
QUICK = {"seeds": (0,), "splits": ("scaffold",), "epochs": 2, "patience": 2, "max_train": 96}
N_LABELS = 37
#: What a suite's ``measure`` list may name (:mod:`mspectmol.suites.cost`).
MEASURES = ("cost",)
#: Split schemes a suite may name, in the order of a table's sections.
SPLIT_ORDER = (*SPLITS, *DERIVED_SPLITS)


@dataclass(frozen=True)
class Suite:
    """Configurations x models x splits x seeds, with default training settings.

    ``model_config`` maps model names to config overrides (sizes fitted to the CPU budget);
    ``quick`` holds the ``--quick`` variant's ``models``, ``configurations`` (indices) and
    ``model_config``. ``conditions`` are test-time conditions every trained model is also
    evaluated under (:mod:`mspectmol.suites.conditions`); ``train`` holds further
    TrainConfig defaults (e.g. ``modality_dropout``). ``variants`` are named columns of
    ``models`` (:class:`~mspectmol.suites.variants.Variant`); ``measure``
    ``["cost"]`` records memory and time per run, with one epoch timed on each of
    ``heavy_atom_bins`` (inclusive ``[low, high]`` heavy-atom counts). ``model_train`` maps
    registered model names to training overrides of that model alone (TrainConfig fields,
    including ``epochs``, ``patience`` and ``max_train``, e.g. a smaller batch for models that
    need more optimiser steps in the CPU budget); they change only that model's run keys.
    ``alberts`` holds the ``configurations`` (and ``quick_configurations``, indices into them)
    run on Alberts et al. data instead of the suite's own (e.g. the paper's Table 1 rows of
    that dataset, with IR + (MS/MS+, MS/MS-)).
    """

    name: str
    description: str
    configurations: tuple[Configuration, ...]
    models: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    splits: tuple[str, ...] = SPLITS
    epochs: int = 30
    patience: int = 10
    max_train: int | None = 2048
    model_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    conditions: tuple[Condition, ...] = ()
    train: Mapping[str, Any] = field(default_factory=dict)
    variants: Mapping[str, Variant] = field(default_factory=dict)
    measure: tuple[str, ...] = ()
    heavy_atom_bins: tuple[tuple[int, int], ...] = ()
    model_train: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    alberts: Mapping[str, Any] = field(default_factory=dict)

    def base_model(self, column: str) -> str:
        """The registered model of a column (a variant's model, else the column itself)."""
        return self.variants[column].model if column in self.variants else column

    def column(self, name: str) -> str:
        """A column name: a variant's name, else the registered model's canonical name."""
        return name if name in self.variants else get_model_spec(name).name

    def titles(self) -> dict[str, str]:
        """Column titles of the variants that have one."""
        return {k: v.title for k, v in self.variants.items() if v.title}

    def lines(self) -> list[TableLine]:
        """One table line per configuration and applicable test condition (if any)."""
        return [TableLine(c.label(markdown=True) + (f": {k.title()}" if k.name else ""),
                          c.primary, c.modality_set, k.name)
                for c in self.configurations for k in (self.conditions or (Condition(""),))
                if k.applies_to(c.modalities)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "suite") -> Suite:
        """Build and check a suite from its JSON form (errors name ``source``)."""
        forbidden = (*OWNED_FIELDS, *QUICK, "threads")
        try:
            configs = parse_configurations(data["configurations"])
            alberts = dict(data.get("alberts", {}))
            if "configurations" in alberts:
                alberts["configurations"] = parse_configurations(alberts["configurations"])
            variants = parse_variants(data.get("variants"), source, forbidden=forbidden,
                                      train_fields=tuple(TrainConfig.__dataclass_fields__))
            suite = cls(
                str(data["name"]), str(data.get("description", "")), configs,
                tuple(m if m in variants else get_model_spec(m).name for m in data["models"]),
                tuple(int(s) for s in data.get("seeds", (0, 1, 2))),
                tuple(str(s) for s in data.get("splits", SPLITS)),
                int(data.get("epochs", 30)), int(data.get("patience", 10)),
                data.get("max_train", 2048), dict(data.get("model_config", {})),
                dict(data.get("quick", {})), str(data.get("notes", "")),
                parse_conditions(data.get("conditions"), source), dict(data.get("train", {})),
                variants, tuple(str(m) for m in data.get("measure", ())),
                tuple((int(lo), int(hi)) for lo, hi in data.get("heavy_atom_bins", ())),
                parse_model_train(data.get("model_train"), source, forbidden), alberts)
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, MspectmolError) as exc:
            raise ConfigError(f"{source}: invalid benchmark suite ({type(exc).__name__}: "
                              f"{exc})") from None
        if (not (configs and suite.models and suite.seeds)
                or set(suite.splits) - set(SPLIT_ORDER)
                or not re.fullmatch(r"[a-z0-9_-]+", suite.name)):
            raise ConfigError(f"{source}: a suite needs a name of a-z, 0-9, _ and -, "
                              f"configurations, models, seeds and splits among "
                              f"{', '.join(SPLIT_ORDER)}")
        if set(suite.measure) - set(MEASURES) or any(lo > hi for lo, hi in
                                                     suite.heavy_atom_bins):
            raise ConfigError(f"{source}: measure must list names among {', '.join(MEASURES)} "
                              "and heavy_atom_bins [low, high] pairs with low <= high")
        if bad := [k for k in suite.train if k in forbidden
                   or k not in TrainConfig.__dataclass_fields__]:
            raise ConfigError(f"{source}: train: {', '.join(bad)} cannot be set there (use "
                              "TrainConfig fields such as modality_dropout or lr)")
        return suite


def parse_configurations(data: Sequence[Sequence[str]]) -> tuple[Configuration, ...]:
    """Configurations from their JSON form (lists of modalities, primary first)."""
    return tuple(Configuration(get_modality(c[0]).name, tuple(get_modality(a).name
                                                              for a in c[1:])) for c in data)


def for_alberts(suite: Suite, source: str) -> Suite:
    """The suite as run on Alberts et al. data: its ``alberts`` configurations if it has
    them (named ``<name>-alberts``).

    Raises
    ------
    ConfigError
        When a configuration needs a modality that data lacks.
    """
    configs = suite.alberts.get("configurations", suite.configurations)
    missing = sorted({m for c in configs for m in c.modalities} - set(ALBERTS_MODALITIES))
    if missing:
        raise ConfigError(f"{source}: the suite's configurations use {', '.join(missing)}, "
                          f"which Alberts et al. data lacks (it has "
                          f"{', '.join(ALBERTS_MODALITIES)}); give the suite an 'alberts' "
                          "section with configurations of its own")
    return replace(suite, name=f"{suite.name}-alberts", configurations=configs)


def parse_model_train(data: Mapping[str, Any] | None, source: str,
                      forbidden: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The ``model_train`` object of a suite: registered model -> TrainConfig overrides."""
    if not data:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: model_train must be an object model -> settings")
    out = {}
    for name, train in data.items():
        try:
            model = get_model_spec(str(name)).name
        except MspectmolError as exc:
            raise ConfigError(f"{source}: model_train: {exc}") from None
        if not isinstance(train, Mapping):
            raise ConfigError(f"{source}: model_train {name!r} must be an object of settings")
        allowed = set(TrainConfig.__dataclass_fields__) - {*OWNED_FIELDS, "threads"}
        if bad := sorted(k for k in train if k not in allowed):
            raise ConfigError(f"{source}: model_train {name!r}: {', '.join(bad)} cannot be "
                              "set there (use TrainConfig fields such as lr or batch_size)")
        out[model] = dict(train)
    return out


def load_suite(name: str | os.PathLike[str], quick: bool = False,
               alberts: bool = False) -> Suite:
    """A packaged suite by name (or a suite JSON file), or its ``--quick`` variant.

    The quick variant is named ``<name>-quick`` and uses :data:`QUICK` and the suite's
    ``quick`` section (``models`` may name variants; ``splits`` replaces QUICK's).
    ``alberts``: the variant for Alberts et al. data (:func:`for_alberts`; its quick
    configurations are the ``alberts`` section's ``quick_configurations`` when given).
    """
    path = Path(name)
    if not path.suffix:
        path = SUITE_DIR / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"unknown benchmark suite {str(name)!r}; known: "
                              f"{', '.join(packaged_suites())} (or a suite .json file)")
    suite = Suite.from_dict(read_config_file(path), source=str(path))
    if alberts:
        suite = for_alberts(suite, str(path))
    if not quick:
        return suite
    q = suite.quick
    picked = q.get("configurations", (0, 1))
    if alberts and "configurations" in suite.alberts:
        picked = suite.alberts.get("quick_configurations", picked)
    try:
        configs = tuple(suite.configurations[i] for i in picked)
        models = tuple(suite.column(m) for m in q.get("models", suite.models))
        splits = {"splits": tuple(str(s) for s in q["splits"])} if "splits" in q else {}
    except (IndexError, TypeError, MspectmolError) as exc:
        raise ConfigError(f"{path}: invalid quick section ({exc})") from None
    if set(splits.get("splits", ())) - set(SPLIT_ORDER):
        raise ConfigError(f"{path}: invalid quick section (splits {splits['splits']})")
    return replace(suite, name=f"{suite.name}-quick", configurations=configs, models=models,
                   model_config=dict(q.get("model_config", {})), **{**QUICK, **splits},
                   model_train={m: {k: v for k, v in t.items() if k not in QUICK}
                                for m, t in suite.model_train.items()},
                   notes="--quick: a smoke test of the chain with tiny models, not a result.")


def is_role_aware(model: str) -> bool:
    """True when the model's config has a ``primary`` field (it treats modalities unequally)."""
    return "primary" in config_field_names(get_model_spec(model).config_cls)


def packaged_suites() -> tuple[str, ...]:
    """Names of the suites shipped in :data:`SUITE_DIR`, sorted."""
    return tuple(sorted(p.stem for p in SUITE_DIR.glob("*.json")))
