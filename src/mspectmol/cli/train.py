"""``mspectmol train``: train a model on the embedded dataset.

``--task classifier`` (the default) trains a functional-group classifier and writes a run
folder; ``--task structure`` a structure decoder (:mod:`mspectmol.structure.model.recipes`)
or, with ``--variant prior``, the evidence-conditioned structure generator
(:mod:`mspectmol.structure.generation.prior_training`); ``--task conformers`` the conformer
diffusion model (:func:`mspectmol.conformers.train.build_conformer_model`). The structure and
conformer tasks write a model folder (``-o/--output``) in the one model-file format; their
defaults (:data:`RECIPES`) are the settings that built the packaged models.

The classifier's settings options are generated from
:class:`~mspectmol.training.config.TrainConfig`: one option per field (``--batch-size`` for
``batch_size``; ``--amp``/``--no-amp`` for a boolean), its type from the field's type hint,
its help from the first sentence of the field's entry in the class docstring and its
default from :data:`DEFAULT_CONFIG` over the field defaults. Only the presentation is
declared here (:data:`FLAGS`, :data:`METAVARS`, :data:`CHOICES`); a new field gets its
option without touching this module. Tables (``model_config``) are set with ``--set``.

``--devices N`` trains with N data-parallel processes started here; under torchrun
(``torchrun --nproc-per-node N -m mspectmol train ...``) each torchrun process is one rank
(:mod:`mspectmol.training.distributed`, which also describes several machines).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import re
import typing
from pathlib import Path
from typing import Any

from mspectmol.cli.flags import add_deprecated_alias
from mspectmol.conformers.train import ConformerRecipe, build_conformer_model
from mspectmol.data.alberts_data import is_alberts_data
from mspectmol.errors import ConfigError
from mspectmol.models.registry import available_models
from mspectmol.structure.generation.corpus import CORPORA
from mspectmol.structure.generation.prior_training import PriorRecipe, build_prior, write_pack
from mspectmol.structure.model.recipes import DecoderRecipe, build_decoder
from mspectmol.training import distributed
from mspectmol.training.config import (
    DEFAULT_CONFIG,
    DERIVED_SPLITS,
    RENDERINGS,
    RESUME_SETTINGS,
    SPLITS,
    TrainConfig,
    field_types,
    resolve_config,
    run_config,
)
from mspectmol.training.config_files import CONFIG_DIR, packaged_config, read_config_file
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
            "n_points": "N", "eval_batch_size": "N", "data": "PATH", "device": "DEVICE",
            "checkpoint_every": "STEPS", "devices": "N", "modality_dropout": "P",
            "transfer": "FILE", "mix": "SHARE", "prior_correction": "S",
            "nmr_corpus": "N", "nmr_corpus_workers": "N"}
CHOICES = {"split": (*SPLITS, *DERIVED_SPLITS), "render": RENDERINGS}
#: Settings options that may be given with ``--resume`` (the rest come from the run).
RESUME_OPTIONS = tuple(k for k in RESUME_SETTINGS if k != "out")

TASKS = ("classifier", "structure", "conformers")
#: The recipe of each ``(task, variant kind)``: its defaults and the options it takes.
RECIPES = {("structure", "decoder"): DecoderRecipe, ("structure", "prior"): PriorRecipe,
           ("conformers", "model"): ConformerRecipe}
#: Options of the structure and conformer tasks besides the TrainConfig fields they share:
#: ``dest -> (flag, argparse keywords)``.
TASK_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "variant": ("--variant", {"metavar": "NAME", "help": "structure: pa_ib (default), "
                              "ungated, transformer, or prior (the evidence-conditioned "
                              "generator); conformers: pa_ib (default), attention or none"}),
    "minutes": ("--minutes", {"type": float, "metavar": "M", "help": "structure: stop after "
                              "the epoch that passes M minutes (0: no budget)"}),
    "ranking_val": ("--ranking-val", {"type": int, "metavar": "N", "help": "structure: "
                                      "validation molecules for elucidate's ranking weights "
                                      "(0: keep the default weights)"}),
    "weights_only": ("--weights-only", {"action": "store_const", "const": True,
                                        "help": "structure: keep the model at --output, only "
                                                "choose its ranking weights again"}),
    "pack": ("--pack", {"type": Path, "metavar": "FILE", "help": "prior: train from this "
                        "training pack (needs neither RDKit's corpus nor qm9pack)"}),
    "write_pack": ("--write-pack", {"type": Path, "metavar": "FILE", "help": "prior: write a "
                                    "training pack and stop"}),
    "smiles_variants": ("--smiles-variants", {"type": int, "metavar": "N", "help": "prior: "
                                              "randomised SMILES per structure in a written "
                                              "pack (default 8)"}),
    "corpus": ("--corpus", {"choices": CORPORA, "help": "prior: qm9 (default; at most 9 "
                            "heavy atoms) or drug (a MOSES sample and the v2 drug-size "
                            "training molecules)"}),
    "corpus_size": ("--corpus-size", {"type": int, "metavar": "N", "help": "prior, drug "
                                      "corpus: MOSES structures sampled (default 300000)"}),
    "init": ("--init", {"type": Path, "metavar": "MODEL", "help": "prior: continue training "
                        "this generator (a folder, or a packaged one: prior, prior-drug) on "
                        "the corpus it was trained on; its architecture is kept"}),
    "balance_lines": ("--balance-lines", {"action": "store_const", "const": True,
                                          "help": "prior: train on the structures whose "
                                                  "predicted 13C lines are known and as "
                                                  "many others, drawn at random"}),
    "d_model": ("--d-model", {"type": int, "metavar": "N", "help": "prior: decoder width"}),
    "layers": ("--layers", {"type": int, "metavar": "N", "help": "prior: decoder layers"}),
    "hidden": ("--hidden", {"type": int, "metavar": "N", "help": "conformers: hidden width"}),
    "n_steps": ("--n-steps", {"type": int, "metavar": "N",
                              "help": "conformers: diffusion steps"}),
    "refine_val": ("--refine-val", {"type": int, "metavar": "N", "help": "conformers: "
                                    "validation molecules for the refinement start step"}),
}
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
        help="train a classifier, structure or conformer model",
        description=f"Train a model on the embedded dataset. --task classifier (default): "
                    f"a functional-group classifier. Settings come from the "
                    f"packaged {DEFAULT_CONFIG!r} config (the recommended recipe, the one the "
                    "packaged default model was trained with) or --config, then the options "
                    "below, then --set key=value items. The run folder "
                    "OUT/<time>-<model>-<primary>/ receives config.json (the resolved "
                    "settings), splits.json, log.csv, model/ and metrics.json; neural runs "
                    "keep checkpoint/last.safetensors until they end, and --resume RUN_DIR "
                    "continues an interrupted run where its checkpoint left off. --data also "
                    "takes Alberts et al. parquet data (a chunk or a folder of chunks; "
                    "modalities ir, h_nmr, c_nmr, msms_pos, msms_neg; converted once into a "
                    "cache), trained with --render none unless --render or --config says "
                    "otherwise. "
                    "--task structure and --task conformers write a model folder "
                    "(-o/--output, default runs/TASK-VARIANT) and take --epochs, "
                    "--batch-size, --lr, --seed, --threads, --max-train and --split, "
                    "structure also --device, conformers also --primary and --auxiliary, "
                    "with the defaults that built the packaged models (structure: epochs 8, "
                    "batch 64, lr 1e-3, 14 minutes, 1 thread; prior: epochs 3, batch 128, "
                    "d-model 128, 3 layers, 2 threads; conformers: epochs 12, batch 32, "
                    "lr 1e-3, hidden 96, 50 steps, IR + Raman, 1 thread); rerun the same "
                    "command to continue an interrupted conformer run.",
    )
    p.add_argument("--task", choices=TASKS, default="classifier",
                   help="what to train (default: classifier)")
    p.add_argument("--config", default=None,
                   help="JSON or TOML config file, or the name of a packaged config "
                        f"({packaged}); default: {DEFAULT_CONFIG}, PA-IB without the "
                        "auxiliary KL terms (mi1_weight 0, beta 0), sqrt label weights, "
                        "modality dropout 0.3, randomised rendering, mixtures 0.5 and a "
                        "prior correction of 0.5; eq14: the paper's "
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
        "settings (the fields of TrainConfig; any of them also with --set; defaults are "
        "the classifier's)"))
    group = p.add_argument_group("structure and conformers (--task structure, --task "
                                 "conformers)")
    for dest, (flag, kwargs) in TASK_OPTIONS.items():
        group.add_argument(flag, dest=dest, default=None, **kwargs)
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


def _recipe_key(args: argparse.Namespace) -> tuple[str, str]:
    if args.task == "structure":
        return args.task, "prior" if args.variant == "prior" else "decoder"
    return args.task, "model"


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The task and settings options given on the command line (dest -> value)."""
    dests = (*TASK_OPTIONS, *option_fields())
    out = {d: getattr(args, d) for d in dests if getattr(args, d) is not None}
    for flag, dest in (("--config", "config"), ("--resume", "resume")):
        if getattr(args, dest) is not None:
            out[flag] = getattr(args, dest)
    if args.overrides:
        out["--set"] = args.overrides
    return out


def _flag(dest: str) -> str:
    if dest.startswith("--"):
        return dest
    return TASK_OPTIONS[dest][0] if dest in TASK_OPTIONS else option_flags(dest)[-1]


def command_line(args: argparse.Namespace) -> str:
    """``mspectmol train --task ...`` with the options given (the model card's record)."""
    parts = ["mspectmol", "train", "--task", args.task]
    for dest, value in _given(args).items():
        parts.append(_flag(dest))
        if isinstance(value, (list, tuple)):
            parts.extend(map(str, value))
        elif value is not True:
            parts.append(str(value))
    return " ".join(parts)


def task_recipe(args: argparse.Namespace) -> Any:
    """The recipe of ``--task structure``/``conformers`` from the options given: the
    TrainConfig options named as a recipe field (``--epochs``, ``--seed``...) and the task
    options.

    Raises
    ------
    ConfigError
        For options that the task (or the structure variant) does not take.
    """
    key = _recipe_key(args)
    recipe = RECIPES[key]
    fields = set(recipe.__dataclass_fields__)
    given = _given(args)
    extra = {"out", "write_pack", "smiles_variants"} if key[1] == "prior" else {"out"}
    wrong = [_flag(d) for d in given if d not in extra and d not in fields]
    if key[1] == "prior" and given.get("variant") == "prior":
        wrong = [w for w in wrong if w != "--variant"]
    if wrong:
        what = f"--task {args.task}" + (" --variant prior" if key[1] == "prior" else "")
        raise ConfigError(f"{', '.join(wrong)}: not an option of {what}")
    values = {d: v for d, v in given.items() if d in fields}
    if "auxiliary" in values:
        values["auxiliary"] = tuple(values["auxiliary"])
    if "command" in fields:
        values["command"] = command_line(args)
    return recipe(**values)


def run_task(args: argparse.Namespace) -> int:
    """``--task structure`` or ``--task conformers``; prints the model folder written."""
    recipe = task_recipe(args)
    variant = getattr(recipe, "variant", "prior")
    out = Path(args.out or f"runs/{args.task}-{variant}")
    if isinstance(recipe, PriorRecipe):
        if args.write_pack is not None:
            print(write_pack(args.write_pack, recipe.seed, args.smiles_variants or 8,
                             recipe.corpus, recipe.corpus_size))
            return 0
        build_prior(out, recipe)
    elif isinstance(recipe, DecoderRecipe):
        build_decoder(out, recipe)
    else:
        build_conformer_model(out, recipe)
    log.info("model folder: %s", out)
    print(out)
    return 0


def _alberts_rendering(config: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """``render`` none for Alberts et al. data when only the packaged default chose
    randomised rendering (it needs the embedded dataset's peak lists)."""
    chosen = args.render is not None or args.config is not None or any(
        item.partition("=")[0].strip() == "render" for item in args.overrides)
    if config.render != "randomised" or chosen or not is_alberts_data(config.data):
        return config
    log.info("%s: Alberts et al. data, rendered already: --render none", config.data)
    return dataclasses.replace(config, render="none")


def run(args: argparse.Namespace) -> int:
    if args.task != "classifier":
        return run_task(args)
    wrong = [TASK_OPTIONS[d][0] for d in TASK_OPTIONS if getattr(args, d) is not None]
    if wrong:
        raise ConfigError(f"{', '.join(wrong)}: not an option of --task classifier")
    options = {key: getattr(args, key) for key in option_fields()}
    if args.resume is not None:
        config = _resume_config(args, options)
    else:
        config = resolve_config(config_path(args.config), options, args.overrides)
        config = _alberts_rendering(config, args)
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
