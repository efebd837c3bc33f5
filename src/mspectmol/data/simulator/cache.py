"""The simulation cache: one JSON file per molecule and settings, and claims between runs.

Each molecule's result is one file named by its cache key (InChIKey) under a folder named by
the settings hash: ``<cache>/<settings-hash>/<key[:2]>/<key>.json`` for a record,
``<key>.fail.json`` for a failure. Files are replaced atomically
(:func:`mspectmol.fileio.atomic_write`), so a reader never sees half a file; temporary files
that killed runs left behind are removed when the cache is next opened.

A process simulating a molecule holds its claim, ``<key>.claim``: a file locked with
:func:`fcntl.flock` that names the holder (pid and host). Another run meeting a held claim
leaves the molecule to its holder and takes the result from the cache later, so two runs on
one cache never simulate the same molecule twice. The operating system releases the lock
of a process that dies (even by SIGKILL), so the claim of a dead run is simply taken over.
Where :mod:`fcntl` is missing the claim is created with ``O_CREAT | O_EXCL`` and a claim of a
dead process on this host is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.fileio import OutputError, atomic_write, pid_alive, remove_stale_temps

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mspectmol.simulate")

#: Suffix of the claim files.
CLAIM_SUFFIX = ".claim"
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


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


class Claim:
    """The exclusive right to simulate one molecule of a cache (see the module docstring).

    ``with Claim(path) as claim:`` tries once, without waiting: ``claim.owned`` tells whether
    this process holds it, ``claim.holder`` who does otherwise ("pid 123 on host").
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.owned = False
        self.holder = ""
        self._fd: int | None = None

    def _me(self) -> bytes:
        return f"{os.getpid()} {socket.gethostname()}\n".encode()

    def _describe(self, text: str) -> str:
        pid, _, host = text.strip().partition(" ")
        return f"pid {pid} on {host}" if pid else "another process"

    def acquire(self) -> bool:
        """Try to take the claim; returns (and sets) :attr:`owned`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self._acquire_exclusive()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held by a live process
                with contextlib.suppress(OSError):
                    self.holder = self._describe(os.read(fd, 200).decode(errors="replace"))
                os.close(fd)
                return False
            except OSError as exc:
                if exc.errno not in _NO_LOCKS:
                    os.close(fd)
                    raise
                self._fd, self.owned = fd, True  # a file system without locks: no claims
                return True
            try:  # the holder before us may have removed the file: lock the one in place
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        with contextlib.suppress(OSError):  # the holder's name is for messages only
            os.ftruncate(fd, 0)
            os.write(fd, self._me())
        self._fd, self.owned = fd, True
        return True

    def _acquire_exclusive(self) -> bool:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                try:
                    text = self.path.read_text(errors="replace")
                except OSError:
                    text = ""
                self.holder = self._describe(text)
                pid, _, host = text.strip().partition(" ")
                if host != socket.gethostname() or not pid.isdigit() or pid_alive(int(pid)):
                    return False
                with contextlib.suppress(OSError):  # a dead process's claim: take it over
                    self.path.unlink()
                continue
            with contextlib.suppress(OSError):
                os.write(fd, self._me())
            self._fd, self.owned = fd, True
            return True
        return False

    def release(self) -> None:
        """Give the claim up (the file is removed while still locked)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd, self.owned = None, False

    def __enter__(self) -> Claim:
        try:
            self.acquire()
        except OSError as exc:
            raise OutputError(self.path, exc, "cannot claim the molecule in the cache") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SimulationCache:
    """Finished results on disk, keyed by settings hash and molecule key.

    ``prepare`` (the default) makes the folder, writes ``settings.json`` and removes
    temporary files of killed runs; a worker process opening the cache of its parent passes
    ``prepare=False``.

    Raises
    ------
    mspectmol.fileio.OutputError
        When the folder or ``settings.json`` cannot be written.
    """

    def __init__(self, root: str | Path, settings: SimulationSettings, *,
                 prepare: bool = True) -> None:
        self.root = Path(root) / settings.stable_hash()
        if prepare:
            text, path = json.dumps(settings.to_dict(), indent=1), self.root / "settings.json"
            try:
                same = path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                atomic_write(path, text, what="cannot write the cache")
            removed = remove_stale_temps(self.root, recursive=True)
            if removed:
                log.info("removed %d temporary file(s) of killed runs from %s", len(removed),
                         self.root)

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
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    log.warning("ignoring corrupt cache entry %s (%s)", path, exc)
        return None

    def put(self, key: str, result: SimulationRecord | Failure) -> None:
        """Store a result atomically (a success replaces an earlier failure).

        Raises
        ------
        mspectmol.fileio.OutputError
            When the file cannot be written (disk full, ...).
        """
        is_record = isinstance(result, SimulationRecord)
        path = self._path(key, ".json" if is_record else ".fail.json")
        text = result.to_json() if is_record else json.dumps(result.to_dict())
        atomic_write(path, text, what="cannot write the cache")
        if is_record:
            self._path(key, ".fail.json").unlink(missing_ok=True)

    def claim(self, key: str) -> Claim:
        """The claim of ``key`` (``with cache.claim(key) as c: if c.owned: ...``)."""
        return Claim(self._path(key, CLAIM_SUFFIX))
