"""Simulating many candidates at once in worker processes (``SimulatedSpectra(jobs=N)``).

Ranking simulates up to a few hundred candidates per molecule, one after another, each in a
fraction of a second to several seconds (a failed embedding). With ``jobs > 1``
:meth:`~mspectmol.structure.ranking.simulation.SimulatedSpectra.get_many` first hands the candidates
that are not cached yet to a pool of ``jobs`` worker processes (spawned, one thread each);
each worker writes its result to the same disk cache (or a failure marker, when failures are
remembered), and the ranking then reads the cache as usual, so results do not depend on
``jobs``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol.structure")

#: How often a worker checks that the process that started it is still alive.
WATCH_SECONDS = 2.0


def _init_worker(parent: int) -> None:
    """One thread per worker, and a watchdog that ends the worker when ``parent`` is gone
    (killed owners otherwise leave workers simulating their queue)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch  # after OMP_NUM_THREADS is set, so that the worker's torch uses one thread

    torch.set_num_threads(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


class SimulationPool:
    """A lazily started pool of ``jobs`` spawned worker processes, shut down with its
    owner (or :meth:`close`)."""

    def __init__(self, jobs: int) -> None:
        if int(jobs) < 1:
            raise MspectmolError(f"jobs must be >= 1, got {jobs}")
        self.jobs = int(jobs)
        self._pool: ProcessPoolExecutor | None = None

    def run(self, task: Callable[..., Any], arguments: Sequence[tuple[Any, ...]],
            progress: str | None = None) -> list[Any]:
        """``task(*args)`` for each of ``arguments`` in the workers (``task`` a module-level
        function, so that it pickles), results in order; with ``progress``, a progress bar of
        that name, with the remaining time, on stderr while they run."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.jobs, multiprocessing.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(os.getpid(),))
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        futures = [self._pool.submit(task, *args) for args in arguments]
        if progress:
            with progress_bar(progress, len(futures)) as bar:
                for _ in as_completed(futures):
                    bar.update(1)
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@contextlib.contextmanager
def progress_bar(name: str, total: int) -> Iterator[Any]:
    """A progress bar on stderr counting candidates, with the elapsed and remaining time
    (tqdm's estimate); shown on a terminal only, and it leaves no line behind. While it
    shows, the ``mspectmol`` log lines printed to the console go above it."""
    from tqdm import tqdm

    with tqdm(total=total, desc=name, unit="candidate", leave=False, mininterval=0.5,
              disable=None) as bar:
        if bar.disable:
            yield bar
            return
        logger = logging.getLogger("mspectmol")
        swapped = [(k, h) for k, h in enumerate(logger.handlers)
                   if type(h) is logging.StreamHandler and h.stream in (sys.stderr, sys.stdout)]
        for k, h in swapped:
            logger.handlers[k] = _AboveBar(h, tqdm)
        try:
            yield bar
        finally:
            for k, h in swapped:
                logger.handlers[k] = h


class _AboveBar(logging.Handler):
    """A console handler's records, written above the progress bars (same level, format
    and stream)."""

    def __init__(self, console: logging.StreamHandler, tqdm: Any) -> None:
        super().__init__(console.level)
        self.setFormatter(console.formatter)
        self.stream, self.tqdm = console.stream, tqdm

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must not raise
            self.handleError(record)


def picklable(obj: Any) -> bool:
    """Whether ``obj`` can be sent to a worker process."""
    try:
        pickle.dumps(obj)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True
