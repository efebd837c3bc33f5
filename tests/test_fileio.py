"""Atomic writes, clear write errors and the removal of stale temporary files."""

import errno
import os
import pickle
import subprocess
import sys
import time

import pytest

from mspectmol import fileio
from mspectmol.errors import MspectmolError
from mspectmol.fileio import (
    OutputError,
    atomic_open,
    atomic_path,
    atomic_write,
    is_temp_name,
    pid_alive,
    remove_stale_temps,
)


def _dead_pid():
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def test_atomic_write_replaces_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    assert atomic_write(path, "first") == path
    atomic_write(path, b"second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["out.txt"]
    with atomic_open(path, newline="") as fh:
        fh.write("a,b\n")
    assert path.read_text() == "a,b\n"
    with atomic_path(tmp_path / "fig.png", suffix=".png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".tmp.png") and is_temp_name(tmp.name)
        tmp.write_bytes(b"png")
    assert (tmp_path / "fig.png").read_bytes() == b"png"


def test_new_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "x", b"1")
    finally:
        os.umask(old)
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("number, cause", [(errno.ENOSPC, "no space left on the device"),
                                           (errno.EACCES, "permission denied"),
                                           (errno.EROFS, "read-only file system")])
def test_a_failed_write_keeps_the_old_file_and_names_it(tmp_path, monkeypatch, number, cause):
    path = tmp_path / "out.csv"
    path.write_text("good")
    real_open = open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            raise OSError(number, os.strerror(number))

        def close(self):
            self.handle.close()

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(fileio, "open", lambda *a, **k: Full(real_open(*a, **k)), raising=False)
    with pytest.raises(OutputError) as info:
        atomic_write(path, "new content")
    assert str(info.value) == f"{path}: cannot write ({cause})"
    assert info.value.errno == number and isinstance(info.value, MspectmolError)
    assert path.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_an_error_of_the_block_is_not_hidden_by_the_flush(tmp_path, monkeypatch):
    path = tmp_path / "summary.csv"
    with pytest.raises(ValueError, match="first"), atomic_open(path) as fh:
        fh.write("x" * 100)
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "full")))
        raise ValueError("first")
    assert not any(tmp_path.iterdir())
    # an error about another file (a read in the block) passes unchanged
    with pytest.raises(FileNotFoundError), atomic_path(path):
        (tmp_path / "missing").read_text()
    assert not any(tmp_path.iterdir())


def test_errors_cross_process_boundaries():
    error = OutputError("/x/out.csv", OSError(errno.ENOSPC, "No space left on device"))
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.errno == errno.ENOSPC and again.path == "/x/out.csv"


def test_a_folder_in_the_way_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="is not a folder"):
        atomic_write(tmp_path / "file" / "out.txt", "x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match=r"dir: cannot write \(it is a folder\)"):
        atomic_write(tmp_path / "dir", "x")


def test_full_and_read_only_disks(small_disk):
    disk = small_disk("64k")
    path = disk.path / "out.bin"
    atomic_write(path, b"old" * 1000)
    disk.fill(leave=4096)
    with pytest.raises(OutputError, match="no space left on the device"):
        atomic_write(path, b"new" * 10000)
    assert disk.files() == {"out.bin": 3000}
    subprocess.run(["mount", "-o", "remount,ro", str(disk.path)], check=True)
    with pytest.raises(OutputError, match="read-only file system"):
        atomic_write(path, b"x")
    assert path.read_bytes() == b"old" * 1000


def test_stale_temporary_files_are_removed_and_live_ones_kept(tmp_path):
    dead, now = _dead_pid(), time.time()
    assert not pid_alive(dead) and pid_alive(os.getpid())
    names = {"dead": f".a.csv.{dead}-0123abcd.tmp", "live": f".a.csv.{os.getpid()}-0123abcd.tmp",
             "fresh_dead": f".b.npz.{dead}-89abcdef.tmp.npz", "old": ".c.safetensors.k3j_x9zq.tmp",
             "young": ".d.safetensors.k3j_x9zq.tmp", "simulator": f"ABC.json.{dead}.tmp",
             "other": "notes.tmp.txt"}
    paths = {k: tmp_path / "sub" / v for k, v in names.items()}
    for key, p in paths.items():
        p.parent.mkdir(exist_ok=True)
        p.write_text("partial")
        age = {"fresh_dead": 1, "old": 2 * fileio.STALE_SECONDS, "young": 60}.get(key, 120)
        os.utime(p, (now - age, now - age))
    assert remove_stale_temps(tmp_path) == []  # not recursive
    removed = remove_stale_temps(tmp_path, recursive=True)
    assert sorted(p.name for p in removed) == sorted(names[k] for k in ("dead", "old",
                                                                         "simulator"))
    assert all(paths[k].exists() for k in ("live", "fresh_dead", "young", "other"))


def test_clean_removes_stale_temporary_files_of_the_target(tmp_path):
    old = time.time() - 2 * fileio.STALE_SECONDS
    stray, other = tmp_path / ".cache.npz.1-0123abcd.tmp.npz", tmp_path / ".x.1-0123abcd.tmp"
    for p in (stray, other):
        p.write_bytes(b"partial")
        os.utime(p, (old, old))
    with atomic_path(tmp_path / "cache.npz", suffix=".npz", clean=True) as tmp:
        tmp.write_bytes(b"data")
    assert not stray.exists() and other.exists()


def test_permissions_and_symlinks_of_the_old_file_are_kept(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o640
