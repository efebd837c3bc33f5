"""Run the simulator on a Dask distributed cluster: same cache, resume and failure report.

:func:`run_simulations_dask` is :func:`~mspectmol.data.simulator.runner.run_simulations`
with the molecules run by the workers of a Dask cluster instead of a local process pool.
Both go through :func:`~mspectmol.data.simulator.runner.run_with`, so the cache lookup,
the cache writes, the failure report, the progress bar and the ``on_result`` callbacks are
the same; results are collected as they complete (``distributed.as_completed``), with a
bounded number of molecules in flight.

Where the cluster is (one of):

* ``scheduler="tcp://host:8786"``: a running scheduler (``dask scheduler`` on one machine,
  ``dask worker tcp://host:8786 --nworkers N --nthreads 1`` on the others);
* ``scheduler_file="sched.json"``: the file written by ``dask scheduler --scheduler-file``
  (handy on HPC systems where the scheduler's address is only known once its job starts);
* ``scheduler="local:N"``: a :class:`distributed.LocalCluster` of N single-thread worker
  processes on this machine, started and stopped by the call (``local`` alone: one per CPU);
* ``client=``: an existing :class:`distributed.Client`, e.g. of a dask-jobqueue cluster.

On SLURM, PBS, SGE or LSF, dask-jobqueue (``pip install dask-jobqueue``) starts the workers
as batch jobs; give each worker process one thread::

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    cluster = SLURMCluster(cores=32, processes=32, memory="64GB", walltime="04:00:00")
    cluster.scale(jobs=4)  # or cluster.adapt(maximum_jobs=20)
    with Client(cluster) as client:
        report = run_simulations_dask(tasks, settings, cache_dir="cache", client=client)

(``PBSCluster``, ``SGECluster`` and ``LSFCluster`` take the same arguments.) From the command
line, start the scheduler with ``dask scheduler --scheduler-file sched.json`` and the
workers with ``dask worker --scheduler-file sched.json --nthreads 1 --nworkers N`` in the
batch jobs, then run ``mspectmol simulate MOLECULES -o OUT --scheduler-file sched.json``.

Requirements and notes:

* The workers need mspectmol (the same version as this process: :func:`run_simulations_dask`
  checks) and its simulator dependencies; they receive the molecules and settings from this
  process and send the results back, so they need no access to the input files.
* The cache is read and written by this process only, so it does not have to be on a
  filesystem the workers share; it must survive for a run to resume (keep it off
  node-local scratch space of a batch job).
* Each molecule runs on one thread (OpenMP, BLAS and torch are limited to one thread in
  the worker function, as in the local pool), so start workers with ``--nthreads 1`` and
  as many worker processes as cores; a worker with more threads runs several molecules
  at once in one process, which works but shares one interpreter between them.
* A molecule whose worker dies (e.g. killed for memory) more often than the scheduler's
  ``distributed.scheduler.allowed-failures`` is reported as a failure at stage
  ``"worker"`` and not cached, so the next run tries it again.

Dask is optional: ``pip install mspectmol[cluster]``.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.runner import (
    Failure,
    MoleculeTask,
    ResultCollector,
    RunReport,
    _simulate_task,
    _worker_init,
    run_with,
)
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol.simulate")

#: ``--scheduler`` value that starts a LocalCluster (``local`` or ``local:N``).
LOCAL = "local"

#: Seconds allowed to connect to a scheduler, unless told otherwise.
CONNECT_TIMEOUT = 30.0


def require_distributed() -> Any:
    """Import :mod:`distributed`, or explain how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise MspectmolError("running the simulator on a Dask cluster needs dask.distributed "
                             f"({exc}); install it with: pip install mspectmol[cluster]"
                             ) from None
    return distributed


@dataclass(frozen=True)
class DaskTarget:
    """Where to run: a scheduler address, a scheduler file or a local cluster of N workers.

    Build it with :meth:`parse`, which checks the values without connecting.
    """

    address: str | None = None
    scheduler_file: Path | None = None
    local_workers: int | None = None
    connect_timeout: float = CONNECT_TIMEOUT

    @classmethod
    def parse(cls, scheduler: str | None = None, scheduler_file: str | Path | None = None,
              connect_timeout: float = CONNECT_TIMEOUT) -> DaskTarget:
        """Check one of ``scheduler`` (address, ``local`` or ``local:N``) and ``scheduler_file``.

        Raises
        ------
        MspectmolError
            When both or neither are given, ``local:N`` has a bad N, the scheduler file is
            missing, or the timeout is not positive.
        """
        if (scheduler is None) == (scheduler_file is None):
            raise MspectmolError("give exactly one of a scheduler address and a scheduler file")
        if not connect_timeout > 0:
            raise MspectmolError(f"the connect timeout must be positive, got {connect_timeout}")
        if scheduler_file is not None:
            path = Path(scheduler_file)
            if not path.is_file():  # distributed would wait for it to appear
                raise MspectmolError(f"{path}: scheduler file not found (written by "
                                     "'dask scheduler --scheduler-file PATH')")
            return cls(scheduler_file=path, connect_timeout=connect_timeout)
        scheduler = scheduler.strip()
        if scheduler == LOCAL or scheduler.startswith(LOCAL + ":"):
            count = scheduler[len(LOCAL) + 1:] or str(os.cpu_count() or 1)
            if not count.isdigit() or int(count) < 1:
                raise MspectmolError(f"bad local cluster {scheduler!r}: expected local:N with "
                                     "N >= 1 worker processes")
            return cls(local_workers=int(count), connect_timeout=connect_timeout)
        if not scheduler:
            raise MspectmolError("the scheduler address is empty")
        return cls(address=scheduler, connect_timeout=connect_timeout)

    def describe(self) -> str:
        if self.local_workers is not None:
            return f"a local Dask cluster of {self.local_workers} worker process(es)"
        if self.scheduler_file is not None:
            return f"the Dask scheduler of {self.scheduler_file}"
        return f"the Dask scheduler at {self.address}"


@contextmanager
def connect(target: DaskTarget) -> Iterator[Any]:
    """A :class:`distributed.Client` of ``target`` (starting and stopping a local cluster).

    Raises
    ------
    MspectmolError
        When the scheduler cannot be reached within the timeout or the address is invalid.
    """
    distributed = require_distributed()
    if target.local_workers is not None:
        with distributed.LocalCluster(n_workers=target.local_workers, threads_per_worker=1,
                                      processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            yield client
        return
    try:
        client = distributed.Client(address=target.address,
                                    scheduler_file=target.scheduler_file,
                                    timeout=target.connect_timeout, set_as_default=False)
    except (OSError, ValueError, TypeError) as exc:
        raise MspectmolError(f"cannot connect to {target.describe()}: {exc}") from None
    with client:
        yield client


def worker_version() -> str:
    """mspectmol's version (run on the workers to check that they match this process)."""
    from mspectmol import __version__

    return __version__


def check_workers(client: Any) -> None:
    """Log the cluster's size; stop when a worker runs another mspectmol version.

    Raises
    ------
    MspectmolError
        When a worker cannot import mspectmol or has another version than this process.
    """
    ours = worker_version()
    try:
        versions = client.run(worker_version)
    except Exception as exc:  # noqa: BLE001 - a worker without mspectmol fails to unpickle
        raise MspectmolError(f"the Dask workers cannot run mspectmol ({type(exc).__name__}: "
                             f"{exc}); install mspectmol {ours} on every worker") from None
    wrong = {addr: v for addr, v in versions.items() if v != ours}
    if wrong:
        addr, version = next(iter(wrong.items()))
        raise MspectmolError(f"{len(wrong)} Dask worker(s) run mspectmol {version} (e.g. "
                             f"{addr}), this process {ours}: install the same version")
    nthreads = client.nthreads()
    log.info("Dask cluster %s: %d worker(s), %d thread(s)%s", client.scheduler.address,
             len(nthreads), sum(nthreads.values()),
             "" if nthreads else " (molecules wait until workers join)")
    if any(n > 1 for n in nthreads.values()):
        log.warning("some Dask workers have several threads: start them with --nthreads 1 "
                    "(and --nworkers N) to run one molecule per process")


def simulate_on_worker(task: MoleculeTask, settings: SimulationSettings
                       ) -> SimulationRecord | Failure:
    """The task run on a Dask worker: one thread, then the local pool's per-task function."""
    _worker_init()
    return _simulate_task(task, settings)


def _in_flight(client: Any) -> int:
    """How many molecules to keep submitted: four per worker thread, at least 16."""
    return max(16, 4 * sum(client.nthreads().values()))


def _run_dask(todo: list[tuple[MoleculeTask, str]], settings: SimulationSettings,
              collector: ResultCollector, *, target: DaskTarget | None = None,
              client: Any = None) -> None:
    if client is None:
        with connect(target) as own:
            _run_dask(todo, settings, collector, client=own)
        return
    distributed = require_distributed()
    check_workers(client)
    queue = iter(todo)
    pending: dict[Any, tuple[MoleculeTask, str]] = {}
    completed = distributed.as_completed(loop=client.loop)

    def submit(item: tuple[MoleculeTask, str]) -> None:
        fut = client.submit(simulate_on_worker, item[0], settings, pure=False,
                            key=f"mspectmol-simulate-{item[1]}-{uuid.uuid4().hex[:8]}")
        pending[fut] = item
        completed.add(fut)

    window, checked = _in_flight(client), time.monotonic()
    for item in itertools.islice(queue, window):
        submit(item)
    try:
        for fut in completed:
            task, key = pending.pop(fut)
            if fut.status == "finished":
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot unpickle
                    collector.lost(task, f"{type(exc).__name__}: {exc}")
                else:
                    collector.finished(task, key, result)
            elif fut.status == "error":
                exc = fut.exception()
                collector.lost(task, f"{type(exc).__name__}: {exc}")
            else:
                collector.lost(task, f"not run: the Dask task was {fut.status}")
            fut.release()
            if time.monotonic() - checked > 10:  # follow workers joining or leaving
                window, checked = _in_flight(client), time.monotonic()
            for item in itertools.islice(queue, max(0, window - len(pending))):
                submit(item)
    finally:
        if pending:  # interrupted: do not leave the cluster busy with our molecules
            client.cancel(list(pending))


def run_simulations_dask(tasks: Iterable[MoleculeTask],
                         settings: SimulationSettings | None = None, *,
                         cache_dir: str | Path, scheduler: str | None = None,
                         scheduler_file: str | Path | None = None, client: Any = None,
                         connect_timeout: float = CONNECT_TIMEOUT,
                         retry_failures: bool = False, progress: bool = True,
                         on_result: Callable[[MoleculeTask, Any], None] | None = None
                         ) -> RunReport:
    """Simulate many molecules on a Dask cluster, resuming from the cache.

    Parameters
    ----------
    tasks, settings, cache_dir, retry_failures, progress, on_result
        As for :func:`~mspectmol.data.simulator.runner.run_simulations`; the cache is read
        and written by this process.
    scheduler
        Scheduler address (``tcp://host:8786``), or ``local:N`` for a local cluster of N
        single-thread worker processes started for this call (``local``: one per CPU).
    scheduler_file
        Scheduler file written by ``dask scheduler --scheduler-file``.
    client
        An existing :class:`distributed.Client` (left open).
    connect_timeout
        Seconds allowed to reach the scheduler.

    Give exactly one of ``scheduler``, ``scheduler_file`` and ``client``. Nothing connects
    when every molecule is in the cache.

    Raises
    ------
    MspectmolError
        For a bad or unreachable scheduler, workers without mspectmol or with another
        version, or when dask.distributed is not installed.
    """
    require_distributed()
    if client is not None:
        if scheduler is not None or scheduler_file is not None:
            raise MspectmolError("give a client or a scheduler, not both")
        execute = partial(_run_dask, client=client)
        where = "on the Dask cluster of the given client"
    else:
        target = DaskTarget.parse(scheduler, scheduler_file, connect_timeout)
        execute = partial(_run_dask, target=target)
        where = f"on {target.describe()}"
    return run_with(execute, tasks, settings, cache_dir=cache_dir,
                    retry_failures=retry_failures, progress=progress, on_result=on_result,
                    where=where)
