"""Where a request's server time goes: phases timed per request, sent as ``Server-Timing``.

Every prediction request (``POST /predict``, ``POST /api/predict``) carries a
``Server-Timing`` header (shown by browsers' developer tools, read by
``benchmarks/bench_serve.py``) with the milliseconds of each phase that ran:

``form``
    receiving the upload and saving its files to the private temporary folder;
``queue``
    waiting for one of the slots of requests read and predicted at once;
``read``
    reading, checking and preparing the files, inside the limited child process;
``child``
    starting the child, sending it the job and receiving the prepared spectra (the child's
    time that is not ``read``);
``predict``
    the model: probabilities, gate importance and the regions behind each call;
``render``
    the answer: the JSON document, or the page with the report, its figure and the
    downloadable reports;
``total``
    the whole request in the app, from its start to the answer.

The same numbers go to the ``mspectmol.web`` log at debug level, one line per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

#: The phases in the order they run, with the description sent in the header.
PHASES = {
    "form": "receive and save the upload",
    "queue": "wait for a slot",
    "read": "read and prepare the files (child process)",
    "child": "start the reading child and collect its result",
    "predict": "model",
    "render": "JSON or page with report and figure",
    "total": "request in the app",
}


class Timer:
    """The phases of one request, in seconds (``phases``), from ``start`` on."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.phases: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more for phase ``name``."""
        self.phases[name] = self.phases.get(name, 0.0) + max(seconds, 0.0)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as (part of) phase ``name``."""
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - begin)

    def finish(self) -> None:
        """Set ``total``: the time since the timer started."""
        self.phases["total"] = time.perf_counter() - self.start

    def header(self) -> str:
        """The ``Server-Timing`` value: ``read;dur=101.3;desc="...", ...`` (milliseconds)."""
        return ", ".join(f'{name};dur={1000 * seconds:.1f};desc="{PHASES.get(name, name)}"'
                         for name, seconds in self._ordered())

    def line(self) -> str:
        """One log line: ``read 101 ms, predict 230 ms, ...``."""
        return ", ".join(f"{name} {1000 * seconds:.0f} ms" for name, seconds in self._ordered())

    def _ordered(self) -> list[tuple[str, float]]:
        rank = {name: i for i, name in enumerate(PHASES)}
        return sorted(self.phases.items(), key=lambda item: rank.get(item[0], len(rank)))


def parse_server_timing(value: str) -> dict[str, float]:
    """``{phase: milliseconds}`` of a ``Server-Timing`` header value as :meth:`Timer.header`
    writes it (descriptions without commas; entries without a duration are left out)."""
    out = {}
    for entry in value.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        for param in params:
            key, _, number = param.partition("=")
            if key.strip() == "dur" and name:
                try:
                    out[name] = float(number)
                except ValueError:
                    pass
    return out
