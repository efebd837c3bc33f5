"""Run the simulator over many molecules: process pool, resumable cache, failure report.

Each molecule's result is cached as one JSON file named by its InChIKey under a folder
named by the settings hash (``<cache>/<settings-hash>/<IK[:2]>/<IK>.json``; failures as
``<IK>.fail.json``), written atomically, so an interrupted run resumes where it stopped and
a finished molecule is never simulated twice with the same settings. No molecule is dropped
silently: every input ends as a record or as a failure with its stage and reason.

The cache is read and written by the calling process only (workers return their results),
and every backend goes through :func:`run_with`: serial, the process pool of
:func:`run_simulations`, and the Dask cluster of
:func:`mspectmol.data.simulator.distributed.run_simulations_dask`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, rdBase

from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings

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


@dataclass(frozen=True)
class Failure:
    """A molecule that could not be simulated."""

    name: str
    smiles: str
    stage: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "smiles": self.smiles, "stage": self.stage,
                "reason": self.reason}


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
        """Write the failure report as CSV (name, smiles, stage, reason)."""
        import csv

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["name", "smiles", "stage", "reason"])
            writer.writeheader()
            for failure in self.failures.values():
                writer.writerow(failure.to_dict())


class SimulationCache:
    """Finished results on disk, keyed by settings hash and molecule key."""

    def __init__(self, root: str | Path, settings: SimulationSettings) -> None:
        self.root = Path(root) / settings.stable_hash()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "settings.json").write_text(json.dumps(settings.to_dict(), indent=1))

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> SimulationRecord | Failure | None:
        """The cached record or failure for ``key``, or None (a corrupt entry counts as none)."""
        for suffix in (".json", ".fail.json"):
            path = self._path(key, suffix)
            if path.is_file():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    if suffix == ".json":
                        return SimulationRecord.from_dict(data)
                    return Failure(**data)
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("ignoring corrupt cache entry %s (%s)", path, exc)
        return None

    def put(self, key: str, result: SimulationRecord | Failure) -> None:
        """Store a result atomically (temp file + rename)."""
        is_record = isinstance(result, SimulationRecord)
        path = self._path(key, ".json" if is_record else ".fail.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = result.to_json() if is_record else json.dumps(result.to_dict())
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        if is_record:  # a success replaces an earlier failure
            self._path(key, ".fail.json").unlink(missing_ok=True)


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"


def _simulate_task(task: MoleculeTask, settings: SimulationSettings
                   ) -> SimulationRecord | Failure:
    from mspectmol.data.simulator.pipeline import simulate_molecule

    try:
        return simulate_molecule(task.smiles, settings, coords=task.coords)
    except SimulationError as exc:
        return Failure(task.name, task.smiles, exc.stage, exc.reason)
    except Exception as exc:  # noqa: BLE001 - a worker must report, not die
        return Failure(task.name, task.smiles, "internal", f"{type(exc).__name__}: {exc}")


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
    and the report; ``lost`` reports a molecule whose worker died or could not run it, as a
    failure at stage ``"worker"`` that is not cached, so that a later run tries it again.
    """

    def __init__(self, cache: SimulationCache, report: RunReport, bar: Any,
                 on_result: Callable[[MoleculeTask, Any], None] | None) -> None:
        self.cache = cache
        self.report = report
        self.bar = bar
        self.on_result = on_result

    def finished(self, task: MoleculeTask, key: str,
                 result: SimulationRecord | Failure) -> None:
        self.cache.put(key, result)
        self.report.simulated += 1
        _store(self.report, task, result, self.on_result)
        self.bar.update(1)

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
            execute(todo, settings, ResultCollector(cache, report, bar, on_result))
    finally:
        bar.close()
    return report


def _run_serial(todo: list[tuple[MoleculeTask, str]], settings: SimulationSettings,
                collector: ResultCollector) -> None:
    for task, key in todo:
        collector.finished(task, key, _simulate_task(task, settings))


def _run_pool(todo: list[tuple[MoleculeTask, str]], settings: SimulationSettings,
              collector: ResultCollector, *, n_workers: int) -> None:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                             initializer=_worker_init) as pool:
        pending: dict[Future, tuple[MoleculeTask, str]] = {}
        queue = iter(todo)
        for task, key in queue:
            pending[pool.submit(_simulate_task, task, settings)] = (task, key)
            if len(pending) >= 4 * n_workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                task, key = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    collector.lost(task, f"{type(exc).__name__}: {exc}")
                else:
                    collector.finished(task, key, result)
                nxt = next(queue, None)
                if nxt is not None:
                    try:
                        pending[pool.submit(_simulate_task, nxt[0], settings)] = nxt
                    except RuntimeError as exc:  # the pool is broken: report the rest
                        for task_left, _ in [nxt, *queue]:
                            collector.lost(task_left, f"not run: {exc}")


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
