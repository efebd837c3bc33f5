"""File writing shared by every saver (models, datasets, caches, reports); needs only the
standard library, so model files can be written where RDKit is missing (e.g. a GPU node).

Every file mspectmol writes goes to a temporary file in the target's folder, named
``.<name>.<pid>-<random>.tmp`` (plus the target's suffix where a library picks the format
by suffix), is flushed to disk and then renamed onto the target with :func:`os.replace`.
A reader never sees a half-written file, and a write that fails (disk full, permission
denied, read-only file system) or is interrupted leaves the previous file as it was and no
temporary file behind. Only a killed process can leave one; caches remove those at their
next start with :func:`remove_stale_temps`.

Failures to write raise :class:`OutputError`, an :class:`~mspectmol.errors.MspectmolError`
whose one-line message names the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mspectmol.errors import MspectmolError

#: A temporary file untouched for this long belongs to no live write, whoever made it.
STALE_SECONDS = 3600.0
#: A temporary file of a process that no longer exists is removed once this old (seconds);
#: the margin covers a writer on another machine sharing the folder (its pid means nothing).
DEAD_PID_GRACE = 30.0

# .<name>.<pid>-<8 hex>.tmp[.<suffix>] (atomic_path; without the dot: earlier cache files),
# .<name>.<8 chars>.tmp (earlier tempfile.mkstemp names), <name>.json.<pid>.tmp (earlier
# simulator cache entries)
_TEMP_NAMES = (re.compile(r"^.+\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.[A-Za-z0-9]+)?$"),
               re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$"),
               re.compile(r"^.+\.json\.(?P<pid>\d+)\.tmp$"))

_CAUSES = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
           errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
           errno.EROFS: "read-only file system", errno.EISDIR: "it is a folder",
           errno.ENOTDIR: "a part of the path is not a folder",
           errno.ENOENT: "the folder does not exist", errno.EFBIG: "file too large",
           errno.EIO: "input/output error"}


class OutputError(MspectmolError):
    """A file could not be written (disk full, permission denied, read-only, ...).

    Attributes
    ----------
    path
        The file that was being written.
    errno
        The operating system's error number, or None.
    """

    def __init__(self, path: str | os.PathLike[str], cause: OSError | str,
                 what: str = "cannot write") -> None:
        self.path, self.what = str(path), what
        self.errno = cause.errno if isinstance(cause, OSError) else None
        self.reason = describe_os_error(cause) if isinstance(cause, OSError) else cause
        super().__init__(f"{self.path}: {what} ({self.reason})")

    def __reduce__(self) -> tuple[Any, ...]:  # a worker process raises it to its parent
        return (_output_error, (self.path, self.reason, self.what, self.errno))


def _output_error(path: str, reason: str, what: str, number: int | None) -> OutputError:
    error = OutputError(path, reason, what)
    error.errno = number
    return error


def describe_os_error(exc: OSError) -> str:
    """A short cause for an :class:`OSError`: "no space left on the device", ..."""
    if exc.errno in _CAUSES:
        return _CAUSES[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text else type(exc).__name__


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(path, f"{path.parent} is not a folder") from None
    except OSError as exc:
        raise OutputError(path, exc) from None


def _create_temp(path: Path, suffix: str) -> Path:
    """Create an empty temporary file next to ``path``, with the permissions of ``path`` if
    it exists (else those the umask leaves)."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    name = path.name[:200]  # room for the rest within the usual 255-byte limit
    for _ in range(100):
        tmp = path.with_name(f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        if mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, mode)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (the rename) to disk, where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _about(exc: OSError, tmp: Path) -> bool:
    """Whether an error of the block concerns the file written (not one it read, say)."""
    name = exc.filename
    if name is None:
        return True
    return isinstance(name, (str, os.PathLike)) and os.fspath(name) == os.fspath(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "", sync: bool = True,
                clean: bool = False, what: str = "cannot write") -> Iterator[Path]:
    """A temporary path next to ``path``, renamed onto ``path`` when the block succeeds.

    For functions that write to a path themselves (``pyarrow.parquet.write_table``,
    ``matplotlib``'s ``savefig``, ``numpy.savez``, ``safetensors``' ``save_file``)::

        with atomic_path(out) as tmp:
            pq.write_table(table, tmp)

    Parameters
    ----------
    path
        The file to write; its folder is created if needed.
    suffix
        Appended to the temporary name, for writers that add or need a suffix (``".npz"``).
    sync
        Flush the file and the folder to disk (``fsync``) before and after the rename.
    clean
        First remove stale temporary files of ``path`` (:func:`remove_stale_temps`), for
        files rewritten by every run (caches).
    what
        Start of the error message ("cannot write the report", ...).

    Raises
    ------
    OutputError
        Naming ``path``, when the folder cannot be made or the block, the flush or the
        rename fails with an :class:`OSError` (one naming another file passes unchanged).
        The previous ``path`` is then left as it was and the temporary file is removed, as
        it is for any other exception of the block.
    """
    target = Path(path)
    if target.is_symlink():  # write the file it points to, as open() would
        target = target.resolve()
    _make_folder(target)
    if clean:
        remove_stale_temps(target.parent, name=target.name)
    try:
        tmp = _create_temp(target, suffix)
    except OSError as exc:
        raise OutputError(target, exc, what) from None
    try:
        yield tmp
        if sync:
            _fsync(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and _about(exc, tmp):
            raise OutputError(target, exc, what) from None
        raise
    if sync:
        fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None, sync: bool = True,
                what: str = "cannot write") -> Iterator[IO[Any]]:
    """An open file whose content replaces ``path`` when the block succeeds.

    ``mode`` is ``"w"`` (text, with ``encoding`` and ``newline``) or ``"wb"``. If the block
    fails, the file is discarded without flushing it, so an error of the block is never
    hidden by a second one from the flush. Raises :class:`OutputError` as
    :func:`atomic_path`.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path, sync=sync, what=what) as tmp:
        if mode == "wb":
            handle = open(tmp, "wb")  # noqa: SIM115 - closed below, by hand
        else:
            handle = open(tmp, "w", encoding=encoding, newline=newline)  # noqa: SIM115
        try:
            yield handle
        except BaseException:
            with contextlib.suppress(OSError, ValueError):
                handle.close()
            raise
        handle.close()


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, sync: bool = True,
                 what: str = "cannot write") -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically; returns the path.

    A reader never sees a half-written file, and a failed or interrupted write leaves the
    old one. Raises :class:`OutputError` as :func:`atomic_path`.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_open(path, "wb", sync=sync, what=what) as handle:
        handle.write(raw)
    return Path(path)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file name of :func:`atomic_path` (or older writers)."""
    return any(rx.match(name) for rx in _TEMP_NAMES)


def _stale(path: Path, now: float, max_age: float) -> bool:
    match = next((m for m in (rx.match(path.name) for rx in _TEMP_NAMES) if m), None)
    if match is None:
        return False
    try:
        age = now - path.stat().st_mtime
    except OSError:
        return False
    if age > max_age:
        return True
    pid = match.groupdict().get("pid")
    return pid is not None and age > DEAD_PID_GRACE and not pid_alive(int(pid))


def remove_stale_temps(folder: str | os.PathLike[str], *, recursive: bool = False,
                       name: str | None = None, max_age: float = STALE_SECONDS) -> list[Path]:
    """Remove temporary files that killed writers left in ``folder``; returns them.

    A temporary file (see :func:`is_temp_name`) is stale when it is older than ``max_age``
    seconds, or older than :data:`DEAD_PID_GRACE` and its process (the pid in its name) no
    longer exists. Files of live writes are kept; errors are ignored. ``recursive`` looks in
    sub-folders too; ``name`` limits the search to the temporary files of that file.
    """
    root = Path(folder)
    now = time.time()
    removed = []
    pattern = f".{glob.escape(name)}.*.tmp*" if name else "*.tmp*"
    try:
        entries = root.rglob(pattern) if recursive else root.glob(pattern)
        for path in entries:
            if _stale(path, now, max_age) and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    except OSError:
        pass
    return removed
