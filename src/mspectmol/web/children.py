"""Reading children started ahead of time and reaped in the background.

Each request's files are read in a child process of its own
(:mod:`mspectmol.web.sandbox`). Starting that child through the fork server and waiting for
it to exit after it has answered each cost a request 10-30 ms. Here the child is started
before the request needs it: :func:`take` hands out a child that is already waiting (and
starts the next one in the background), and :func:`reap` waits for an answered child's exit
in a background thread.

A waiting child does nothing but wait for its one job on a pipe, with nothing of any
request in it; the job (the sandbox's function and its arguments) sets the child's memory
and CPU limits and checks the files' lines first, exactly as in a child started for the
request, and the parent's deadline counts from the moment the job is sent. The child exits
after its job; a child that lost its server exits too (its job pipe closes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

#: Children kept waiting (one serves sequential requests; a second request at the same
#: moment starts its own child, as without the spare).
SPARES = 1
_lock = threading.Lock()
_ready: list[Child] = []
_starting = 0


def _wait_for_job(jobs: Connection, results: Connection) -> None:
    """The waiting child's code: receive ``(target, args)``, run ``target(results, *args)``."""
    try:
        target, args = jobs.recv()
    except (EOFError, OSError):  # dropped by the server, or the server went away
        return
    finally:
        jobs.close()
    target(results, *args)


class Child:
    """A child process of ``ctx`` waiting for one job; ``results`` is the parent's end of
    the pipe on which the job answers and ``process`` the process."""

    def __init__(self, ctx: Any) -> None:
        jobs_in, self._jobs = ctx.Pipe(duplex=False)
        self.results, results_out = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_wait_for_job, name="mspectmol-read", daemon=True,
                                   args=(jobs_in, results_out))
        self.process.start()
        jobs_in.close()
        results_out.close()

    def send(self, target: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """Give the child its job; False when the child is gone (it died while waiting)."""
        try:
            self._jobs.send((target, args))
            return True
        except OSError:
            return False
        finally:
            self._jobs.close()

    def drop(self) -> None:
        """Close the parent's ends and end the child (if it has not ended)."""
        self._jobs.close()
        self.results.close()
        reap(self.process, 0.0)


def take(ctx: Any) -> Child:
    """A waiting child of ``ctx`` (one started now when none waits); :func:`prepare` starts
    its successor."""
    with _lock:
        child = _ready.pop() if _ready else None
    if child is not None and child.process.is_alive():
        return child
    if child is not None:
        child.drop()
    return Child(ctx)


def prepare(ctx: Any) -> None:
    """Start children in the background until :data:`SPARES` wait."""
    global _starting
    with _lock:
        missing = SPARES - len(_ready) - _starting
        _starting += max(missing, 0)
    for _ in range(missing):
        threading.Thread(target=_start_one, args=(ctx,), name="mspectmol-spare",
                         daemon=True).start()


def _start_one(ctx: Any) -> None:
    global _starting
    try:
        child = Child(ctx)
    except Exception:  # no child now (e.g. shutting down): the next request starts one
        child = None
    with _lock:
        _starting -= 1
        if child is not None:
            _ready.append(child)


def reap(process: Any, grace: float) -> None:
    """Wait for ``process`` to exit in a background thread, killing it after ``grace``
    seconds."""
    threading.Thread(target=_reap, args=(process, grace), name="mspectmol-reap",
                     daemon=True).start()


def _reap(process: Any, grace: float) -> None:
    process.join(grace)
    if process.is_alive():
        process.kill()
        process.join()
