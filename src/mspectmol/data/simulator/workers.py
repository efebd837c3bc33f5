"""Worker processes that die with their parent, and the order in which molecules are run.

:func:`die_with_parent` makes a worker process end when the process that started it ends,
however it ends (SIGKILL included): on Linux the kernel sends the worker SIGKILL
(``prctl(PR_SET_PDEATHSIG)``, through :mod:`ctypes`); elsewhere a daemon thread polls
:func:`os.getppid` every second. Without it, the workers of a killed ``mspectmol simulate``
lived on under PID 1 and their results were lost.

:class:`Schedule` hands out molecules: new ones first, then those another run was
simulating (their claim was held), again every :data:`CLAIM_RETRY_SECONDS`, until the other
run's result is in the cache or its claim is free.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

#: Seconds between looks at a molecule whose claim another run holds.
CLAIM_RETRY_SECONDS = 5.0
#: Seconds between the parent checks of the portable fallback.
PARENT_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1

T = TypeVar("T")


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int) -> str:
    """End this process when process ``parent`` (its parent) ends; returns the means used.

    ``"prctl"`` (Linux: the kernel kills this process with SIGKILL when the thread that
    started it ends, so start workers from a thread that outlives them) or ``"poll"`` (a
    daemon thread checks the parent every :data:`PARENT_POLL_SECONDS`).
    """
    if os.getppid() != parent:  # it ended before we got here
        os._exit(1)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            done = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            done = False
        if done:
            if os.getppid() != parent:  # it ended between the check and the prctl
                os._exit(1)
            return "prctl"
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="mspectmol-parent-watch").start()
    return "poll"


class Schedule(Generic[T]):
    """New items first, then deferred ones once their retry time has come."""

    def __init__(self, items: Iterable[T], retry: float | None = None) -> None:
        self._new = deque(items)
        self._waiting: deque[tuple[float, T]] = deque()
        self.retry = CLAIM_RETRY_SECONDS if retry is None else retry

    def __bool__(self) -> bool:
        return bool(self._new or self._waiting)

    def defer(self, item: T) -> None:
        """Look at ``item`` again in :attr:`retry` seconds."""
        self._waiting.append((time.monotonic() + self.retry, item))

    def next(self) -> T | None:
        """The next item that may run now, or None."""
        if self._new:
            return self._new.popleft()
        if self._waiting and self._waiting[0][0] <= time.monotonic():
            return self._waiting.popleft()[1]
        return None

    def wait_time(self) -> float | None:
        """Seconds until the first deferred item may run (None: nothing is deferred)."""
        if not self._waiting:
            return None
        return max(0.0, self._waiting[0][0] - time.monotonic())

    def drain(self) -> list[T]:
        """Every item left, deferred or not, now; the schedule is then empty."""
        out = [*self._new, *(item for _, item in self._waiting)]
        self._new.clear()
        self._waiting.clear()
        return out
