"""The simulator on a Dask LocalCluster (2 single-thread worker processes) versus the local pool."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

distributed = pytest.importorskip("distributed")

from mspectmol.cli.main import main  # noqa: E402
from mspectmol.data.simulator.distributed import run_simulations_dask  # noqa: E402
from mspectmol.data.simulator.records import SimulationRecord  # noqa: E402
from mspectmol.data.simulator.runner import MoleculeTask, run_simulations  # noqa: E402
from mspectmol.data.simulator.settings import SimulationSettings  # noqa: E402
from mspectmol.data.simulator.store import read_records  # noqa: E402

SETTINGS = SimulationSettings(n_conformers=1)
TASKS = [MoleculeTask("methane", "C"), MoleculeTask("hcn", "C#N")]
UNREACHABLE = "tcp://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


def assert_close(a: Any, b: Any, where: str) -> None:
    """Equal JSON-like values, floats within 1e-8."""
    if isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= 1e-8, where
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    else:
        assert a == b, where


def assert_same(a: SimulationRecord, b: SimulationRecord) -> None:
    """Same record up to 1e-8 in every number (timings aside)."""
    da, db = a.to_dict(), b.to_dict()
    del da["timings"], db["timings"]
    assert_close(da, db, "record")


def test_dask_matches_the_pool_and_resumes(tmp_path: Path, client: Any) -> None:
    seen: list[str] = []
    first = run_simulations_dask(TASKS[:1], SETTINGS, cache_dir=tmp_path / "dask",
                                 client=client, progress=False)
    assert (first.simulated, first.from_cache, first.failures) == (1, 0, {})
    report = run_simulations_dask(TASKS, SETTINGS, cache_dir=tmp_path / "dask", client=client,
                                  progress=False, on_result=lambda t, r: seen.append(t.name))
    assert (report.simulated, report.from_cache, report.failures) == (1, 1, {})
    assert sorted(seen) == ["hcn", "methane"]

    pool = run_simulations(TASKS, SETTINGS, cache_dir=tmp_path / "pool", n_workers=2,
                           progress=False)
    assert (pool.simulated, pool.failures) == (2, {})
    assert sorted(report.records) == sorted(pool.records) == ["hcn", "methane"]
    for name in pool.records:
        assert_same(report.records[name], pool.records[name])
        assert report.records[name].formula == {"methane": "CH4", "hcn": "CHN"}[name]

    again = run_simulations_dask(TASKS, SETTINGS, cache_dir=tmp_path / "dask", client=client,
                                 progress=False)
    assert (again.simulated, again.from_cache, len(again.records)) == (0, 2, 2)
    # nothing left to simulate: the scheduler is not even contacted
    cached = run_simulations_dask(TASKS, SETTINGS, cache_dir=tmp_path / "dask",
                                  scheduler=UNREACHABLE, connect_timeout=1, progress=False)
    assert (cached.simulated, cached.from_cache) == (0, 2)


def test_cli_on_a_scheduler(tmp_path: Path, cluster: Any,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.parquet"
    molecules = ["C", "C#N", "[Na+].[Cl-]"]
    common = ["-o", str(out), "--n-conformers", "1", "--no-progress"]
    assert main(["simulate", *molecules, *common, "--scheduler", cluster.scheduler_address]) == 0
    log = capsys.readouterr().err
    assert "3 molecule(s): 2 ok, 1 failed (parse 1), 0 from cache" in log
    assert "on the Dask scheduler at tcp://" in log
    assert pq.read_table(out, columns=["name"]).column("name").to_pylist() == ["C", "C#N"]
    assert [r.formula for r in read_records(out)] == ["CH4", "CHN"]
    with out.with_name("out.failures.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["name"], r["stage"]) for r in rows] == [("[Na+].[Cl-]", "parse")]

    sched = tmp_path / "sched.json"  # as written by 'dask scheduler --scheduler-file'
    sched.write_text(json.dumps({"address": cluster.scheduler_address}))
    args = ["simulate", *molecules, "O", *common, "--scheduler-file", str(sched)]
    assert main(args) == 0
    assert "4 molecule(s): 3 ok, 1 failed (parse 1), 3 from cache" in capsys.readouterr().err
    assert pq.read_table(out, columns=["name"]).column("name").to_pylist() == ["C", "C#N", "O"]
    assert main(args) == 0
    assert "nothing to simulate" in capsys.readouterr().err


def test_cli_unreachable_scheduler_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.parquet"
    start = time.perf_counter()
    assert main(["simulate", "O", "-o", str(out), "--no-progress", "--scheduler", UNREACHABLE,
                 "--connect-timeout", "1"]) == 2
    assert time.perf_counter() - start < 15
    assert f"cannot connect to the Dask scheduler at {UNREACHABLE}" in capsys.readouterr().err
    assert not out.exists()
