"""``mspectmol evaluate``: metrics of a saved model on a split of the embedded dataset, a
folder of its format or Alberts et al. parquet data."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mspectmol.cli.spectra_options import add_model_argument

log = logging.getLogger("mspectmol.evaluate")

PARTS = ("train", "val", "test")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "evaluate", parents=parents,
        help="evaluate a saved model on the embedded dataset",
        description="Evaluate a saved model (a model folder, a model.json/.safetensors "
                    "pair or a run folder) on one part of a dataset split: metrics at "
                    "threshold 0.5 and at the per-group thresholds stored with the model.",
    )
    add_model_argument(p)
    p.add_argument("--split", choices=("scaffold", "random", "size"), default=None,
                   help="split scheme (default: the one the model was trained with)")
    p.add_argument("--part", choices=PARTS, default="test", help="split part (default test)")
    p.add_argument("--data", type=Path, default=None, metavar="PATH",
                   help="dataset folder, or Alberts et al. parquet data (a chunk or a folder "
                        "of chunks; converted once into a cache, with fixed splits) (default: "
                        "the dataset shipped with mspectmol)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="write the metrics as JSON here (default: print them)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mspectmol.training.evaluate import summary_line
    from mspectmol.training.pipeline import evaluate_saved
    from mspectmol.training.run_folder import write_json

    metrics = evaluate_saved(args.model, split=args.split, part=args.part, data=args.data)
    log.info("%s %s/%s: %s", metrics["model"], metrics["split"], metrics["part"],
             summary_line(metrics))
    if args.output is not None:
        write_json(args.output, metrics)
        log.info("wrote %s", args.output)
    else:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
