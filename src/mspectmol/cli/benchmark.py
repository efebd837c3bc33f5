"""``mspectmol benchmark``: the paper's benchmark suites (Tables 1, 4, 6-7, 9-14, Figs. 10a,
11), resumable.

See :mod:`mspectmol.evaluation.benchmark` for the suites, the run keys and the budget of the
default settings. The output folder receives ``runs/<key>.json`` (one per finished run),
``models/`` (the run folders of :func:`~mspectmol.training.pipeline.run_training`, without
the saved model unless ``--keep-models``),
``results.csv``, ``results.json`` and ``table.md``; suites with model variants grouped by
study (``augment``, ``ablation``) also ``figure-<split>.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
from dataclasses import replace
from pathlib import Path
from typing import Any

log = logging.getLogger("mspectmol.benchmark")

SUITE_NAMES = ("table1", "fusion", "symmetric", "missing", "noise", "augment", "stress",
               "ablation", "modalities")
#: Suites with their own harness (not functional-group classification): suite name -> module
#: exposing ``run_suite(args: argparse.Namespace) -> int``, imported only when asked for.
TASK_SUITES = {
    "conformers": "mspectmol.conformers.benchmark",
    "structure": "mspectmol.structure.benchmark",
}
SPLIT_NAMES = ("random", "scaffold", "size")


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
                    "Table 10, appendix L: loss terms, alpha, beta, temperature, prior) or "
                    "modalities (Tables 6, 7, 9: cost and F1 by number of modalities, "
                    "training time by heavy-atom count). Finished runs are skipped when "
                    "the command is run again with the same settings, so a suite can span "
                    "several sessions.",
    )
    p.add_argument("--suite", default="table1",
                   help=f"{', '.join((*SUITE_NAMES, *TASK_SUITES))} or a suite .json file "
                        "(default table1)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: one seed, scaffold split, 2 epochs, 96 training "
                        "molecules, tiny models, a few models on two configurations")
    p.add_argument("--profile", choices=("cpu-budget", "paper"), default="cpu-budget",
                   help="cpu-budget (default): the suite's settings, sized for a 2-core CPU "
                        "in under 3 h; paper: appendix B's protocol (up to 100 epochs, "
                        "patience 15, all training molecules) with every model at its "
                        "registered (published) size, for a GPU (--device cuda)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds (default 0 1 2)")
    p.add_argument("--splits", nargs="+", choices=SPLIT_NAMES, default=None,
                   help="split schemes (default: the suite's); size: test on the largest "
                        "10%% of molecules by heavy atoms (appendix K)")
    p.add_argument("--models", nargs="+", default=None,
                   help="models to run (default: the suite's)")
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
    p.add_argument("--data", type=Path, default=None,
                   help="dataset folder (default: the dataset shipped with mspectmol)")
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


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _device_text(device: str) -> str:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name()}) for the neural models"
    return device


def table_settings(suite: Any, settings: Any, config: Any, info: dict[str, Any],
                   rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The settings block of ``table.md`` (what makes the numbers interpretable)."""
    import torch

    n_train = sorted({int(r["n_train"]) for r in rows})
    robust = {}
    if getattr(suite, "conditions", ()):
        robust["test conditions"] = "; ".join(f"{c.name}: {c.title()}"
                                              for c in suite.conditions)
        robust["modality dropout (training)"] = config.modality_dropout
    sizes = "; ".join(f"{s}: " + "/".join(str(v[p]) for p in ("train", "val", "test"))
                      for s, v in info["splits"].items())
    return {
        "suite": f"{suite.name} ({suite.description})",
        "seeds": list(suite.seeds), "splits": list(suite.splits),
        "epochs (maximum)": settings.epochs, "early-stopping patience": settings.patience,
        "max-train": settings.max_train if settings.max_train else "all",
        "training molecules per run": n_train or "no run finished yet",
        "batch size": config.batch_size, "learning rate": config.lr,
        "augmentation": config.augment, **robust, "points per spectrum": config.n_points,
        "threads": settings.threads or f"torch default ({torch.get_num_threads()})",
        "model settings (beyond registry defaults)": settings.model_config,
        **({"training of single models (over the above)": settings.model_train}
           if settings.model_train else {}),
        **({"variants (column: model, config, training)": {
            k: v.to_dict() for k, v in suite.variants.items()}}
           if getattr(suite, "variants", None) else {}),
        **({"measured": "peak RSS (sampled every 20 ms), seconds per epoch; one epoch on an "
                        "equal number of training molecules per heavy-atom bin "
                        f"{[list(b) for b in suite.heavy_atom_bins]}"}
           if getattr(suite, "measure", ()) else {}),
        "dataset": f"{info['molecules']} molecules, index {info['fingerprint']}; "
                   f"train/val/test {sizes}",
        "selection": "epoch of best validation micro-F1 (threshold 0.5); temperature and "
                     "per-group thresholds fitted on validation; test evaluated once",
        "device": _device_text(settings.train.get("device", "cpu")),
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), Python "
                   f"{platform.python_version()}, torch {torch.__version__}",
    }


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` as ``(I, N)`` with 1 <= I <= N (None stays None)."""
    if text is None:
        return None
    from mspectmol.errors import ConfigError

    head, _, tail = text.partition("/")
    try:
        i, n = int(head), int(tail)
    except ValueError:
        i, n = 0, 0
    if not 1 <= i <= n:
        raise ConfigError(f"--shard must be I/N with 1 <= I <= N, got {text!r}")
    return i, n


def run(args: argparse.Namespace) -> int:
    from mspectmol.errors import ConfigError

    if str(args.suite) in TASK_SUITES:
        import importlib

        return int(importlib.import_module(TASK_SUITES[str(args.suite)]).run_suite(args))
    from mspectmol.evaluation import benchmark as bm
    from mspectmol.evaluation import benchmark_rows as br
    from mspectmol.evaluation import benchmark_study as bs
    from mspectmol.evaluation import benchmark_tables as bt

    suite = bm.load_suite(args.suite, quick=args.quick)
    if args.profile == "paper" and not args.quick:
        suite = replace(suite, **bm.PAPER_PROFILE, model_config={}, model_train={},
                        notes="Paper protocol (appendix B): Adam, lr 4e-4, cosine annealing, "
                              "batch 128, up to 100 epochs with early stopping on validation "
                              "micro-F1 (patience 15), all training molecules, every model "
                              "at its registered size.")
    table_models = tuple(dict.fromkeys((*suite.models, *(args.models or ()))))
    suite = replace(suite, seeds=tuple(dict.fromkeys(args.seeds or suite.seeds)),
                    splits=tuple(dict.fromkeys(args.splits or suite.splits)))
    if args.max_train is not None and args.max_train < 0:
        raise ConfigError(f"--max-train must be >= 0 (0: all), got {args.max_train}")
    settings = bm.make_settings(
        suite, epochs=args.epochs, patience=args.patience, threads=args.threads,
        max_train=args.max_train or None, data=args.data, overrides=args.overrides,
        models=table_models)
    if args.max_train == 0:
        settings.max_train = None
    if args.device is not None:
        settings.train["device"] = args.device
    shard = parse_shard(args.shard)
    out = args.out or Path("benchmarks") / (suite.name + ("-paper" if args.profile == "paper"
                                                          else ""))
    info = bm.dataset_info(settings.data)
    jobs = bm.plan_jobs(suite, settings, out, info["fingerprint"], args.models)
    # Settings hash of each table model (it does not depend on configuration, split, seed).
    first = replace(suite, seeds=suite.seeds[:1], splits=suite.splits[:1])
    hashes = {j.run.model: j.hash
              for j in bm.plan_jobs(first, settings, out, info["fingerprint"], table_models)}
    rows = br.load_rows(out / "runs")
    todo = [j for j in jobs if j.key not in rows]
    print(f"{suite.name}: {len(jobs)} runs planned, {len(jobs) - len(todo)} already "
          f"finished, {len(todo)} to train (output: {out})")
    if shard is not None:
        costs = br.estimate_each([(j.run.model, len(j.config.modalities)) for j in todo],
                                 list(rows.values()))
        todo = [todo[i] for i in br.balanced_shard(costs, *shard)]
        print(f"shard {shard[0]}/{shard[1]}: {len(todo)} runs")
    seconds, unknown = br.estimate_seconds(
        [(j.run.model, len(j.config.modalities)) for j in todo], list(rows.values()))
    if todo and unknown < len(todo):
        print(f"estimated training time: {_duration(seconds)} for {len(todo) - unknown} runs "
              f"(from finished runs); {unknown} runs without an estimate")
    if args.dry_run:
        for j in todo:
            ident = j.run.identity()
            print(f"  {ident['model']}: {ident['config']}, {ident['split']} split, "
                  f"seed {ident['seed']}")
        return 0

    def render(row: dict[str, Any] | None = None) -> None:
        if row is not None:
            rows[row["key"]] = row
        if shard is not None:
            return
        shown = br.current_rows(rows.values(), suite.name, hashes)
        seeds = {r["seed"] for r in shown} | set(suite.seeds)
        splits = [s for s in SPLIT_NAMES if s in set(suite.splits) | {r["split"] for r in shown}]
        other = len(rows) - len(shown)
        notes = [suite.notes] if suite.notes else []
        if other:
            notes.append(f"{other} finished rows of other suites or settings are in "
                         "results.csv but not in these tables.")
        markdown = bt.render_markdown(
            shown, title=f"mspectmol benchmark: {suite.description}", lines=suite.lines(),
            models=table_models, splits=splits, threshold=args.thresholds,
            settings=table_settings(replace(suite, seeds=tuple(sorted(seeds)),
                                            splits=tuple(splits)),
                                    settings, jobs[0].config, info, shown),
            expected=len(seeds), notes=notes, titles=suite.titles())
        bt.write_outputs(out, list(rows.values()), markdown)
        bs.write_suite_figures(out, suite, shown, table_models, splits)

    if args.tables_only:
        render()
        print(out / "table.md")
        return 0
    try:
        failures = bm.train_jobs(todo, out, info["fingerprint"], on_row=render,
                                 keep_models=args.keep_models, conditions=suite.conditions,
                                 measure=suite.measure, heavy_atom_bins=suite.heavy_atom_bins)
    finally:
        render()
    if shard is None:
        print(out / "table.md")
    if failures:
        log.error("%d of %d runs failed (rerun the command to retry them):\n  %s",
                  len(failures), len(todo), "\n  ".join(failures))
        return 1
    return 0
