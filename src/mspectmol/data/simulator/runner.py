"""Run the simulator over many molecules: process pool, resumable cache, failure report.

Each molecule's result is cached as one JSON file named by its InChIKey under a folder
named by the settings hash (:mod:`mspectmol.data.simulator.cache`), written atomically, so an
interrupted run resumes where it stopped and a finished molecule is never simulated twice
with the same settings. No molecule is dropped silently: every input ends as a record or as
a failure with its stage and reason.

Every backend goes through :func:`run_with`: serial, the process pool of
:func:`run_simulations`, and the Dask cluster of
:func:`mspectmol.data.simulator.distributed.run_simulations_dask`. In this process and in the
pool, the process that simulates a molecule holds the molecule's claim in the cache and
writes the result itself (:func:`_run_claimed`): a result is on disk as soon as it exists,
whatever happens to the parent later, and two runs sharing a cache never simulate the same
molecule twice (a molecule claimed by the other run is looked at again later, and its result
read from the cache). Pool workers die with the parent, even when it is killed with SIGKILL
(:func:`mspectmol.data.simulator.workers.die_with_parent`). Dask workers return their
results and this process writes them.

A cache write that fails (disk full, ...) stops the run with
:class:`~mspectmol.fileio.OutputError` naming the file.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, rdBase

from mspectmol.data.simulator.cache import Failure, SimulationCache
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.data.simulator.workers import Schedule, die_with_parent
from mspectmol.fileio import OutputError, atomic_open

__all__ = ["Failure", "MoleculeTask", "ResultCollector", "RunReport", "SimulationCache",
           "run_simulations", "run_with"]

log = logging.getLogger("mspectmol.simulate")


@dataclass(frozen=True)
class MoleculeTask:
    """One molecule to simulate.

    Attributes
    ----------
    name
        Identifier reported with results and failures.
    smiles
        The molecule; its atom order (with hydrogens) is that of ``coords``.
    coords
        Optional starting geometry (Angstrom, ``(N, 3)``), kept instead of a conformer search.
    """

    name: str
    smiles: str
    coords: np.ndarray | None = None

    def cache_key(self) -> str:
        """InChIKey (plus a geometry digest when a starting geometry is given)."""
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(self.smiles)
            key = Chem.MolToInchiKey(mol) if mol is not None else ""
        if not key:
            key = "SMILES-" + hashlib.sha256(self.smiles.encode()).hexdigest()[:27]
        if self.coords is not None:
            digest = hashlib.sha256(np.round(np.asarray(self.coords, float), 4).tobytes())
            key += "-G" + digest.hexdigest()[:10]
        return key


@dataclass
class RunReport:
    """Outcome of :func:`run_simulations`: records and failures by task name.

    ``from_cache`` counts the molecules read from the cache, ``simulated`` those a worker
    ran in this call (a record or a simulation failure came back).
    """

    records: dict[str, SimulationRecord] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    from_cache: int = 0
    simulated: int = 0

    def write_failures(self, path: str | Path) -> None:
        """Write the failure report as CSV (name, smiles, stage, reason), atomically."""
        import csv

        with atomic_open(path, "w", newline="", what="cannot write the failures") as fh:
            writer = csv.DictWriter(fh, fieldnames=["name", "smiles", "stage", "reason"])
            writer.writeheader()
            for failure in self.failures.values():
                writer.writerow(failure.to_dict())


def _worker_init(parent: int | None = None) -> None:
    """One thread per worker; with ``parent`` (a pool's), end when that process ends."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    if parent is not None:
        die_with_parent(parent)


def _simulate_task(task: MoleculeTask, settings: SimulationSettings
                   ) -> SimulationRecord | Failure:
    from mspectmol.data.simulator.pipeline import simulate_molecule

    try:
        return simulate_molecule(task.smiles, settings, coords=task.coords)
    except SimulationError as exc:
        return Failure(task.name, task.smiles, exc.stage, exc.reason)
    except Exception as exc:  # noqa: BLE001 - a worker must report, not die
        return Failure(task.name, task.smiles, "internal", f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Outcome:
    """What :func:`_run_claimed` did with a molecule.

    ``kind`` is ``"simulated"`` (``value``: the record or failure, already cached),
    ``"cached"`` (another run finished it meanwhile; ``value``: its result) or ``"busy"``
    (another run holds its claim; ``value``: who).
    """

    kind: str
    value: Any


def _run_claimed(task: MoleculeTask, key: str, settings: SimulationSettings, cache_dir: Path,
                 retry_failures: bool) -> Outcome:
    """Simulate one molecule under its claim and cache the result (pool workers run this)."""
    cache = SimulationCache(cache_dir, settings, prepare=False)
    with cache.claim(key) as claim:
        if not claim.owned:
            return Outcome("busy", claim.holder)
        cached = cache.get(key)
        if cached is not None and not (isinstance(cached, Failure) and retry_failures):
            return Outcome("cached", cached)
        result = _simulate_task(task, settings)
        cache.put(key, result)
    return Outcome("simulated", result)


def run_simulations(tasks: Iterable[MoleculeTask], settings: SimulationSettings | None = None,
                    *, cache_dir: str | Path, n_workers: int = 2, retry_failures: bool = False,
                    progress: bool = True,
                    on_result: Callable[[MoleculeTask, Any], None] | None = None) -> RunReport:
    """Simulate many molecules with a process pool, resuming from the cache.

    Parameters
    ----------
    tasks
        Molecules to simulate (names must be unique).
    settings
        Simulation settings (defaults when None); part of the cache key.
    cache_dir
        Cache folder; finished results are read from and written to it.
    n_workers
        Worker processes, each single-threaded (``1`` runs in this process).
    retry_failures
        Simulate again molecules whose cached result is a failure.
    progress
        Show a progress bar (tqdm) on stderr.
    on_result
        Called in this process with each task and its record or failure as they finish.

    See Also
    --------
    mspectmol.data.simulator.distributed.run_simulations_dask : the same on a Dask cluster.
    """
    if n_workers <= 1:
        return run_with(_run_serial, tasks, settings, cache_dir=cache_dir,
                        retry_failures=retry_failures, progress=progress,
                        on_result=on_result, where="in this process")
    return run_with(partial(_run_pool, n_workers=n_workers), tasks, settings,
                    cache_dir=cache_dir, retry_failures=retry_failures, progress=progress,
                    on_result=on_result, where=f"with {n_workers} worker processes")


class ResultCollector:
    """Where every backend hands each finished molecule: cache, report, progress, callback.

    ``finished`` stores a result the simulator returned (record or failure) in the cache
    (unless the worker did, ``cached=True``) and the report; ``outcome`` takes what
    :func:`_run_claimed` returned and says whether the molecule is done (False: another run
    holds it, try later); ``lost`` reports a molecule whose worker died or could not run it,
    as a failure at stage ``"worker"`` that is not cached, so that a later run tries it again.
    """

    def __init__(self, cache: SimulationCache, report: RunReport, bar: Any,
                 on_result: Callable[[MoleculeTask, Any], None] | None,
                 retry_failures: bool = False) -> None:
        self.cache = cache
        self.report = report
        self.bar = bar
        self.on_result = on_result
        self.retry_failures = retry_failures
        self._waiting: set[str] = set()

    def finished(self, task: MoleculeTask, key: str, result: SimulationRecord | Failure,
                 *, cached: bool = False) -> None:
        if not cached:
            self.cache.put(key, result)
        self.report.simulated += 1
        _store(self.report, task, result, self.on_result)
        self.bar.update(1)

    def outcome(self, task: MoleculeTask, key: str, outcome: Outcome) -> bool:
        if outcome.kind == "busy":
            if task.name not in self._waiting:
                self._waiting.add(task.name)
                log.info("%s is being simulated by another run (%s); its result will be read "
                         "from the cache", task.name, outcome.value)
            return False
        if outcome.kind == "cached":
            self.report.from_cache += 1
            _store(self.report, task, outcome.value, self.on_result)
            self.bar.update(1)
        else:
            self.finished(task, key, outcome.value, cached=True)
        return True

    def lost(self, task: MoleculeTask, reason: str) -> None:
        _store(self.report, task, Failure(task.name, task.smiles, "worker", reason),
               self.on_result)
        self.bar.update(1)


#: A backend: runs ``(task, cache key)`` pairs and hands every one to the collector.
Executor = Callable[[list[tuple[MoleculeTask, str]], SimulationSettings, ResultCollector], None]


def run_with(execute: Executor, tasks: Iterable[MoleculeTask],
             settings: SimulationSettings | None = None, *, cache_dir: str | Path,
             retry_failures: bool = False, progress: bool = True,
             on_result: Callable[[MoleculeTask, Any], None] | None = None,
             where: str = "") -> RunReport:
    """Look the tasks up in the cache, run the others with ``execute``, collect everything.

    The one code path of every backend (serial, process pool, Dask): ``execute`` is only
    called when something is left to simulate, and must hand each task it is given to the
    collector exactly once. ``where`` describes the backend in the log.
    """
    settings = settings or SimulationSettings()
    cache = SimulationCache(cache_dir, settings)
    report = RunReport()
    todo: list[tuple[MoleculeTask, str]] = []
    names: set[str] = set()
    for task in tasks:
        if task.name in names:
            raise SimulationError("parse", f"duplicate molecule name {task.name!r}")
        names.add(task.name)
        key = task.cache_key()
        cached = cache.get(key)
        if cached is not None and not (isinstance(cached, Failure) and retry_failures):
            _store(report, task, cached, on_result)
            report.from_cache += 1
        else:
            todo.append((task, key))
    log.info("%d molecules: %d cached, %d to simulate %s", len(names), report.from_cache,
             len(todo), where)
    bar = _progress(len(todo), progress)
    try:
        if todo:
            execute(todo, settings,
                    ResultCollector(cache, report, bar, on_result, retry_failures))
    finally:
        bar.close()
    return report


def _run_serial(todo: list[tuple[MoleculeTask, str]], settings: SimulationSettings,
                collector: ResultCollector) -> None:
    schedule = Schedule(todo)
    while schedule:
        item = schedule.next()
        if item is None:
            time.sleep(schedule.wait_time() or 0.0)
            continue
        task, key = item
        outcome = _run_claimed(task, key, settings, collector.cache.root.parent,
                               collector.retry_failures)
        if not collector.outcome(task, key, outcome):
            schedule.defer(item)


def _run_pool(todo: list[tuple[MoleculeTask, str]], settings: SimulationSettings,
              collector: ResultCollector, *, n_workers: int,
              work: Callable[..., Outcome] | None = None) -> None:
    """Run ``todo`` in ``n_workers`` processes that end with this one.

    ``work(task, key, settings, cache_dir, retry_failures)`` is :func:`_run_claimed` unless
    given (tests pass a stand-in; it must be importable by the workers).
    """
    work = work or _run_claimed
    args = (settings, collector.cache.root.parent, collector.retry_failures)
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    schedule = Schedule(todo)
    pending: dict[Future, tuple[MoleculeTask, str]] = {}
    try:
        while schedule or pending:
            while len(pending) < 4 * n_workers and (item := schedule.next()) is not None:
                try:
                    pending[pool.submit(work, item[0], item[1], *args)] = item
                except RuntimeError as exc:  # the pool is broken: report the rest
                    for task_left, _ in [item, *schedule.drain()]:
                        collector.lost(task_left, f"not run: {exc}")
            if not pending:
                time.sleep(schedule.wait_time() or 0.0)
                continue
            full = len(pending) >= 4 * n_workers
            done, _ = wait(pending, timeout=None if full else schedule.wait_time(),
                           return_when=FIRST_COMPLETED)
            for fut in done:
                task, key = item = pending.pop(fut)
                try:
                    outcome = fut.result()
                except OutputError:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    collector.lost(task, f"{type(exc).__name__}: {exc}")
                    continue
                if not collector.outcome(task, key, outcome):
                    schedule.defer(item)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # what they finished is cached; a run resumes the rest
        raise
    pool.shutdown(wait=True)


def _store(report: RunReport, task: MoleculeTask, result: SimulationRecord | Failure,
           on_result) -> None:
    if isinstance(result, Failure):
        result = Failure(task.name, result.smiles, result.stage, result.reason)
        report.failures[task.name] = result
    else:
        report.records[task.name] = result
    if on_result is not None:
        on_result(task, result)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled or total == 0, unit="mol",
                desc="simulating", dynamic_ncols=True)
