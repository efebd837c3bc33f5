"""``mspectmol train``: train a model on the embedded dataset and write a run folder.

The settings options are generated from :class:`~mspectmol.training.config.TrainConfig`:
one option per field (``--batch-size`` for ``batch_size``; ``--amp``/``--no-amp`` for a
boolean), its type from the field's type hint, its help from the first sentence of the
field's entry in the class docstring and its default from :data:`DEFAULT_CONFIG` over the
field defaults. Only the presentation is declared here (:data:`FLAGS`, :data:`METAVARS`,
:data:`CHOICES`); a new field gets its option without touching this module. Tables
(``model_config``) are set with ``--set``.

``--devices N`` trains with N data-parallel processes started here; under torchrun
(``torchrun --nproc-per-node N -m mspectmol train ...``) each torchrun process is one rank
(:mod:`mspectmol.training.distributed`, which also describes several machines).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import re
import typing
from pathlib import Path
from typing import Any

from mspectmol.cli.flags import add_deprecated_alias
from mspectmol.errors import ConfigError
from mspectmol.models.registry import available_models
from mspectmol.training import distributed
from mspectmol.training.config import (
    CONFIG_DIR,
    DEFAULT_CONFIG,
    DERIVED_SPLITS,
    RENDERINGS,
    RESUME_SETTINGS,
    SPLITS,
    TrainConfig,
    field_types,
    packaged_config,
    read_config_file,
    resolve_config,
    run_config,
)
from mspectmol.training.evaluate import summary_line
from mspectmol.training.pipeline import run_training

log = logging.getLogger("mspectmol.train")

#: Option spellings other than ``--<field-name>`` (the last one is the canonical name).
FLAGS = {"out": ("-o", "--output"), "n_points": ("--points",)}
#: Old spellings still accepted, hidden from ``--help`` and warned about.
DEPRECATED = {"out": "--out"}
METAVARS = {"model": "NAME", "primary": "MODALITY", "auxiliary": "MODALITY", "seed": "N",
            "epochs": "N", "patience": "N", "batch_size": "N", "lr": "RATE",
            "augment": "SPEC", "threads": "N", "out": "DIR", "max_train": "N",
            "n_points": "N", "eval_batch_size": "N", "data": "DIR", "device": "DEVICE",
            "checkpoint_every": "STEPS", "devices": "N", "modality_dropout": "P",
            "transfer": "FILE"}
CHOICES = {"split": (*SPLITS, *DERIVED_SPLITS), "render": RENDERINGS}
#: Settings options that may be given with ``--resume`` (the rest come from the run).
RESUME_OPTIONS = tuple(k for k in RESUME_SETTINGS if k != "out")

_ROLE = re.compile(r":[a-z]+:`~?([^`]*?)`")
_SENTENCE_END = re.compile(r"(?<=[A-Za-z0-9)%])\.(\s+(?=[A-Z])|$)")


def field_help() -> dict[str, str]:
    """The first sentence of each field's entry in :class:`TrainConfig`'s docstring,
    without its reST markup."""
    doc = inspect.cleandoc(TrainConfig.__doc__ or "")
    section = doc.partition("Attributes\n----------\n")[2]
    entries: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line and not line.startswith(" "):
            entries[line.strip()] = []
        elif entries and line.strip():
            entries[list(entries)[-1]].append(line.strip())
    out = {}
    for name, lines in entries.items():
        text = _ROLE.sub(lambda m: m.group(1).rpartition(".")[2], " ".join(lines))
        text = text.replace("``", "")
        first = _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".")
        out[name] = first[:1].lower() + first[1:] if first[1:2].islower() else first
    return out


def option_flags(name: str) -> tuple[str, ...]:
    """The option strings of field ``name`` (canonical last)."""
    return FLAGS.get(name, (f"--{name.replace('_', '-')}",))


def option_fields() -> tuple[str, ...]:
    """Fields that have an option (all but tables, which ``--set`` sets)."""
    return tuple(name for name, hint in field_types().items()
                 if typing.get_origin(hint) is not dict)


def cli_defaults() -> dict[str, Any]:
    """What ``mspectmol train`` uses when nothing is given: :data:`DEFAULT_CONFIG` over the
    field defaults."""
    base = TrainConfig().to_dict()
    return {**base, **read_config_file(packaged_config(DEFAULT_CONFIG))}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) or "none"
    return str(value)


def add_settings_options(group: Any) -> None:
    """One option per :class:`TrainConfig` field (see the module docstring)."""
    helps, defaults, types = field_help(), cli_defaults(), field_types()
    extra = {"model": f": {', '.join(available_models())}"}
    for name in option_fields():
        hint = types[name]
        args = typing.get_args(hint)
        base = next(a for a in args if a is not type(None)) if type(None) in args else hint
        text = helps[name] + extra.get(name, "")
        if defaults.get(name) is not None:
            text += f" (default: {_shown(defaults[name])})"
        kwargs: dict[str, Any] = {"dest": name, "default": None,
                                  "help": text.replace("%", "%%")}
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = METAVARS.get(name, name.upper())
            if typing.get_origin(base) is tuple:
                kwargs["nargs"] = "*"
            else:
                kwargs["type"] = base
            if name in CHOICES:
                kwargs["choices"] = CHOICES[name]
                kwargs.pop("metavar")
        action = group.add_argument(*option_flags(name), **kwargs)
        if name in DEPRECATED:
            add_deprecated_alias(group, DEPRECATED[name], action)


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    packaged = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.json")))
    p = sub.add_parser(
        "train", parents=parents,
        help="train a functional-group classifier and write a run folder",
        description=f"Train a model on the embedded dataset. Settings come from the "
                    f"packaged {DEFAULT_CONFIG!r} config (the recommended recipe, the one the "
                    "packaged default model was trained with) or --config, then the options "
                    "below, then --set key=value items. The run folder "
                    "OUT/<time>-<model>-<primary>/ receives config.json (the resolved "
                    "settings), splits.json, log.csv, model/ and metrics.json; neural runs "
                    "keep checkpoint/last.safetensors until they end, and --resume RUN_DIR "
                    "continues an interrupted run where its checkpoint left off.",
    )
    p.add_argument("--config", default=None,
                   help="JSON or TOML config file, or the name of a packaged config "
                        f"({packaged}); default: {DEFAULT_CONFIG}, PA-IB without the "
                        "auxiliary KL terms (mi1_weight 0, beta 0), sqrt label weights, "
                        "modality dropout 0.3 and randomised rendering; eq14: the paper's "
                        "eq. 14 loss")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="override a setting (value read as JSON when possible), e.g. "
                        "--set lr=1e-3 --set model_config.dropout=0.3; repeatable")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                   help="continue the interrupted run in RUN_DIR with its saved settings "
                        "(only " + ", ".join(option_flags(k)[-1] for k in RESUME_OPTIONS)
                        + " may be given with it)")
    add_settings_options(p.add_argument_group(
        "settings (the fields of TrainConfig; any of them also with --set)"))
    p.set_defaults(run=run)


def config_path(value: str | None) -> Path:
    """A config file path, or a packaged config by name when no such file exists
    (:data:`DEFAULT_CONFIG` when None)."""
    if value is None:
        return packaged_config(DEFAULT_CONFIG)
    path = Path(value)
    if path.exists() or path.suffix:
        return path
    return packaged_config(value)


def _resume_config(args: argparse.Namespace, options: dict[str, Any]) -> TrainConfig:
    """The config of the run folder ``args.resume``, refusing options that would change it."""
    given = [option_flags(key)[-1] for key, value in options.items()
             if value is not None and key not in RESUME_OPTIONS]
    given += ["--config"] * (args.config is not None) + ["--set"] * bool(args.overrides)
    if given:
        raise ConfigError(f"--resume continues a run with its saved settings; drop "
                          f"{', '.join(given)}")
    return run_config(args.resume, {key: options[key] for key in RESUME_OPTIONS})


def run(args: argparse.Namespace) -> int:
    options = {key: getattr(args, key) for key in option_fields()}
    if args.resume is not None:
        config = _resume_config(args, options)
    else:
        config = resolve_config(config_path(args.config), options, args.overrides)
    if distributed.launched_by_torchrun():
        if config.devices > 1:
            raise ConfigError("under torchrun leave devices at 1: torchrun's --nproc-per-node "
                              "sets the processes")
        with distributed.process_group(config.device):
            distributed.quiet_other_ranks()
            result = run_training(config, resume=args.resume)
            main = distributed.is_main()
        if not main:
            return 0
    else:
        result = run_training(config, resume=args.resume)
    log.info("run folder: %s", result.run_dir)
    log.info("test: %s", summary_line(result.metrics["test"]))
    print(result.run_dir)
    return 0
