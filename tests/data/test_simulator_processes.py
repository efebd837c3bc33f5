"""Simulator processes: workers die with a killed parent, claims between runs, the cache's
temporary files and full disks (stand-in simulations, so each test takes seconds)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mspectmol.data.simulator import runner
from mspectmol.data.simulator.cache import Claim, Failure, SimulationCache
from mspectmol.data.simulator.runner import MoleculeTask, run_simulations
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.fileio import OutputError, pid_alive

SETTINGS = SimulationSettings(n_conformers=1)

# A script run as a separate process: fake simulations that log who ran what, in the pool
# (workers re-import the script, so the stand-in is set there too) or in this process.
SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    from functools import partial
    from pathlib import Path
    from mspectmol.data.simulator import runner, workers
    from mspectmol.data.simulator.runner import Failure, MoleculeTask, run_with, _run_pool
    from mspectmol.data.simulator.settings import SimulationSettings

    FOLDER = Path(sys.argv[1])

    def fake(task, settings):
        with open(FOLDER / "ran.log", "a") as fh:
            fh.write(f"{task.name} {os.getpid()}\\n")
        if task.name.startswith("slow"):
            (FOLDER / f"worker-{os.getpid()}").write_text("")
            time.sleep(120)
        time.sleep(0.3)
        return Failure(task.name, task.smiles, "fake", f"pid {os.getpid()}")

    def work(*args):
        runner._simulate_task = fake
        return runner._run_claimed(*args)

    if __name__ == "__main__":
        workers.CLAIM_RETRY_SECONDS = 0.2
        runner._simulate_task = fake
        names, n_workers = sys.argv[2].split(","), int(sys.argv[3])
        smiles = {n: "C" * (i + 1) for i, n in enumerate(sorted(names))}  # same in every run
        tasks = [MoleculeTask(n, smiles[n]) for n in names]
        execute = runner._run_serial if n_workers == 1 else partial(_run_pool,
                                                                     n_workers=n_workers, work=work)
        report = run_with(execute, tasks, SimulationSettings(n_conformers=1),
                          cache_dir=FOLDER / "cache", progress=False)
        print(json.dumps({"simulated": report.simulated, "from_cache": report.from_cache,
                          "done": sorted(report.failures)}))
''')


def _start(tmp_path, names, workers=1):
    script = tmp_path / "fake_run.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), ",".join(names),
                             str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _wait_for(check, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return check()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_sigkilled_parent_leaves_no_worker_and_keeps_finished_work(tmp_path):
    proc = _start(tmp_path, ["quick", "slow1", "slow2"], workers=2)
    try:
        started = _wait_for(lambda: len(list(tmp_path.glob("worker-*"))) == 2, 60)
        assert started, proc.stderr.read() if proc.poll() is not None else "no workers"
        workers = _children(proc.pid)
        worker_pids = {int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")}
        assert worker_pids <= set(workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        gone = _wait_for(lambda: not any(pid_alive(p) for p in workers), 5)
    finally:
        for pid in _children(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert gone, [p for p in workers if pid_alive(p)]
    # the quick molecule was cached by its worker, and the killed workers' claims are free
    cache = SimulationCache(tmp_path / "cache", SETTINGS, prepare=False)
    assert isinstance(cache.get(MoleculeTask("quick", "C").cache_key()), Failure)
    for name, smiles in (("slow1", "CC"), ("slow2", "CCC")):
        with cache.claim(MoleculeTask(name, smiles).cache_key()) as claim:
            assert claim.owned


def test_two_runs_on_one_cache_simulate_each_molecule_once(tmp_path):
    names = [f"m{i}" for i in range(6)]
    runs = [_start(tmp_path, names, workers=2), _start(tmp_path, names[::-1], workers=1)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    ran = (tmp_path / "ran.log").read_text().split()[::2]
    assert sorted(ran) == names  # each once, by one run or the other
    assert all(r["done"] == names for r in reports)
    assert sum(r["simulated"] for r in reports) == len(names)
    assert all(r["simulated"] + r["from_cache"] == len(names) for r in reports)


def test_claims_are_exclusive_and_free_again_after_their_holder(tmp_path):
    path = tmp_path / "AB" / "ABCDEF.claim"
    with Claim(path) as mine:
        assert mine.owned
        with Claim(path) as other:  # another open file: as another process would see it
            assert not other.owned and other.holder.startswith(f"pid {os.getpid()} on ")
    assert not path.exists()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from mspectmol.data.simulator.cache import Claim
        claim = Claim(Path({str(path)!r}))
        assert claim.acquire()
        print("held", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with Claim(path) as other:
            assert not other.owned and other.holder.startswith(f"pid {holder.pid} on ")
    finally:
        holder.kill()
        holder.wait()
    with Claim(path) as after:  # a killed holder's claim is taken over
        assert after.owned


def test_stale_temporary_files_are_removed_when_the_cache_opens(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    root = tmp_path / SETTINGS.stable_hash() / "AB"
    root.mkdir(parents=True)
    old = time.time() - 120
    stale = [root / f"ABCDEF.json.{dead}.tmp", root / f".ABCDEF.json.{dead}-0123abcd.tmp"]
    live = root / f".ABCXYZ.json.{os.getpid()}-0123abcd.tmp"
    for p in (*stale, live):
        p.write_text("")
        os.utime(p, (old, old))
    SimulationCache(tmp_path, SETTINGS)
    assert not any(p.exists() for p in stale) and live.exists()


def test_a_full_disk_stops_the_run_naming_the_cache_file(small_disk, monkeypatch):
    disk = small_disk("64k")
    monkeypatch.setattr(runner, "_simulate_task",
                        lambda task, s: Failure(task.name, task.smiles, "fake", "x" * 20000))
    tasks = [MoleculeTask("a", "C"), MoleculeTask("b", "CC")]
    run_simulations(tasks[:1], SETTINGS, cache_dir=disk.path, n_workers=1, progress=False)
    disk.fill(leave=2048)
    with pytest.raises(OutputError, match=r"\.fail\.json: cannot write the cache \(no space"):
        run_simulations(tasks, SETTINGS, cache_dir=disk.path, n_workers=1, progress=False)
    names = {Path(name).name for name in disk.files()}
    assert names == {"settings.json", f"{tasks[0].cache_key()}.fail.json"}  # no temporary


def test_a_cache_write_error_in_a_worker_stops_the_pool(tmp_path):
    cache = tmp_path / "cache"
    hashed = cache / SETTINGS.stable_hash()
    hashed.mkdir(parents=True)
    key = MoleculeTask("a", "C").cache_key()
    (hashed / key[:2]).write_text("a file where the cache wants a folder")
    proc_names = ["a"]
    script = tmp_path / "fake_run.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), ",".join(proc_names), "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"OutputError: {hashed / key[:2] / key}.claim: cannot claim" in done.stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("means", ["prctl", "poll"])
def test_die_with_parent_both_ways(means):
    child = textwrap.dedent(f"""
        import os, sys, time
        from mspectmol.data.simulator import workers
        if {means!r} == "poll":
            sys.platform = "other"  # the portable fallback
            workers.PARENT_POLL_SECONDS = 0.2
        print(os.getpid(), workers.die_with_parent(os.getppid()), flush=True)
        time.sleep(60)
        """)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {child!r}])
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        pid, used = parent.stdout.readline().split()
    finally:
        parent.kill()
        parent.wait()
    assert used == means
    assert _wait_for(lambda: not pid_alive(int(pid)), 5)
