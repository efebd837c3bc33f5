"""Read uploaded spectrum files in a throwaway child process with memory and time limits.

A reader that a hostile or damaged file drives into a memory explosion or an endless loop
must not take the web server with it. :func:`read_sample` runs
:func:`~mspectmol.models.inputs.load_sample` (read, check and prepare every file of one
request), and :func:`read_for_prediction` runs
:func:`~mspectmol.predict.pipeline.load_for_prediction` (the same, and the molecular formulas
of a mass spectrum and its explained peaks, whose search grows with the ion's mass), in a
child forked from a ``multiprocessing`` fork server that has the readers
already imported (a fork costs milliseconds, not an interpreter start). The child is forked
before the request comes and waits for its one job (:mod:`mspectmol.web.children`); with
the job it

* first refuses text files with a line longer than :data:`MAX_LINE_BYTES` (no spectrum
  format writes such lines; a 20 MB one-line file is refused in milliseconds),
* limits its address space (``RLIMIT_AS``) to what it has plus ``memory_mb`` and its CPU
  time (``RLIMIT_CPU``), so an allocation past the limit raises ``MemoryError``,
* sends back the prepared spectra (small arrays on the model's grids) and the formulas, or
  the error message.

The parent kills a child that runs past its deadline (counted from the job). A child that
answered exits while the request goes on (reaped in the background). Whatever happened, the
memory the reading took goes away with the child; the server's own memory does not grow.

As in any program that uses ``multiprocessing``, a script that builds the app itself must
keep its main code under ``if __name__ == "__main__":``: started from a script's path,
multiprocessing imports that script again in each child (``mspectmol serve``, the
``mspectmol`` command and ``python -m`` runs cost the children nothing).
"""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError, SpectrumFileError
from mspectmol.models.inputs import load_sample
from mspectmol.predict.pipeline import load_for_prediction
from mspectmol.web import children

try:
    import resource
except ImportError:  # not on Windows: children there run without the limits
    resource = None  # type: ignore[assignment]

#: Longest line a text upload may have (bytes): spectrum files have short lines (JCAMP-DX
#: at most 80 characters, delimited rows a few numbers; a wide CSV row of 100,000 points
#: fits).
MAX_LINE_BYTES = 2**20
#: Modules the fork server imports once, so that each child starts ready (the first sets
#: one thread per numerical library, before NumPy loads).
PRELOAD = ["mspectmol.web._child_init", "mspectmol.web.sandbox",
           "mspectmol.predict.pipeline", "mspectmol.spectra.readers", "jcamp",
           "mspectmol.chem.molecules", "mspectmol.cli.main"]
_CHUNK = 2**20
_start_lock = threading.Lock()
_context: Any = None


@dataclass(frozen=True)
class ReadLimits:
    """What reading one request's files may cost.

    Attributes
    ----------
    memory_mb
        Address space the child may add to what it starts with, in MB.
    timeout
        Seconds for a request of up to 1 MB of files; ``per_mb`` more per further MB, at
        most ``max_timeout``.
    per_mb
        Extra seconds per MB of files.
    max_timeout
        Most seconds any request may take to read.
    """

    memory_mb: int = 1024
    timeout: float = 10.0
    per_mb: float = 2.5
    max_timeout: float = 60.0

    def deadline(self, size: int) -> float:
        """Seconds allowed to read ``size`` bytes of files."""
        extra = max(size / 2**20 - 1.0, 0.0) * self.per_mb
        return min(self.timeout + extra, max(self.max_timeout, self.timeout))


class ReadRefused(MspectmolError):
    """Reading the files went over a limit, or the reader died; ``status`` is the answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def context() -> Any:
    """The multiprocessing context of the reading children: a fork server with
    :data:`PRELOAD` imported (Linux, macOS), else spawn. The first call starts the server
    and the first waiting child."""
    global _context
    with _start_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(PRELOAD)
                from multiprocessing import forkserver

                forkserver.ensure_running()
            else:
                ctx = multiprocessing.get_context("spawn")
            _context = ctx
            children.prepare(ctx)
        return _context


def plain_meta(meta: Any) -> SimpleNamespace:
    """A model's metadata as a plain namespace of its fields (and ``n_points``).

    Unpickling the model's own ``ModelMeta`` in a child would import its module and with
    it PyTorch (a second each); the readers need only the fields, and not the
    out-of-distribution statistics (``ood``, None here: most of the pickle, about 100 KB
    per request).
    """
    if not is_dataclass(meta):
        return meta
    values = {f.name: getattr(meta, f.name) for f in fields(meta) if f.name != "ood"}
    values["ood"] = None
    if hasattr(meta, "n_points"):
        values["n_points"] = meta.n_points
    return SimpleNamespace(**values)


def check_lines(path: Path, limit: int = MAX_LINE_BYTES) -> None:
    """Refuse a text file with a line longer than ``limit`` bytes (binary files pass: the
    readers tell them apart).

    Raises
    ------
    SpectrumFileError
        Naming the line and its length.
    """
    with open(path, "rb") as f:
        head = f.read(4096)
        if head.startswith(b"PAR1") or b"\x00" in head:
            return
        f.seek(0)
        run, line = 0, 1
        while chunk := f.read(_CHUNK):
            ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)
            if ends.size == 0:
                run += len(chunk)
            else:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += run
                worst = int(np.argmax(lengths))
                if lengths[worst] > limit:
                    _too_long(path, line + worst, int(lengths[worst]), limit)
                line += ends.size
                run = len(chunk) - int(ends[-1]) - 1
            if run > limit:
                _too_long(path, line, run, limit)


def _too_long(path: Path, line: int, length: int, limit: int) -> None:
    raise SpectrumFileError(f"line {line} is longer than {limit // 1024} KB (at least "
                            f"{length / 2**20:.3g} MB): not a spectrum file this server "
                            "reads (JCAMP-DX lines hold at most 80 characters)", path)


def _limit_self(memory_mb: int, seconds: float) -> None:
    """Cap this process's address space at its current size plus ``memory_mb`` MB and its
    CPU time at ``seconds`` (plus a margin). Where the system has no such limits (Windows,
    or no ``/proc`` to tell the current size), the parent's deadline still applies."""
    if resource is None:
        return
    try:
        with open("/proc/self/status") as f:
            found = re.search(r"^VmSize:\s+(\d+)\s*kB", f.read(), re.M)
        base = int(found.group(1)) * 1024 if found else 0
    except OSError:
        base = 0
    cpu = int(seconds) + 2
    limits = [(resource.RLIMIT_CPU, cpu, cpu + 5)]
    if base:
        limits.append((resource.RLIMIT_AS, base + memory_mb * 2**20,
                       base + memory_mb * 2**20))
    for kind, soft, hard in limits:
        _, old_hard = resource.getrlimit(kind)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError):
            pass


def _child(conn: Connection, work: Callable[..., Any], spec: Any, args: tuple[Any, ...],
           memory_mb: int, seconds: float) -> None:
    """Run ``work(*args)`` under the limits, after checking the lines of ``spec``'s files."""
    start = time.perf_counter()
    try:
        _limit_self(memory_mb, seconds)
        for path in spec.files.values():
            check_lines(Path(path))
        result: tuple[str, Any, float] = ("ok", work(*args), 0.0)
    except MemoryError:
        result = ("memory", None, 0.0)
    except MspectmolError as exc:
        result = ("error", str(exc), 0.0)
    except Exception as exc:  # a reader bug: the parent reports it as one
        result = ("bug", f"{type(exc).__name__}: {exc}", 0.0)
    try:
        conn.send((*result[:2], time.perf_counter() - start))
    except MemoryError:  # the result itself does not fit: say so in a few bytes
        conn.send(("memory", None, 0.0))
    conn.close()


def read_sample(meta: Any, spec: Any, options: Any, limits: ReadLimits) -> Any:
    """:func:`~mspectmol.models.inputs.load_sample` in a limited child process.

    Parameters
    ----------
    meta, spec, options
        As for ``load_sample`` (the files of ``spec`` are on disk); ``meta`` as
        :func:`plain_meta` makes it, else the child imports the model's modules.
    limits
        Memory and time the reading may take.

    Returns
    -------
    SampleInputs
        The prepared spectra.

    Raises
    ------
    MspectmolError
        The reader's message for a bad file (status 400 in the app).
    ReadRefused
        Over the memory or time limit, or the child died (422).
    RuntimeError
        The reader failed with an unexpected error (a bug; 500).
    """
    return _in_child(load_sample, (meta, spec, options), spec, limits)


def read_for_prediction(meta: Any, spec: Any, options: Any, mass: Any, limits: ReadLimits,
                        timings: dict[str, float] | None = None) -> tuple[Any, Any]:
    """:func:`~mspectmol.predict.pipeline.load_for_prediction` in a limited child process:
    the sample's inputs (or a ``MassOnly`` result) and its mass report (``mass``: the
    :class:`~mspectmol.predict.mass.MassOptions`, or None); errors as :func:`read_sample`.

    ``timings``, when given, gets the seconds of the reading in the child (``"read"``) and
    of the rest of the child's round trip (``"child"``: start, job, result).
    """
    return _in_child(load_for_prediction, (meta, spec, options, mass), spec, limits, timings)


def _in_child(work: Callable[..., Any], args: tuple[Any, ...], spec: Any,
              limits: ReadLimits, timings: dict[str, float] | None = None) -> Any:
    size = sum(Path(p).stat().st_size for p in spec.files.values())
    seconds = limits.deadline(size)
    ctx = context()
    start = time.monotonic()
    job = (work, spec, args, limits.memory_mb, seconds)
    child = children.take(ctx)
    if not child.send(_child, job):  # the waiting child died: start one for this request
        child.drop()
        child = children.Child(ctx)
        child.send(_child, job)
    process, receiver = child.process, child.results
    kind, payload, worked = "timeout", None, 0.0
    try:
        if receiver.poll(seconds):
            try:
                kind, payload, worked = receiver.recv()
            except (EOFError, OSError):
                kind = "died"
    finally:
        receiver.close()
        grace = max(0.0, min(2.0, seconds - (time.monotonic() - start)))
        if kind in ("ok", "error", "bug", "memory"):  # it answered: let it exit meanwhile
            children.reap(process, grace)
        else:
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join()
        children.prepare(ctx)  # the next request's child, now that this one has read
    if timings is not None:
        timings["read"] = timings.get("read", 0.0) + worked
        timings["child"] = (timings.get("child", 0.0) + time.monotonic() - start - worked)
    if kind == "ok":
        return payload
    if kind == "error":
        raise MspectmolError(payload)
    if kind == "bug":
        raise RuntimeError(f"the reader failed: {payload}")
    files = ", ".join(str(p) for p in spec.files.values())  # the app names the uploads
    if kind == "memory":
        raise ReadRefused(f"reading {files} needed more than {limits.memory_mb} MB of memory, "
                          "the limit of this server for one request (a damaged file, or not "
                          "a spectrum?); the upload was refused")
    if kind == "timeout":
        raise ReadRefused(f"reading {files} took longer than {seconds:.3g} s, the limit of "
                          "this server for files of this size (a damaged file, or not a "
                          "spectrum?); the reading was stopped")
    code = process.exitcode
    why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    raise ReadRefused(f"the reader stopped while reading {files} ({why}); the upload was "
                      "refused")
