"""``mspectmol simulate``: IR, Raman, 1H/13C NMR peak lists of molecules (GFN2-xTB + CSP5).

Writes ``OUT.parquet`` (one row per simulated molecule, with a ``name`` column; see
:mod:`mspectmol.data.simulator.store`) and ``OUT.failures.csv`` (name, smiles, stage,
reason). Every finished molecule is cached (by InChIKey and settings hash) by the process
that simulated it, so running the same command again after an interruption resumes where it
stopped; the worker processes end with this one, even when it is killed. Two runs sharing a
cache split the molecules between them instead of simulating any twice. Every file is
replaced atomically: a full disk or another write error keeps the previous output and ends
the run with one line naming the file. The exit status is 0 when the run finished, even when
some molecules failed (they are listed in the failures file), and 2 on bad input or when a
file cannot be written.

With ``--scheduler ADDRESS`` or ``--scheduler-file PATH`` the molecules run on the workers of
a Dask distributed cluster instead of local processes (``--scheduler local:N`` starts a
local cluster of N worker processes); the cache, resume and failure report are the same.
See :mod:`mspectmol.data.simulator.distributed` (needs ``pip install mspectmol[cluster]``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

from mspectmol.data.simulator.distributed import (
    CONNECT_TIMEOUT,
    DaskTarget,
    require_distributed,
    run_simulations_dask,
)
from mspectmol.data.simulator.inputs import iter_tasks
from mspectmol.data.simulator.runner import Failure, MoleculeTask, RunReport, run_simulations
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.data.simulator.store import write_records
from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol.simulate")

#: Name of the default cache folder, created next to the output file.
CACHE_FOLDER = ".mspectmol-cache"


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "simulate", parents=parents,
        help="simulate IR, Raman and NMR peak lists of molecules (GFN2-xTB, CSP5)",
        description="Simulate IR and Raman (GFN2-xTB harmonic frequencies, intensities and "
                    "activities) and 1H/13C NMR shifts (CSP5) of molecules given as SMILES "
                    "strings or files (.smi/.txt/.csv/.tsv, or .sdf/.mol whose 3D "
                    "coordinates are kept as the starting geometry). Results are cached, so "
                    "re-running the same command resumes an interrupted run.",
    )
    p.add_argument("molecules", nargs="+", help="SMILES strings and/or molecule files")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output .parquet file; failures go to OUT.failures.csv next to it")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes, each on one thread (default 2; not with "
                        "--scheduler/--scheduler-file, whose workers run the molecules)")
    cluster = p.add_argument_group(
        "Dask cluster (pip install mspectmol[cluster])",
        "Run the molecules on the workers of a Dask distributed cluster; the cache stays "
        "with this process, so the workers need mspectmol but no shared filesystem.")
    where = cluster.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="address of a running Dask scheduler (tcp://host:8786), or "
                            "local:N to start a local cluster of N single-thread worker "
                            "processes")
    where.add_argument("--scheduler-file", metavar="PATH", type=Path, default=None,
                       help="scheduler file written by 'dask scheduler --scheduler-file'")
    cluster.add_argument("--connect-timeout", metavar="SECONDS", type=float,
                         default=CONNECT_TIMEOUT,
                         help=f"seconds allowed to reach the scheduler (default "
                              f"{CONNECT_TIMEOUT:g})")
    p.add_argument("--cache", type=Path, default=None,
                   help=f"cache folder (default: {CACHE_FOLDER} next to the output)")
    p.add_argument("--retry-failures", action="store_true",
                   help="simulate again molecules whose cached result is a failure")
    p.add_argument("--settings", type=Path, default=None,
                   help="JSON file of simulation setting overrides (e.g. {\"fmax\": 0.005})")
    p.add_argument("--n-conformers", type=int, default=None,
                   help="ETKDG conformers per molecule (overrides --settings)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the conformer embedding (overrides --settings)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="list unreadable molecules as failures (stage 'input') instead of "
                        "stopping at the first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def load_settings(path: Path | None = None, *, n_conformers: int | None = None,
                  seed: int | None = None) -> SimulationSettings:
    """Default settings, overridden by a JSON file and then by explicit values.

    Raises
    ------
    MspectmolError
        Naming the file when it is missing, not JSON, not an object or has unknown or
        invalid settings; or for an invalid explicit value.
    """
    values: dict = {}
    if path is not None:
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MspectmolError(f"{path}: settings file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MspectmolError(f"{path}: cannot read the settings file ({exc})") from None
        except json.JSONDecodeError as exc:
            raise MspectmolError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise MspectmolError(f"{path}: expected a JSON object of settings, "
                                 f"got {type(values).__name__}")
    overrides = {"n_conformers": n_conformers, "seed": seed}
    values = {**values, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return SimulationSettings.from_dict(values)
    except MspectmolError as exc:
        raise MspectmolError(f"{path}: {exc}" if path is not None else str(exc)) from None


def failures_path(output: Path) -> Path:
    """``OUT.failures.csv`` for ``OUT.parquet``."""
    return output.with_name(output.name[: -len(".parquet")] + ".failures.csv")


def _check_output(output: Path) -> Path:
    if output.suffix.lower() != ".parquet":
        raise MspectmolError(f"{output}: the output must be a .parquet file")
    if output.is_dir():
        raise MspectmolError(f"{output}: the output is a folder, expected a .parquet file")
    return output


def _remember(tasks: Iterable[MoleculeTask], order: list[str]) -> Iterator[MoleculeTask]:
    """Pass tasks through, noting their names in input order."""
    for task in tasks:
        order.append(task.name)
        yield task


def _backend(args: argparse.Namespace) -> Callable[..., RunReport]:
    """``run_simulations`` with the local pool or the Dask cluster the options ask for."""
    if args.scheduler is None and args.scheduler_file is None:
        workers = 2 if args.workers is None else args.workers
        if workers < 1:
            raise MspectmolError(f"--workers must be at least 1, got {workers}")
        return partial(run_simulations, n_workers=workers)
    if args.workers is not None:
        raise MspectmolError("--workers sets the local process pool; with --scheduler or "
                             "--scheduler-file the cluster's workers run the molecules (use "
                             "--scheduler local:N for a local cluster of N processes)")
    DaskTarget.parse(args.scheduler, args.scheduler_file, args.connect_timeout)
    require_distributed()  # both fail before the molecules are read
    return partial(run_simulations_dask, scheduler=args.scheduler,
                   scheduler_file=args.scheduler_file, connect_timeout=args.connect_timeout)


def run(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    simulate = _backend(args)
    settings = load_settings(args.settings, n_conformers=args.n_conformers, seed=args.seed)
    cache = args.cache if args.cache is not None else output.parent / CACHE_FOLDER
    order: list[str] = []
    input_failures: list[Failure] = []
    tasks = _remember(iter_tasks(args.molecules, skip_invalid=args.skip_invalid,
                                 failures=input_failures), order)
    start = time.perf_counter()
    try:
        report = simulate(tasks, settings, cache_dir=cache, retry_failures=args.retry_failures,
                          progress=not args.no_progress)
    except KeyboardInterrupt:
        log.warning("interrupted: finished molecules are cached in %s; run the same command "
                    "again to resume", cache)
        raise
    elapsed = time.perf_counter() - start
    failures = write_outputs(output, report, order, input_failures, settings)
    log_summary(report, len(order), failures, elapsed)
    if failures:
        log.warning("%d molecule(s) failed, listed in %s; the run finished (exit status 0)",
                    len(failures), failures_path(output))
    return 0


def write_outputs(output: Path, report: RunReport, order: list[str],
                  input_failures: list[Failure], settings: SimulationSettings) -> list[Failure]:
    """Write the records (input order, ``name`` column) and the failures CSV.

    Returns the failures written: input failures first, then simulation failures in input
    order.
    """
    names = [name for name in order if name in report.records]
    write_records(output, [report.records[name] for name in names],
                  extra=[{"name": name} for name in names],
                  metadata={"settings": json.dumps(settings.to_dict(), sort_keys=True),
                            "settings_hash": settings.stable_hash()})
    failures = [*input_failures,
                *(report.failures[name] for name in order if name in report.failures)]
    table = RunReport(failures={str(i): failure for i, failure in enumerate(failures)})
    table.write_failures(failures_path(output))
    log.info("wrote %d record(s) to %s and %d failure(s) to %s", len(names), output,
             len(failures), failures_path(output))
    return failures


def log_summary(report: RunReport, n_tasks: int, failures: list[Failure],
                elapsed: float) -> None:
    """Log counts (ok, failed by stage, from cache) and the simulation rate.

    ``n_tasks`` counts the molecules handed to the simulator; ``failures`` holds the input
    failures as well as the simulation failures.
    """
    n_input = len(failures) - len(report.failures)
    by_stage = Counter(failure.stage for failure in failures)
    stages = ", ".join(f"{stage} {n}" for stage, n in sorted(by_stage.items()))
    log.info("%d molecule(s): %d ok, %d failed%s, %d from cache", n_tasks + n_input,
             len(report.records), len(failures), f" ({stages})" if stages else "",
             report.from_cache)
    simulated = n_tasks - report.from_cache
    if simulated > 0:
        log.info("simulated %d molecule(s) in %.1f s: %.3g molecules/s", simulated, elapsed,
                 simulated / max(elapsed, 1e-9))
    else:
        log.info("nothing to simulate: every molecule was in the cache")
