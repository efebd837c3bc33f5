"""Running a benchmark suite: its settings resolved, its runs trained, its tables written.

:func:`run_benchmark` is the workflow behind ``mspectmol benchmark`` for the functional-group
suites, driven by a :class:`BenchmarkOptions`: the suite is loaded (``--quick``,
``--profile paper``), its settings resolved (:func:`mspectmol.suites.plan.make_settings`),
its runs planned and keyed (:func:`mspectmol.suites.plan.plan_jobs`), the unfinished ones
trained on one loaded dataset (:func:`train_jobs`, optionally one balanced shard of them),
and after each run the output folder gets ``results.csv``, ``results.json``, ``table.md``
and, for suites of grouped variants, ``figure-<split>.png``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from mspectmol.data.alberts_data import is_alberts_data
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.suites.conditions import Condition
from mspectmol.suites.cost import ResourceMonitor, heavy_atom_bin_times, run_cost
from mspectmol.suites.definitions import PAPER_PROFILE, SPLIT_ORDER, Suite, load_suite
from mspectmol.suites.plan import BenchmarkSettings, Job, dataset_info, make_settings, plan_jobs
from mspectmol.suites.robustness import evaluate_run
from mspectmol.suites.rows import (
    balanced_shard,
    current_rows,
    estimate_each,
    estimate_seconds,
    load_rows,
    result_row,
    write_row,
)
from mspectmol.suites.study import write_suite_figures
from mspectmol.suites.tables import render_markdown, write_outputs
from mspectmol.training import pipeline
from mspectmol.training.data_source import load_run_dataset

log = logging.getLogger("mspectmol.benchmark")

#: ``--profile`` values: the suite's own settings, or appendix B's protocol.
PROFILES = ("cpu-budget", "paper")
#: Notes of a table made with ``--profile paper``.
PAPER_NOTES = ("Paper protocol (appendix B): Adam, lr 4e-4, cosine annealing, batch 128, up "
               "to 100 epochs with early stopping on validation micro-F1 (patience 15), all "
               "training molecules, every model at its registered size.")


@dataclass(frozen=True)
class BenchmarkOptions:
    """What to run of a suite and how; None leaves a setting to the suite.

    Attributes
    ----------
    suite
        A packaged suite's name or a suite ``.json`` file.
    quick, profile
        The suite's ``--quick`` smoke test; ``"paper"``: appendix B's protocol with every
        model at its registered size (:data:`PROFILES`).
    seeds, splits, models
        Replace the suite's seeds and splits; ``models`` (or variants) restricts the runs
        (the table keeps the suite's columns and adds these).
    epochs, patience, max_train, threads, device
        Training settings over the suite's (``max_train`` 0: all training molecules).
    shard
        ``(i, n)``: train part ``i`` (1-based) of ``n`` of the remaining runs, writing rows
        only.
    out, data
        Output folder (default ``benchmarks/<suite>``) and dataset: a folder (default: the
        embedded dataset) or Alberts et al. parquet data (the suite's ``alberts`` variant,
        ``benchmarks/<suite>-alberts``).
    overrides
        ``--set`` items (see :func:`mspectmol.suites.plan.make_settings`).
    thresholds
        Metrics of ``table.md``: ``"0.5"`` or ``"tuned"``.
    keep_models, dry_run, tables_only
        Keep each run's saved model; list the runs to do without training; write the tables
        from finished runs without training.
    """

    suite: str | os.PathLike[str] = "table1"
    quick: bool = False
    profile: str = "cpu-budget"
    seeds: Sequence[int] | None = None
    splits: Sequence[str] | None = None
    models: Sequence[str] | None = None
    epochs: int | None = None
    patience: int | None = None
    max_train: int | None = None
    threads: int | None = None
    device: str | None = None
    shard: tuple[int, int] | None = None
    out: str | os.PathLike[str] | None = None
    data: str | os.PathLike[str] | None = None
    overrides: Sequence[str] = ()
    thresholds: str = "0.5"
    keep_models: bool = False
    dry_run: bool = False
    tables_only: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, got "
                              f"{self.profile!r}")
        if self.max_train is not None and self.max_train < 0:
            raise ConfigError(f"--max-train must be >= 0 (0: all), got {self.max_train}")
        if self.shard is not None and not 1 <= self.shard[0] <= self.shard[1]:
            raise ConfigError(f"--shard must be I/N with 1 <= I <= N, got {self.shard}")


def train_jobs(jobs: Sequence[Job], out: str | os.PathLike[str], fingerprint: str,
               on_row: Callable[[dict[str, Any]], None] = lambda row: None, *,
               keep_models: bool = False, conditions: Sequence[Condition] = (),
               measure: Sequence[str] = (),
               heavy_atom_bins: Sequence[tuple[int, int]] = ()) -> list[str]:
    """Train ``jobs`` in order on one loaded dataset, writing ``runs/<key>.json`` each.

    ``on_row`` receives each stored row. With ``conditions``, the trained model is also
    evaluated on the test split under each of them (row field ``conditions``). With
    ``measure`` ``["cost"]`` the row gets ``cost``: peak memory, seconds per epoch and one
    epoch timed on each of ``heavy_atom_bins``
    (:func:`~mspectmol.suites.cost.heavy_atom_bin_times`). A run's saved model is deleted
    unless ``keep_models`` (the CNNs alone would take gigabytes); its logs and metrics stay.
    A run failing with an mspectmol error or a non-finite loss is logged and left for the
    next invocation; other errors stop the benchmark.

    Returns
    -------
    list of str
        The failure messages, one per failed run.
    """
    if not jobs:
        return []
    first = jobs[0].config
    dataset = load_run_dataset(sorted({m for j in jobs for m in j.config.modalities}),
                               first.n_points, first.data)
    failures = []
    for i, job in enumerate(jobs, 1):
        try:
            monitor = (ResourceMonitor(cuda=job.config.device != "cpu"
                                       and torch.cuda.is_available())
                       if "cost" in measure else None)
            with monitor or contextlib.nullcontext():
                result = pipeline.run_training(job.config, dataset=dataset)
            bins = (heavy_atom_bin_times(result, dataset, job.config, heavy_atom_bins)
                    if "cost" in measure else {})
        except (MspectmolError, FloatingPointError) as exc:
            failures.append(f"{job.key}: {exc}")
            log.error("[%d/%d] %s failed: %s", i, len(jobs), job.key, exc)
            continue
        row = result_row(job.run.identity(), result, key=job.key, settings_hash=job.hash,
                         dataset=fingerprint, out=out)
        if conditions:
            row["conditions"] = evaluate_run(result, dataset, job.config, conditions)
        if monitor is not None:
            row["cost"] = run_cost(monitor, result, bins)
        write_row(Path(out) / "runs", row, job.config.to_dict())
        if not keep_models:
            shutil.rmtree(result.run_dir / "model", ignore_errors=True)
        log.info("[%d/%d] %s, %s, %s split, seed %d: test micro-F1 %.3f (%.0f s)", i,
                 len(jobs), row["model"], row["config"], row["split"], row["seed"],
                 row["micro_f1"], row["train_seconds"])
        on_row({**row, "settings": job.config.to_dict()})
    return failures


def missing_transfer(jobs: Sequence[Job]) -> str | None:
    """A one-line message naming a transfer validation file (training's ``transfer``) that
    ``jobs`` name and that does not exist, else None; a relative path is read from the
    working directory."""
    for path in sorted({str(j.config.transfer) for j in jobs if j.config.transfer}):
        if not Path(path).exists():
            where = "" if Path(path).is_absolute() else f" (relative to {Path.cwd()})"
            return (f"{path}: transfer validation file not found{where}; name another with "
                    "--set transfer=PATH")
    return None


def resolve_suite(options: BenchmarkOptions) -> Suite:
    """The suite as run: its variant for Alberts et al. data (``options.data``), quick variant
    or paper profile, then the options' seeds and splits."""
    suite = load_suite(options.suite, quick=options.quick, alberts=is_alberts_data(options.data))
    if options.profile == "paper" and not options.quick:
        suite = replace(suite, **PAPER_PROFILE, model_config={}, model_train={},
                        notes=PAPER_NOTES)
    return replace(suite, seeds=tuple(dict.fromkeys(options.seeds or suite.seeds)),
                   splits=tuple(dict.fromkeys(options.splits or suite.splits)))


def resolve_settings(suite: Suite, options: BenchmarkOptions,
                     models: Sequence[str]) -> BenchmarkSettings:
    """The settings of every run: the suite's, then the options, then ``--set`` items."""
    settings = make_settings(
        suite, epochs=options.epochs, patience=options.patience, threads=options.threads,
        max_train=options.max_train or None, data=options.data, overrides=options.overrides,
        models=models)
    if options.max_train == 0:
        settings.max_train = None
    if options.device is not None:
        settings.train["device"] = options.device
    return settings


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _device_text(device: str) -> str:
    if device != "cpu" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name()}) for the neural models"
    return device


def table_settings(suite: Suite, settings: BenchmarkSettings, config: Any,
                   info: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
                   ) -> dict[str, Any]:
    """The settings block of ``table.md`` (what makes the numbers interpretable).

    Parameters
    ----------
    suite, settings
        The suite as run and its resolved settings.
    config
        The TrainConfig of one planned run (batch size, learning rate, augmentation...).
    info
        :func:`~mspectmol.suites.plan.dataset_info` of the dataset.
    rows
        The rows shown (their training-set sizes are listed).
    """
    n_train = sorted({int(r["n_train"]) for r in rows})
    robust = {}
    if suite.conditions:
        robust["test conditions"] = "; ".join(f"{c.name}: {c.title()}"
                                              for c in suite.conditions)
        robust["modality dropout (training)"] = config.modality_dropout
    if config.transfer:
        robust.setdefault("modality dropout (training)", config.modality_dropout)
        robust["transfer validation set (never trained on)"] = config.transfer
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
            k: v.to_dict() for k, v in suite.variants.items()}} if suite.variants else {}),
        **({"measured": "peak RSS (sampled every 20 ms), seconds per epoch; one epoch on an "
                        "equal number of training molecules per heavy-atom bin "
                        f"{[list(b) for b in suite.heavy_atom_bins]}"}
           if suite.measure else {}),
        "dataset": f"{info['molecules']} molecules, index {info['fingerprint']}; "
                   f"train/val/test {sizes}",
        "selection": "epoch of best validation micro-F1 (threshold 0.5); temperature and "
                     "per-group thresholds fitted on validation; test evaluated once",
        "device": _device_text(settings.train.get("device", "cpu")),
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), Python "
                   f"{platform.python_version()}, torch {torch.__version__}",
    }


def run_benchmark(options: BenchmarkOptions) -> int:
    """Plan, train (unless a dry run) and tabulate a suite; prints its progress.

    Returns
    -------
    int
        0, or 1 when some runs failed (they are retried by the next call).

    Raises
    ------
    MspectmolError
        For an invalid suite, option or setting, an unreadable dataset index or row file,
        or a transfer validation file (``--set transfer=PATH``) that does not exist.
    """
    suite = resolve_suite(options)
    table_models = tuple(dict.fromkeys((*suite.models, *(options.models or ()))))
    settings = resolve_settings(suite, options, table_models)
    out = Path(options.out) if options.out is not None else Path("benchmarks") / (
        suite.name + ("-paper" if options.profile == "paper" else ""))
    info = dataset_info(settings.data)
    jobs = plan_jobs(suite, settings, out, info["fingerprint"], options.models)
    # Settings hash of each table model (it does not depend on configuration, split, seed).
    first = replace(suite, seeds=suite.seeds[:1], splits=suite.splits[:1])
    hashes = {j.run.model: j.hash
              for j in plan_jobs(first, settings, out, info["fingerprint"], table_models)}
    rows = load_rows(out / "runs")
    todo = [j for j in jobs if j.key not in rows]
    print(f"{suite.name}: {len(jobs)} runs planned, {len(jobs) - len(todo)} already "
          f"finished, {len(todo)} to train (output: {out})")
    shard = options.shard
    if shard is not None:
        costs = estimate_each([(j.run.model, len(j.config.modalities)) for j in todo],
                              list(rows.values()))
        todo = [todo[i] for i in balanced_shard(costs, *shard)]
        print(f"shard {shard[0]}/{shard[1]}: {len(todo)} runs")
    seconds, unknown = estimate_seconds(
        [(j.run.model, len(j.config.modalities)) for j in todo], list(rows.values()))
    if todo and unknown < len(todo):
        print(f"estimated training time: {_duration(seconds)} for {len(todo) - unknown} runs "
              f"(from finished runs); {unknown} runs without an estimate")
    missing = missing_transfer(todo)
    if options.dry_run:
        for j in todo:
            ident = j.run.identity()
            print(f"  {ident['model']}: {ident['config']}, {ident['split']} split, "
                  f"seed {ident['seed']}")
        if missing:
            print(f"note: {missing}")
        return 0
    if missing and not options.tables_only:
        raise ConfigError(missing)

    def render(row: dict[str, Any] | None = None) -> None:
        if row is not None:
            rows[row["key"]] = row
        if shard is not None:
            return
        shown = current_rows(rows.values(), suite.name, hashes)
        seeds = {r["seed"] for r in shown} | set(suite.seeds)
        splits = [s for s in SPLIT_ORDER if s in set(suite.splits) | {r["split"] for r in shown}]
        other = len(rows) - len(shown)
        notes = [suite.notes] if suite.notes else []
        if other:
            notes.append(f"{other} finished rows of other suites or settings are in "
                         "results.csv but not in these tables.")
        shown_suite = replace(suite, seeds=tuple(sorted(seeds)), splits=tuple(splits))
        markdown = render_markdown(
            shown, title=f"mspectmol benchmark: {suite.description}", lines=suite.lines(),
            models=table_models, splits=splits, threshold=options.thresholds,
            settings=table_settings(shown_suite, settings, jobs[0].config, info, shown),
            expected=len(seeds), notes=notes, titles=suite.titles())
        write_outputs(out, list(rows.values()), markdown)
        write_suite_figures(out, suite, shown, table_models, splits)

    if options.tables_only:
        render()
        print(out / "table.md")
        return 0
    try:
        failures = train_jobs(todo, out, info["fingerprint"], on_row=render,
                              keep_models=options.keep_models, conditions=suite.conditions,
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
