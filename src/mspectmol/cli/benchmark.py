"""``mspectmol benchmark``: the paper's benchmark suites (Tables 1, 4, 6-7, 9-14, Figs. 10a,
11), resumable.

This module parses the options; :func:`mspectmol.suites.runner.run_benchmark` runs a suite
(see :mod:`mspectmol.suites.plan` for the runs, their keys and the budget of the default
settings). The output folder receives ``runs/<key>.json`` (one per finished run),
``models/`` (the run folders of :func:`~mspectmol.training.pipeline.run_training`, without
the saved model unless ``--keep-models``), ``results.csv``, ``results.json`` and
``table.md``; suites with model variants grouped by study (``augment``, ``ablation``) also
``figure-<split>.png``. The suites of :data:`TASK_SUITES` have their own harness, which
reads the parsed options itself.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from mspectmol.errors import ConfigError
from mspectmol.models.registry import available_models
from mspectmol.suites.definitions import SPLIT_ORDER, packaged_suites
from mspectmol.suites.runner import PROFILES, BenchmarkOptions, run_benchmark

#: Suites with their own harness (not functional-group classification): suite name -> module
#: exposing ``run_suite(args: argparse.Namespace) -> int``, imported only when asked for.
TASK_SUITES = {
    "conformers": "mspectmol.conformers.benchmark",
    "structure": "mspectmol.structure.benchmark",
}


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "benchmark", parents=parents,
        help="run a benchmark suite of the paper and write result tables",
        description="Train and evaluate every (model, spectrum configuration, split, seed) of "
                    "a suite on the embedded dataset: table1 (Table 1), fusion (Table 12), "
                    "symmetric (Table 4), missing (Table 13: modalities masked at test time), "
                    "noise (Table 14: noisy test spectra), augment (Fig. 10a: training "
                    "augmentations, tested clean, noisy and shifted), stress (Table 11: test "
                    "on the largest 10% of molecules, the size split), ablation (Fig. 11, "
                    "Table 10, appendix L: loss terms, alpha, beta, temperature, prior), "
                    "modalities (Tables 6, 7, 9: cost and F1 by number of modalities, "
                    "training time by heavy-atom count) or transfer (PA-IB, the 1D-CNN and "
                    "XGBoost trained with fixed or randomised rendering, scored on the "
                    "in-domain test and on a transfer validation set; --set transfer=PATH "
                    "adds those columns to any suite). Finished runs are skipped when the "
                    "command is run again with the same settings, so a suite can span several "
                    "sessions.",
    )
    p.add_argument("--suite", default="table1",
                   help=f"{', '.join((*packaged_suites(), *TASK_SUITES))} or a suite .json "
                        "file (default table1)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: one seed, scaffold split, 2 epochs, 96 training "
                        "molecules, tiny models, a few models on two configurations")
    p.add_argument("--profile", choices=PROFILES, default="cpu-budget",
                   help="cpu-budget (default): the suite's settings, sized for a 2-core CPU "
                        "in under 3 h; paper: appendix B's protocol (up to 100 epochs, "
                        "patience 15, all training molecules) with every model at its "
                        "registered (published) size, for a GPU (--device cuda)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds (default 0 1 2)")
    p.add_argument("--splits", nargs="+", choices=SPLIT_ORDER, default=None,
                   help="split schemes (default: the suite's); size: test on the largest "
                        "10%% of molecules by heavy atoms (appendix K)")
    p.add_argument("--models", nargs="+", default=None,
                   help="models (or the suite's variants) to run (default: the suite's): "
                        f"{', '.join(available_models())}")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 30)")
    p.add_argument("--patience", type=int, default=None,
                   help="early-stopping patience (default: the suite's, 10)")
    p.add_argument("--max-train", type=int, default=None,
                   help="training molecules per run, a seeded subset (default 2048; 0: all)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads, also n_jobs of XGBoost/logistic (default: torch's)")
    p.add_argument("--device", default=None,
                   help="torch device of the neural models: cpu (default), cuda, cuda:N or "
                        "auto; not part of a run's key")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="train part I (1-based) of N of the remaining runs, so N processes "
                        "can share a suite: the runs are split by their expected time (from "
                        "finished runs of the same model) so that the parts take about as "
                        "long; start the N processes together, since each computes its part "
                        "from the runs finished when it starts; shards write runs/ only, and "
                        "a final call without --shard writes the tables")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default benchmarks/<suite>)")
    p.add_argument("--data", type=Path, default=None, metavar="PATH",
                   help="dataset folder, or Alberts et al. parquet data (a chunk or a folder "
                        "of chunks; a suite may name configurations of its own for it, e.g. "
                        "table1's IR + (MS/MS+, MS/MS-); default output "
                        "benchmarks/<suite>-alberts) (default: the dataset shipped with "
                        "mspectmol)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="override a setting: a training field (--set batch_size=64), a model "
                        "setting of every model having it (--set model_config.dropout=0.3) "
                        "or of one model (--set pa_ib.channels=[16,32]); repeatable")
    p.add_argument("--thresholds", choices=("0.5", "tuned"), default="0.5",
                   help="metrics shown in table.md: at threshold 0.5 or at the per-group "
                        "thresholds tuned on the validation split (default 0.5)")
    p.add_argument("--keep-models", action="store_true",
                   help="keep each run's saved model (default: only its logs and metrics)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs still to do and exit without training")
    p.add_argument("--tables-only", action="store_true",
                   help="write the tables from the finished runs without training any")
    p.set_defaults(run=run)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` as ``(I, N)`` with 1 <= I <= N (None stays None).

    Raises
    ------
    ConfigError
        For any other text.
    """
    if text is None:
        return None
    head, _, tail = text.partition("/")
    try:
        i, n = int(head), int(tail)
    except ValueError:
        i, n = 0, 0
    if not 1 <= i <= n:
        raise ConfigError(f"--shard must be I/N with 1 <= I <= N, got {text!r}")
    return i, n


def options_from_args(args: argparse.Namespace) -> BenchmarkOptions:
    """The :class:`~mspectmol.suites.runner.BenchmarkOptions` of parsed arguments."""
    return BenchmarkOptions(
        suite=args.suite, quick=args.quick, profile=args.profile, seeds=args.seeds,
        splits=args.splits, models=args.models, epochs=args.epochs, patience=args.patience,
        max_train=args.max_train, threads=args.threads, device=args.device,
        shard=parse_shard(args.shard), out=args.out, data=args.data,
        overrides=tuple(args.overrides), thresholds=args.thresholds,
        keep_models=args.keep_models, dry_run=args.dry_run, tables_only=args.tables_only)


def run(args: argparse.Namespace) -> int:
    """Run the suite of ``args``: a task suite's own harness, or the suite runner."""
    if str(args.suite) in TASK_SUITES:
        # A task suite's harness (structure, conformers) loads only when that suite runs.
        return int(importlib.import_module(TASK_SUITES[str(args.suite)]).run_suite(args))
    return run_benchmark(options_from_args(args))
