"""Simulating candidates in worker processes gives the same spectra as one process."""

import numpy as np
import pytest

from mspectmol.errors import MspectmolError
from mspectmol.structure.ranking.sim_pool import picklable
from mspectmol.structure.ranking.simulation import SimulatedSpectra

GRIDS = {"h_nmr": np.linspace(-1, 13, 300), "c_nmr": np.linspace(-20, 230, 300)}
MOLECULES = ["CCO", "CC=O", "CCO", "OCC#N"]


def test_workers_fill_the_same_cache_as_one_process(tmp_path):
    pytest.importorskip("csp5")
    one = SimulatedSpectra(GRIDS, fast_nmr=True, directory=tmp_path / "one")
    two = SimulatedSpectra(GRIDS, fast_nmr=True, directory=tmp_path / "two", jobs=2,
                           remember_failures=True)
    try:
        a, b = one.get_many(MOLECULES), two.get_many(MOLECULES)
    finally:
        two.close()
    for x, y in zip(a, b, strict=True):
        assert x is not None and y is not None
        for m in GRIDS:
            assert np.allclose(x[m], y[m])
    assert two.stats["simulated"] == 3 and two.stats["cached"] == 1  # CCO read back once
    assert len(list((tmp_path / "two").glob("*.npz"))) == 3
    again = SimulatedSpectra(GRIDS, fast_nmr=True, directory=tmp_path / "two", jobs=2)
    assert again.get_many(MOLECULES[:2])[0] is not None and again._pool is None  # all cached
    assert again.stats["cached"] == 2


def test_jobs_are_checked_and_unpicklable_simulators_run_here(tmp_path):
    with pytest.raises(MspectmolError, match="jobs"):
        SimulatedSpectra(GRIDS, fast_nmr=True, jobs=0)
    calls = []

    def local(smiles):  # a closure cannot go to a worker: simulated in this process
        calls.append(smiles)
        raise MspectmolError("toy failure")

    assert not picklable(local) and picklable(None)
    sim = SimulatedSpectra(GRIDS, fast_nmr=True, directory=tmp_path, simulator=local, jobs=2)
    assert sim.get_many(["CCO", "CCC"]) == [None, None]
    assert calls == ["CCO", "CCC"] and sim._pool is None and sim.stats["failed"] == 2


def _init_then_sleep(parent: int) -> None:
    import time

    from mspectmol.structure.ranking.sim_pool import _init_worker

    _init_worker(parent)
    time.sleep(60)


def test_a_worker_ends_when_the_process_that_started_it_is_gone():
    import multiprocessing
    import os

    ctx = multiprocessing.get_context("spawn")
    orphan = ctx.Process(target=_init_then_sleep, args=(-1,))  # its parent is not -1
    child = ctx.Process(target=_init_then_sleep, args=(os.getpid(),))
    orphan.start()
    child.start()
    try:
        orphan.join(timeout=60)
        assert orphan.exitcode == 1  # the watchdog ended it, long before its 60 s sleep
        child.join(timeout=5)
        assert child.is_alive()  # its parent (this process) is alive
    finally:
        for p in (orphan, child):
            if p.is_alive():
                p.terminate()
                p.join()


class _Bar:
    """Stands in for the progress bar: records its name, total and updates."""

    made: list = []

    def __init__(self, name, total):
        self.name, self.total, self.count = name, total, 0
        _Bar.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        self.count += n


def test_progress_bars_count_every_candidate(tmp_path, monkeypatch):
    import mspectmol.structure.ranking.sim_pool as sim_pool
    import mspectmol.structure.ranking.simulation as simulation

    _Bar.made = []
    monkeypatch.setattr(simulation, "progress_bar", _Bar)
    monkeypatch.setattr(sim_pool, "progress_bar", _Bar)

    def local(smiles):
        raise MspectmolError("toy failure")

    sim = SimulatedSpectra(GRIDS, fast_nmr=True, directory=tmp_path, simulator=local)
    sim.get_many(["CCO", "CCC"])
    assert _Bar.made == []  # no bar unless asked for
    with sim.reporting("fast NMR"):
        assert sim.get_many(["CCO", "CCC", "CCN"]) == [None, None, None]
    assert sim._progress is None
    (bar,) = _Bar.made
    assert (bar.name, bar.total, bar.count) == ("fast NMR", 3, 3)
    pool = sim_pool.SimulationPool(2)
    try:
        assert pool.run(pow, [(2, 3), (3, 2), (2, 5)], progress="workers") == [8, 9, 32]
    finally:
        pool.close()
    assert (_Bar.made[-1].name, _Bar.made[-1].total, _Bar.made[-1].count) == ("workers", 3, 3)


def test_log_lines_go_above_the_bar_with_the_consoles_level_and_format():
    import io
    import logging

    from tqdm import tqdm

    from mspectmol.structure.ranking.sim_pool import _AboveBar

    stream = io.StringIO()
    console = logging.StreamHandler(stream)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("mspectmol.test_above_bar")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers = [_AboveBar(console, tqdm)]
    logger.info("hidden")
    logger.warning("shown %d", 1)
    assert stream.getvalue() == "WARNING: shown 1\n"
