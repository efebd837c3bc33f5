"""``mspectmol train``: train a model on the embedded dataset and write a run folder.

``--devices N`` trains with N data-parallel processes started here; under torchrun
(``torchrun --nproc-per-node N -m mspectmol train ...``) each torchrun process is one rank
(:mod:`mspectmol.training.distributed`, which also describes several machines).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mspectmol.training.config import TrainConfig

log = logging.getLogger("mspectmol.train")

#: Packaged configs (the training modules, which import torch, load only when a run starts).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

#: Dedicated options and the config fields they set.
OPTIONS = ("model", "primary", "auxiliary", "split", "seed", "epochs", "patience",
           "batch_size", "lr", "augment", "threads", "max_train", "out", "data", "device",
           "checkpoint_every", "devices", "amp", "modality_dropout")
#: Options that may be given with ``--resume`` (the rest come from the run's config.json).
RESUME_OPTIONS = ("threads", "device", "checkpoint_every", "data", "devices")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "train", parents=parents,
        help="train a functional-group classifier and write a run folder",
        description="Train a model on the embedded dataset. Settings come from the defaults, "
                    "then --config, then the options below, then --set key=value items. "
                    "The run folder OUT/<time>-<model>-<primary>/ receives config.json, "
                    "splits.json, log.csv, model/ and metrics.json; neural runs keep "
                    "checkpoint/last.safetensors until they end, and --resume RUN_DIR "
                    "continues an interrupted run where its checkpoint left off.",
    )
    p.add_argument("--config", default=None,
                   help="JSON or TOML config file, or the name of a packaged config "
                        f"({', '.join(sorted(q.stem for q in CONFIG_DIR.glob('*.json')))})")
    p.add_argument("--model", default=None,
                   help="model name (default pa_ib; also cnn, cnn_early, cnn_concat, "
                        "cnn_late and the registered baselines)")
    p.add_argument("--primary", default=None, help="primary modality (default ir)")
    p.add_argument("--auxiliary", nargs="*", default=None,
                   help="auxiliary modalities (default h_nmr c_nmr; none when given empty)")
    p.add_argument("--split", choices=("scaffold", "random", "size"), default=None,
                   help="split scheme (default scaffold; size: train on the smaller 90%%, test "
                        "on the largest molecules, appendix K)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 100)")
    p.add_argument("--patience", type=int, default=None,
                   help="early-stopping patience in epochs (default 15)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default 128)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 4e-4)")
    p.add_argument("--augment", default=None,
                   help="augmentation of training batches, e.g. shift+smooth (default none)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--device", default=None,
                   help="cpu (default), cuda, cuda:N or auto (CUDA when available)")
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="data-parallel training in N processes on this machine (one per GPU "
                        "with --device cuda; default 1); batch-size stays the global batch. "
                        "Under torchrun leave it out")
    p.add_argument("--modality-dropout", type=float, default=None, metavar="P",
                   help="hide each auxiliary spectrum of a training row with probability P "
                        "so the model also predicts without it (default 0)")
    p.add_argument("--amp", action="store_true", default=None,
                   help="mixed precision (bfloat16 autocast) on CUDA; ignored on the CPU")
    p.add_argument("--max-train", type=int, default=None,
                   help="use a seeded subset of this many training molecules (quick runs)")
    p.add_argument("--out", type=Path, default=None, help="parent folder of runs (runs/)")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset folder (default: the dataset shipped with mspectmol)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="override a setting (value read as JSON when possible), e.g. "
                        "--set lr=1e-3 --set model_config.dropout=0.3; repeatable")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="also checkpoint every STEPS optimiser steps (default: at epoch ends "
                        "only; 0: no checkpoints)")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                   help="continue the interrupted run in RUN_DIR with its saved settings "
                        "(only --threads, --device, --checkpoint-every, --data, --devices "
                        "and --no-progress may be given with it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def config_path(value: str | None) -> Path | None:
    """A config file path, or a packaged config by name when no such file exists."""
    if value is None:
        return None
    from mspectmol.training.config import packaged_config

    path = Path(value)
    if path.exists() or path.suffix:
        return path
    return packaged_config(value)


def _resume_config(args: argparse.Namespace, options: dict[str, Any]) -> TrainConfig:
    """The config of the run folder ``args.resume``, refusing options that would change it."""
    from mspectmol.errors import ConfigError
    from mspectmol.training.config import run_config

    given = [f"--{key.replace('_', '-')}" for key in OPTIONS
             if options[key] is not None and key not in RESUME_OPTIONS]
    given += ["--config"] * (args.config is not None) + ["--set"] * bool(args.overrides)
    if given:
        raise ConfigError(f"--resume continues a run with its saved settings; drop "
                          f"{', '.join(given)}")
    return run_config(args.resume, {key: options[key] for key in (*RESUME_OPTIONS,
                                                                  "progress")})


def run(args: argparse.Namespace) -> int:
    from mspectmol.errors import ConfigError
    from mspectmol.training import distributed
    from mspectmol.training.config import resolve_config
    from mspectmol.training.evaluate import summary_line
    from mspectmol.training.pipeline import run_training

    options = {key: getattr(args, key) for key in OPTIONS}
    for key in ("out", "data"):
        options[key] = None if options[key] is None else str(options[key])
    options["progress"] = False if args.no_progress else None
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
